// Specification of the replication engine (replication/engine.h): record merging and the
// get and put state machines, driven by hand with explicit messages, transport failures and
// clock ticks. The replica's side is in replica_test.cc.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "fixtures.h"
#include "replication/engine.h"
#include "version/dvvset.h"

namespace dynis::replication {
namespace {

using version::Actor;
using version::DVVSet;
using version::Sibling;
using Type = Message::Type;

constexpr NodeId kSelf = 1;
const std::vector<NodeId> kList = {1, 2, 3};

using test::Records;
using test::Val;
using test::ValuesOf;

std::vector<Message> Sends(const Effects& fx) {
  std::vector<Message> out;
  for (const Effect& e : fx) {
    if (e.kind == Effect::Kind::kSend) out.push_back(e.msg);
  }
  return out;
}

std::vector<NodeId> SendTargets(const Effects& fx, Type type, bool repair) {
  std::vector<NodeId> out;
  for (const Message& m : Sends(fx)) {
    if (m.type == type && m.repair == repair) out.push_back(m.to);
  }
  return out;
}

const Effect* Find(const Effects& fx, Effect::Kind kind) {
  const Effect* found = nullptr;
  for (const Effect& e : fx) {
    if (e.kind == kind) {
      REQUIRE(found == nullptr);  // at most one of each kind in one step
      found = &e;
    }
  }
  return found;
}
const Effect* Completion(const Effects& fx) { return Find(fx, Effect::Kind::kComplete); }
const Effect* StoreLocal(const Effects& fx) { return Find(fx, Effect::Kind::kStoreLocal); }

Message GetResp(NodeId from, uint64_t op, const std::optional<std::string>& record,
                bool ok = true) {
  Message m;
  m.type = Type::kGetResp;
  m.from = from;
  m.to = kSelf;
  m.op = op;
  m.key = "k";
  m.found = record.has_value();
  if (record) m.record = *record;
  m.ok = ok;
  return m;
}

Message PutResp(NodeId from, uint64_t op, bool ok = true) {
  Message m;
  m.type = Type::kPutResp;
  m.from = from;
  m.to = kSelf;
  m.op = op;
  m.key = "k";
  m.ok = ok;
  return m;
}

Options Opts(bool lww = false) {
  Options o;
  o.timeout_ms = 1000;
  o.lww_merge = lww;
  return o;
}

// ---- merging -----------------------------------------------------------------

TEST_CASE("MergeRecords is the DVVSet sync of both records", "[engine]") {
  const Records r;
  CHECK(MergeRecords(r.a, r.b).value() == r.b);  // B descends A
  CHECK(MergeRecords(r.b, r.a).value() == r.b);
  CHECK(MergeRecords(r.a, r.c).value() == MergeRecords(r.c, r.a).value());
  CHECK(ValuesOf(r.ac) == std::vector<std::string>{"a", "c"});
  CHECK(MergeRecords(r.ac, r.ac).value() == r.ac);
  CHECK_FALSE(MergeRecords("garbage", r.a).ok());
  CHECK_FALSE(MergeRecords(r.a, "").ok());
}

TEST_CASE("lww MergeRecords keeps only the winner sibling", "[engine]") {
  const Records r;
  const std::string lww = MergeRecords(r.a, r.c, /*lww=*/true).value();
  CHECK(ValuesOf(lww) == std::vector<std::string>{"c"});  // hlc 15 > 10
  // The causal history of both survives: the collapsed record still descends both.
  auto set = DVVSet::Decode(lww);
  REQUIRE(set.ok());
  CHECK(version::Descends(set->Join(), DVVSet::Decode(r.a)->Join()));
  CHECK(version::Descends(set->Join(), DVVSet::Decode(r.c)->Join()));
}

// ---- get ------------------------------------------------------------------------------------

TEST_CASE("get asks the other members and completes at R with the merged record", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, r.a, &fx);
  CHECK(SendTargets(fx, Type::kGetReq, false) == std::vector<NodeId>{2, 3});
  for (const Message& m : Sends(fx)) {
    CHECK(m.from == kSelf);
    CHECK(m.op == op);
    CHECK(m.key == "k");
  }
  CHECK(Completion(fx) == nullptr);
  CHECK(c.inflight() == 1);
  CHECK(c.NextDeadline() == 1000);

