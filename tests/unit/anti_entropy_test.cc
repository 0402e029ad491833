// Specification of active anti-entropy (replication/anti_entropy.h) over a tiny in-process
// cluster: every node is a real Keyspace (keep_clocks) on an in-memory store with its own hash
// trees, hint ledger, board and AntiEntropy engine; a pump delivers what the engines send (tree
// requests to the peer's ServeAae, record repairs to the peer's vnode through ServeReplica) and
// feeds the answers back, committing each side's batch after every delivery as a loop turn
// would. Time is one virtual wall clock shared by the nodes; health is a fake.
//
// Covers: agreeing trees cost one root request per pair; random divergence converges to
// byte-identical records without losing a sibling and the next round repairs nothing
// (riak_test's verify_aae); a wiped node is refilled; only differing segments travel; a
// truncated listing bounds what is compared; tombstone reaping and every reason not to reap.
#include "replication/anti_entropy.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "fixtures.h"
#include "kv/hashtree.h"
#include "kv/hints.h"
#include "kv/keyspace.h"
#include "kv/trees.h"
#include "replication/replica.h"
#include "storage/store.h"

namespace dynis::replication {
namespace {

using test::ValuesOf;
using Type = AaeRequest::Type;

constexpr uint32_t kPartitions = 8;
constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kRoundMs = 80;
constexpr int64_t kGraceMs = 1000;
constexpr NodeId kA = 11, kB = 22, kC = 33;

struct FakeHealth : PeerHealth {
  std::set<NodeId> down;
  bool Up(NodeId node) const override { return down.count(node) == 0; }
  void Answered(int64_t, NodeId) override {}
  void Failed(int64_t, NodeId, const char*) override {}
};

int store_serial = 0;

// One node: its store, keyspace, trees, hints, board and engine.
struct Node {
  NodeId id;
  const int64_t* now;
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::PartitionTrees trees{kPartitions};
  kv::HintLedger ledger{kPartitions};
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;
  AaeBoard board;
  std::unique_ptr<AntiEntropy> ae;

  Node(NodeId node, uint64_t epoch, const int64_t* clock_ms)
      : id(node),
        now(clock_ms),
        store(test::InMemoryStore("aae-" + std::to_string(node) + "-" +
                                  std::to_string(store_serial++))),
        clock([clock_ms] { return *clock_ms; }) {
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = version::Actor{node, epoch};
    shared.partitions = kPartitions;
    shared.workers = 1;
    shared.keep_clocks = true;
    shared.hints = &ledger;
    shared.trees = &trees;
    ks = std::make_unique<kv::Keyspace>(&shared, 0);
    AaeOptions o;
    o.self = node;
    o.round_ms = kRoundMs;
    o.exchange_rate = 0;
    o.repair_rate = 0;
    o.tombstone_grace_ms = kGraceMs;
    ae = std::make_unique<AntiEntropy>(o, ks.get(), &trees, &board, 0, 1);
  }

