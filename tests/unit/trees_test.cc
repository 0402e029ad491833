// kv/trees.h against a brute-force oracle: after every committed turn of a real Keyspace (over
// an in-memory store), each partition's tree must equal a HashTree built from a full scan of
// that partition's `data` range, and its key count the number of records there. Covers the
// incremental upkeep (client writes, context writes, lazy expiry, replica merges, reaping),
// builds interleaved with writes, rebuilds that repair a corrupted tree, Reset, the reap floor
// (kv679 after a reap) and a failed commit.
#include "kv/trees.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "fixtures.h"
#include "kv/hashtree.h"
#include "kv/keyspace.h"
#include "kv/vnode.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::kv {
namespace {

using test::Val;
using test::ValuesOf;

constexpr uint32_t kPartitions = 8;
constexpr int64_t kT0 = 1'700'000'000'000;
const version::Actor kMe{42, 7};

// The trees' own answer: a partition scanned from the store.
struct Scanned {
  HashTree tree;
  uint64_t keys = 0;
  std::vector<std::string> data_keys;  // in key order
};

Scanned ScanPartition(storage::Store* store, uint32_t p) {
  Scanned out;
  auto it = store->NewRangeIterator(storage::Cf::kData, storage::PartitionStart(p),
                                    storage::PartitionEnd(p));
  for (; it->Valid(); it->Next()) {
    REQUIRE(storage::PartitionOfDataKey(it->key()) == p);
    out.tree.Add(storage::UserKeyOf(it->key()), it->value());
    out.keys++;
    out.data_keys.emplace_back(it->key());
  }
  REQUIRE(it->status().ok());
  return out;
}

bool SameTree(const HashTree& a, const HashTree& b) {
  if (a.root() != b.root() || a.Branches() != b.Branches()) return false;
  for (uint32_t s = 0; s < HashTree::kSegments; s++) {
    if (a.segment(s) != b.segment(s)) return false;
  }
  return true;
}

struct Fixture {
  std::unique_ptr<storage::Store> store;
  int64_t now_ms = kT0;
  HybridClock clock{[this] { return now_ms; }};
  PartitionTrees trees{kPartitions};
  KeyspaceShared shared;
  std::unique_ptr<Keyspace> ks;

  explicit Fixture(const std::string& name) : store(test::InMemoryStore(name)) {
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = kMe;
    shared.partitions = kPartitions;
    shared.workers = 1;
    shared.keep_clocks = true;
    shared.trees = &trees;
    ks = std::make_unique<Keyspace>(&shared);
    BuildAll(&trees);
  }

  // Builds every partition of `t` to completion in one go.
  void BuildAll(PartitionTrees* t) {
    for (uint32_t p = 0; p < kPartitions; p++) {
      t->StartBuild(p);
      bool done = false;
      while (!done) REQUIRE(t->BuildStep(store.get(), p, 1000, now_ms, &done).ok());
      REQUIRE(t->Ready(p));
    }
  }

  void Commit() { REQUIRE(ks->Commit().ok()); }

  // The user key number i whose partition is p (k0, k1, ... filtered).
  std::vector<std::string> KeysOf(uint32_t p, size_t n) {
    std::vector<std::string> out;
    for (int i = 0; out.size() < n; i++) {
      std::string k = "key:" + std::to_string(i);
      if (ks->PartitionOf(k) == p) out.push_back(k);
    }
    return out;
  }

  std::optional<std::string> Record(const std::string& key) {
    std::string raw;
    Status s = store->Get(storage::DataKey(ks->PartitionOf(key), key), &raw);
    if (s.IsNotFound()) return std::nullopt;
    REQUIRE(s.ok());
    return raw;
  }

  // The item hash of the key's committed record (0: none).
  uint64_t CommittedHash(const std::string& key) {
    std::optional<std::string> r = Record(key);
    return r ? HashTree::ItemHash(key, *r) : 0;
  }