  fx.clear();
  c.OnMessage(10, GetResp(2, op, r.c), &fx);
  // The local record is older than the merge: store first, then complete.
  REQUIRE(fx.size() == 2);
  CHECK(fx[0].kind == Effect::Kind::kStoreLocal);
  CHECK(fx[0].key == "k");
  CHECK(fx[0].op == op);
  CHECK(fx[0].record == r.ac);
  CHECK(fx[1].kind == Effect::Kind::kComplete);
  const Outcome& o = fx[1].outcome;
  CHECK(o.ok);
  CHECK(o.answered == 2);
  CHECK(o.required == 2);
  CHECK(o.replicas == 3);
  CHECK(o.found);
  CHECK(o.record == r.ac);

  // The op stays until everyone answered, then repairs exactly the stale members.
  CHECK(c.inflight() == 1);
  fx.clear();
  c.OnMessage(20, GetResp(3, op, r.a), &fx);
  CHECK(Completion(fx) == nullptr);
  CHECK(StoreLocal(fx) == nullptr);
  const std::vector<Message> repairs = Sends(fx);
  REQUIRE(repairs.size() == 2);  // 2 answered C only, 3 answered A only
  for (const Message& m : repairs) {
    CHECK(m.type == Type::kPutReq);
    CHECK(m.repair);
    CHECK(m.record == r.ac);
    CHECK(m.from == kSelf);
    CHECK(m.key == "k");
  }
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2, 3});
  CHECK(c.inflight() == 0);
  CHECK(c.NextDeadline() == std::numeric_limits<int64_t>::max());
}

TEST_CASE("get does not store locally when the local record is current", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, r.b, &fx);
  fx.clear();
  c.OnMessage(5, GetResp(2, op, r.a), &fx);  // older: merge is still B
  CHECK(StoreLocal(fx) == nullptr);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.record == r.b);
  fx.clear();
  c.OnMessage(6, GetResp(3, op, r.b), &fx);
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2});  // only the stale one
}

TEST_CASE("get of a missing key completes not found and repairs nothing", "[engine]") {
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, std::nullopt, &fx);
  fx.clear();
  c.OnMessage(1, GetResp(2, op, std::nullopt), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK_FALSE(Completion(fx)->outcome.found);
  CHECK(Completion(fx)->outcome.record.empty());
  fx.clear();
  c.OnMessage(2, GetResp(3, op, std::nullopt), &fx);
  CHECK(fx.empty());
  CHECK(c.inflight() == 0);
}

TEST_CASE("get with R=1 and the coordinator in the list completes inside StartGet",
          "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 1, r.a, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 1);
  CHECK(Completion(fx)->outcome.record == r.a);
  CHECK(StoreLocal(fx) == nullptr);
  CHECK(SendTargets(fx, Type::kGetReq, false) == std::vector<NodeId>{2, 3});
  CHECK(c.inflight() == 1);  // still collecting for read repair

  SECTION("a member that answers absent gets the record") {
    fx.clear();
    c.OnMessage(1, GetResp(2, op, std::nullopt), &fx);
    c.OnMessage(2, GetResp(3, op, r.a), &fx);
    CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2});
    CHECK(c.inflight() == 0);
  }
  SECTION("a late answer with newer data grows the merge and is stored locally again") {
    fx.clear();
    c.OnMessage(1, GetResp(2, op, r.c), &fx);
    REQUIRE(StoreLocal(fx) != nullptr);
    CHECK(StoreLocal(fx)->record == r.ac);
    CHECK(Completion(fx) == nullptr);  // completes once
    fx.clear();
    c.OnMessage(2, GetResp(3, op, r.b), &fx);
    const std::string abc = MergeRecords(r.ac, r.b).value();
    REQUIRE(StoreLocal(fx) != nullptr);
    CHECK(StoreLocal(fx)->record == abc);
    CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2, 3});
    for (const Message& m : Sends(fx)) CHECK(m.record == abc);
  }
}

TEST_CASE("get read-repairs at the deadline the members that never answered", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(100, "k", kList, 2, r.b, &fx);
  c.OnMessage(110, GetResp(2, op, r.b), &fx);
  REQUIRE(Completion(fx) != nullptr);
  fx.clear();
  c.OnTick(1099, &fx);  // not yet
  CHECK(fx.empty());
  CHECK(c.NextDeadline() == 1100);
  c.OnTick(1100, &fx);
  CHECK(Completion(fx) == nullptr);  // already completed ok
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{3});
  CHECK(c.inflight() == 0);
  fx.clear();
  c.OnMessage(1200, GetResp(3, op, r.a), &fx);  // too late: forgotten
  CHECK(fx.empty());
}