  void Commit() { REQUIRE(ks->Commit().ok()); }
  void Put(const std::string& key, const std::string& value) {
    REQUIRE(ks->Put(key, value, 0).ok());
    Commit();
  }
  void Delete(const std::string& key) {
    bool existed = false;
    REQUIRE(ks->Delete(key, &existed).ok());
    Commit();
  }
  // Merges a record in as a replica put would.
  void Merge(const std::string& key, const std::string& record) {
    REQUIRE(ks->VnodeOf(key).Put(key, record).ok);
    Commit();
  }
  std::optional<std::string> Record(const std::string& key) {
    std::optional<std::string> r;
    REQUIRE(ks->LoadRecord(key, &r).ok());
    return r;
  }
  bool Live(const std::string& key) {
    std::optional<kv::LiveValue> v;
    REQUIRE(ks->GetLive(key, &v).ok());
    return v.has_value();
  }
  // Every record of the node, by user key.
  std::map<std::string, std::string> All() {
    std::map<std::string, std::string> out;
    for (uint32_t p = 0; p < kPartitions; p++) {
      auto it = store->NewRangeIterator(storage::Cf::kData, storage::PartitionStart(p),
                                        storage::PartitionEnd(p));
      for (; it->Valid(); it->Next()) {
        out[std::string(storage::UserKeyOf(it->key()))] = std::string(it->value());
      }
      REQUIRE(it->status().ok());
    }
    return out;
  }
  void BuildTrees() {
    for (int i = 0; i < 100; i++) {
      ae->BuildOnly(*now);
      bool all = true;
      for (uint32_t p = 0; p < kPartitions; p++) all = all && trees.Ready(p);
      if (all) return;
    }
    FAIL("trees never became ready");
  }
};

// What travelled, for cost checks.
struct Sent {
  NodeId from = 0;
  AaeRequest req;
  size_t req_bytes = 0;
  size_t resp_bytes = 0;
};

struct World {
  int64_t now = kT0;
  std::vector<std::unique_ptr<Node>> nodes;
  FakeHealth health;
  AaeTopology topo;
  std::vector<Sent> log;         // every aae request delivered or refused
  std::vector<Message> records;  // every record repair sent
  // Replaces a served answer (a hand-made one); nullopt: the real one goes back.
  std::function<std::optional<AaeResponse>(const AaeRequest&, const AaeResponse&)> intercept;
  // A request that is lost on its way (the sender learns it failed).
  std::function<bool(const AaeRequest&)> lose;

  explicit World(std::vector<NodeId> ids) {
    for (NodeId id : ids) nodes.push_back(std::make_unique<Node>(id, 1, &now));
    topo.version = 1;
    topo.members = ids;
    topo.primaries.assign(kPartitions, ids);
  }

  Node& Of(NodeId id) {
    for (auto& n : nodes) {
      if (n->id == id) return *n;
    }
    FAIL("no node " << id);
    return *nodes[0];
  }
  bool Up(NodeId id) const { return health.down.count(id) == 0; }

  // A fresh store and keyspace under the same node id, with a new epoch.
  void Wipe(NodeId id, uint64_t epoch) {
    for (auto& n : nodes) {
      if (n->id == id) n = std::make_unique<Node>(id, epoch, &now);
    }
  }

  void BuildTrees() {
    for (auto& n : nodes) n->BuildTrees();
  }

  // Delivers everything `from` asked for, and everything the answers cause, in order.
  void Pump(NodeId from, AaeSends first) {
    struct Item {
      NodeId from;
      bool record;
      AaeRequest req;
      Message msg;
    };
    std::deque<Item> q;
    auto enqueue = [&q](NodeId f, AaeSends& s) {
      for (AaeRequest& r : s.aae) q.push_back(Item{f, false, std::move(r), {}});
      for (Message& m : s.records) q.push_back(Item{f, true, {}, std::move(m)});
    };
    enqueue(from, first);
    while (!q.empty()) {
      Item it = std::move(q.front());
      q.pop_front();
      Node& sender = Of(it.from);
      AaeSends out;
      if (!it.record) {
        REQUIRE(it.req.from == it.from);
        Sent s;
        s.from = it.from;
        s.req = it.req;
        s.req_bytes = PayloadBytes(it.req);
        if (!Up(it.req.to) || (lose && lose(it.req))) {
          log.push_back(std::move(s));
          sender.ae->OnSendFailed(now, it.req.op, &out);
        } else {
          Node& target = Of(it.req.to);
          AaeResponse resp =
              ServeAae(*target.ks, target.trees, &target.ledger, it.req, &target.board);
          target.Commit();
          if (intercept) {
            if (auto r = intercept(it.req, resp)) resp = std::move(*r);
          }
          s.resp_bytes = PayloadBytes(resp);
          log.push_back(std::move(s));
          sender.ae->OnResponse(now, resp, &out);
        }
      } else {
        REQUIRE(it.msg.aae);
        REQUIRE(it.msg.from == it.from);
        records.push_back(it.msg);
        if (!Up(it.msg.to)) {
          sender.ae->OnSendFailed(now, it.msg.op, &out);
        } else {
          Node& target = Of(it.msg.to);
          Message resp = ServeReplica(target.ks->VnodeOf(it.msg.key), it.msg);
          target.Commit();
          sender.ae->OnRecordResponse(now, resp, &out);
        }
      }
      sender.Commit();
      enqueue(it.from, out);
    }
  }

