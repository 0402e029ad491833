// The replication engine: see engine.h for the protocol, quorum.h for the decisions it applies.
#include "replication/engine.h"

#include <algorithm>
#include <utility>

#include "replication/quorum.h"
#include "version/dvvset.h"

namespace dynis::replication {

namespace {

using version::DVVSet;

// A member list without duplicates, in preference order: a node that appears twice is still
// one replica and answers once.
std::vector<Replica> Distinct(const std::vector<Replica>& preflist) {
  std::vector<Replica> out;
  out.reserve(preflist.size());
  for (const Replica& r : preflist) {
    bool seen = false;
    for (const Replica& o : out) seen = seen || o.node == r.node;
    if (!seen) out.push_back(r);
  }
  return out;
}

std::vector<Replica> AllPrimaries(const std::vector<NodeId>& nodes) {
  std::vector<Replica> out;
  out.reserve(nodes.size());
  for (NodeId n : nodes) out.push_back(Replica{n, true, 0});
  return out;
}

}  // namespace

StatusOr<std::string> MergeRecords(std::string_view a, std::string_view b, bool lww) {
  ASSIGN_OR_RETURN(DVVSet x, DVVSet::Decode(a));
  ASSIGN_OR_RETURN(DVVSet y, DVVSet::Decode(b));
  x.Sync(y);
  if (lww) x.KeepLwwWinner();
  return x.Encode();
}

// ---- Coordinator ----------------------------------------------------------------------------

struct Engine::Op {
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
  int primaries = 0;
  int primary_required = 0;
  int primary_successes = 0;
  int primary_failures = 0;
  int n = 0;  // the replica count R/W are capped at (Quorum::n)
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
  QuorumState Decide() const {
    return DecideTally(QuorumTally{replicas(), required, successes, failures, primaries,
                                   primary_required, primary_successes, primary_failures});
  }
  void Succeeded(MemberAnswer* a, MemberAnswer::Kind kind) {
    a->kind = kind;
    ++successes;
    if (a->primary) ++primary_successes;
  }
  void FailedMember(MemberAnswer* a) {
    a->kind = MemberAnswer::Kind::kFailed;
    ++failures;
    if (a->primary) ++primary_failures;
  }
  // The members and their requirement, from the caller's list.
  void Members(const std::vector<Replica>& preflist, Quorum q) {
    for (const Replica& r : Distinct(preflist)) {
      MemberAnswer a;
      a.node = r.node;
      a.primary = r.primary;
      a.hint_for = r.primary ? 0 : r.hint_for;
      answers.push_back(std::move(a));
      if (r.primary) ++primaries;
    }
    n = q.n > 0 ? q.n : replicas();
    required = QuorumRequired(n, q.q);
    primary_required = q.pq > 0 ? QuorumRequired(n, q.pq) : 0;
  }
  // A request to member `a`.
  Message Request(NodeId self, Message::Type type, const MemberAnswer& a) const {
    Message m;
    m.type = type;
    m.from = self;
    m.to = a.node;
    m.op = id;
    m.key = key;
    if (type == Message::Type::kPutReq) m.hint_for = a.hint_for;
    return m;
  }
  // Members that never answered, at the deadline.
  void ReportUnanswered(NodeId self, Effects* out) const {
    for (const MemberAnswer& a : answers) {
      if (a.kind != MemberAnswer::Kind::kNone || a.node == self) continue;
      Effect& e = out->emplace_back();
      e.kind = Effect::Kind::kUnanswered;
      e.op = id;
      e.msg.to = a.node;
    }
  }
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
    if (lww) merged_set.KeepLwwWinner();
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
    e.outcome.replicas = n;
    e.outcome.primaries_answered = primary_successes;
    e.outcome.primary_required = primary_required;
    if (type == Type::kGet && merged.has_value()) {
      e.outcome.found = true;
      e.outcome.record = *merged;
    }
    out->push_back(std::move(e));
    completed = true;
  }

  void Repair(NodeId self, Effects* out) const {
    for (NodeId to : RepairTargets(self, answers, merged)) {
      const MemberAnswer* a = nullptr;
      for (const MemberAnswer& m : answers) a = m.node == to ? &m : a;
      Effect e;
      e.kind = Effect::Kind::kSend;
      e.msg = Request(self, Message::Type::kPutReq, *a);
      e.msg.record = *merged;
      e.msg.repair = true;
      out->push_back(std::move(e));
    }
  }
};

Engine::Engine(NodeId self, Options opts) : self_(self), opts_(opts) {}
Engine::~Engine() = default;

uint64_t Engine::StartGet(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist,
                          int r, std::optional<std::string> local, Effects* out) {
  return StartGet(now_ms, std::move(key), AllPrimaries(preflist), Quorum{r, 0}, std::move(local),
                  out);
}

uint64_t Engine::StartPut(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist,
                          int w, std::string record, Effects* out) {
  return StartPut(now_ms, std::move(key), AllPrimaries(preflist), Quorum{w, 0}, std::move(record),
                  out);
}