TEST_CASE("get fails fast when quorum became impossible, still repairing afterwards",
          "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 3, r.a, &fx);
  fx.clear();
  c.OnMessage(1, GetResp(2, op, std::nullopt, /*ok=*/false), &fx);
  REQUIRE(Completion(fx) != nullptr);
  const Outcome& o = Completion(fx)->outcome;
  CHECK_FALSE(o.ok);
  CHECK(o.answered == 1);
  CHECK(o.required == 3);
  CHECK(o.replicas == 3);
  CHECK(c.inflight() == 1);
  fx.clear();
  c.OnMessage(2, GetResp(3, op, r.c), &fx);
  CHECK(Completion(fx) == nullptr);
  REQUIRE(StoreLocal(fx) != nullptr);  // the merge grew after completion
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2, 3});
  CHECK(c.inflight() == 0);
}

TEST_CASE("get fails at the deadline saying how many answered", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 3, r.a, &fx);
  c.OnMessage(5, GetResp(3, op, r.a), &fx);
  fx.clear();
  c.OnTick(1000, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 2);
  CHECK(Completion(fx)->outcome.found);
  CHECK(Completion(fx)->outcome.record == r.a);
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2});
  CHECK(c.inflight() == 0);
}

TEST_CASE("a send failure counts as a failed member and is repaired", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, r.a, &fx);
  fx.clear();
  c.OnSendFailed(1, op, 2, &fx);
  CHECK(fx.empty());              // 3 can still make R=2
  c.OnSendFailed(1, op, 2, &fx);  // duplicate: ignored
  c.OnSendFailed(1, op, 7, &fx);  // not a member: ignored
  c.OnSendFailed(1, op, kSelf, &fx);
  c.OnSendFailed(1, op + 100, 3, &fx);  // unknown op
  CHECK(fx.empty());
  c.OnMessage(2, GetResp(3, op, r.a), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{2});
}

TEST_CASE("an answer that does not decode is a failure", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 3, r.a, &fx);
  fx.clear();
  c.OnMessage(1, GetResp(2, op, std::string("\x01\x05zz")), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 1);
}

TEST_CASE("get with the coordinator outside the preference list", "[engine]") {
  const Records r;
  Engine c(9, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, r.a, &fx);
  CHECK(SendTargets(fx, Type::kGetReq, false) == std::vector<NodeId>{1, 2, 3});
  auto resp = [&](NodeId from, const std::optional<std::string>& rec) {
    Message m = GetResp(from, op, rec);
    m.to = 9;
    return m;
  };
  fx.clear();
  c.OnMessage(1, resp(1, r.c), &fx);
  CHECK(fx.empty());  // its own record is merged but is not an answer: 1 of 2
  c.OnMessage(2, resp(2, std::nullopt), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 2);
  CHECK(Completion(fx)->outcome.replicas == 3);
  CHECK(Completion(fx)->outcome.record == r.ac);  // the local A joined the merge
  REQUIRE(StoreLocal(fx) != nullptr);
  CHECK(StoreLocal(fx)->record == r.ac);
  fx.clear();
  c.OnMessage(3, resp(3, r.ac), &fx);
  CHECK(SendTargets(fx, Type::kPutReq, true) == std::vector<NodeId>{1, 2});
  for (const Message& m : Sends(fx)) CHECK(m.from == 9);
}

TEST_CASE("R is capped at the preference list's size", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", {1, 2}, 3, r.a, &fx);
  fx.clear();
  c.OnMessage(1, GetResp(2, op, r.a), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.required == 2);
  CHECK(Completion(fx)->outcome.replicas == 2);
  CHECK(c.inflight() == 0);  // everyone answered, nobody stale
  CHECK(Sends(fx).empty());
}

TEST_CASE("lww_merge collapses a get's merge to one sibling", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts(/*lww=*/true));
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kList, 2, r.a, &fx);
  fx.clear();
  c.OnMessage(1, GetResp(2, op, r.c), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(ValuesOf(Completion(fx)->outcome.record) == std::vector<std::string>{"c"});
}

// ---- put ------------------------------------------------------------------------------------