  // One tick of every node held up, at the current time.
  void Tick(const std::function<void()>& after_each = nullptr) {
    for (auto& n : nodes) {
      if (!Up(n->id)) continue;
      AaeSends out;
      n->ae->OnTick(now, topo, &health, false, &out);
      n->Commit();
      Pump(n->id, std::move(out));
      if (after_each) after_each();
    }
  }

  // Ticks every millisecond for `ms`.
  void Run(int64_t ms, const std::function<void()>& after_each = nullptr) {
    const int64_t end = now + ms;
    for (; now < end; now++) Tick(after_each);
  }
  void Rounds(int n, const std::function<void()>& after_each = nullptr) {
    Run(n * kRoundMs, after_each);
    REQUIRE(Idle());
  }
  bool Idle() const {
    for (const auto& n : nodes) {
      if (!n->ae->Idle()) return false;
    }
    return true;
  }

  uint64_t Sum(std::atomic<uint64_t> AaeBoard::*counter) {
    uint64_t s = 0;
    for (auto& n : nodes) s += (n->board.*counter).load();
    return s;
  }
  size_t Count(Type t) const {
    return static_cast<size_t>(
        std::count_if(log.begin(), log.end(), [t](const Sent& s) { return s.req.type == t; }));
  }
  // Every node's trees equal the first's.
  bool TreesAgree() {
    for (auto& n : nodes) {
      for (uint32_t p = 0; p < kPartitions; p++) {
        if (n->trees.tree(p).root() != nodes[0]->trees.tree(p).root()) return false;
        if (n->trees.keys(p) != nodes[0]->trees.keys(p)) return false;
      }
    }
    return true;
  }
};

// Keys "<prefix><i>" whose partition is p (any partition when p < 0).
std::vector<std::string> KeysOf(kv::Keyspace& ks, const std::string& prefix, int64_t p, size_t n) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < n; i++) {
    std::string k = prefix + std::to_string(i);
    if (p < 0 || ks.PartitionOf(k) == static_cast<uint32_t>(p)) out.push_back(k);
  }
  return out;
}

// Writes key on `on` and gives the same record to every other node.
void PutEverywhere(World& w, NodeId on, const std::string& key, const std::string& value) {
  Node& n = w.Of(on);
  n.Put(key, value);
  const std::string rec = *n.Record(key);
  for (auto& other : w.nodes) {
    if (other->id != on) other->Merge(key, rec);
  }
}

void CopyTo(World& w, NodeId from, NodeId to, const std::string& key) {
  w.Of(to).Merge(key, *w.Of(from).Record(key));
}

TEST_CASE("agreeing trees cost one root request per pair and repair nothing", "[aae]") {
  World w({kA, kB, kC});
  for (const std::string& k : KeysOf(*w.Of(kA).ks, "k", -1, 200)) PutEverywhere(w, kA, k, "v" + k);
  w.BuildTrees();
  REQUIRE(w.TreesAgree());

  // One round: every node starts each of its pairs (partition, peer) once.
  w.Run(kRoundMs);
  REQUIRE(w.Idle());
  std::map<std::tuple<NodeId, NodeId, uint32_t>, int> roots;
  for (const Sent& s : w.log) {
    CHECK(s.req.type == Type::kRoot);
    roots[{s.from, s.req.to, s.req.partition}]++;
  }
  CHECK(roots.size() == 3 * 2 * kPartitions);
  for (const auto& [pair, n] : roots) CHECK(n == 1);
  CHECK(w.records.empty());
  CHECK(w.Sum(&AaeBoard::keys_repaired) == 0);
  CHECK(w.Sum(&AaeBoard::exchanges_agreed) == 3 * 2 * kPartitions);
  CHECK(w.Sum(&AaeBoard::exchanges) == 3 * 2 * kPartitions);
  CHECK(w.Sum(&AaeBoard::exchanges_failed) == 0);
  const auto snap = w.Of(kA).board.Snapshot();
  REQUIRE(snap.size() == kPartitions);
  for (const auto& [p, view] : snap) {
    REQUIRE(view.peers.size() == 2);
    for (const auto& [peer, last] : view.peers) CHECK(last.result == "agreed");
  }
}

