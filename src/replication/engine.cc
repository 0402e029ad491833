// The replication engine: see engine.h for the protocol, quorum.h for the decisions it applies.
#include "replication/engine.h"

#include <algorithm>
#include <utility>

#include "replication/quorum.h"
#include "version/dvvset.h"

namespace dynis::replication {

namespace {

using version::DVVSet;

// The negative control: every sibling but the LWW winner goes. Dropping values (rather than
// rebuilding the set) keeps the causal history, so only the siblings collapse.
void CollapseToLww(DVVSet* set) {
  const version::Sibling* winner = set->LwwWinner();
  if (winner == nullptr) return;
  const version::Sibling keep = *winner;
  bool kept = false;
  set->RemoveValuesIf([&](const version::Sibling& s) {
    if (!kept && s == keep) {
      kept = true;
      return false;
    }
    return true;
  });
}

// A member list without duplicates, in preference order: a node that appears twice is still
// one replica and answers once.
std::vector<NodeId> Distinct(const std::vector<NodeId>& preflist) {
  std::vector<NodeId> out;
  out.reserve(preflist.size());
  for (NodeId n : preflist) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

}  // namespace

StatusOr<std::string> MergeRecords(std::string_view a, std::string_view b, bool lww) {
  ASSIGN_OR_RETURN(DVVSet x, DVVSet::Decode(a));
  ASSIGN_OR_RETURN(DVVSet y, DVVSet::Decode(b));
  x.Sync(y);
  if (lww) CollapseToLww(&x);
  return x.Encode();
}

ReplicaStep HandleRequest(const Message& req, const std::optional<std::string>& local, bool lww) {
  ReplicaStep step;
  Message& resp = step.response;
  resp.from = req.to;
  resp.to = req.from;
  resp.op = req.op;
  resp.key = req.key;
  resp.repair = req.repair;  // lets the coordinator drop repair acks without a lookup
  switch (req.type) {
    case Message::Type::kGetReq:
      // The stored bytes as they are: the coordinator decodes them and counts a record that does
      // not decode as a failed answer.
      resp.type = Message::Type::kGetResp;
      resp.found = local.has_value();
      if (local.has_value()) resp.record = *local;
      return step;
    case Message::Type::kPutReq: {
      resp.type = Message::Type::kPutResp;
      auto incoming = DVVSet::Decode(req.record);
      if (!incoming.ok()) {
        resp.ok = false;
        return step;
      }
      DVVSet merged = std::move(incoming).value();
      step.observed_hlc = merged.MaxHlc();
      if (local.has_value()) {
        auto mine = DVVSet::Decode(*local);
        // A local record that does not decode is not overwritten: that would silently drop
        // whatever it held. The write fails on this replica instead.
        if (!mine.ok()) {
          resp.ok = false;
          resp.error = "ERR the replica's record of this key does not decode";
          return step;
        }
        if (size_t reused = mine->CountReusedDots(merged); reused > 0) {
          step.dot_conflict = true;
          resp.ok = false;
          resp.error = "ERR dot conflict: " + std::to_string(reused) +
                       " value(s) reuse a version this replica holds for another write";
        }
        merged.Sync(mine.value());
      }
      if (lww) CollapseToLww(&merged);
      std::string encoded = merged.Encode();
      if (!local.has_value() || encoded != *local) step.store = std::move(encoded);
      return step;
    }
    case Message::Type::kGetResp:
    case Message::Type::kPutResp:
      break;
  }
  // Not a request: answer with a failure of the same type so a confused peer learns nothing
  // was done.
  resp.type = req.type;
  resp.ok = false;
  return step;
}

// ---- Coordinator ----------------------------------------------------------------------------

struct Coordinator::Op {
  enum class Type : uint8_t { kGet, kPut };
  Type type = Type::kGet;
  uint64_t id = 0;
  std::string key;
  // One answer per distinct member in preference order; the coordinator's own entry is filled
  // at start for gets, by OnLocalStored for puts. For puts, kRecord means "stored" (its record
  // is unused) and kFailed "refused".
  std::vector<MemberAnswer> answers;
  int required = 0;
  int successes = 0;
  int failures = 0;
  int64_t deadline = 0;
  bool completed = false;

  // Get only. `merged` is the encoding of `merged_set`; nullopt until some record was seen.
  DVVSet merged_set;
  std::optional<std::string> merged;
  // What the caller's local store holds as far as this op knows: the record StartGet was given,
  // then every record sent with kStoreLocal.
  std::optional<std::string> local;

  int replicas() const { return static_cast<int>(answers.size()); }
  MemberAnswer* Member(NodeId node) {
    for (MemberAnswer& a : answers) {
      if (a.node == node) return &a;
    }
    return nullptr;
  }
  bool AllAnswered() const {
    return std::all_of(answers.begin(), answers.end(),
                       [](const MemberAnswer& a) { return a.kind != MemberAnswer::Kind::kNone; });
  }
  QuorumState Decide() const { return DecideQuorum(replicas(), required, successes, failures); }