TEST_CASE("put sends the record to the others and completes after W stores", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kList, 2, r.b, &fx);
  CHECK(SendTargets(fx, Type::kPutReq, false) == std::vector<NodeId>{2, 3});
  for (const Message& m : Sends(fx)) {
    CHECK(m.record == r.b);
    CHECK(m.op == op);
    CHECK(m.from == kSelf);
    CHECK_FALSE(m.repair);
  }
  CHECK(Completion(fx) == nullptr);
  fx.clear();
  c.OnLocalStored(1, op, true, &fx);  // the caller's batch holding the write is committed
  CHECK(fx.empty());
  c.OnMessage(3, PutResp(3, op), &fx);
  REQUIRE(fx.size() == 1);
  REQUIRE(Completion(fx) != nullptr);
  const Outcome& o = Completion(fx)->outcome;
  CHECK(o.ok);
  CHECK(o.answered == 2);
  CHECK(o.required == 2);
  CHECK(o.replicas == 3);
  CHECK_FALSE(o.found);
  // Decided, but open until the last member answers: one that never does is reported.
  CHECK(c.inflight() == 1);
  fx.clear();
  c.OnMessage(4, PutResp(2, op), &fx);  // late ack of a finished op: completes nothing
  CHECK(fx.empty());
  CHECK(c.inflight() == 0);
}

TEST_CASE("put with W=1 and the coordinator in the list completes at the local commit",
          "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kList, 1, r.a, &fx);
  CHECK(SendTargets(fx, Type::kPutReq, false) == std::vector<NodeId>{2, 3});
  CHECK(Completion(fx) == nullptr);  // not durable yet
  fx.clear();
  c.OnLocalStored(0, op, true, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 1);
  // The members that never answer are reported at the deadline, and the op is forgotten.
  fx.clear();
  c.OnTick(Opts().timeout_ms, &fx);
  std::vector<NodeId> unanswered;
  for (const Effect& e : fx) {
    if (e.kind == Effect::Kind::kUnanswered) unanswered.push_back(e.msg.to);
  }
  CHECK(unanswered == std::vector<NodeId>{2, 3});
  CHECK(Completion(fx) == nullptr);
  CHECK(c.inflight() == 0);
}

TEST_CASE("put counts the coordinator's own copy only once its commit is reported",
          "[engine]") {
  // Each row is a put of "k" to {1, 2, 3} with the coordinator (1) in the list, then a script
  // of events: "L+" / "L-" the local commit succeeded / failed, "2+" / "3-" a replica stored /
  // refused, "2x" its send failed, "T" a tick past the deadline. Every event happens before
  // the deadline except T. `at` is the event that completes the put (-1: none does).
  struct Row {
    const char* what;
    int w;
    std::vector<std::string> events;
    int at;
    bool ok;
    int answered;
  };
  const std::vector<Row> rows = {
      {"W=1: complete at the local commit", 1, {"L+"}, 0, true, 1},
      {"W=1: a replica's store is enough", 1, {"2+", "L+"}, 0, true, 1},
      {"W=1: a failed commit waits for a replica", 1, {"L-", "3+"}, 1, true, 1},
      {"W=1: a failed commit and no replica: fails at the deadline", 1, {"L-", "T"}, 1, false, 0},
      {"W=1: a failed commit, two failed replicas: at once", 1, {"L-", "2-", "3x"}, 2, false, 0},
      {"W=2: a replica alone waits for the commit", 2, {"2+", "L+"}, 1, true, 2},
      {"W=2: replicas answering first do not need the commit", 2, {"2+", "3+", "L-"}, 1, true, 2},
      {"W=2: a failed commit and one replica: the deadline", 2, {"L-", "2+", "T"}, 2, false, 1},
      {"W=2: a failed commit and a failed replica: at once", 2, {"L-", "3-"}, 1, false, 0},
      {"W=2: never reported, the replicas decide", 2, {"2+", "3+"}, 1, true, 2},
      {"W=2: never reported, one replica: the deadline", 2, {"2+", "T"}, 1, false, 1},
      {"W=3: a failed commit makes it impossible at once", 3, {"L-"}, 0, false, 0},
      {"W=3: a second report is ignored", 3, {"L+", "L+", "2+", "T"}, 3, false, 2},
      {"W=3: a failure after success is ignored", 3, {"L+", "L-", "2+", "3+"}, 3, true, 3},
  };
  const Records r;
  for (const Row& row : rows) {
    INFO(row.what);
    Engine c(kSelf, Opts());
    Effects fx;
    const uint64_t op = c.StartPut(0, "k", kList, row.w, r.a, &fx);
    CHECK(Completion(fx) == nullptr);  // nothing is durable when the put starts
    int completed_at = -1;
    for (size_t i = 0; i < row.events.size(); i++) {
      const std::string& e = row.events[i];
      fx.clear();
      const int64_t now = static_cast<int64_t>(i) + 1;
      if (e == "L+" || e == "L-") {
        c.OnLocalStored(now, op, e == "L+", &fx);
      } else if (e == "T") {
        c.OnTick(5000, &fx);
      } else if (e[1] == 'x') {
        c.OnSendFailed(now, op, static_cast<NodeId>(e[0] - '0'), &fx);
      } else {
        c.OnMessage(now, PutResp(static_cast<NodeId>(e[0] - '0'), op, e[1] == '+'), &fx);
      }
      if (const Effect* done = Completion(fx)) {
        INFO("event " << i << " " << e);
        CHECK(completed_at == -1);  // completes once
        completed_at = static_cast<int>(i);
        CHECK(done->outcome.ok == row.ok);
        CHECK(done->outcome.answered == row.answered);
        CHECK(done->outcome.required == row.w);
      }
      CHECK(Sends(fx).empty());  // answers and commits send nothing more
    }
    CHECK(completed_at == row.at);
  }
}

