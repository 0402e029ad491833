// Specification of the command coordinator (replication/coordinator.h): read first, run,
// replicate, reply, driven by hand on node 1 of a 3-node ring with N=3, over a real Keyspace on
// an in-memory store. Peers' answers, transport failures, the local commit and the clock are
// explicit inputs; the effects (send, run, reply) are checked in the order they leave.
#include "replication/coordinator.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "cluster/preflist.h"
#include "cluster/ring.h"
#include "common/clock.h"
#include "common/status.h"
#include "fixtures.h"
#include "kv/hints.h"
#include "kv/keyspace.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::replication {
namespace {

using Kind = CommandEffect::Kind;
using Type = Message::Type;
using version::Actor;
using version::DVVSet;
using version::Sibling;

constexpr NodeId kSelf = 1;
constexpr int64_t kTimeoutMs = 1000;
constexpr int64_t kT0 = 5000;
const std::string kOk = "+OK\r\n";

// Node 1 of a ring {1, 2, 3} with N=3: every key's preference list is all three nodes.
struct Node {
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;
  cluster::Ring ring{256, {1, 2, 3}, 3};
  std::unique_ptr<Coordinator> coord;

  Node() {
    store = test::InMemoryStore("coordinator-test");
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = Actor{kSelf, 1};
    shared.partitions = 256;
    shared.keep_clocks = true;
    ks = std::make_unique<kv::Keyspace>(&shared);
    CoordinatorOptions opts;
    opts.self = kSelf;
    opts.n_val = 3;
    opts.engine.timeout_ms = kTimeoutMs;
    coord = std::make_unique<Coordinator>(opts, ks.get());
    coord->set_ring(&ring);
    std::vector<cluster::NodeId> list = cluster::PreflistOf(ring, ks->PartitionOf("k"), 3).Nodes();
    std::sort(list.begin(), list.end());
    REQUIRE(list == std::vector<cluster::NodeId>{1, 2, 3});
  }

