// The command coordinator: see coordinator.h for the steps, engine.h for the per-key state
// machines it drives.
#include "replication/coordinator.h"

#include <algorithm>
#include <utility>

#include "common/errors.h"
#include "common/log.h"

namespace dynis::replication {

namespace {

CommandEffect RunEffect(uint64_t id) {
  CommandEffect e;
  e.kind = CommandEffect::Kind::kRun;
  e.command = id;
  return e;
}

CommandEffect SendEffect(Message msg) {
  CommandEffect e;
  e.kind = CommandEffect::Kind::kSend;
  e.msg = std::move(msg);
  return e;
}

}  // namespace

// One command being coordinated.
struct Coordinator::Command {
  CommandPlan plan;
  int waiting = 0;           // engine operations not complete yet
  bool ran = false;          // the command ran locally: its puts are what it waits for
  bool quorum_failed = false;
  std::string error;         // the first failure: replied instead of the command's reply
  std::string local_error;   // a local copy's commit failed: why
  std::string reply;         // the command's reply, sent once its puts completed
};

Coordinator::Coordinator(CoordinatorOptions opts, kv::Keyspace* ks)
    : opts_(opts), ks_(ks), engine_(opts.self, opts.engine) {}

Coordinator::~Coordinator() = default;

std::vector<NodeId> Coordinator::PreflistOf(std::string_view key) const {
  if (ring_ == nullptr) return {};
  return cluster::PreflistOf(*ring_, ks_->PartitionOf(key), opts_.n_val).Nodes();
}

uint64_t Coordinator::Start(int64_t now_ms, CommandPlan plan, CommandEffects* out) {
  const uint64_t id = next_command_++;
  auto owned = std::make_unique<Command>();
  Command& c = *owned;
  c.plan = std::move(plan);
  commands_[id] = std::move(owned);
  if (!c.plan.read_first || c.plan.keys.empty()) {
    out->push_back(RunEffect(id));
    return id;
  }
  Effects fx;
  for (const std::string& key : c.plan.keys) {
    std::optional<std::string> local;
    Status s = ks_->VnodeOf(key).Get(key, &local);
    if (!s.ok()) {
      c.error = std::string(err::kIoError) + " " + s.message();
      continue;
    }
    c.waiting++;
    uint64_t op = engine_.StartGet(now_ms, key, PreflistOf(key), c.plan.r, std::move(local), &fx);
    op_command_[op] = id;
  }
  if (c.waiting == 0) {
    Reply(id, c, out);
    return id;
  }
  Drain(&fx, out);
  return id;
}

void Coordinator::Ran(int64_t now_ms, uint64_t id, std::string reply,
                      const std::vector<std::string>& written, CommandEffects* out) {
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  Command& c = *it->second;
  c.ran = true;
  c.reply = std::move(reply);
  Effects fx;
  const int w = std::max(1, c.plan.w);
  for (const std::string& key : written) {
    std::optional<std::string> record;
    if (!ks_->LoadRecord(key, &record).ok() || !record) continue;
    c.waiting++;
    uint64_t op = engine_.StartPut(now_ms, key, PreflistOf(key), w, std::move(*record), &fx);
    op_command_[op] = id;
    uncommitted_puts_.push_back(op);  // counted once the batch holding it is committed
  }
  if (c.waiting == 0) {
    Reply(id, c, out);
    return;
  }
  Drain(&fx, out);
}

void Coordinator::OnMessage(int64_t now_ms, const Message& m, CommandEffects* out) {
  Effects fx;
  engine_.OnMessage(now_ms, m, &fx);
  Drain(&fx, out);
}

void Coordinator::OnSendFailed(int64_t now_ms, uint64_t op, NodeId to, CommandEffects* out) {
  Effects fx;
  engine_.OnSendFailed(now_ms, op, to, &fx);
  Drain(&fx, out);
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
  Effects fx;
  for (const auto& [op, status] : committed) {
    if (!status.ok()) {
      auto it = op_command_.find(op);
      auto c = it == op_command_.end() ? commands_.end() : commands_.find(it->second);
      if (c != commands_.end() && c->second->local_error.empty()) {
        c->second->local_error = std::string(err::kIoError) + " " + status.message();
      }
    }
    engine_.OnLocalStored(now_ms, op, status.ok(), &fx);
  }
  Drain(&fx, out);
}

void Coordinator::OnTick(int64_t now_ms, CommandEffects* out) {
  Effects fx;
  engine_.OnTick(now_ms, &fx);
  Drain(&fx, out);
}

void Coordinator::Reset() {
  engine_.Reset();
  commands_.clear();
  op_command_.clear();
  uncommitted_puts_.clear();
  committed_puts_.clear();
}

void Coordinator::Drain(Effects* fx, CommandEffects* out) {
  // Completing a get may start nothing here (the run is an effect), but a local merge may
  // not be the last effect: take them in order until none is left.
  while (!fx->empty()) {
    Effects batch;
    batch.swap(*fx);
    for (Effect& e : batch) {
      switch (e.kind) {
        case Effect::Kind::kSend:
          out->push_back(SendEffect(std::move(e.msg)));
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
      }
    }
  }
}

void Coordinator::Completed(const Effect& e, CommandEffects* out) {
  auto op = op_command_.find(e.op);
  if (op == op_command_.end()) return;
  const uint64_t id = op->second;
  op_command_.erase(op);
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  Command& c = *it->second;
  if (!e.outcome.ok && c.error.empty()) {
    const Outcome& o = e.outcome;
    c.quorum_failed = true;
    c.error = c.local_error.empty()
                  ? err::NoQuorum(!c.ran, o.answered, o.required, o.replicas)
                  : err::LocalStoreFailed(c.local_error, o.answered, o.required, o.replicas);
  }
  if (--c.waiting > 0) return;
  if (c.error.empty() && !c.ran) {
    out->push_back(RunEffect(id));  // the reads are in: run it
    return;
  }
  Reply(id, c, out);
}

void Coordinator::Reply(uint64_t id, Command& c, CommandEffects* out) {
  CommandEffect r;
  r.kind = CommandEffect::Kind::kReply;
  r.command = id;
  r.quorum_failed = c.quorum_failed;
  if (c.error.empty()) {
    r.reply = std::move(c.reply);
  } else {
    r.error = std::move(c.error);
  }
  out->push_back(std::move(r));
  commands_.erase(id);
}

}  // namespace dynis::replication