TEST_CASE("a local commit report for a get, an unknown or a late op changes nothing",
          "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t g = c.StartGet(0, "k", kList, 3, r.a, &fx);
  fx.clear();
  c.OnLocalStored(1, g, false, &fx);  // gets count their local read, not a commit
  c.OnLocalStored(1, g + 100, true, &fx);
  CHECK(fx.empty());
  CHECK(c.inflight() == 1);
  const uint64_t p = c.StartPut(0, "k", kList, 1, r.a, &fx);
  fx.clear();
  c.OnLocalStored(1000, p, true, &fx);  // at the deadline: too late, like any answer
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 0);
}

TEST_CASE("put fails fast when quorum became impossible", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  SECTION("a refusal") {
    const uint64_t op = c.StartPut(0, "k", kList, 3, r.a, &fx);
    c.OnLocalStored(0, op, true, &fx);
    fx.clear();
    c.OnMessage(1, PutResp(2, op, /*ok=*/false), &fx);
    REQUIRE(Completion(fx) != nullptr);
    CHECK_FALSE(Completion(fx)->outcome.ok);
    CHECK(Completion(fx)->outcome.answered == 1);
    CHECK(Completion(fx)->outcome.required == 3);
  }
  SECTION("two transport failures") {
    const uint64_t op = c.StartPut(0, "k", kList, 2, r.a, &fx);
    c.OnLocalStored(0, op, true, &fx);
    fx.clear();
    c.OnSendFailed(1, op, 2, &fx);
    CHECK(fx.empty());
    c.OnSendFailed(1, op, 3, &fx);
    REQUIRE(Completion(fx) != nullptr);
    CHECK_FALSE(Completion(fx)->outcome.ok);
    CHECK(Completion(fx)->outcome.answered == 1);
    CHECK(c.inflight() == 0);  // every member answered
  }
}

TEST_CASE("a sloppy list shorter than N still needs W distinct stores", "[engine]") {
  // An isolated node: every other member held down and no fallback left, so its list is
  // itself. W=2 of N=3 must not shrink to the list's one member (found by the chaos suite:
  // an isolated node acknowledged writes it alone held).
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op =
      c.StartPut(0, "k", std::vector<Replica>{{kSelf, true, 0}}, Quorum{2, 0, 3}, r.a, &fx);
  REQUIRE(Completion(fx) != nullptr);  // impossible at once: one member can never give two
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.required == 2);
  CHECK(Completion(fx)->outcome.replicas == 3);
  fx.clear();
  c.OnLocalStored(1, op, true, &fx);
  CHECK(Completion(fx) == nullptr);
  // Reads alike.
  fx.clear();
  c.StartGet(2, "k", std::vector<Replica>{{kSelf, true, 0}}, Quorum{2, 0, 3}, r.a, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  // Without n the list's size caps the requirement, as for N above the member count.
  fx.clear();
  c.StartPut(3, "k2", std::vector<Replica>{{kSelf, true, 0}}, Quorum{2, 0, 0}, r.a, &fx);
  CHECK(Completion(fx) == nullptr);  // waits for its one member's commit
}

TEST_CASE("put fails at the deadline with the count of stores", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(50, "k", kList, 3, r.a, &fx);
  c.OnLocalStored(50, op, true, &fx);
  c.OnMessage(60, PutResp(2, op), &fx);
  fx.clear();
  CHECK(c.NextDeadline() == 1050);
  c.OnTick(1049, &fx);
  CHECK(fx.empty());
  c.OnTick(2000, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 2);
  CHECK(Sends(fx).empty());  // puts do not repair
  CHECK(c.inflight() == 0);
}

