// The node's bootstrap (Server::Init): data directory, store, node id and actor epoch,
// workers and their listeners, and the cluster membership remembered from earlier runs.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/hash.h"
#include "common/log.h"
#include "kv/epoch.h"
#include "server/server.h"

namespace dynis::server {

namespace {

std::string RandomHex(size_t n) {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) s.push_back(kHex[rd() & 15]);
  return s;
}

// mkdir -p
Status CreateDataDir(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') {
      std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::IOError("Can't create data directory '" + dir +
                               "': " + std::strerror(errno));
      }
    }
  }
  return Status::OK();
}

}  // namespace

Status Server::Init() {
  start_ms_ = NowMs();
  last_save_s_ = start_ms_ / 1000;
  run_id_ = RandomHex(40);
  RETURN_IF_ERROR(CreateDataDir(config_->dir()));
  RETURN_IF_ERROR(OpenStore());
  RETURN_IF_ERROR(LoadIdentity());
  RETURN_IF_ERROR(ShareKeyspace());
  RETURN_IF_ERROR(CreateWorkers());
  if (!config_->cluster_nodes().empty()) RETURN_IF_ERROR(JoinCluster());
  return Status::OK();
}

Status Server::OpenStore() {
  const Config& cfg = *config_;
  storage::StoreOptions so;
  so.dir = cfg.dir();
  so.block_cache_bytes = cfg.block_cache_size();
  so.write_buffer_bytes = cfg.write_buffer_size();
  so.fsync = static_cast<storage::Fsync>(static_cast<int>(cfg.fsync()));
  const Config* cp = config_;
  // In a cluster compaction drops nothing another replica may still need (kv/keyspace.h).
  const bool keep_clocks = !cfg.cluster_nodes().empty();
  ks_shared_.keep_clocks = keep_clocks;
  so.compact = [cp, keep_clocks](std::string_view v, std::string* /*rewrite*/) {
    return kv::Keyspace::Compact(v, NowMs(), static_cast<int64_t>(cp->tombstone_grace_s()) * 1000,
                                 keep_clocks);
  };
  auto store = storage::Store::Open(so);
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  return Status::OK();
}

// A data dir remembers its node id; the actor epoch is kept across a clean shutdown and renewed
// otherwise (kv/epoch.h), so this run never mints a dot it or an earlier run may have minted
// before.
Status Server::LoadIdentity() {
  const Config& cfg = *config_;
  const std::string& dir = cfg.dir();
  std::string stored_id;
  Status s = store_->GetMeta("node-id", &stored_id);
  if (s.ok()) {
    if (!cfg.node_id().empty() && cfg.node_id() != stored_id) {
      return Status::Error("data directory " + dir + " belongs to node " + stored_id +
                           ", not to node-id " + cfg.node_id());
    }
    node_id_ = stored_id;
  } else if (s.IsNotFound()) {
    node_id_ = cfg.node_id().empty() ? RandomHex(40) : cfg.node_id();
  } else {
    return s;
  }
  auto start = kv::StartEpoch(store_.get(), static_cast<uint64_t>(NowUs()));
  if (!start.ok()) {
    const Status& e = start.status();
    return e.code() == Status::Code::kCorruption ? Status::Corruption(e.message() + " in " + dir)
                                                 : e;
  }
  epoch_ = start->epoch;
  if (s.IsNotFound()) {
    RETURN_IF_ERROR(store_->PutMetaDurably("node-id", node_id_));
    LOG_NOTICE("New data directory: node %s leased epoch %llu", node_id_.c_str(),
               static_cast<unsigned long long>(epoch_));
  } else if (start->renewed) {
    LOG_NOTICE("The last run of node %s did not shut down cleanly: leased epoch %llu",
               node_id_.c_str(), static_cast<unsigned long long>(epoch_));
  }
  // CONFIG GET node-id shows the id in use, generated or not.
  return config_->ApplyDirective("node-id", {node_id_});
}

// What every worker's Keyspace shares: the store, the clock, the actor, the partitioning.
Status Server::ShareKeyspace() {
  ks_shared_.store = store_.get();
  ks_shared_.clock = &clock_;
  ks_shared_.actor = version::Actor{KeyHash(node_id_), epoch_};
  ks_shared_.partitions = static_cast<uint32_t>(config_->partitions());
  // The record cache starts empty; each loop's cron warms it with its partitions.
  cache_ = std::make_unique<kv::RecordCache>(ks_shared_.partitions);
  ks_shared_.cache = cache_.get();
  ApplyConfig();
  // CONFIG SET of an option that lower layers cache re-applies them.
  for (const char* name : {"loglevel", "fsync", "max-object-size", "sibling-warn", "sibling-max",
                           "cache-max-bytes", "cache-eviction-policy"}) {
    RETURN_IF_ERROR(config_->OnChange(name, [this] { ApplyConfig(); }));
  }
  return Status::OK();
}