TEST_CASE("random divergence converges without losing a sibling (verify_aae)", "[aae]") {
  World w({kA, kB});
  Node& a = w.Of(kA);
  Node& b = w.Of(kB);
  std::mt19937_64 rng(20240607);
  std::map<std::string, int> kind;  // 0 only A, 1 only B, 2 concurrent, 3 B descends A, 4 same
  for (int i = 0; i < 400; i++) {
    const std::string k = "key:" + std::to_string(i);
    const int c = static_cast<int>(rng() % 5);
    kind[k] = c;
    switch (c) {
      case 0:
        a.Put(k, "a-" + k);
        break;
      case 1:
        b.Put(k, "b-" + k);
        break;
      case 2:
        a.Put(k, "a-" + k);
        b.Put(k, "b-" + k);
        break;
      case 3:
        a.Put(k, "a-" + k);
        CopyTo(w, kA, kB, k);
        b.Put(k, "b2-" + k);
        break;
      case 4:
        PutEverywhere(w, kA, k, "s-" + k);
        break;
    }
    if (rng() % 7 == 0) {  // some deletes, on either side
      (rng() % 2 == 0 ? a : b).Delete(k);
      kind[k] = 5;
    }
  }
  w.BuildTrees();
  REQUIRE_FALSE(w.TreesAgree());

  w.Rounds(3);
  CHECK(w.Sum(&AaeBoard::keys_repaired) > 0);
  const auto ra = a.All();
  const auto rb = b.All();
  CHECK(ra.size() == kind.size());
  CHECK(ra == rb);
  for (const auto& [k, c] : kind) {
    INFO(k << " kind " << c);
    REQUIRE(ra.count(k) == 1);
    const std::vector<std::string> vals = ValuesOf(ra.at(k));
    switch (c) {
      case 0:
        CHECK(vals == std::vector<std::string>{"a-" + k});
        break;
      case 1:
        CHECK(vals == std::vector<std::string>{"b-" + k});
        break;
      case 2:  // concurrent: both siblings survive
        CHECK(vals == std::vector<std::string>{"a-" + k, "b-" + k});
        break;
      case 3:  // B's write superseded A's
        CHECK(vals == std::vector<std::string>{"b2-" + k});
        break;
      case 4:
        CHECK(vals == std::vector<std::string>{"s-" + k});
        break;
      default:
        break;
    }
  }
  CHECK(w.TreesAgree());

  // The next full round finds nothing to repair.
  const uint64_t repaired = w.Sum(&AaeBoard::keys_repaired);
  const uint64_t agreed = w.Sum(&AaeBoard::exchanges_agreed);
  const size_t records = w.records.size();
  w.Rounds(1);
  CHECK(w.Sum(&AaeBoard::keys_repaired) == repaired);
  CHECK(w.records.size() == records);
  CHECK(w.Sum(&AaeBoard::exchanges_agreed) == agreed + 2 * kPartitions);
  CHECK(w.Sum(&AaeBoard::exchanges_failed) == 0);
}

TEST_CASE("a wiped node is refilled completely", "[aae]") {
  World w({kA, kB, kC});
  for (const std::string& k : KeysOf(*w.Of(kA).ks, "k", -1, 300)) PutEverywhere(w, kB, k, "v" + k);
  // Some concurrent siblings held only by B and C.
  for (int i = 0; i < 20; i++) {
    const std::string k = "c" + std::to_string(i);
    w.Of(kB).Put(k, "b");
    w.Of(kC).Put(k, "c");
  }
  w.BuildTrees();
  w.Rounds(2);
  const auto before = w.Of(kA).All();
  REQUIRE(before.size() == 320);
  REQUIRE(before == w.Of(kB).All());

  w.Wipe(kB, 2);
  w.Of(kB).BuildTrees();
  REQUIRE(w.Of(kB).All().empty());
  w.Rounds(2);
  CHECK(w.Of(kB).All() == before);
  CHECK(w.Of(kC).All() == before);
  CHECK(w.TreesAgree());
  CHECK(ValuesOf(w.Of(kB).All().at("c3")) == std::vector<std::string>{"b", "c"});
  // And the refilled node writes over what it got (a new epoch's dot supersedes).
  w.Of(kB).Put("c3", "new");
  w.Rounds(2);
  CHECK(ValuesOf(*w.Of(kA).Record("c3")) == std::vector<std::string>{"new"});
}