TEST_CASE("an answer arriving at the deadline is too late", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kList, 2, r.a, &fx);
  c.OnLocalStored(0, op, true, &fx);
  fx.clear();
  c.OnMessage(1000, PutResp(2, op), &fx);  // OnTick(1000) was not called yet
  REQUIRE(Completion(fx) != nullptr);
  CHECK_FALSE(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 1);
}

TEST_CASE("W is capped at the preference list's size; coordinator outside the list",
          "[engine]") {
  const Records r;
  Engine c(9, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", {1, 2}, 3, r.a, &fx);
  CHECK(SendTargets(fx, Type::kPutReq, false) == std::vector<NodeId>{1, 2});
  fx.clear();
  c.OnLocalStored(0, op, true, &fx);  // its own store is not one of the replicas
  CHECK(fx.empty());
  Message m = PutResp(1, op);
  m.to = 9;
  c.OnMessage(1, m, &fx);
  CHECK(fx.empty());  // the coordinator does not count: 1 of 2
  m.from = 2;
  c.OnMessage(2, m, &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.required == 2);
  CHECK(Completion(fx)->outcome.answered == 2);
}

TEST_CASE("duplicate, stray and unknown responses are ignored", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kList, 3, r.a, &fx);
  c.OnLocalStored(0, op, true, &fx);
  fx.clear();
  c.OnMessage(1, PutResp(2, op), &fx);
  c.OnMessage(2, PutResp(2, op), &fx);         // duplicate: still one store from 2
  c.OnMessage(2, PutResp(2, op, false), &fx);  // a later contradiction from 2: ignored
  c.OnMessage(3, PutResp(7, op), &fx);         // not a member
  c.OnMessage(3, PutResp(kSelf, op), &fx);     // the coordinator itself
  c.OnMessage(3, PutResp(3, op + 1), &fx);     // unknown op
  c.OnMessage(3, GetResp(3, op, r.a), &fx);    // wrong type for a put
  Message repair_ack = PutResp(3, op);
  repair_ack.repair = true;
  c.OnMessage(3, repair_ack, &fx);  // repair acks complete nothing
  Message other_key = PutResp(3, op);
  other_key.key = "other";
  c.OnMessage(3, other_key, &fx);
  Message not_mine = PutResp(3, op);
  not_mine.to = 5;
  c.OnMessage(3, not_mine, &fx);
  CHECK(fx.empty());
  c.OnMessage(4, PutResp(3, op), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.answered == 3);
}

TEST_CASE("operations get distinct ids; Reset drops everything silently", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t g = c.StartGet(0, "k", kList, 2, r.a, &fx);
  const uint64_t p = c.StartPut(500, "k", kList, 2, r.a, &fx);
  CHECK(g != p);
  CHECK(c.inflight() == 2);
  CHECK(c.NextDeadline() == 1000);
  fx.clear();
  c.Reset();
  CHECK(c.inflight() == 0);
  CHECK(c.NextDeadline() == std::numeric_limits<int64_t>::max());
  c.OnMessage(1, GetResp(2, g, r.a), &fx);
  c.OnTick(5000, &fx);
  CHECK(fx.empty());
  // Ids are not reused after a reset, so a stale answer cannot match a new operation.
  CHECK(c.StartGet(0, "k", kList, 2, r.a, &fx) > p);
}

TEST_CASE("a duplicated member in the preference list counts once", "[engine]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", {1, 2, 2}, 3, r.a, &fx);
  CHECK(SendTargets(fx, Type::kPutReq, false) == std::vector<NodeId>{2});
  c.OnLocalStored(0, op, true, &fx);
  fx.clear();
  c.OnMessage(1, PutResp(2, op), &fx);
  REQUIRE(Completion(fx) != nullptr);
  CHECK(Completion(fx)->outcome.ok);
  CHECK(Completion(fx)->outcome.replicas == 2);
}

// ---- sloppy quorum ----------------------------------------------------------------------------

// Self (1) and primary 2 up, primary 3 held down: fallback 4 stands in for it.
const std::vector<Replica> kSloppy = {{1, true, 0}, {2, true, 0}, {4, false, 3}};

std::vector<Effect> OfKind(const Effects& fx, Effect::Kind kind) {
  std::vector<Effect> out;
  for (const Effect& e : fx) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}