Status Server::CreateWorkers() {
  int n = config_->io_threads();
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ks_shared_.workers = static_cast<uint32_t>(n);
  for (int i = 0; i < n; i++) workers_.push_back(std::make_unique<Worker>(this, i));
  for (auto& w : workers_) RETURN_IF_ERROR(w->Listen());
  return Status::OK();
}

Status Server::JoinCluster() {
  const Config& cfg = *config_;
  std::vector<std::string> seeds = cfg.cluster_nodes();
  Member self;
  self.name = node_id_;
  self.id = KeyHash(node_id_);
  self.host = cfg.cluster_announce_ip();
  self.cport = cfg.cluster_port();
  self.port = cfg.port();
  cluster_ = std::make_unique<ClusterState>(self, std::move(seeds),
                                            static_cast<uint32_t>(cfg.partitions()),
                                            static_cast<uint32_t>(cfg.replicas()), NowMs());
  RETURN_IF_ERROR(RestoreMembership());
  RETURN_IF_ERROR(KeepHints());
  RETURN_IF_ERROR(KeepTrees());
  for (auto& w : workers_) RETURN_IF_ERROR(w->ListenPeers());
  LOG_NOTICE("Cluster '%s': this node at %s:%d (cluster port), N=%d R=%d W=%d, %zu seeds",
             cfg.cluster_name().c_str(), self.host.c_str(), self.cport, cfg.replicas(),
             cfg.read_quorum(), cfg.write_quorum(), cfg.cluster_nodes().size());
  return Status::OK();
}

// Hinted handoff: the tally of the hints this node holds for others (counted from the column
// family, so replay resumes after a restart), and the rules for new ones.
Status Server::KeepHints() {
  hints_ = std::make_unique<kv::HintLedger>(static_cast<uint32_t>(config_->partitions()));
  RETURN_IF_ERROR(hints_->Rebuild(store_.get()));
  for (const auto& [target, totals] : hints_->All()) {
    LOG_NOTICE("Hinted handoff: %llu hints (%llu bytes) kept for node %llu, to replay",
               static_cast<unsigned long long>(totals.count),
               static_cast<unsigned long long>(totals.bytes),
               static_cast<unsigned long long>(target));
  }
  ks_shared_.hints = hints_.get();
  const Config* cfg = config_;
  ClusterState* cl = cluster_.get();
  ks_shared_.hint_window_open = [cfg, cl](uint64_t target) {
    const int64_t window = cfg->hint_window_ms();
    if (window <= 0) return false;
    cluster::PeerJudgement j = cl->Judgement(target);
    return j.health == cluster::Health::kUp || NowMs() - j.since_ms < window;
  };
  return config_->OnChange("hints-max-bytes", [this] { ApplyConfig(); });
}

// Anti-entropy: the partitions' hash trees, built by the workers from their data in the
// background (replication/anti_entropy.h), and the reap floors stored by earlier runs.
Status Server::KeepTrees() {
  trees_ = std::make_unique<kv::PartitionTrees>(static_cast<uint32_t>(config_->partitions()));
  RETURN_IF_ERROR(trees_->LoadReapFloors(store_.get()));
  ks_shared_.trees = trees_.get();
  return Status::OK();
}

Status Server::RestoreMembership() {
  // Members met before are remembered, so a restarted node has its ring at once.
  std::string stored;
  Status ms = store_->GetMeta("members", &stored);
  if (ms.ok()) {
    cluster_->Restore(cluster::DecodeMembership(stored));
  } else if (!ms.IsNotFound()) {
    return ms;
  }
  storage::Store* store = store_.get();
  cluster_->set_on_change([store](const cluster::Membership& members) {
    Status s = store->PutMetaDurably("members", cluster::EncodeMembership(members));
    if (!s.ok()) LOG_WARNING("Could not store the member list: %s", s.message().c_str());
  });
  // Data stored while the membership was open (a data dir from before memberships were
  // sealed, or a seal that could not be stored): seal now, with the members remembered.
  if (!cluster_->sealed()) {
    bool has_data = false;
    RETURN_IF_ERROR(store_->Scan("", [&](std::string_view, std::string_view) {
      has_data = true;
      return false;
    }));
    if (has_data) cluster_->SealBeforeData();
  }
  return Status::OK();
}

Status Server::FlushAll() {
  ASSIGN_OR_RETURN(uint64_t next,
                   kv::FlushAll(store_.get(), epoch_, static_cast<uint64_t>(NowUs())));
  epoch_ = next;
  ks_shared_.actor.epoch = next;
  if (trees_) trees_->Reset(NowMs());  // every loop is paused: the trees are ours
  if (cache_) cache_->Clear();  // every partition is empty, so complete
  LOG_NOTICE("FLUSHALL: every record deleted, node %s now mints under epoch %llu",
             node_id_.c_str(), static_cast<unsigned long long>(next));
  return Status::OK();
}

}  // namespace dynis::server
