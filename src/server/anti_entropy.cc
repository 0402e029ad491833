// The worker's side of anti-entropy (replication/anti_entropy.h): the loop's AntiEntropy over
// the node's trees, fed the cluster's topology and the node's judgement of its peers, its
// requests carried over this loop's peer links (DYNIS.AAE, and repairs as DYNIS.GETREC /
// DYNIS.PUTREC), its answers fed back.
#include <algorithm>

#include "cluster/preflist.h"
#include "common/clock.h"
#include "server/server.h"
#include "transport/verbs.h"

namespace dynis::server {

namespace {

// A cron tick this late means the loop is behind: no new exchange starts (foreground first).
constexpr int64_t kOverloadLagMs = 250;

}  // namespace

const replication::AaeTopology& Worker::AaeTopo() {
  const ClusterView& view = cluster_view();
  if (aae_topo_.version == view.version + 1) return aae_topo_;
  aae_topo_.version = view.version + 1;  // 0 is "never built"
  const uint32_t partitions = keyspace_.shared().partitions;
  const uint32_t n = server_->cluster()->n_val();
  aae_topo_.primaries.assign(partitions, {});
  for (uint32_t p = 0; p < partitions; p++) {
    aae_topo_.primaries[p] = cluster::Primaries(view.ring, p, n);
  }
  aae_topo_.members.clear();
  for (const Member& m : view.members) {
    if (m.state == cluster::MemberState::kMember) aae_topo_.members.push_back(m.id);
  }
  return aae_topo_;
}

void Worker::RunAntiEntropy(int64_t now_ms) {
  const int64_t lag = last_cron_ms_ == 0 ? 0 : now_ms - last_cron_ms_ - 100;
  last_cron_ms_ = now_ms;
  kv::PartitionTrees* trees = server_->trees_.get();
  if (trees == nullptr) return;
  const Config& cfg = server_->config();
  replication::AaeBoard& board = server_->aae_board();
  if (!aae_) {
    replication::AaeOptions o;
    o.self = server_->cluster()->self().id;
    aae_ = std::make_unique<replication::AntiEntropy>(o, &keyspace_, trees, &board, id_,
                                                      server_->worker_count());
  }
  // The node's rates, shared by its loops; the rest as configured now.
  replication::AaeOptions& o = aae_->options();
  const int64_t loops = server_->worker_count();
  auto share = [loops](int64_t rate) { return rate == 0 ? 0 : std::max<int64_t>(1, rate / loops); };
  o.exchange_rate = share(cfg.aae_exchange_rate());
  o.repair_rate = share(cfg.aae_repair_rate());
  o.round_ms = cfg.aae_round_ms();
  o.rebuild_interval_ms = cfg.aae_rebuild_interval_ms();
  o.tombstone_grace_ms = static_cast<int64_t>(cfg.tombstone_grace_s()) * 1000;
  o.timeout_ms = std::max<int64_t>(3 * cfg.cluster_request_timeout_ms(), 5000);
  const replication::AaeTopology& topo = AaeTopo();
  for (int64_t p : board.TakeQueued(static_cast<uint32_t>(id_))) {
    aae_->ExchangeNow(topo, p < 0 ? std::nullopt : std::optional<uint32_t>(p));
  }
  // With aae off the trees are still kept (and built), so turning it on needs no rebuild.
  o.reap = cfg.aae();
  replication::AaeSends sends;
  if (cfg.aae()) {
    aae_->OnTick(now_ms, topo, &health_, lag > kOverloadLagMs, &sends);
  } else {
    aae_->BuildOnly(now_ms);
  }
  SendAae(now_ms, &sends);
}

void Worker::SendAae(int64_t now_ms, replication::AaeSends* sends) {
  for (replication::AaeRequest& req : sends->aae) {
    transport::PeerLink* link = LinkTo(req.to);
    if (link == nullptr || link->state() != transport::PeerLink::State::kReady) {
      replication::AaeSends more;
      aae_->OnSendFailed(now_ms, req.op, &more);
      SendAae(now_ms, &more);
      continue;
    }
    replication::AaeRequest id;  // what decoding the answer needs
    id.type = req.type;
    id.to = req.to;
    id.op = req.op;
    id.keys.resize(req.keys.size());
    link->Send(transport::AaeArgv(req), [this, id](const proto::Reply* reply, std::string_view) {
      if (!aae_) return;
      replication::AaeSends more;
      if (reply == nullptr) {
        aae_->OnSendFailed(NowMs(), id.op, &more);
      } else {
        aae_->OnResponse(NowMs(), transport::AaeResponseOf(id, *reply), &more);
      }
      SendAae(NowMs(), &more);
    });
  }
  for (replication::Message& m : sends->records) {
    transport::PeerLink* link = LinkTo(m.to);
    if (link == nullptr || link->state() != transport::PeerLink::State::kReady) {
      replication::AaeSends more;
      aae_->OnSendFailed(now_ms, m.op, &more);
      SendAae(now_ms, &more);
      continue;
    }
    replication::Message req = transport::RequestIdentity(m);  // m.aae is set
    link->Send(transport::RequestArgv(m), [this, req](const proto::Reply* reply, std::string_view) {
      if (!aae_) return;
      replication::AaeSends more;
      if (reply == nullptr) {
        aae_->OnSendFailed(NowMs(), req.op, &more);
      } else {
        aae_->OnRecordResponse(NowMs(), transport::ResponseOf(req, *reply), &more);
      }
      SendAae(NowMs(), &more);
    });
  }
}

}  // namespace dynis::server