std::vector<NodeId> Unanswered(const Effects& fx) {
  std::vector<NodeId> out;
  for (const Effect& e : OfKind(fx, Effect::Kind::kUnanswered)) out.push_back(e.msg.to);
  return out;
}

TEST_CASE("a put to a fallback names the primary it stands in for", "[engine][sloppy]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kSloppy, Quorum{2, 0}, r.a, &fx);
  const std::vector<Message> sends = Sends(fx);
  REQUIRE(sends.size() == 2);
  CHECK(sends[0].to == 2);
  CHECK(sends[0].hint_for == 0);
  CHECK(sends[1].to == 4);
  CHECK(sends[1].hint_for == 3);
  for (const Message& m : sends) {
    CHECK(m.type == Type::kPutReq);
    CHECK(m.record == r.a);
    CHECK_FALSE(m.repair);
  }
  // The fallback counts toward W: local + fallback reach W=2.
  fx.clear();
  c.OnLocalStored(1, op, true, &fx);
  c.OnMessage(2, PutResp(4, op), &fx);
  const Effect* done = Completion(fx);
  REQUIRE(done != nullptr);
  CHECK(done->outcome.ok);
  CHECK(done->outcome.answered == 2);
  CHECK(done->outcome.primaries_answered == 1);
  CHECK(done->outcome.primary_required == 0);
  CHECK(done->outcome.replicas == 3);
}

TEST_CASE("a get counts a fallback toward R; read repair skips the fallback",
          "[engine][sloppy]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartGet(0, "k", kSloppy, Quorum{2, 0}, r.b, &fx);
  CHECK(SendTargets(fx, Type::kGetReq, false) == std::vector<NodeId>{2, 4});
  for (const Message& m : Sends(fx)) CHECK(m.hint_for == 0);
  fx.clear();
  c.OnMessage(5, GetResp(4, op, r.a), &fx);  // the fallback holds an older record
  const Effect* done = Completion(fx);
  REQUIRE(done != nullptr);
  CHECK(done->outcome.ok);
  CHECK(done->outcome.answered == 2);
  CHECK(done->outcome.primaries_answered == 1);
  CHECK(done->outcome.record == r.b);
  fx.clear();
  c.OnMessage(6, GetResp(2, op, std::nullopt), &fx);  // primary 2 has nothing
  // Only the primary is repaired: a repair of the fallback would make it a hint for primary
  // 3, and every read of an old key would fill hints-max-bytes with data 3 already has.
  const std::vector<Message> repairs = Sends(fx);
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].to == 2);
  CHECK(repairs[0].type == Type::kPutReq);
  CHECK(repairs[0].repair);
  CHECK(repairs[0].record == r.b);
  CHECK(repairs[0].hint_for == 0);
  CHECK(c.inflight() == 0);
}