TEST_CASE("only the differing segment travels", "[aae]") {
  World w({kA, kB});
  Node& a = w.Of(kA);
  for (const std::string& k : KeysOf(*a.ks, "key:", -1, 3000)) PutEverywhere(w, kA, k, "v");
  a.Put("the-one", "x");
  const uint32_t p = a.ks->PartitionOf("the-one");
  w.BuildTrees();
  const uint64_t bytes_before = a.board.bytes_sent.load() + w.Of(kB).board.bytes_sent.load();

  w.Rounds(1);
  CHECK(w.Of(kB).Record("the-one") == a.Record("the-one"));
  CHECK(w.TreesAgree());
  CHECK(w.Sum(&AaeBoard::keys_repaired) == 1);

  REQUIRE(w.Count(Type::kKeys) >= 1);
  size_t total = 0;
  for (const Sent& s : w.log) {
    total += s.req_bytes + s.resp_bytes;
    if (s.req.type == Type::kBranches || s.req.type == Type::kSegments ||
        s.req.type == Type::kKeys) {
      CHECK(s.req.partition == p);
    }
    if (s.req.type == Type::kSegments) CHECK(s.req.items.size() == 1);
    if (s.req.type == Type::kKeys) {
      CHECK(s.req.items == std::vector<uint32_t>{kv::HashTree::SegmentOf("the-one")});
    }
  }
  // One repair record (a put: B had nothing), and no listing of the partition.
  CHECK(w.records.size() == 1);
  const size_t full_listing = 3000 * (8 + 8);
  INFO("bytes " << total);
  CHECK(total < 4096);
  CHECK(total < full_listing / 10);
  const uint64_t board_bytes =
      a.board.bytes_sent.load() + w.Of(kB).board.bytes_sent.load() - bytes_before;
  CHECK(board_bytes < 4096 + 200);
}

TEST_CASE("a truncated listing is compared up to its last key, then paged on", "[aae]") {
  World w({kA, kB});
  Node& a = w.Of(kA);
  Node& b = w.Of(kB);
  const std::vector<std::string> keys = KeysOf(*a.ks, "t", 0, 40);
  for (const std::string& k : keys) a.Put(k, "v");
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  const std::string bound = sorted[sorted.size() / 2];
  w.BuildTrees();

  // B's answer to A's first listing is cut short at `bound` (as if it held more than one
  // answer carries); it names `bound` with a hash A does not have.
  int cut = 0;
  std::vector<std::string> pages;  // where each of A's listings started
  w.intercept = [&](const AaeRequest& req, const AaeResponse& real) -> std::optional<AaeResponse> {
    if (req.type != Type::kKeys || req.from != kA) return std::nullopt;
    pages.push_back(req.after);
    if (cut > 0) return std::nullopt;
    cut++;
    CHECK(real.keys.empty());
    AaeResponse r = real;
    r.truncated = true;
    r.keys = {{bound, 12345}};
    return r;
  };
  // Only A runs: one exchange of partition 0 with B.
  REQUIRE(a.ae->ExchangeNow(w.topo, 0) == 1);
  AaeSends out;
  a.ae->OnTick(w.now, w.topo, &w.health, false, &out);
  w.Pump(kA, std::move(out));
  REQUIRE(cut == 1);
  // The first page compared the keys up to `bound` only; the next page started after it.
  REQUIRE(pages.size() == 2);
  CHECK(pages[0].empty());
  CHECK(pages[1] == bound);
  std::set<std::string> puts, gets;
  for (const Message& m : w.records) {
    if (a.ks->PartitionOf(m.key) != 0) continue;
    (m.type == Message::Type::kPutReq ? puts : gets).insert(m.key);
  }
  CHECK(gets == std::set<std::string>{bound});  // named by both sides, differing
  // Everything A holds went to B: the first page's keys up to the bound (with the bound's
  // merge, B answered "not found"), then the rest from the second page, in one exchange.
  CHECK(puts == std::set<std::string>(sorted.begin(), sorted.end()));
  for (const std::string& k : sorted) {
    INFO(k);
    CHECK(b.Record(k).has_value());
  }
  w.intercept = nullptr;
  w.Rounds(2);
  CHECK(b.All() == a.All());
}