  // Folds one encoded record into a get's merge. False when it does not decode (the caller
  // counts the answer as failed).
  bool MergeAnswer(std::string_view record, bool lww) {
    auto decoded = DVVSet::Decode(record);
    if (!decoded.ok()) return false;
    if (!merged.has_value()) {
      merged_set = std::move(decoded).value();
    } else {
      merged_set.Sync(decoded.value());
    }
    if (lww) CollapseToLww(&merged_set);
    merged = merged_set.Encode();
    return true;
  }

  // Keeps the caller's store at least as new as the merge (before a completion, and after it
  // whenever a late answer grew the merge).
  void StoreLocalIfOlder(Effects* out) {
    if (!merged.has_value() || merged == local) return;
    Effect e;
    e.kind = Effect::Kind::kStoreLocal;
    e.op = id;
    e.key = key;
    e.record = *merged;
    out->push_back(std::move(e));
    local = merged;
  }

  void Complete(bool ok, Effects* out) {
    if (type == Type::kGet) StoreLocalIfOlder(out);
    Effect e;
    e.kind = Effect::Kind::kComplete;
    e.op = id;
    e.key = key;
    e.outcome.ok = ok;
    e.outcome.answered = successes;
    e.outcome.required = required;
    e.outcome.replicas = replicas();
    if (type == Type::kGet && merged.has_value()) {
      e.outcome.found = true;
      e.outcome.record = *merged;
    }
    out->push_back(std::move(e));
    completed = true;
  }