TEST_CASE("PW=2 with one primary and one fallback stored is not enough", "[engine][sloppy]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const uint64_t op = c.StartPut(0, "k", kSloppy, Quorum{2, 2}, r.a, &fx);
  c.OnLocalStored(1, op, true, &fx);
  c.OnMessage(2, PutResp(4, op), &fx);
  CHECK(Completion(fx) == nullptr);  // W met, PW not: primary 2 may still store it

  SECTION("the last primary fails: impossible") {
    fx.clear();
    c.OnMessage(3, PutResp(2, op, /*ok=*/false), &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK_FALSE(done->outcome.ok);
    CHECK(done->outcome.answered == 2);
    CHECK(done->outcome.primaries_answered == 1);
    CHECK(done->outcome.primary_required == 2);
    CHECK(done->outcome.required == 2);
    CHECK(c.inflight() == 0);
  }
  SECTION("the last primary never answers: the deadline fails it") {
    fx.clear();
    c.OnTick(1000, &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK_FALSE(done->outcome.ok);
    CHECK(done->outcome.primaries_answered == 1);
    CHECK(done->outcome.primary_required == 2);
    CHECK(Unanswered(fx) == std::vector<NodeId>{2});
  }
  SECTION("the last primary stores it: reached") {
    fx.clear();
    c.OnMessage(3, PutResp(2, op), &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK(done->outcome.ok);
    CHECK(done->outcome.answered == 3);
    CHECK(done->outcome.primaries_answered == 2);
  }
}

TEST_CASE("PR with no primary in the list fails at once", "[engine][sloppy]") {
  Engine c(kSelf, Opts());
  Effects fx;
  const std::vector<Replica> list = {{1, false, 2}, {4, false, 3}};
  c.StartGet(0, "k", list, Quorum{1, 1}, std::nullopt, &fx);
  const Effect* done = Completion(fx);
  REQUIRE(done != nullptr);
  CHECK_FALSE(done->outcome.ok);
  CHECK(done->outcome.primary_required == 1);
  CHECK(done->outcome.primaries_answered == 0);
}

TEST_CASE("members that never answered are reported at the deadline, never self",
          "[engine][sloppy]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  SECTION("a get") {
    const uint64_t op = c.StartGet(0, "k", kSloppy, Quorum{2, 0}, r.a, &fx);
    c.OnMessage(5, GetResp(2, op, r.a), &fx);
    REQUIRE(Completion(fx) != nullptr);
    CHECK(Unanswered(fx).empty());  // not before the deadline
    fx.clear();
    c.OnTick(999, &fx);
    CHECK(fx.empty());
    c.OnTick(1000, &fx);
    CHECK(Unanswered(fx) == std::vector<NodeId>{4});
    for (const Effect& e : OfKind(fx, Effect::Kind::kUnanswered)) CHECK(e.op == op);
  }
  SECTION("a put whose local copy never reported") {
    c.StartPut(0, "k", kSloppy, Quorum{2, 0}, r.a, &fx);
    fx.clear();
    c.OnTick(1000, &fx);
    REQUIRE(Completion(fx) != nullptr);
    CHECK(Unanswered(fx) == std::vector<NodeId>{2, 4});  // self is never reported
  }
  SECTION("a failed send is a failure, not unanswered") {
    const uint64_t op = c.StartPut(0, "k", kSloppy, Quorum{2, 0}, r.a, &fx);
    c.OnSendFailed(1, op, 4, &fx);
    fx.clear();
    c.OnTick(1000, &fx);
    CHECK(Unanswered(fx) == std::vector<NodeId>{2});
  }
  SECTION("everyone answered: nothing to report") {
    const uint64_t op = c.StartPut(0, "k", kSloppy, Quorum{2, 0}, r.a, &fx);
    c.OnLocalStored(1, op, true, &fx);
    c.OnMessage(2, PutResp(2, op), &fx);
    c.OnMessage(3, PutResp(4, op), &fx);
    CHECK(c.inflight() == 0);
    fx.clear();
    c.OnTick(1000, &fx);
    CHECK(fx.empty());
  }
}

TEST_CASE("R/W cap at the key's replicas, not at a list shortened by peers held down",
          "[engine][sloppy]") {
  const Records r;
  Engine c(kSelf, Opts());
  Effects fx;
  const std::vector<Replica> alone = {{1, true, 0}};  // 2 and 3 held down, no fallback
  SECTION("a put needs W stores: impossible at once") {
    const uint64_t op = c.StartPut(0, "k", alone, Quorum{2, 0, 3}, r.a, &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK_FALSE(done->outcome.ok);
    CHECK(done->outcome.required == 2);
    CHECK(done->outcome.replicas == 3);  // N, as NOQUORUM says it: the key has 3 replicas
    fx.clear();
    c.OnLocalStored(1, op, true, &fx);
    CHECK(Completion(fx) == nullptr);
  }
  SECTION("a get needs R answers") {
    c.StartGet(0, "k", alone, Quorum{2, 0, 3}, r.a, &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK_FALSE(done->outcome.ok);
    CHECK(done->outcome.required == 2);
  }
  SECTION("PW too") {
    const std::vector<Replica> list = {{1, true, 0}, {4, false, 3}};
    c.StartPut(0, "k", list, Quorum{1, 3, 3}, r.a, &fx);
    const Effect* done = Completion(fx);
    REQUIRE(done != nullptr);
    CHECK_FALSE(done->outcome.ok);
    CHECK(done->outcome.primary_required == 3);
  }
  SECTION("n unset, or a ring smaller than N: capped at the list") {
    c.StartPut(0, "k", alone, Quorum{2, 0, 0}, r.a, &fx);
    CHECK(Completion(fx) == nullptr);
    const uint64_t op = c.StartPut(0, "k", alone, Quorum{2, 0, 1}, r.a, &fx);
    fx.clear();
    c.OnLocalStored(1, op, true, &fx);
    REQUIRE(Completion(fx) != nullptr);
    CHECK(Completion(fx)->outcome.ok);
    CHECK(Completion(fx)->outcome.required == 1);
  }
}

}  // namespace
}  // namespace dynis::replication