// ---- reaping -----------------------------------------------------------------------------------

// Keys deleted on A and replicated (tombstones everywhere), in partitions `parts`.
std::vector<std::string> Tombstones(World& w, const std::vector<uint32_t>& parts, size_t per,
                                    const std::string& prefix = "d") {
  std::vector<std::string> out;
  Node& a = w.Of(kA);
  for (uint32_t p : parts) {
    for (const std::string& k : KeysOf(*a.ks, prefix + std::to_string(p) + ":", p, per)) {
      PutEverywhere(w, kA, k, "old");
      a.Delete(k);
      for (auto& n : w.nodes) {
        if (n->id != kA) CopyTo(w, kA, n->id, k);
      }
      out.push_back(k);
    }
  }
  return out;
}

bool HeldAnywhere(World& w, const std::string& key) {
  for (auto& n : w.nodes) {
    if (n->Record(key)) return true;
  }
  return false;
}

TEST_CASE("a tombstone every replica holds is reaped everywhere after the grace", "[aae][reap]") {
  World w({kA, kB, kC});
  const std::vector<std::string> dead = Tombstones(w, {0, 3, 5}, 4);
  const std::vector<std::string> live = KeysOf(*w.Of(kA).ks, "live", -1, 30);
  for (const std::string& k : live) PutEverywhere(w, kB, k, "v");
  w.BuildTrees();

  // Within the grace: kept.
  w.Rounds(5);
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 0);
  for (const std::string& k : dead) CHECK(HeldAnywhere(w, k));

  w.Rounds(static_cast<int>(kGraceMs / kRoundMs) + 3);
  for (const std::string& k : dead) {
    INFO(k);
    CHECK_FALSE(HeldAnywhere(w, k));
  }
  for (const std::string& k : live) CHECK(w.Of(kC).Live(k));
  CHECK(w.Of(kA).board.tombstones_reaped.load() > 0);
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 3 * dead.size());
  CHECK(w.Of(kA).board.Snapshot().at(3).reaped == 4);
  CHECK(w.TreesAgree());
  for (auto& n : w.nodes) CHECK(n->All().size() == live.size());
  // Only the first primary reaps.
  CHECK(w.Of(kB).board.reap_candidates.load() == 0);
  CHECK(w.Of(kC).board.reap_candidates.load() == 0);

  // Nothing comes back, and a new write of a reaped key is a plain new value everywhere.
  w.Rounds(3);
  for (const std::string& k : dead) CHECK_FALSE(HeldAnywhere(w, k));
  w.Of(kA).Put(dead[0], "again");
  w.Rounds(2);
  for (auto& n : w.nodes) {
    CHECK(ValuesOf(*n->Record(dead[0])) == std::vector<std::string>{"again"});
  }
}

TEST_CASE("no reaping while a member is held down", "[aae][reap]") {
  World w({kA, kB, kC});
  const std::vector<std::string> dead = Tombstones(w, {1, 2}, 3);
  w.BuildTrees();
  w.health.down.insert(kC);
  w.Rounds(static_cast<int>(kGraceMs / kRoundMs) + 5);
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 0);
  for (const std::string& k : dead) {
    for (auto& n : w.nodes) CHECK(n->Record(k).has_value());
  }

  w.health.down.clear();
  w.Rounds(3);
  for (const std::string& k : dead) CHECK_FALSE(HeldAnywhere(w, k));
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 3 * dead.size());
}