uint64_t Engine::StartGet(int64_t now_ms, std::string key, const std::vector<Replica>& preflist,
                          Quorum r, std::optional<std::string> local, Effects* out) {
  auto op = std::make_unique<Op>();
  op->type = Op::Type::kGet;
  op->id = next_op_++;
  op->key = std::move(key);
  op->deadline = now_ms + opts_.timeout_ms;
  op->Members(preflist, r);
  op->local = local;

  // The local record always joins the merge (data the coordinator holds is never dropped), but
  // it is one of the R answers only when the coordinator is a member.
  const bool local_ok = !local.has_value() || op->MergeAnswer(*local, opts_.lww_merge);
  if (MemberAnswer* self = op->Member(self_)) {
    if (!local_ok) {
      op->FailedMember(self);
    } else {
      op->Succeeded(self,
                    local.has_value() ? MemberAnswer::Kind::kRecord : MemberAnswer::Kind::kAbsent);
      if (local.has_value()) self->record = *local;
    }
  }

  for (const MemberAnswer& a : op->answers) {
    if (a.node == self_) continue;
    Effect& e = out->emplace_back();
    e.kind = Effect::Kind::kSend;
    e.msg = op->Request(self_, Message::Type::kGetReq, a);
  }
  const uint64_t id = op->id;
  ops_.emplace(id, std::move(op));
  Advance(id, out);
  return id;
}

uint64_t Engine::StartPut(int64_t now_ms, std::string key, const std::vector<Replica>& preflist,
                          Quorum w, std::string record, Effects* out) {
  auto op = std::make_unique<Op>();
  op->type = Op::Type::kPut;
  op->id = next_op_++;
  op->key = std::move(key);
  op->deadline = now_ms + opts_.timeout_ms;
  op->Members(preflist, w);
  // The coordinator's own entry stays unanswered until OnLocalStored: the caller's write is
  // not durable before its batch is committed.
  for (const MemberAnswer& a : op->answers) {
    if (a.node == self_) continue;
    Effect& e = out->emplace_back();
    e.kind = Effect::Kind::kSend;
    e.msg = op->Request(self_, Message::Type::kPutReq, a);
    e.msg.record = record;
  }
  const uint64_t id = op->id;
  ops_.emplace(id, std::move(op));
  Advance(id, out);
  return id;
}

void Engine::OnMessage(int64_t now_ms, const Message& m, Effects* out) {
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
    op->FailedMember(a);
  } else if (op->type == Op::Type::kPut) {
    op->Succeeded(a, MemberAnswer::Kind::kRecord);
  } else if (!m.found) {
    op->Succeeded(a, MemberAnswer::Kind::kAbsent);
  } else if (op->MergeAnswer(m.record, opts_.lww_merge)) {
    op->Succeeded(a, MemberAnswer::Kind::kRecord);
    a->record = m.record;
  } else {
    op->FailedMember(a);  // its record is unreadable: repair overwrites it
  }
  Advance(m.op, out);
}

void Engine::OnSendFailed(int64_t now_ms, uint64_t op_id, NodeId to, Effects* out) {
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
  op->FailedMember(a);
  Advance(op_id, out);
}

void Engine::OnLocalStored(int64_t now_ms, uint64_t op_id, bool ok, Effects* out) {
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
    op->Succeeded(self, MemberAnswer::Kind::kRecord);
  } else {
    op->FailedMember(self);
  }
  Advance(op_id, out);
}

void Engine::OnTick(int64_t now_ms, Effects* out) {
  // Collected first: Expire erases from ops_. Op-id order keeps the effects deterministic.
  std::vector<uint64_t> due;
  for (const auto& [id, op] : ops_) {
    if (op->deadline <= now_ms) due.push_back(id);
  }
  for (uint64_t id : due) Expire(id, out);
}

int64_t Engine::NextDeadline() const {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const auto& [id, op] : ops_) next = std::min(next, op->deadline);
  return next;
}

size_t Engine::inflight() const { return ops_.size(); }

void Engine::Reset() { ops_.clear(); }

void Engine::Advance(uint64_t op_id, Effects* out) {
  auto it = ops_.find(op_id);
  Op* op = it->second.get();
  if (!op->completed) {
    const QuorumState state = op->Decide();
    if (state == QuorumState::kWait) return;
    op->Complete(state == QuorumState::kReached, out);
  } else if (op->type == Op::Type::kGet) {
    op->StoreLocalIfOlder(out);
  }
  // Both wait for every member (or the deadline): a get so that read repair knows who is
  // stale, either so that a member that never answers is reported (kUnanswered).
  if (!op->AllAnswered()) return;
  if (op->type == Op::Type::kGet) op->Repair(self_, out);
  ops_.erase(it);
}

void Engine::Expire(uint64_t op_id, Effects* out) {
  auto it = ops_.find(op_id);
  Op* op = it->second.get();
  if (!op->completed) op->Complete(false, out);
  if (op->type == Op::Type::kGet) op->Repair(self_, out);
  op->ReportUnanswered(self_, out);
  ops_.erase(it);
}

}  // namespace dynis::replication