  std::optional<LiveValue> Get(const std::string& key) {
    std::optional<LiveValue> v;
    REQUIRE(ks->GetLive(key, &v).ok());
    return v;
  }
};

// This node's counter in an encoded record (0: none).
uint64_t MyCounter(const std::string& record) {
  auto set = version::DVVSet::Decode(record);
  REQUIRE(set.ok());
  for (const version::DVVSet::Entry& e : set->entries()) {
    if (e.actor == kMe) return e.counter;
  }
  return 0;
}

// Every partition's tree and count equal the oracle's.
void CheckTrees(Fixture& f, const PartitionTrees& trees) {
  for (uint32_t p = 0; p < kPartitions; p++) {
    INFO("partition " << p);
    REQUIRE(trees.Ready(p));
    const Scanned o = ScanPartition(f.store.get(), p);
    CHECK(SameTree(trees.tree(p), o.tree));
    CHECK(trees.keys(p) == o.keys);
    CHECK(trees.published(p).root.load() == o.tree.root());
    CHECK(trees.published(p).keys.load() == o.keys);
  }
}
void CheckTrees(Fixture& f) { CheckTrees(f, f.trees); }

// A snapshot of the trees' state, for "unchanged" checks.
struct TreesState {
  std::vector<HashTree> trees;
  std::vector<uint64_t> keys;
};
TreesState StateOf(const PartitionTrees& t) {
  TreesState s;
  for (uint32_t p = 0; p < t.partitions(); p++) {
    s.trees.push_back(t.tree(p));
    s.keys.push_back(t.keys(p));
  }
  return s;
}
bool Unchanged(const TreesState& before, const PartitionTrees& t) {
  for (uint32_t p = 0; p < t.partitions(); p++) {
    if (!SameTree(before.trees[p], t.tree(p)) || before.keys[p] != t.keys(p)) return false;
  }
  return true;
}

// Random turns of every kind of record write. `foreign` holds the records two other replicas
// (actors 7 and 8) write and send over as replica puts.
struct RandomWriter {
  Fixture& f;
  std::mt19937_64 rng;
  std::map<std::string, version::DVVSet> foreign;
  int reaps = 0, expiries = 0, merges = 0;

  RandomWriter(Fixture& fixture, uint64_t seed) : f(fixture), rng(seed) {}

  uint64_t Pick(uint64_t n) { return rng() % n; }
  std::string Key() { return "k" + std::to_string(Pick(24)); }
  std::string Value() { return "v" + std::to_string(Pick(1000)); }

  void Op() {
    const std::string k = Key();
    switch (Pick(9)) {
      case 0:
        REQUIRE(f.ks->Put(k, Value(), 0).ok());
        break;
      case 1:  // expiring, sometimes already past (a delete)
        REQUIRE(f.ks->Put(k, Value(), Pick(8) == 0 ? f.now_ms - 1 : f.now_ms + 1 + Pick(60)).ok());
        break;
      case 2: {
        bool existed = false;
        REQUIRE(f.ks->Delete(k, &existed).ok());
        break;
      }
      case 3: {  // a context write: with the context read just now, or a blind one
        std::vector<version::Sibling> values;
        std::string ctx;
        REQUIRE(f.ks->GetSiblings(k, &values, &ctx).ok());
        if (Pick(3) == 0) ctx.clear();
        const bool tombstone = Pick(4) == 0;  // DELCTX: a tombstone carries no bytes
        REQUIRE(f.ks->PutWithContext(k, ctx, tombstone ? "" : Value(), tombstone).ok());
        break;
      }
      case 4:  // time passes, then reads (lazy expiry turns expired values into tombstones)
        f.now_ms += static_cast<int64_t>(Pick(50));
        if (Pick(2) == 0) {
          f.Get(k);
        } else {
          std::vector<version::Sibling> values;
          std::string ctx;
          REQUIRE(f.ks->GetSiblings(k, &values, &ctx).ok());
        }
        expiries++;
        break;
      case 5:
      case 6: {  // a foreign replica's write, merged in (sometimes after it saw ours)
        version::DVVSet& set = foreign[k];
        if (Pick(2) == 0) {
          std::optional<std::string> local;
          REQUIRE(f.ks->LoadRecord(k, &local).ok());
          if (local) {
            auto decoded = version::DVVSet::Decode(*local);
            REQUIRE(decoded.ok());
            set.Sync(*decoded);
          }
        }
        const version::Actor a{7 + Pick(2), 1};
        set.Update(set.Join(), Val(Value(), f.clock.Now(), a.node_id), a);
        f.ks->VnodeOf(k).Put(k, set.Encode());
        merges++;
        break;
      }
      case 7: {  // reaping, with the committed record's hash or a stale one
        bool dropped = false;
        const uint64_t h = f.CommittedHash(k);
        REQUIRE(f.ks->Reap(k, Pick(4) == 0 ? h ^ 1 : h, &dropped).ok());
        reaps += dropped;
        break;
      }
      case 8:  // the same key twice in one turn
        REQUIRE(f.ks->Put(k, Value(), 0).ok());
        REQUIRE(f.ks->Put(k, Value(), f.now_ms + 1 + Pick(20)).ok());
        break;
    }
  }