TEST_CASE("no reaping in a partition where any member holds a hint", "[aae][reap]") {
  World w({kA, kB, kC});
  const std::vector<std::string> in_hinted = Tombstones(w, {2}, 3);
  const std::vector<std::string> in_other = Tombstones(w, {6}, 3);
  const std::vector<std::string> in_own = Tombstones(w, {4}, 3);
  w.BuildTrees();
  // A hint (for some primary) in partition 2 held by C, one in partition 4 held by A itself.
  w.Of(kC).ledger.Add(kB, 2, 1, 100);
  w.Of(kA).ledger.Add(kC, 4, 1, 100);
  w.Rounds(static_cast<int>(kGraceMs / kRoundMs) + 5);
  for (const std::string& k : in_other) CHECK_FALSE(HeldAnywhere(w, k));
  for (const std::string& k : in_hinted) {
    for (auto& n : w.nodes) CHECK(n->Record(k).has_value());
  }
  for (const std::string& k : in_own) {
    for (auto& n : w.nodes) CHECK(n->Record(k).has_value());
  }
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 3 * in_other.size());

  // The hints delivered: the rest goes.
  w.Of(kC).ledger.Add(kB, 2, -1, -100);
  w.Of(kA).ledger.Add(kC, 4, -1, -100);
  w.Rounds(3);
  for (const std::string& k : in_hinted) CHECK_FALSE(HeldAnywhere(w, k));
  for (const std::string& k : in_own) CHECK_FALSE(HeldAnywhere(w, k));
}

TEST_CASE("a replica that missed the delete gets the tombstone, then the key is reaped",
          "[aae][reap]") {
  World w({kA, kB, kC});
  Node& a = w.Of(kA);
  const std::vector<std::string> keys = KeysOf(*a.ks, "m", -1, 12);
  for (const std::string& k : keys) {
    PutEverywhere(w, kA, k, "old");
    a.Delete(k);
    CopyTo(w, kA, kB, k);  // C keeps the old value
  }
  w.BuildTrees();
  // C is held down through the grace: nothing is reaped, nothing repaired to C.
  w.health.down.insert(kC);
  auto never_back = [&] {
    for (const std::string& k : keys) {
      REQUIRE_FALSE(w.Of(kA).Live(k));
      REQUIRE_FALSE(w.Of(kB).Live(k));
    }
  };
  w.Rounds(static_cast<int>(kGraceMs / kRoundMs) + 3, never_back);
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 0);
  for (const std::string& k : keys) CHECK(w.Of(kC).Live(k));

  // C back: its old value is superseded by repair, never the other way round, and once every
  // replica holds the tombstone the key is reaped.
  w.health.down.clear();
  w.Rounds(1, never_back);
  for (const std::string& k : keys) {
    INFO(k);
    CHECK_FALSE(w.Of(kC).Live(k));
  }
  w.Rounds(3, never_back);
  for (const std::string& k : keys) {
    INFO(k);
    CHECK_FALSE(HeldAnywhere(w, k));
  }
  CHECK(w.Sum(&AaeBoard::tombstones_reaped) == 3 * keys.size());
  w.Rounds(3, never_back);
  for (const std::string& k : keys) {
    for (auto& n : w.nodes) CHECK_FALSE(n->Live(k));
  }
}

TEST_CASE("a replica that missed the drop sends back only a tombstone, which a new write beats",
          "[aae][reap]") {
  World w({kA, kB, kC});
  const std::vector<std::string> dead = Tombstones(w, {1}, 4);
  w.BuildTrees();
  // C never gets the drops (lost requests): A and B drop, C keeps its tombstones.
  w.lose = [&](const AaeRequest& req) { return req.type == Type::kReapDrop && req.to == kC; };
  w.now += kGraceMs + 1;
  for (int i = 0; i < 4 * kRoundMs && w.Of(kA).board.tombstones_reaped.load() == 0; i++) {
    w.Tick();
    w.now++;
  }
  REQUIRE(w.Of(kA).board.tombstones_reaped.load() == dead.size());
  REQUIRE_FALSE(w.Of(kA).Record(dead[0]).has_value());
  REQUIRE(w.Of(kC).Record(dead[0]).has_value());
  // A writes the key again (a dot above its reap floor), before C's stale tombstone returns.
  w.Of(kA).Put(dead[0], "again");
  w.Of(kA).ae->options().reap = false;
  w.Rounds(2);
  for (auto& n : w.nodes) {
    INFO("node " << n->id);
    CHECK(ValuesOf(*n->Record(dead[0])) == std::vector<std::string>{"again"});
    for (size_t i = 1; i < dead.size(); i++) {
      REQUIRE(n->Record(dead[i]).has_value());  // the tombstone came back, not a value
      CHECK_FALSE(n->Live(dead[i]));
    }
  }
  w.lose = nullptr;
  w.Of(kA).ae->options().reap = true;
  w.Rounds(3);
  for (size_t i = 1; i < dead.size(); i++) CHECK_FALSE(HeldAnywhere(w, dead[i]));
  for (auto& n : w.nodes) CHECK(n->Live(dead[0]));
  CHECK(w.TreesAgree());
}

