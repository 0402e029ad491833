// The command coordinator: see coordinator.h for the steps, engine.h for the per-key state
// machines it drives.
#include "replication/coordinator.h"

#include <algorithm>
#include <utility>

#include "common/errors.h"
#include "common/log.h"

namespace dynis::replication {

namespace {

// Effects are built in place: a CommandEffect holds several strings, so a temporary would cost
// a move and a destruction of each on the hot path.
void PushRun(uint64_t id, CommandEffects* out) {
  CommandEffect& e = out->emplace_back();
  e.kind = CommandEffect::Kind::kRun;
  e.command = id;
}

void PushSend(Message* msg, CommandEffects* out) {
  CommandEffect& e = out->emplace_back();
  e.kind = CommandEffect::Kind::kSend;
  e.msg = std::move(*msg);
}

}  // namespace

Coordinator::Coordinator(CoordinatorOptions opts, kv::Keyspace* ks)
    : opts_(opts), ks_(ks), engine_(opts.self, opts.engine) {}

Coordinator::~Coordinator() = default;

cluster::Preflist Coordinator::PreflistOf(std::string_view key) const {
  if (ring_ == nullptr) return {};
  const uint32_t partition = ks_->PartitionOf(key);
  if (!opts_.sloppy || health_ == nullptr || !health_->AnyDown()) {
    return cluster::PreflistOf(*ring_, partition, opts_.n_val);
  }
  const PeerHealth* health = health_;
  const NodeId self = opts_.self;
  return cluster::PreflistOf(*ring_, partition, opts_.n_val,
                             [health, self](NodeId n) { return n == self || health->Up(n); });
}

int Coordinator::ReplicaCount() const {
  if (ring_ == nullptr) return 0;
  const size_t n = std::min<size_t>({opts_.n_val, ring_->members().size(), ring_->partitions()});
  return static_cast<int>(n);
}

std::vector<Replica> Coordinator::ReplicasOf(std::string_view key) const {
  cluster::Preflist pref = PreflistOf(key);
  std::vector<Replica> out;
  out.reserve(pref.size());
  for (const cluster::PreflistEntry& e : pref.entries) {
    out.push_back(Replica{e.node, e.primary, e.stands_in_for});
  }
  return out;
}

uint64_t Coordinator::Start(int64_t now_ms, CommandPlan plan, CommandEffects* out) {
  const uint64_t id = next_command_++;
  Command& c = commands_[id];
  c.plan = std::move(plan);
  if (!c.plan.read_first || c.plan.keys.empty()) {
    PushRun(id, out);
    return id;
  }
  Effects& fx = Scratch();
  for (std::string& key : c.plan.keys) {
    std::optional<std::string> local;
    bool with_hints = false;
    kv::Vnode& vnode = ks_->VnodeOf(key);
    Status s = vnode.Get(key, &local, &with_hints);
    if (!s.ok()) {
      c.error = std::string(err::kIoError) + " " + s.message();
      continue;
    }
    if (with_hints) {
      // A fallback coordinating: the command runs against the stored record, so what this
      // node holds for others joins it first.
      local_merges_++;
      kv::ReplicaPut put = vnode.Put(key, *local);
      if (!put.ok) LOG_WARNING("Storing a merged record locally failed: %s", put.error.c_str());
    }
    c.waiting++;
    uint64_t op = engine_.StartGet(now_ms, key, ReplicasOf(key),
                                   Quorum{c.plan.r, c.plan.pr, ReplicaCount()}, std::move(local),
                                   &fx);
    op_command_[op] = id;
  }
  if (c.waiting == 0) {
    Reply(id, c, out);
    return id;
  }
  Drain(now_ms, &fx, out);
  return id;
}

void Coordinator::Ran(int64_t now_ms, uint64_t id, std::string reply,
                      const std::vector<std::string>& written, CommandEffects* out) {
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  Command& c = it->second;
  c.ran = true;
  c.reply = std::move(reply);
  Effects& fx = Scratch();
  const Quorum w{std::max(1, c.plan.w), c.plan.pw, ReplicaCount()};
  for (const std::string& key : written) {
    std::optional<std::string> record;
    if (!ks_->LoadRecord(key, &record).ok() || !record) continue;
    std::vector<Replica> replicas = ReplicasOf(key);
    KeepHintsForUnreplaced(key, replicas, *record);
    for (auto r = replicas.begin(); r != replicas.end(); ++r) {
      // This node stands in for a primary held down: its copy is that primary's hint too (in
      // the same batch, so it counts toward W on the same commit).
      if (r->node != opts_.self || r->primary) continue;
      kv::ReplicaPut hint = ks_->VnodeOf(key).PutHint(r->hint_for, key, *record);
      if (!hint.ok) {
        // Refused (hints-max-bytes, hint-window): like a remote fallback answering the error,
        // this copy will never reach the primary, so it is no store toward W (w.n keeps W).
        LOG_WARNING("Keeping a hint of a local write failed: %s", hint.error.c_str());
        replicas.erase(r);
        break;
      }
    }
    c.waiting++;
    uint64_t op = engine_.StartPut(now_ms, key, replicas, w, std::move(*record), &fx);
    op_command_[op] = id;
    uncommitted_puts_.push_back(op);  // counted once the batch holding it is committed
  }
  if (c.waiting == 0) {
    Reply(id, c, out);
    return;
  }
  Drain(now_ms, &fx, out);
}

void Coordinator::KeepHintsForUnreplaced(const std::string& key,
                                         const std::vector<Replica>& replicas,
                                         const std::string& record) {
  if (ring_ == nullptr || static_cast<int>(replicas.size()) >= ReplicaCount()) return;
  // Primaries held down with nobody left to stand in for them (fewer nodes up than N): this
  // node keeps their hint itself, as a Cassandra coordinator does, so that they catch up
  // without a read once back. It is no extra copy toward W: the quorum is unchanged.
  for (NodeId p : cluster::Primaries(*ring_, ks_->PartitionOf(key), opts_.n_val)) {
    bool present = false;
    for (const Replica& r : replicas) present = present || r.node == p || r.hint_for == p;
    if (present || p == opts_.self) continue;
    kv::ReplicaPut hint = ks_->VnodeOf(key).PutHint(p, key, record);
    if (!hint.ok) LOG_WARNING("Keeping a hint for a replica held down failed: %s", hint.error.c_str());
  }
}

void Coordinator::OnMessage(int64_t now_ms, const Message& m, CommandEffects* out) {
  if (health_ != nullptr) health_->Answered(now_ms, m.from);
  Effects& fx = Scratch();
  engine_.OnMessage(now_ms, m, &fx);
  Drain(now_ms, &fx, out);
}

void Coordinator::OnSendFailed(int64_t now_ms, uint64_t op, NodeId to, CommandEffects* out,
                               bool not_sent) {
  if (health_ != nullptr && !not_sent) {
    health_->Failed(now_ms, to, "a request could not be delivered");
  }
  Effects& fx = Scratch();
  engine_.OnSendFailed(now_ms, op, to, &fx);
  Drain(now_ms, &fx, out);
}

bool Coordinator::OnLocalCommit(const Status& s) {
  if (uncommitted_puts_.empty()) return false;
  for (uint64_t op : uncommitted_puts_) committed_puts_.emplace_back(op, s);
  uncommitted_puts_.clear();
  return true;
}

void Coordinator::ReportLocalCommits(int64_t now_ms, CommandEffects* out) {
  if (committed_puts_.empty()) return;
  std::vector<std::pair<uint64_t, Status>> committed;
  committed.swap(committed_puts_);
  Effects& fx = Scratch();
  for (const auto& [op, status] : committed) {
    if (!status.ok()) {
      auto it = op_command_.find(op);
      auto c = it == op_command_.end() ? commands_.end() : commands_.find(it->second);
      if (c != commands_.end() && c->second.local_error.empty()) {
        c->second.local_error = std::string(err::kIoError) + " " + status.message();
      }
    }
    engine_.OnLocalStored(now_ms, op, status.ok(), &fx);
  }
  Drain(now_ms, &fx, out);
}

void Coordinator::OnTick(int64_t now_ms, CommandEffects* out) {
  Effects& fx = Scratch();
  engine_.OnTick(now_ms, &fx);
  Drain(now_ms, &fx, out);
}

void Coordinator::Reset() {
  engine_.Reset();
  commands_.clear();
  op_command_.clear();
  uncommitted_puts_.clear();
  committed_puts_.clear();
}

Effects& Coordinator::Scratch() {
  fx_.clear();  // keeps its capacity: no allocation per reply on the hot path
  return fx_;
}

void Coordinator::Drain(int64_t now_ms, Effects* fx, CommandEffects* out) {
  // In order; the two buffers trade places and keep their capacity. (Handling an effect adds
  // none today: a run is a command effect, a local merge only stores.)
  Effects& batch = batch_;
  while (!fx->empty()) {
    batch.clear();
    batch.swap(*fx);
    for (Effect& e : batch) {
      switch (e.kind) {
        case Effect::Kind::kSend:
          PushSend(&e.msg, out);
          break;
        case Effect::Kind::kStoreLocal: {
          // The coordinator is a replica too: its own store takes the merge like a peer's.
          local_merges_++;
          kv::ReplicaPut put = ks_->VnodeOf(e.key).Put(e.key, e.record);
          if (!put.ok) LOG_WARNING("Storing a merged record locally failed: %s", put.error.c_str());
          break;
        }
        case Effect::Kind::kComplete:
          Completed(e, out);
          break;
        case Effect::Kind::kUnanswered:
          if (health_ != nullptr) {
            health_->Failed(now_ms, e.msg.to, "no answer within cluster-request-timeout");
          }
          break;
      }
    }
  }
  batch.clear();
}

void Coordinator::Completed(const Effect& e, CommandEffects* out) {
  auto op = op_command_.find(e.op);
  if (op == op_command_.end()) return;
  const uint64_t id = op->second;
  op_command_.erase(op);
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  Command& c = it->second;
  if (!e.outcome.ok && c.error.empty()) {
    const Outcome& o = e.outcome;
    c.quorum_failed = true;
    const err::QuorumCounts counts{o.answered, o.required, o.replicas, o.primaries_answered,
                                   o.primary_required};
    c.error = c.local_error.empty() ? err::NoQuorum(!c.ran, counts)
                                    : err::LocalStoreFailed(c.local_error, counts);
  }
  if (--c.waiting > 0) return;
  if (c.error.empty() && !c.ran) {
    PushRun(id, out);  // the reads are in: run it
    return;
  }
  Reply(id, c, out);
}

void Coordinator::Reply(uint64_t id, Command& c, CommandEffects* out) {
  CommandEffect& r = out->emplace_back();
  r.kind = CommandEffect::Kind::kReply;
  r.command = id;
  r.quorum_failed = c.quorum_failed;
  if (c.error.empty()) {
    r.reply = std::move(c.reply);
  } else {
    r.error = std::move(c.error);
  }
  commands_.erase(id);
}

}  // namespace dynis::replication