  // One turn: 1-4 ops, then Commit.
  void Turn() {
    const uint64_t ops = 1 + Pick(4);
    for (uint64_t i = 0; i < ops; i++) Op();
    f.Commit();
  }
};

}  // namespace

TEST_CASE("the kept trees equal a scan of the data after every committed turn", "[trees]") {
  const uint64_t seed = GENERATE(range(1, 13));
  INFO("seed " << seed);
  Fixture f("trees-random-" + std::to_string(seed));
  RandomWriter w(f, seed);
  CheckTrees(f);  // empty and ready
  for (int turn = 0; turn < 150; turn++) {
    INFO("turn " << turn);
    w.Turn();
    CheckTrees(f);
  }
  // The run exercised what it claims to.
  uint64_t total = 0;
  for (uint32_t p = 0; p < kPartitions; p++) total += f.trees.keys(p);
  CHECK(total > 0);
  CHECK(w.merges > 0);
  CHECK(w.expiries > 0);
  CHECK(w.reaps > 0);
  CHECK(f.trees.rebuild_mismatches.load() == 0);
  // A rebuild of every partition finds nothing to correct.
  f.BuildAll(&f.trees);
  CHECK(f.trees.rebuild_mismatches.load() == 0);
  CheckTrees(f);
}

TEST_CASE("a build interleaved with committed writes ends equal to the data", "[trees]") {
  const uint64_t seed = GENERATE(range(1, 9));
  const bool rebuild = GENERATE(false, true);  // a first build, or a rebuild of a ready tree
  INFO("seed " << seed << (rebuild ? " rebuild" : " first build"));
  Fixture f("trees-build-" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const uint32_t p = 3;
  const std::vector<std::string> keys = f.KeysOf(p, 40);
  // Half of the partition's keys hold records before the build starts.
  for (size_t i = 0; i < keys.size(); i += 2) REQUIRE(f.ks->Put(keys[i], "old", 0).ok());
  REQUIRE(f.ks->Put("elsewhere", "x", 0).ok());
  f.Commit();

  // A first build: the node starts with trees nobody built yet.
  PartitionTrees fresh(kPartitions);
  PartitionTrees* t = &f.trees;
  if (!rebuild) {
    t = &fresh;
    f.shared.trees = t;
    for (uint32_t q = 0; q < kPartitions; q++) {
      if (q == p) continue;  // the other partitions are ready; only p is at stake
      fresh.StartBuild(q);
      bool done = false;
      while (!done) REQUIRE(fresh.BuildStep(f.store.get(), q, 1000, f.now_ms, &done).ok());
    }
    REQUIRE_FALSE(fresh.Ready(p));
  }
  const uint64_t builds_before = t->builds.load();

  t->StartBuild(p);
  REQUIRE(t->Building(p));
  REQUIRE(t->published(p).building.load());
  std::string cursor;  // the test's own account of how far the scan went
  int behind = 0, ahead = 0;
  bool done = false;
  while (!done) {
    // A few committed writes, each to a key the scan passed or one still ahead of it.
    const uint64_t writes = rng() % 4;
    for (uint64_t i = 0; i < writes; i++) {
      const std::string& k = keys[rng() % keys.size()];
      const std::string dk = storage::DataKey(p, k);
      (cursor.empty() || dk > cursor ? ahead : behind)++;
      switch (rng() % 4) {
        case 0:
        case 1:
          REQUIRE(f.ks->Put(k, "new" + std::to_string(rng() % 100), 0).ok());
          break;
        case 2: {
          bool existed = false;
          REQUIRE(f.ks->Delete(k, &existed).ok());
          break;
        }
        case 3: {
          bool dropped = false;
          REQUIRE(f.ks->Reap(k, f.CommittedHash(k), &dropped).ok());
          break;
        }
      }
      if (rng() % 3 == 0) REQUIRE(f.ks->Put("elsewhere", std::to_string(rng()), 0).ok());
      f.Commit();
      // Upkeep of a ready tree goes on while it is being rebuilt.
      if (rebuild) CheckTrees(f, *t);
    }
    const size_t max_keys = 1 + rng() % 3;
    // Where the scan will be after this step: the next max_keys keys above the cursor.
    const Scanned now = ScanPartition(f.store.get(), p);
    size_t taken = 0;
    for (const std::string& dk : now.data_keys) {
      if (taken == max_keys) break;
      if (!cursor.empty() && dk <= cursor) continue;
      cursor = dk;
      taken++;
    }
    REQUIRE(t->BuildStep(f.store.get(), p, max_keys, f.now_ms, &done).ok());
    if (!done) {
      REQUIRE(t->Building(p));
      REQUIRE(t->Ready(p) == rebuild);
    }
  }
  CHECK(behind > 0);
  CHECK(ahead > 0);
  REQUIRE_FALSE(t->Building(p));
  CHECK(t->builds.load() == builds_before + 1);
  CHECK(t->built_ms(p) == f.now_ms);
  CHECK(t->rebuild_mismatches.load() == 0);  // nothing was stored behind the trees' back
  CheckTrees(f, *t);
  // And it stays right afterwards.
  REQUIRE(f.ks->Put(keys[0], "after", 0).ok());
  REQUIRE(f.ks->Put(keys[1], "after", 0).ok());
  f.Commit();
  CheckTrees(f, *t);
}

TEST_CASE("a rebuild replaces a tree that missed changes and counts the mismatch", "[trees]") {
  Fixture f("trees-corrupt");
  const uint32_t p = 5;
  const std::vector<std::string> keys = f.KeysOf(p, 10);
  for (const std::string& k : keys) REQUIRE(f.ks->Put(k, "v", 0).ok());
  f.Commit();
  CheckTrees(f);

  // A rebuild of a correct tree changes nothing and counts no mismatch.
  f.BuildAll(&f.trees);
  CHECK(f.trees.rebuild_mismatches.load() == 0);
  CheckTrees(f);

  // Changes stored behind the trees' back: a record added, one replaced, one removed.
  version::DVVSet other;
  other.Update({}, Val("stray", f.clock.Now(), 9), version::Actor{9, 1});
  const std::string stray = other.Encode();
  REQUIRE(f.store
              ->Write([&](const storage::Store::WriteVisitor& put) {
                put(storage::DataKey(p, f.KeysOf(p, 11).back()), &stray);
                put(storage::DataKey(p, keys[2]), &stray);
                put(storage::DataKey(p, keys[7]), nullptr);
              })
              .ok());
  const Scanned o = ScanPartition(f.store.get(), p);
  REQUIRE_FALSE(SameTree(f.trees.tree(p), o.tree));
  const uint64_t builds = f.trees.builds.load();

  f.trees.StartBuild(p);
  bool done = false;
  while (!done) REQUIRE(f.trees.BuildStep(f.store.get(), p, 2, f.now_ms, &done).ok());
  CHECK(f.trees.rebuild_mismatches.load() == 1);
  CHECK(f.trees.builds.load() == builds + 1);
  CheckTrees(f);

  // Another rebuild finds it right.
  f.BuildAll(&f.trees);
  CHECK(f.trees.rebuild_mismatches.load() == 1);
}

TEST_CASE("Reset leaves every partition's tree empty and ready", "[trees]") {
  Fixture f("trees-reset");
  RandomWriter w(f, 99);
  for (int i = 0; i < 40; i++) w.Turn();
  // A reap floor raised on the way, and a build running when FLUSHALL comes.
  const std::string k = "reaped";
  REQUIRE(f.ks->Put(k, "v", 0).ok());
  f.Commit();
  bool existed = false, dropped = false;
  REQUIRE(f.ks->Delete(k, &existed).ok());
  f.Commit();
  REQUIRE(f.ks->Reap(k, f.CommittedHash(k), &dropped).ok());
  REQUIRE(dropped);
  f.Commit();
  const uint32_t kp = f.ks->PartitionOf(k);
  const uint64_t floor = f.trees.reap_floor(kp);
  REQUIRE(floor > 0);
  f.trees.StartBuild(1);

  REQUIRE(f.store->DeleteAllData().ok());
  f.now_ms += 1000;
  f.trees.Reset(f.now_ms);
  for (uint32_t p = 0; p < kPartitions; p++) {
    INFO("partition " << p);
    CHECK(f.trees.Ready(p));
    CHECK_FALSE(f.trees.Building(p));
    CHECK(f.trees.keys(p) == 0);
    CHECK(f.trees.tree(p).root() == 0);
    CHECK(SameTree(f.trees.tree(p), HashTree()));
    CHECK(f.trees.built_ms(p) == f.now_ms);
    CHECK(f.trees.published(p).ready.load());
    CHECK(f.trees.published(p).root.load() == 0);
    CHECK(f.trees.published(p).keys.load() == 0);
  }
  // Replicas may still hold the reaped tombstone: the floor outlives FLUSHALL.
  CHECK(f.trees.reap_floor(kp) == floor);
  CheckTrees(f);
  // Upkeep continues from empty.
  for (int i = 0; i < 20; i++) {
    w.Turn();
    CheckTrees(f);
  }
}

TEST_CASE("Reap drops exactly a record with no live value and the expected hash", "[trees]") {
  Fixture f("trees-reap");
  const std::string k = "k";
  const uint32_t p = f.ks->PartitionOf(k);
  // Three writes and a delete: this node's counter in the tombstone record is 4.
  for (const char* v : {"a", "b", "c"}) {
    REQUIRE(f.ks->Put(k, v, 0).ok());
    f.Commit();
  }
  bool existed = false;
  REQUIRE(f.ks->Delete(k, &existed).ok());
  REQUIRE(existed);
  f.Commit();
  const std::string tombstone = *f.Record(k);
  const uint64_t counter = MyCounter(tombstone);
  REQUIRE(counter == 4);
  const uint64_t hash = HashTree::ItemHash(k, tombstone);

  // Another tombstone of the partition, with a lower counter of ours (2).
  const std::string low = f.KeysOf(p, 1)[0];
  REQUIRE(f.ks->Put(low, "x", 0).ok());
  f.Commit();
  REQUIRE(f.ks->Delete(low, &existed).ok());
  f.Commit();
  const uint64_t keys_before = f.trees.keys(p);
  REQUIRE(keys_before >= 2);

  bool dropped = true;
  SECTION("not with another hash") {
    REQUIRE(f.ks->Reap(k, hash ^ 1, &dropped).ok());
    CHECK_FALSE(dropped);
    REQUIRE_FALSE(f.ks->HasPending());
    f.Commit();
    CHECK(f.Record(k) == tombstone);
    CHECK(f.trees.reap_floor(p) == 0);
    CheckTrees(f);
  }
  SECTION("not an absent record") {
    REQUIRE(f.ks->Reap("never-written", 0, &dropped).ok());
    CHECK_FALSE(dropped);
    REQUIRE(f.ks->Reap("never-written", hash, &dropped).ok());
    CHECK_FALSE(dropped);
    REQUIRE_FALSE(f.ks->HasPending());
  }
  SECTION("never a record with a live value, whatever the hash") {
    const std::string live = "live";
    REQUIRE(f.ks->Put(live, "v", 0).ok());
    REQUIRE(f.ks->Put("expiring", "v", f.now_ms + 1'000'000).ok());
    f.Commit();
    for (const std::string& key : {live, std::string("expiring")}) {
      INFO(key);
      REQUIRE(f.ks->Reap(key, f.CommittedHash(key), &dropped).ok());
      CHECK_FALSE(dropped);
    }
    // A live sibling beside a tombstone (a concurrent write) keeps the record too.
    version::DVVSet concurrent;
    concurrent.Update({}, Val("theirs", f.clock.Now(), 9), version::Actor{9, 1});
    REQUIRE(f.ks->VnodeOf(k).Put(k, concurrent.Encode()).ok);
    f.Commit();
    REQUIRE(ValuesOf(*f.Record(k)).size() == 2);
    REQUIRE(f.ks->Reap(k, f.CommittedHash(k), &dropped).ok());
    CHECK_FALSE(dropped);
    REQUIRE_FALSE(f.ks->HasPending());
    CheckTrees(f);
  }
  SECTION("a record whose values all expired is no longer live") {
    const std::string e = "expired";
    REQUIRE(f.ks->Put(e, "v", f.now_ms + 10).ok());
    f.Commit();
    f.now_ms += 100;
    // Not read since: still the expiring value as written, not yet a tombstone.
    REQUIRE(f.ks->Reap(e, f.CommittedHash(e), &dropped).ok());
    CHECK(dropped);
    f.Commit();
    CHECK_FALSE(f.Record(e).has_value());
    CheckTrees(f);
  }
  SECTION("the tombstone goes, the floor rises, and a new write's dot is above it") {
    REQUIRE(f.ks->Reap(k, hash, &dropped).ok());
    REQUIRE(dropped);
    // Buffered, not yet stored: the tree still counts it.
    CHECK(f.trees.keys(p) == keys_before);
    CHECK(f.Record(k) == tombstone);
    f.Commit();
    CHECK_FALSE(f.Record(k).has_value());
    CHECK(f.trees.keys(p) == keys_before - 1);
    CheckTrees(f);
    CHECK(f.trees.reap_floor(p) == counter);
    for (uint32_t q = 0; q < kPartitions; q++) {
      if (q != p) CHECK(f.trees.reap_floor(q) == 0);
    }
    // Durable in `meta`, read back by a node starting over.
    std::string stored;
    REQUIRE(f.store->GetMeta(PartitionTrees::ReapFloorName(p), &stored).ok());
    CHECK(stored == PartitionTrees::EncodeReapFloor(counter));
    PartitionTrees restarted(kPartitions);
    REQUIRE(restarted.LoadReapFloors(f.store.get()).ok());
    for (uint32_t q = 0; q < kPartitions; q++) {
      CHECK(restarted.reap_floor(q) == (q == p ? counter : 0));
    }
    // A reap of a record with a lower counter of ours (written before the first reap) does
    // not lower the floor.
    REQUIRE(MyCounter(*f.Record(low)) < counter);
    REQUIRE(f.ks->Reap(low, f.CommittedHash(low), &dropped).ok());
    REQUIRE(dropped);
    f.Commit();
    CHECK(f.trees.reap_floor(p) == counter);

    const bool after_restart = GENERATE(false, true);
    INFO((after_restart ? "after a restart" : "same process"));
    if (after_restart) {
      // The floor as LoadReapFloors read it, in a fresh keyspace.
      f.BuildAll(&restarted);
      f.shared.trees = &restarted;
      f.ks = std::make_unique<Keyspace>(&f.shared);
    }
    REQUIRE(f.ks->Put(k, "new", 0).ok());
    f.Commit();
    const std::string written = *f.Record(k);
    CHECK(MyCounter(written) > counter);
    // Every dot this node mints in the partition is above the floor, on any key.
    const std::string other = f.KeysOf(p, 2)[1];
    REQUIRE(f.ks->Put(other, "z", 0).ok());
    f.Commit();
    CHECK(MyCounter(*f.Record(other)) > counter);

    // A replica that still held the old tombstone sends it: the new value survives.
    REQUIRE(f.ks->VnodeOf(k).Put(k, tombstone).ok);
    f.Commit();
    auto v = f.Get(k);
    REQUIRE(v.has_value());
    CHECK(v->value == "new");
    // And the other way round: the tombstone merged into the new record changes nothing.
    auto merged = version::DVVSet::Decode(written);
    REQUIRE(merged.ok());
    merged->Sync(*version::DVVSet::Decode(tombstone));
    CHECK(merged->Encode() == written);
    CheckTrees(f, *f.shared.trees);
  }
}

TEST_CASE("without the reap floor the reaped tombstone would supersede the next write",
          "[trees][kv679]") {
  // The negative control of the floor: the same history with a floor forgotten (trees that
  // never loaded it) mints the reaped counter again, and the old tombstone wins.
  Fixture f("trees-nofloor");
  const std::string k = "k";
  REQUIRE(f.ks->Put(k, "a", 0).ok());
  f.Commit();
  bool existed = false, dropped = false;
  REQUIRE(f.ks->Delete(k, &existed).ok());
  f.Commit();
  const std::string tombstone = *f.Record(k);
  REQUIRE(f.ks->Reap(k, HashTree::ItemHash(k, tombstone), &dropped).ok());
  REQUIRE(dropped);
  f.Commit();
  PartitionTrees forgetful(kPartitions);  // LoadReapFloors not called
  f.BuildAll(&forgetful);
  f.shared.trees = &forgetful;
  REQUIRE(f.ks->Put(k, "new", 0).ok());
  f.Commit();
  CHECK(MyCounter(*f.Record(k)) <= MyCounter(tombstone));
  f.ks->VnodeOf(k).Put(k, tombstone);
  f.Commit();
  std::optional<std::string> after = f.Record(k);
  CHECK((!after || ValuesOf(*after) != std::vector<std::string>{"new"}));
}

TEST_CASE("a context write after a reap in its partition keeps the siblings it did not name",
          "[trees][kv679]") {
  // The floor must only raise the new dot: it must not act as part of the client's context. B
  // holds our value x (dot (me, 1)); key A of the same partition is reaped with our counter 4.
  // A blind SETCTX of B (empty context) must leave x as a sibling of y, as it does without a
  // reap (the control below).
  const bool reap = GENERATE(false, true);
  INFO((reap ? "after a reap" : "control: no reap"));
  Fixture f(reap ? "trees-ctx-reap" : "trees-ctx");
  const std::vector<std::string> same = f.KeysOf(2, 2);
  const std::string& a = same[0];
  const std::string& b = same[1];
  REQUIRE(f.ks->Put(b, "x", 0).ok());
  f.Commit();
  for (const char* v : {"1", "2", "3"}) {
    REQUIRE(f.ks->Put(a, v, 0).ok());
    f.Commit();
  }
  bool existed = false, dropped = false;
  REQUIRE(f.ks->Delete(a, &existed).ok());
  f.Commit();
  if (reap) {
    REQUIRE(f.ks->Reap(a, f.CommittedHash(a), &dropped).ok());
    REQUIRE(dropped);
    f.Commit();
    REQUIRE(f.trees.reap_floor(2) == 4);
  }
  REQUIRE(f.ks->PutWithContext(b, "", "y", false).ok());
  f.Commit();
  CHECK(ValuesOf(*f.Record(b)) == std::vector<std::string>{"x", "y"});
}

TEST_CASE("a commit that fails leaves the trees unchanged", "[trees]") {
  Fixture f("trees-fail");
  RandomWriter w(f, 7);
  for (int i = 0; i < 30; i++) w.Turn();
  const std::string tomb = "tomb";
  REQUIRE(f.ks->Put(tomb, "v", 0).ok());
  f.Commit();
  bool existed = false, dropped = false;
  REQUIRE(f.ks->Delete(tomb, &existed).ok());
  f.Commit();
  CheckTrees(f);
  const TreesState before = StateOf(f.trees);

  // A turn touching several partitions: new keys, overwrites, a delete, a merge, a reap.
  for (int i = 0; i < 12; i++) REQUIRE(f.ks->Put("new" + std::to_string(i), "v", 0).ok());
  REQUIRE(f.ks->Put("k1", "over", 0).ok());
  REQUIRE(f.ks->Reap(tomb, f.CommittedHash(tomb), &dropped).ok());
  REQUIRE(dropped);
  REQUIRE(f.ks->Delete("k2", &existed).ok());
  version::DVVSet foreign;
  foreign.Update({}, Val("theirs", f.clock.Now(), 9), version::Actor{9, 1});
  REQUIRE(f.ks->VnodeOf("k3").Put("k3", foreign.Encode()).ok);
  REQUIRE(f.ks->HasPending());

  f.store->AddCommitFaults(storage::Store::CommitFault{storage::Store::CommitFault::Kind::kFail, 0},
                           1);
  REQUIRE_FALSE(f.ks->Commit().ok());
  REQUIRE_FALSE(f.ks->HasPending());
  CHECK(Unchanged(before, f.trees));
  CheckTrees(f);  // nothing was stored either
  CHECK(f.Record("tomb").has_value());
  CHECK_FALSE(f.Record("new0").has_value());
}

}  // namespace dynis::kv