  void Repair(NodeId self, Effects* out) const {
    for (NodeId to : RepairTargets(self, answers, merged)) {
      Effect e;
      e.kind = Effect::Kind::kSend;
      e.msg.type = Message::Type::kPutReq;
      e.msg.from = self;
      e.msg.to = to;
      e.msg.op = id;
      e.msg.key = key;
      e.msg.record = *merged;
      e.msg.repair = true;
      out->push_back(std::move(e));
    }
  }
};

Coordinator::Coordinator(NodeId self, Options opts) : self_(self), opts_(opts) {}
Coordinator::~Coordinator() = default;

uint64_t Coordinator::StartGet(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist,
                               int r, std::optional<std::string> local, Effects* out) {
  auto op = std::make_unique<Op>();
  op->type = Op::Type::kGet;
  op->id = next_op_++;
  op->key = std::move(key);
  op->deadline = now_ms + opts_.timeout_ms;
  for (NodeId n : Distinct(preflist)) op->answers.push_back(MemberAnswer{n, {}, {}});
  op->required = QuorumRequired(op->replicas(), r);
  op->local = local;

  // The local record always joins the merge (data the coordinator holds is never dropped), but
  // it is one of the R answers only when the coordinator is a member.
  const bool local_ok = !local.has_value() || op->MergeAnswer(*local, opts_.lww_merge);
  if (MemberAnswer* self = op->Member(self_)) {
    if (!local_ok) {
      self->kind = MemberAnswer::Kind::kFailed;
      ++op->failures;
    } else {
      self->kind = local.has_value() ? MemberAnswer::Kind::kRecord : MemberAnswer::Kind::kAbsent;
      if (local.has_value()) self->record = *local;
      ++op->successes;
    }
  }

  for (const MemberAnswer& a : op->answers) {
    if (a.node == self_) continue;
    Effect e;
    e.kind = Effect::Kind::kSend;
    e.msg.type = Message::Type::kGetReq;
    e.msg.from = self_;
    e.msg.to = a.node;
    e.msg.op = op->id;
    e.msg.key = op->key;
    out->push_back(std::move(e));
  }
  const uint64_t id = op->id;
  ops_.emplace(id, std::move(op));
  Advance(id, out);
  return id;
}

uint64_t Coordinator::StartPut(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist,
                               int w, std::string record, Effects* out) {
  auto op = std::make_unique<Op>();
  op->type = Op::Type::kPut;
  op->id = next_op_++;
  op->key = std::move(key);
  op->deadline = now_ms + opts_.timeout_ms;
  for (NodeId n : Distinct(preflist)) op->answers.push_back(MemberAnswer{n, {}, {}});
  op->required = QuorumRequired(op->replicas(), w);
  // The coordinator's own entry stays unanswered until OnLocalStored: the caller's write is
  // not durable before its batch is committed.
  for (const MemberAnswer& a : op->answers) {
    if (a.node == self_) continue;
    Effect e;
    e.kind = Effect::Kind::kSend;
    e.msg.type = Message::Type::kPutReq;
    e.msg.from = self_;
    e.msg.to = a.node;
    e.msg.op = op->id;
    e.msg.key = op->key;
    e.msg.record = record;
    out->push_back(std::move(e));
  }
  const uint64_t id = op->id;
  ops_.emplace(id, std::move(op));
  Advance(id, out);
  return id;
}

void Coordinator::OnMessage(int64_t now_ms, const Message& m, Effects* out) {
  if (m.to != self_ || m.repair) return;  // repair acks complete nothing
  auto it = ops_.find(m.op);
  if (it == ops_.end()) return;
  Op* op = it->second.get();
  if (now_ms >= op->deadline) {
    // Too late: the deadline decides, exactly as if OnTick had run before this message.
    Expire(m.op, out);
    return;
  }
  const Message::Type expected =
      op->type == Op::Type::kGet ? Message::Type::kGetResp : Message::Type::kPutResp;
  if (m.type != expected || m.key != op->key || m.from == self_) return;
  MemberAnswer* a = op->Member(m.from);
  if (a == nullptr || a->kind != MemberAnswer::Kind::kNone) return;  // stranger or duplicate

  if (!m.ok) {
    a->kind = MemberAnswer::Kind::kFailed;
    ++op->failures;
  } else if (op->type == Op::Type::kPut) {
    a->kind = MemberAnswer::Kind::kRecord;
    ++op->successes;
  } else if (!m.found) {
    a->kind = MemberAnswer::Kind::kAbsent;
    ++op->successes;
  } else if (op->MergeAnswer(m.record, opts_.lww_merge)) {
    a->kind = MemberAnswer::Kind::kRecord;
    a->record = m.record;
    ++op->successes;
  } else {
    a->kind = MemberAnswer::Kind::kFailed;  // its record is unreadable: repair overwrites it
    ++op->failures;
  }
  Advance(m.op, out);
}

void Coordinator::OnSendFailed(int64_t now_ms, uint64_t op_id, NodeId to, Effects* out) {
  auto it = ops_.find(op_id);
  if (it == ops_.end()) return;
  Op* op = it->second.get();
  if (now_ms >= op->deadline) {
    Expire(op_id, out);
    return;
  }
  if (to == self_) return;
  MemberAnswer* a = op->Member(to);
  if (a == nullptr || a->kind != MemberAnswer::Kind::kNone) return;
  a->kind = MemberAnswer::Kind::kFailed;
  ++op->failures;
  Advance(op_id, out);
}

void Coordinator::OnLocalStored(int64_t now_ms, uint64_t op_id, bool ok, Effects* out) {
  auto it = ops_.find(op_id);
  if (it == ops_.end() || it->second->type != Op::Type::kPut) return;
  Op* op = it->second.get();
  if (now_ms >= op->deadline) {
    Expire(op_id, out);
    return;
  }
  MemberAnswer* self = op->Member(self_);
  if (self == nullptr || self->kind != MemberAnswer::Kind::kNone) return;
  if (ok) {
    self->kind = MemberAnswer::Kind::kRecord;
    ++op->successes;
  } else {
    self->kind = MemberAnswer::Kind::kFailed;
    ++op->failures;
  }
  Advance(op_id, out);
}

void Coordinator::OnTick(int64_t now_ms, Effects* out) {
  // Collected first: Expire erases from ops_. Op-id order keeps the effects deterministic.
  std::vector<uint64_t> due;
  for (const auto& [id, op] : ops_) {
    if (op->deadline <= now_ms) due.push_back(id);
  }
  for (uint64_t id : due) Expire(id, out);
}

int64_t Coordinator::NextDeadline() const {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const auto& [id, op] : ops_) next = std::min(next, op->deadline);
  return next;
}

size_t Coordinator::inflight() const { return ops_.size(); }

void Coordinator::Reset() { ops_.clear(); }

void Coordinator::Advance(uint64_t op_id, Effects* out) {
  auto it = ops_.find(op_id);
  Op* op = it->second.get();
  if (!op->completed) {
    const QuorumState state = op->Decide();
    if (state == QuorumState::kWait) return;
    op->Complete(state == QuorumState::kReached, out);
  } else if (op->type == Op::Type::kGet) {
    op->StoreLocalIfOlder(out);
  }
  // A put has nothing left to do once decided; a get waits for every member (or the deadline)
  // so that read repair knows who is stale.
  if (op->type == Op::Type::kPut) {
    ops_.erase(it);
  } else if (op->AllAnswered()) {
    op->Repair(self_, out);
    ops_.erase(it);
  }
}

void Coordinator::Expire(uint64_t op_id, Effects* out) {
  auto it = ops_.find(op_id);
  Op* op = it->second.get();
  if (!op->completed) op->Complete(false, out);
  if (op->type == Op::Type::kGet) op->Repair(self_, out);
  ops_.erase(it);
}

}  // namespace dynis::replication