TEST_CASE("a tombstone kept by a replica that missed the drop comes back to the others",
          "[aae][reap]") {
  World w({kA, kB, kC});
  const std::vector<std::string> dead = Tombstones(w, {5}, 3);
  w.BuildTrees();
  w.lose = [&](const AaeRequest& req) { return req.type == Type::kReapDrop && req.to == kC; };
  // Past the grace, one reap pass: A and B drop, C keeps (its drops are lost).
  w.now += kGraceMs + 1;
  size_t reaped = 0;
  for (int i = 0; i < 4 * kRoundMs && reaped == 0; i++, w.now++) {
    w.Tick();
    reaped = w.Of(kA).board.tombstones_reaped.load();
  }
  REQUIRE(reaped == dead.size());
  for (const std::string& k : dead) {
    CHECK_FALSE(w.Of(kA).Record(k).has_value());
    CHECK_FALSE(w.Of(kB).Record(k).has_value());
    CHECK(w.Of(kC).Record(k).has_value());
  }
  // With reaping paused, exchanges bring the tombstones back (never a value): each replica
  // ends with the same tombstone.
  w.Of(kA).ae->options().reap = false;
  w.Rounds(1);
  CHECK(w.TreesAgree());
  for (const std::string& k : dead) {
    INFO(k);
    for (auto& n : w.nodes) {
      REQUIRE(n->Record(k).has_value());
      CHECK_FALSE(n->Live(k));
    }
  }
  // Once C answers again the next pass reaps them for good.
  w.lose = nullptr;
  w.Of(kA).ae->options().reap = true;
  w.Rounds(2);
  for (const std::string& k : dead) CHECK_FALSE(HeldAnywhere(w, k));
  CHECK(w.TreesAgree());
}

TEST_CASE("a reap check refuses a record that differs or holds a live value", "[aae][reap]") {
  World w({kA, kB});
  Node& b = w.Of(kB);
  w.BuildTrees();
  b.Put("live", "v");
  b.Put("dead", "v");
  b.Delete("dead");
  const std::string dead = *b.Record("dead");
  const std::string live = *b.Record("live");
  AaeRequest req;
  req.type = Type::kReapCheck;
  req.from = kA;
  req.to = kB;
  req.partition = b.ks->PartitionOf("dead");
  req.keys = {{"dead", kv::HashTree::ItemHash("dead", dead)},
              {"dead", kv::HashTree::ItemHash("dead", dead) ^ 1}};
  if (b.ks->PartitionOf("live") == req.partition) {
    req.keys.emplace_back("live", kv::HashTree::ItemHash("live", live));
  }
  AaeResponse r = ServeAae(*b.ks, b.trees, &b.ledger, req);
  REQUIRE(r.ok);
  REQUIRE(r.held.size() == req.keys.size());
  CHECK(r.held[0] == 1);
  CHECK(r.held[1] == 0);
  if (r.held.size() == 3) CHECK(r.held[2] == 0);
  // A drop of a live record, or one that changed, does nothing.
  req.type = Type::kReapDrop;
  req.keys = {{"live", kv::HashTree::ItemHash("live", live)},
              {"dead", kv::HashTree::ItemHash("dead", dead) ^ 1}};
  req.partition = b.ks->PartitionOf("live");
  r = ServeAae(*b.ks, b.trees, &b.ledger, req);
  b.Commit();
  CHECK(b.Record("live").has_value());
  CHECK(b.Record("dead").has_value());
  // A bad partition is refused.
  req.partition = kPartitions;
  r = ServeAae(*b.ks, b.trees, &b.ledger, req);
  CHECK_FALSE(r.ok);
}

}  // namespace
}  // namespace dynis::replication