  // Stores `value` for key as a committed local write; returns the record.
  std::string Write(const std::string& key, const std::string& value) {
    REQUIRE(ks->Put(key, value, 0).ok());
    REQUIRE(ks->Commit().ok());
    return Record(key);
  }
  std::string Record(const std::string& key) {
    std::optional<std::string> r;
    REQUIRE(ks->LoadRecord(key, &r).ok());
    REQUIRE(r.has_value());
    return *r;
  }
  std::optional<std::string> Live(const std::string& key) {
    std::optional<kv::LiveValue> v;
    REQUIRE(ks->GetLive(key, &v).ok());
    if (!v) return std::nullopt;
    return v->value;
  }
};

// A record that descends `older` and holds only `value`, written by node `writer`.
std::string Descendant(const std::string& older, const std::string& value, NodeId writer) {
  auto set = DVVSet::Decode(older);
  REQUIRE(set.ok());
  Sibling s;
  s.value = value;
  s.hlc = set->MaxHlc() + (1 << 16);
  s.writer = writer;
  set->Update(set->Join(), s, Actor{writer, 0});
  return set->Encode();
}

CommandPlan Plan(bool read_first, int r, int w, std::vector<std::string> keys = {"k"}) {
  CommandPlan p;
  p.keys = std::move(keys);
  p.read_first = read_first;
  p.r = r;
  p.w = w;
  return p;
}

std::vector<Message> Sends(const CommandEffects& fx, Type type) {
  std::vector<Message> out;
  for (const CommandEffect& e : fx) {
    if (e.kind == Kind::kSend && e.msg.type == type) out.push_back(e.msg);
  }
  return out;
}

std::vector<NodeId> Targets(const std::vector<Message>& msgs) {
  std::vector<NodeId> out;
  for (const Message& m : msgs) out.push_back(m.to);
  std::sort(out.begin(), out.end());
  return out;
}

size_t Count(const CommandEffects& fx, Kind kind) {
  return static_cast<size_t>(
      std::count_if(fx.begin(), fx.end(), [&](const CommandEffect& e) { return e.kind == kind; }));
}

const CommandEffect* Reply(const CommandEffects& fx) {
  const CommandEffect* found = nullptr;
  for (const CommandEffect& e : fx) {
    if (e.kind != Kind::kReply) continue;
    REQUIRE(found == nullptr);  // one reply per command
    found = &e;
  }
  return found;
}

const Message& To(const std::vector<Message>& msgs, NodeId to) {
  for (const Message& m : msgs) {
    if (m.to == to) return m;
  }
  FAIL("no message to node " << to);
  return msgs.front();
}

// A peer's answer to a request sent by the coordinator.
Message GetResp(const Message& req, std::optional<std::string> record, bool ok = true) {
  Message m;
  m.type = Type::kGetResp;
  m.from = req.to;
  m.to = kSelf;
  m.op = req.op;
  m.key = req.key;
  m.ok = ok;
  m.found = record.has_value();
  if (record) m.record = *record;
  return m;
}
Message PutResp(const Message& req, bool ok = true) {
  Message m;
  m.type = Type::kPutResp;
  m.from = req.to;
  m.to = kSelf;
  m.op = req.op;
  m.key = req.key;
  m.ok = ok;
  return m;
}

// Starts a blind write of k=v and runs it; returns the effects of the run (the puts).
CommandEffects StartAndRunWrite(Node& n, int w, uint64_t* id) {
  CommandEffects fx;
  *id = n.coord->Start(kT0, Plan(false, 2, w), &fx);
  REQUIRE(fx.size() == 1);
  REQUIRE(fx[0].kind == Kind::kRun);
  CommandEffects ran;
  n.coord->Run(
      kT0, *id,
      [&] {
        REQUIRE(n.ks->Put("k", "v", 0).ok());
        return kOk;
      },
      &ran);
  return ran;
}

TEST_CASE("a blind write runs at once and then sends what it stored to the other replicas",
          "[coordinator]") {
  Node n;
  CommandEffects fx;
  const uint64_t id = n.coord->Start(kT0, Plan(false, 2, 2), &fx);
  REQUIRE(fx.size() == 1);  // no read, no send before the run
  CHECK(fx[0].kind == Kind::kRun);
  CHECK(fx[0].command == id);

  CommandEffects ran;
  n.coord->Run(
      kT0, id,
      [&] {
        REQUIRE(n.ks->Put("k", "v", 0).ok());
        return kOk;
      },
      &ran);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  CHECK(Targets(puts) == std::vector<NodeId>{2, 3});
  for (const Message& m : puts) {
    CHECK(m.from == kSelf);
    CHECK(m.key == "k");
    CHECK(m.record == n.Record("k"));
    CHECK_FALSE(m.repair);
  }
  CHECK(Sends(ran, Type::kGetReq).empty());
  CHECK(Count(ran, Kind::kReply) == 0);  // W=2 is not reached by the run alone
  CHECK(n.coord->inflight() == 1);
}

TEST_CASE("a write replies only after W durable stores, its local copy once committed",
          "[coordinator]") {
  Node n;
  uint64_t id = 0;
  CommandEffects ran = StartAndRunWrite(n, 2, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);

  SECTION("one peer and the committed local copy make W=2") {
    CommandEffects fx;
    n.coord->OnMessage(kT0 + 1, PutResp(To(puts, 2)), &fx);
    CHECK(Reply(fx) == nullptr);  // the local copy is not committed yet

    REQUIRE(n.coord->OnLocalCommit(n.ks->Commit()));  // recorded only, reported next
    n.coord->ReportLocalCommits(kT0 + 2, &fx);
    const CommandEffect* r = Reply(fx);
    REQUIRE(r != nullptr);
    CHECK(r->command == id);
    CHECK(r->error.empty());
    CHECK(r->reply == kOk);
    CHECK_FALSE(r->quorum_failed);
    CHECK(n.coord->inflight() == 0);
  }
  SECTION("two peers make W=2 without the local commit") {
    CommandEffects fx;
    n.coord->OnMessage(kT0 + 1, PutResp(To(puts, 2)), &fx);
    CHECK(Reply(fx) == nullptr);
    n.coord->OnMessage(kT0 + 1, PutResp(To(puts, 3)), &fx);
    const CommandEffect* r = Reply(fx);
    REQUIRE(r != nullptr);
    CHECK(r->command == id);
    CHECK(r->error.empty());
    CHECK(r->reply == kOk);
  }
  SECTION("the committed local copy alone does not make W=2") {
    REQUIRE(n.coord->OnLocalCommit(n.ks->Commit()));
    CommandEffects fx;
    n.coord->ReportLocalCommits(kT0 + 1, &fx);
    CHECK(Reply(fx) == nullptr);
  }
}

TEST_CASE("a failed local commit counts as a failed replica and its error is replied",
          "[coordinator]") {
  Node n;
  uint64_t id = 0;
  CommandEffects ran = StartAndRunWrite(n, 2, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);

  REQUIRE(n.coord->OnLocalCommit(Status::IOError("disk full")));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  CHECK(Reply(fx) == nullptr);  // both peers can still make W=2

  const char* want =
      "IOERR disk full; 0 of 2 required replicas stored it (W=2, N=3): 0 primaries, 0 fallbacks; it "
      "may still be applied";
  SECTION("a peer's failure makes W=2 impossible at once") {
    n.coord->OnSendFailed(kT0 + 2, To(puts, 2).op, 2, &fx);
    const CommandEffect* r = Reply(fx);
    REQUIRE(r != nullptr);
    CHECK(r->command == id);
    CHECK(r->error.rfind("IOERR", 0) == 0);
    CHECK(r->error.find("required replicas stored it (W=2, N=3)") != std::string::npos);
    CHECK(r->error == want);
    CHECK(r->quorum_failed);
    CHECK(r->reply.empty());
  }
  SECTION("one peer's store before the deadline is counted in the error") {
    n.coord->OnMessage(kT0 + 2, PutResp(To(puts, 3)), &fx);
    CHECK(Reply(fx) == nullptr);
    n.coord->OnTick(n.coord->NextDeadline(), &fx);
    const CommandEffect* r = Reply(fx);
    REQUIRE(r != nullptr);
    CHECK(r->error ==
          "IOERR disk full; 1 of 2 required replicas stored it (W=2, N=3): 1 primary, 0 fallbacks; it "
          "may still be applied");
  }
  SECTION("two peers' stores still reach W=2: the command succeeded elsewhere") {
    n.coord->OnMessage(kT0 + 2, PutResp(To(puts, 2)), &fx);
    n.coord->OnMessage(kT0 + 2, PutResp(To(puts, 3)), &fx);
    const CommandEffect* r = Reply(fx);
    REQUIRE(r != nullptr);
    CHECK(r->error.empty());
    CHECK(r->reply == kOk);
  }
}

TEST_CASE("a read-first command reads R replicas, merges a newer record, then runs",
          "[coordinator]") {
  Node n;
  const std::string old_record = n.Write("k", "old");
  const std::string newer = Descendant(old_record, "new", 2);

  CommandEffects fx;
  const uint64_t id = n.coord->Start(kT0, Plan(true, 2, 2), &fx);
  const std::vector<Message> gets = Sends(fx, Type::kGetReq);
  CHECK(Targets(gets) == std::vector<NodeId>{2, 3});
  for (const Message& m : gets) {
    CHECK(m.from == kSelf);
    CHECK(m.key == "k");
  }
  CHECK(Count(fx, Kind::kRun) == 0);  // not before R answered
  CHECK(Count(fx, Kind::kReply) == 0);

  CommandEffects answered;
  n.coord->OnMessage(kT0 + 1, GetResp(To(gets, 2), newer), &answered);
  REQUIRE(Count(answered, Kind::kRun) == 1);  // local + node 2 = R
  CHECK(answered.back().kind == Kind::kRun);
  CHECK(answered.back().command == id);
  CHECK(n.coord->local_merges() == 1);

  std::optional<std::string> seen;
  CommandEffects done;
  n.coord->Run(
      kT0 + 1, id,
      [&] {
        seen = n.Live("k");
        return std::string("$3\r\nnew\r\n");
      },
      &done);
  CHECK(seen == std::optional<std::string>("new"));  // the run saw what the quorum saw
  const CommandEffect* r = Reply(done);
  REQUIRE(r != nullptr);  // a read stores nothing: it replies after its run
  CHECK(r->reply == "$3\r\nnew\r\n");
  CHECK(Sends(done, Type::kPutReq).empty());
}

TEST_CASE("a read-first command waits for all R answers before it runs", "[coordinator]") {
  Node n;
  CommandEffects fx;
  n.coord->Start(kT0, Plan(true, 3, 2), &fx);
  const std::vector<Message> gets = Sends(fx, Type::kGetReq);
  REQUIRE(gets.size() == 2);
  CommandEffects one;
  n.coord->OnMessage(kT0 + 1, GetResp(To(gets, 2), std::nullopt), &one);
  CHECK(Count(one, Kind::kRun) == 0);  // R=3: local + node 2 is not enough
  CommandEffects two;
  n.coord->OnMessage(kT0 + 1, GetResp(To(gets, 3), std::nullopt), &two);
  CHECK(Count(two, Kind::kRun) == 1);
  CHECK(n.coord->local_merges() == 0);  // nobody held anything newer
}

TEST_CASE("a read quorum not reached replies NOQUORUM and never runs the command",
          "[coordinator]") {
  Node n;
  CommandEffects fx;
  const uint64_t id = n.coord->Start(kT0, Plan(true, 2, 2), &fx);
  const std::vector<Message> gets = Sends(fx, Type::kGetReq);
  REQUIRE(gets.size() == 2);

  CommandEffects all;
  n.coord->OnSendFailed(kT0 + 1, To(gets, 2).op, 2, &all);
  CHECK(Reply(all) == nullptr);  // node 3 can still make R=2
  n.coord->OnSendFailed(kT0 + 1, To(gets, 3).op, 3, &all);
  const CommandEffect* r = Reply(all);
  REQUIRE(r != nullptr);
  CHECK(r->command == id);
  CHECK(r->error == "NOQUORUM read: 1 of 2 required replicas answered (R=2, N=3): 1 primary, 0 fallbacks");
  CHECK(r->quorum_failed);
  n.coord->OnTick(kT0 + 10 * kTimeoutMs, &all);
  CHECK(Count(all, Kind::kRun) == 0);
  CHECK(n.coord->inflight() == 0);
}

TEST_CASE("a write quorum not reached by the deadline replies NOQUORUM write", "[coordinator]") {
  Node n;
  uint64_t id = 0;
  CommandEffects ran = StartAndRunWrite(n, 2, &id);
  REQUIRE(Sends(ran, Type::kPutReq).size() == 2);
  REQUIRE(n.coord->OnLocalCommit(n.ks->Commit()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  CHECK(Reply(fx) == nullptr);

  const int64_t deadline = n.coord->NextDeadline();
  CHECK(deadline == kT0 + kTimeoutMs);
  n.coord->OnTick(deadline - 1, &fx);
  CHECK(Reply(fx) == nullptr);  // not before the deadline
  n.coord->OnTick(deadline, &fx);
  const CommandEffect* r = Reply(fx);
  REQUIRE(r != nullptr);
  CHECK(r->command == id);
  CHECK(r->error ==
        "NOQUORUM write: 1 of 2 required replicas stored it (W=2, N=3): 1 primary, 0 fallbacks; it may "
        "still be applied");
  CHECK(r->quorum_failed);
  CHECK(r->reply.empty());
  CHECK(n.coord->inflight() == 0);
}

TEST_CASE("a command that stores nothing replies at once after its run, without sends",
          "[coordinator]") {
  Node n;
  CommandEffects fx;
  const uint64_t id = n.coord->Start(kT0, Plan(false, 2, 3), &fx);
  REQUIRE(fx.size() == 1);
  REQUIRE(fx[0].kind == Kind::kRun);
  CommandEffects ran;
  n.coord->Run(
      kT0, id, [] { return std::string(":0\r\n"); }, &ran);
  REQUIRE(ran.size() == 1);
  const CommandEffect* r = Reply(ran);
  REQUIRE(r != nullptr);
  CHECK(r->command == id);
  CHECK(r->reply == ":0\r\n");
  CHECK(r->error.empty());
  CHECK(n.coord->inflight() == 0);
}

TEST_CASE("Reset drops every command without effects", "[coordinator]") {
  Node n;
  CommandEffects fx;
  n.coord->Start(kT0, Plan(true, 2, 2), &fx);
  uint64_t write = 0;
  CommandEffects ran = StartAndRunWrite(n, 2, &write);
  const std::vector<Message> gets = Sends(fx, Type::kGetReq);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(gets.size() == 2);
  REQUIRE(puts.size() == 2);
  REQUIRE(n.coord->inflight() == 2);

  n.coord->Reset();
  CHECK(n.coord->inflight() == 0);
  CHECK(n.coord->NextDeadline() == std::numeric_limits<int64_t>::max());
  CommandEffects after;
  n.coord->OnMessage(kT0 + 1, GetResp(To(gets, 2), std::nullopt), &after);
  n.coord->OnMessage(kT0 + 1, PutResp(To(puts, 2)), &after);
  n.coord->OnMessage(kT0 + 1, PutResp(To(puts, 3)), &after);
  n.coord->OnSendFailed(kT0 + 1, To(gets, 3).op, 3, &after);
  CHECK_FALSE(n.coord->OnLocalCommit(Status::OK()));  // nothing left to commit
  n.coord->ReportLocalCommits(kT0 + 1, &after);
  n.coord->OnTick(kT0 + 10 * kTimeoutMs, &after);
  CHECK(after.empty());
}

TEST_CASE("after a read-first command, a replica that answered an older record is repaired",
          "[coordinator]") {
  Node n;
  const std::string old_record = n.Write("k", "old");
  const std::string newer = Descendant(old_record, "new", 2);

  CommandEffects fx;
  const uint64_t id = n.coord->Start(kT0, Plan(true, 2, 2), &fx);
  const std::vector<Message> gets = Sends(fx, Type::kGetReq);
  REQUIRE(gets.size() == 2);
  CommandEffects all;
  n.coord->OnMessage(kT0 + 1, GetResp(To(gets, 2), newer), &all);
  REQUIRE(Count(all, Kind::kRun) == 1);
  n.coord->Run(
      kT0 + 1, id, [] { return std::string("$3\r\nnew\r\n"); }, &all);
  REQUIRE(Reply(all) != nullptr);
  CHECK(Sends(all, Type::kPutReq).empty());  // nobody is known stale yet

  SECTION("once every replica answered") {
    CommandEffects repair;
    n.coord->OnMessage(kT0 + 2, GetResp(To(gets, 3), old_record), &repair);
    const std::vector<Message> puts = Sends(repair, Type::kPutReq);
    REQUIRE(puts.size() == 1);
    CHECK(puts[0].to == 3);
    CHECK(puts[0].repair);
    CHECK(puts[0].key == "k");
    CHECK(puts[0].record == n.Record("k"));  // the merged record: the newer one
    CHECK(Count(repair, Kind::kReply) == 0);
  }
  SECTION("at the deadline when a replica never answered") {
    CommandEffects repair;
    n.coord->OnTick(kT0 + kTimeoutMs, &repair);
    const std::vector<Message> puts = Sends(repair, Type::kPutReq);
    REQUIRE(puts.size() == 1);
    CHECK(puts[0].to == 3);
    CHECK(puts[0].repair);
    CHECK(Count(repair, Kind::kReply) == 0);
  }
  SECTION("not when it answered the merged record") {
    CommandEffects repair;
    n.coord->OnMessage(kT0 + 2, GetResp(To(gets, 3), newer), &repair);
    CHECK(Sends(repair, Type::kPutReq).empty());
  }
}

// ---- sloppy quorum ----------------------------------------------------------------------------

// The node's judgement as a test controls it, recording the evidence it is given.
struct FakeHealth : PeerHealth {
  std::set<NodeId> down;
  std::vector<NodeId> answered;
  std::vector<std::pair<NodeId, std::string>> failed;
  bool Up(NodeId node) const override { return down.count(node) == 0; }
  void Answered(int64_t, NodeId node) override { answered.push_back(node); }
  void Failed(int64_t, NodeId node, const char* why) override { failed.emplace_back(node, why); }
  std::vector<NodeId> FailedNodes() const {
    std::vector<NodeId> out;
    for (const auto& f : failed) out.push_back(f.first);
    return out;
  }
};

// Node 1 of a ring {1, 2, 3, 4} with N=3, keeping hints: a key has a fourth node to fall back
// on, and some keys have node 1 as that fourth node.
struct SloppyNode {
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::HintLedger ledger{256};
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;
  cluster::Ring ring{256, {1, 2, 3, 4}, 3};
  FakeHealth health;
  std::unique_ptr<Coordinator> coord;

  SloppyNode() {
    store = test::InMemoryStore("coordinator-sloppy-test");
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = Actor{kSelf, 1};
    shared.partitions = 256;
    shared.keep_clocks = true;
    shared.hints = &ledger;
    ks = std::make_unique<kv::Keyspace>(&shared);
    CoordinatorOptions opts;
    opts.self = kSelf;
    opts.n_val = 3;
    opts.engine.timeout_ms = kTimeoutMs;
    coord = std::make_unique<Coordinator>(opts, ks.get());
    coord->set_ring(&ring);
    coord->set_health(&health);
  }
  std::vector<NodeId> Primaries(const std::string& key) const {
    return cluster::Primaries(ring, ks->PartitionOf(key), 3);
  }
  // A key whose primaries do (or do not) include this node.
  std::string KeyWhere(bool self_primary) const {
    for (int i = 0; i < 10000; i++) {
      const std::string key = "key" + std::to_string(i);
      const std::vector<NodeId> p = Primaries(key);
      if ((std::find(p.begin(), p.end(), kSelf) != p.end()) == self_primary) return key;
    }
    FAIL("no such key");
    return "";
  }
  // Starts a blind write of key=v with W=w and PW=pw and runs it; the effects of the run.
  CommandEffects Write(const std::string& key, int w, int pw, uint64_t* id) {
    CommandEffects fx;
    CommandPlan plan = Plan(false, 2, w, {key});
    plan.pw = pw;
    *id = coord->Start(kT0, plan, &fx);
    REQUIRE(fx.size() == 1);
    REQUIRE(fx[0].kind == Kind::kRun);
    CommandEffects ran;
    coord->Run(
        kT0, *id,
        [&] {
          REQUIRE(ks->Put(key, "v", 0).ok());
          return kOk;
        },
        &ran);
    return ran;
  }
};

TEST_CASE("the preference list is strict without sloppy quorum or without health",
          "[coordinator][sloppy]") {
  SloppyNode n;
  const std::string key = n.KeyWhere(true);
  const std::vector<NodeId> primaries = n.Primaries(key);
  REQUIRE(primaries.size() == 3);
  const NodeId peer = primaries[0] == kSelf ? primaries[1] : primaries[0];
  n.health.down.insert(peer);

  n.coord->set_sloppy(false);
  cluster::Preflist strict = n.coord->PreflistOf(key);
  CHECK(strict.Nodes() == primaries);
  for (const cluster::PreflistEntry& e : strict.entries) CHECK(e.primary);

  n.coord->set_sloppy(true);
  n.coord->set_health(nullptr);
  CHECK(n.coord->PreflistOf(key).Nodes() == primaries);
}

TEST_CASE("a primary held down is replaced by a fallback that gets the write as a hint",
          "[coordinator][sloppy]") {
  SloppyNode n;
  const std::string key = n.KeyWhere(true);
  const std::vector<NodeId> primaries = n.Primaries(key);
  const NodeId down = primaries[0] == kSelf ? primaries[1] : primaries[0];
  NodeId spare = 0;
  for (NodeId id : {1, 2, 3, 4}) {
    if (std::find(primaries.begin(), primaries.end(), id) == primaries.end()) spare = id;
  }
  n.health.down.insert(down);

  const cluster::Preflist pref = n.coord->PreflistOf(key);
  REQUIRE(pref.size() == 3);
  CHECK_FALSE(pref.Contains(down));
  const cluster::PreflistEntry& fallback = pref.entries.back();
  CHECK(fallback.node == spare);
  CHECK_FALSE(fallback.primary);
  CHECK(fallback.stands_in_for == down);

  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 2, 0, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);
  for (const Message& m : puts) {
    CHECK(m.to != down);
    CHECK(m.hint_for == (m.to == spare ? down : 0));
  }
  // This node is a primary here: it keeps no hint.
  REQUIRE(n.ks->Commit().ok());
  CHECK_FALSE(n.ledger.Any());

  // The fallback's store counts toward W.
  REQUIRE(n.coord->OnLocalCommit(Status::OK()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  n.coord->OnMessage(kT0 + 2, PutResp(To(puts, spare)), &fx);
  const CommandEffect* reply = Reply(fx);
  REQUIRE(reply != nullptr);
  CHECK(reply->error.empty());
  CHECK(reply->reply == kOk);
  CHECK(n.health.answered == std::vector<NodeId>{spare});
}

TEST_CASE("PW counts only primaries: a fallback's store does not make it",
          "[coordinator][sloppy]") {
  SloppyNode n;
  const std::string key = n.KeyWhere(true);
  const std::vector<NodeId> primaries = n.Primaries(key);
  const NodeId down = primaries[0] == kSelf ? primaries[1] : primaries[0];
  n.health.down.insert(down);
  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 2, 2, &id);
  std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);
  REQUIRE(n.ks->Commit().ok());
  REQUIRE(n.coord->OnLocalCommit(Status::OK()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  for (const Message& m : puts) {
    if (m.hint_for != 0) n.coord->OnMessage(kT0 + 2, PutResp(m), &fx);
  }
  CHECK(Reply(fx) == nullptr);  // W=2 met, PW=2 not yet
  for (const Message& m : puts) {
    if (m.hint_for == 0) n.coord->OnMessage(kT0 + 3, PutResp(m, /*ok=*/false), &fx);
  }
  const CommandEffect* reply = Reply(fx);
  REQUIRE(reply != nullptr);
  CHECK(reply->quorum_failed);
  CHECK(reply->error ==
        "NOQUORUM write: 1 of 2 required primaries stored it (PW=2, W=2, N=3): 1 primary, 1 "
        "fallback; it may still be applied");
}

TEST_CASE("a coordinator that is the fallback keeps its own copy as a hint",
          "[coordinator][sloppy]") {
  SloppyNode n;
  const std::string key = n.KeyWhere(false);
  const std::vector<NodeId> primaries = n.Primaries(key);
  REQUIRE(primaries.size() == 3);
  const NodeId down = primaries[1];
  n.health.down.insert(down);
  const cluster::Preflist pref = n.coord->PreflistOf(key);
  REQUIRE(pref.Contains(kSelf));
  REQUIRE(pref.entries.back().node == kSelf);
  REQUIRE(pref.entries.back().stands_in_for == down);

  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 2, 0, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);
  for (const Message& m : puts) CHECK(m.hint_for == 0);  // both others are primaries
  REQUIRE(n.ks->Commit().ok());

  std::optional<std::string> stored;
  REQUIRE(n.ks->LoadHint(down, key, &stored).ok());
  REQUIRE(stored.has_value());
  kv::HintValue hint;
  REQUIRE(kv::DecodeHintValue(*stored, &hint));
  CHECK(hint.record == puts[0].record);
  CHECK(test::ValuesOf(hint.record) == std::vector<std::string>{"v"});
  CHECK(n.ledger.Totals(down).count == 1);
  CHECK(n.ledger.stored == 1);
  // Hints for nobody else.
  CHECK(n.ledger.Targets() == std::vector<uint64_t>{down});

  // Its own copy counts toward W with the commit of that batch.
  REQUIRE(n.coord->OnLocalCommit(Status::OK()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  n.coord->OnMessage(kT0 + 2, PutResp(puts[0]), &fx);
  const CommandEffect* reply = Reply(fx);
  REQUIRE(reply != nullptr);
  CHECK(reply->reply == kOk);
}

TEST_CASE("the health hears answers, failed sends and requests unanswered at the deadline",
          "[coordinator][sloppy]") {
  SloppyNode n;
  const std::string key = n.KeyWhere(true);
  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 3, 0, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);
  CommandEffects fx;
  SECTION("answers, even refusals, say the peer is up") {
    n.coord->OnMessage(kT0 + 1, PutResp(puts[0], /*ok=*/false), &fx);
    CHECK(n.health.answered == std::vector<NodeId>{puts[0].to});
    CHECK(n.health.failed.empty());
  }
  SECTION("a failed send") {
    n.coord->OnSendFailed(kT0 + 1, puts[1].op, puts[1].to, &fx);
    CHECK(n.health.FailedNodes() == std::vector<NodeId>{puts[1].to});
    CHECK(n.health.answered.empty());
  }
  SECTION("no answer by the deadline") {
    n.coord->OnMessage(kT0 + 1, PutResp(puts[0]), &fx);
    n.coord->OnTick(kT0 + kTimeoutMs - 1, &fx);
    CHECK(n.health.failed.empty());
    n.coord->OnTick(kT0 + kTimeoutMs, &fx);
    CHECK(n.health.FailedNodes() == std::vector<NodeId>{puts[1].to});  // never self
    REQUIRE(Reply(fx) != nullptr);
    CHECK(Reply(fx)->quorum_failed);
  }
  SECTION("a quorum read's silent member too") {
    for (const Message& m : puts) n.coord->OnMessage(kT0 + 1, PutResp(m), &fx);
    CommandEffects gfx;
    CommandPlan plan = Plan(true, 2, 2, {key});
    n.coord->Start(kT0, plan, &gfx);
    const std::vector<Message> gets = Sends(gfx, Type::kGetReq);
    REQUIRE(gets.size() == 2);
    n.coord->OnMessage(kT0 + 1, GetResp(gets[0], std::nullopt), &gfx);
    n.health.failed.clear();
    n.coord->OnTick(kT0 + kTimeoutMs, &gfx);
    std::vector<NodeId> failed = n.health.FailedNodes();
    CHECK(std::count(failed.begin(), failed.end(), gets[1].to) == 1);
    CHECK(std::count(failed.begin(), failed.end(), gets[0].to) == 0);
    CHECK(std::count(failed.begin(), failed.end(), kSelf) == 0);
  }
}

TEST_CASE("peers held down with no fallback to take their place do not lower R or W",
          "[coordinator][sloppy]") {
  // Node 1 of {1, 2, 3}, N=3, 2 and 3 held down: nobody can stand in for them, so the list
  // holds node 1 alone. W=2 and R=2 still need two replicas; one copy is not a quorum.
  Node n;
  FakeHealth health;
  health.down = {2, 3};
  n.coord->set_health(&health);
  REQUIRE(n.coord->PreflistOf("k").Nodes() == std::vector<NodeId>{1});

  SECTION("a write") {
    uint64_t id = 0;
    const CommandEffects ran = StartAndRunWrite(n, 2, &id);
    CHECK(Sends(ran, Type::kPutReq).empty());
    REQUIRE(n.ks->Commit().ok());
    REQUIRE(n.coord->OnLocalCommit(Status::OK()));
    CommandEffects fx = ran;
    n.coord->ReportLocalCommits(kT0 + 1, &fx);
    n.coord->OnTick(kT0 + kTimeoutMs, &fx);
    const CommandEffect* reply = Reply(fx);
    REQUIRE(reply != nullptr);
    CHECK(reply->quorum_failed);
    CHECK(reply->reply != kOk);
  }
  SECTION("a read") {
    n.Write("k", "v");
    CommandEffects fx;
    n.coord->Start(kT0, Plan(true, 2, 2), &fx);
    n.coord->OnTick(kT0 + kTimeoutMs, &fx);
    CHECK(Count(fx, Kind::kRun) == 0);
    const CommandEffect* reply = Reply(fx);
    REQUIRE(reply != nullptr);
    CHECK(reply->quorum_failed);
  }
}

TEST_CASE("a coordinator whose own hint is refused does not count its copy toward W",
          "[coordinator][sloppy]") {
  // It is the fallback for the key, and hints-max-bytes leaves no room: like a remote fallback
  // that answers HINTSFULL, its copy will never reach the primary and is no store for W.
  SloppyNode n;
  n.shared.hints_max_bytes = 1;
  const std::string key = n.KeyWhere(false);
  const NodeId down = n.Primaries(key)[1];
  n.health.down.insert(down);
  REQUIRE(n.coord->PreflistOf(key).entries.back().node == kSelf);

  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 2, 0, &id);
  const std::vector<Message> puts = Sends(ran, Type::kPutReq);
  REQUIRE(puts.size() == 2);
  REQUIRE(n.ks->Commit().ok());
  CHECK_FALSE(n.ledger.Any());
  CHECK(n.ledger.dropped == 1);
  REQUIRE(n.coord->OnLocalCommit(Status::OK()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  n.coord->OnMessage(kT0 + 2, PutResp(puts[0]), &fx);
  CHECK(Reply(fx) == nullptr);  // one store of two
  n.coord->OnMessage(kT0 + 3, PutResp(puts[1]), &fx);
  const CommandEffect* reply = Reply(fx);
  REQUIRE(reply != nullptr);
  CHECK(reply->reply == kOk);
}

TEST_CASE("a primary held down that nobody can stand in for gets its hint from the coordinator",
          "[coordinator][sloppy]") {
  // Ring {1, 2, 3, 4}, N=3: two peers held down leave one spare for two missing primaries, so
  // one primary has no fallback. The coordinator keeps that primary's hint itself (Cassandra's
  // rule; the three-node dtest needs it), and that copy is no store toward W.
  SloppyNode n;
  const std::string key = n.KeyWhere(true);
  const std::vector<NodeId> primaries = n.Primaries(key);
  REQUIRE(primaries.size() == 3);
  std::vector<NodeId> others;
  for (NodeId p : primaries) {
    if (p != kSelf) others.push_back(p);
  }
  REQUIRE(others.size() == 2);
  NodeId spare = 0;
  for (NodeId id : {1, 2, 3, 4}) {
    if (std::find(primaries.begin(), primaries.end(), id) == primaries.end()) spare = id;
  }
  n.health.down = {others[0], others[1], spare};  // every peer down: nobody stands in
  uint64_t id = 0;
  const CommandEffects ran = n.Write(key, 1, 0, &id);
  CHECK(Sends(ran, Type::kPutReq).empty());
  REQUIRE(n.ks->Commit().ok());
  for (NodeId p : others) {
    std::optional<std::string> stored;
    REQUIRE(n.ks->LoadHint(p, key, &stored).ok());
    CHECK(stored.has_value());
  }
  CHECK(n.ledger.Totals(spare).count == 0);  // not a primary of the key: no hint for it
  // W=1 is met by its own commit alone; with W=2 the hints would not have made it.
  REQUIRE(n.coord->OnLocalCommit(Status::OK()));
  CommandEffects fx;
  n.coord->ReportLocalCommits(kT0 + 1, &fx);
  const CommandEffect* reply = Reply(fx);
  REQUIRE(reply != nullptr);
  CHECK(reply->reply == kOk);

  const std::string key2 = key + "-w2";
  uint64_t id2 = 0;
  const CommandEffects ran2 = n.Write(key2, 2, 0, &id2);
  const CommandEffect* refused = Reply(ran2);  // one member can never give two: at once
  REQUIRE(refused != nullptr);
  CHECK(refused->error.rfind("NOQUORUM write: 0 of 2 required replicas stored it (W=2, N=3)", 0) == 0);
}

}  // namespace
}  // namespace dynis::replication
