// Keyspace: Dynamo's write rules over versioned records, the turn buffer and the storage layout.
#include "kv/keyspace.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/hash.h"
#include "kv/vnode.h"
#include "replication/engine.h"
#include "storage/store.h"

using namespace dynis;

namespace {

struct Fixture {
  std::string dir;
  std::unique_ptr<storage::Store> store;
  int64_t virtual_ms = 0;  // when set, the keyspace's wall time
  HybridClock clock{[this] { return virtual_ms != 0 ? virtual_ms : NowMs(); }};
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;

  Fixture() {
    char tmpl[] = "/tmp/dynis-ks-XXXXXX";
    dir = mkdtemp(tmpl);
    Open();
  }
  void Open() {
    storage::StoreOptions o;
    o.dir = dir;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = storage::Store::Open(o);
    REQUIRE(s.ok());
    store = std::move(s).value();
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = version::Actor{42, 7};
    shared.partitions = 256;
    ks = std::make_unique<kv::Keyspace>(&shared);
  }
  void Reopen() {
    ks.reset();
    store.reset();
    Open();
  }
  ~Fixture() {
    ks.reset();
    store.reset();
    std::string cmd = "rm -rf " + dir;
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  std::optional<kv::LiveValue> Get(const std::string& k) {
    std::optional<kv::LiveValue> v;
    REQUIRE(ks->GetLive(k, &v).ok());
    return v;
  }
  std::vector<std::string> Siblings(const std::string& k, std::string* ctx = nullptr) {
    std::vector<version::Sibling> vals;
    std::string c;
    REQUIRE(ks->GetSiblings(k, &vals, &c).ok());
    if (ctx) *ctx = c;
    std::vector<std::string> out;
    for (auto& s : vals) out.push_back(s.value);
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_CASE("a plain SET is readable before and after its turn is committed", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v1", 0).ok());
  REQUIRE(f.ks->HasPending());
  REQUIRE(f.Get("k")->value == "v1");
  REQUIRE(f.ks->Commit().ok());
  REQUIRE_FALSE(f.ks->HasPending());
  REQUIRE(f.Get("k")->value == "v1");
  f.Reopen();
  REQUIRE(f.Get("k")->value == "v1");
}

TEST_CASE("data keys are prefixed by their big-endian partition", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("user:1", "x", 0).ok());
  REQUIRE(f.ks->Commit().ok());
  uint32_t p = KeyPartition("user:1", 256);
  std::string raw;
  REQUIRE(f.store->Get(storage::DataKey(p, "user:1"), &raw).ok());
  std::string dk = storage::DataKey(p, "user:1");
  REQUIRE(storage::PartitionOfDataKey(dk) == p);
  REQUIRE(storage::UserKeyOf(dk) == "user:1");
  REQUIRE(static_cast<uint8_t>(dk[0]) == (p >> 8));
  REQUIRE(static_cast<uint8_t>(dk[1]) == (p & 0xff));
}

TEST_CASE("two writes with the same context become siblings; the merged context resolves them",
          "[keyspace][siblings]") {
  Fixture f;
  REQUIRE(f.ks->Put("cart", "base", 0).ok());
  std::string ctx;
  REQUIRE(f.Siblings("cart", &ctx) == std::vector<std::string>{"base"});
  REQUIRE(f.ks->PutWithContext("cart", ctx, "apples", false).ok());
  REQUIRE(f.ks->PutWithContext("cart", ctx, "pears", false).ok());
  std::string ctx2;
  REQUIRE(f.Siblings("cart", &ctx2) == std::vector<std::string>{"apples", "pears"});
  // GET sees one of them, the same one every time (LWW).
  std::string winner = f.Get("cart")->value;
  REQUIRE((winner == "apples" || winner == "pears"));
  REQUIRE(f.Get("cart")->value == winner);
  REQUIRE(f.ks->PutWithContext("cart", ctx2, "apples,pears", false).ok());
  REQUIRE(f.Siblings("cart") == std::vector<std::string>{"apples,pears"});
}

TEST_CASE("a plain SET supersedes every sibling", "[keyspace][siblings]") {
  Fixture f;
  REQUIRE(f.ks->PutWithContext("k", "", "a", false).ok());
  REQUIRE(f.ks->PutWithContext("k", "", "b", false).ok());
  REQUIRE(f.Siblings("k").size() == 2);
  REQUIRE(f.ks->Put("k", "c", 0).ok());
  REQUIRE(f.Siblings("k") == std::vector<std::string>{"c"});
}

TEST_CASE("DEL leaves a tombstone that hides the key and reports whether it existed",
          "[keyspace]") {
  Fixture f;
  bool existed = false;
  REQUIRE(f.ks->Delete("k", &existed).ok());
  REQUIRE_FALSE(existed);
  REQUIRE(f.ks->Put("k", "v", 0).ok());
  REQUIRE(f.ks->Delete("k", &existed).ok());
  REQUIRE(existed);
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.Siblings("k").empty());
  REQUIRE(f.ks->Commit().ok());
  std::string raw;
  REQUIRE(f.store->Get(storage::DataKey(f.ks->PartitionOf("k"), "k"), &raw).ok());
  REQUIRE_FALSE(kv::RecordIsLive(raw, NowMs()));
  // Garbage only after the grace period (standalone: dropped).
  REQUIRE(kv::Keyspace::Compact(raw, NowMs(), 60000, false) == storage::CompactDecision::kKeep);
  REQUIRE(kv::Keyspace::Compact(raw, NowMs() + 61000, 60000, false) ==
          storage::CompactDecision::kDrop);
}

TEST_CASE("DELCTX with a stale context keeps the concurrent value", "[keyspace][siblings]") {
  Fixture f;
  std::string ctx;
  REQUIRE(f.ks->Put("k", "v1", 0).ok());
  f.Siblings("k", &ctx);
  REQUIRE(f.ks->Put("k", "v2", 0).ok());  // not seen by ctx
  REQUIRE(f.ks->PutWithContext("k", ctx, "", true).ok());
  REQUIRE(f.Siblings("k") == std::vector<std::string>{"v2"});
}

TEST_CASE("a write whose expiry has passed is a delete", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v", NowMs() - 1).ok());
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.ks->Put("t", "v", NowMs() + 100000).ok());
  REQUIRE(f.Get("t")->expire_at_ms > NowMs());
  REQUIRE(f.ks->Commit().ok());
  // Stored as one tombstone (what other replicas must learn), not as an expired value.
  std::string raw;
  REQUIRE(f.store->Get(storage::DataKey(f.ks->PartitionOf("k"), "k"), &raw).ok());
  auto set = version::DVVSet::Decode(raw);
  REQUIRE(set.ok());
  REQUIRE(set->ValueCount() == 1);
  REQUIRE(set->Values()[0]->tombstone);
  REQUIRE(set->Values()[0]->expire_at_ms == 0);
}

TEST_CASE("contexts are validated and limits enforced", "[keyspace]") {
  Fixture f;
  Status s = f.ks->PutWithContext("k", "garbage-context", "v", false);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR invalid context", 0) == 0);

  f.shared.max_object_size = 10;
  s = f.ks->Put("k", std::string(11, 'x'), 0);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR value exceeds max-object-size", 0) == 0);
  REQUIRE(f.ks->Put("k", std::string(10, 'x'), 0).ok());

  f.shared.sibling_max = 3;
  for (int i = 0; i < 2; i++) REQUIRE(f.ks->PutWithContext("k", "", "s", false).ok());
  REQUIRE(f.Siblings("k").size() == 3);
  s = f.ks->PutWithContext("k", "", "s", false);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR too many siblings", 0) == 0);
  REQUIRE(f.Siblings("k").size() == 3);
}

TEST_CASE("reading a key whose every version expired removes its record", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v", NowMs() + 30).ok());
  REQUIRE(f.ks->Commit().ok());
  std::string raw;
  std::string dk = storage::DataKey(f.ks->PartitionOf("k"), "k");
  REQUIRE(f.store->Get(dk, &raw).ok());
  int64_t deadline = NowMs() + 5000;
  while (f.Get("k").has_value() && NowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.ks->Commit().ok());
  REQUIRE(f.store->Get(dk, &raw).IsNotFound());
}

TEST_CASE("Mutate shows the live value and applies the decision as a plain write", "[keyspace]") {
  Fixture f;
  using M = kv::Keyspace::Mutation;
  bool saw_absent = false;
  REQUIRE(f.ks->Mutate("k",
                       [&](const std::optional<kv::LiveValue>& v) {
                         saw_absent = !v.has_value();
                         return M::Keep();
                       })
              .ok());
  REQUIRE(saw_absent);
  REQUIRE_FALSE(f.ks->HasPending());  // keeping writes nothing

  REQUIRE(
      f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Put("1", 0); }).ok());
  REQUIRE(f.ks->PutWithContext("k", "", "sibling", false).ok());
  REQUIRE(f.Siblings("k").size() == 2);
  std::string seen;
  REQUIRE(f.ks->Mutate("k",
                       [&](const std::optional<kv::LiveValue>& v) {
                         seen = v->value;
                         return M::Put(v->value + "+", 0);
                       })
              .ok());
  REQUIRE((seen == "1" || seen == "sibling"));                       // the LWW winner
  REQUIRE(f.Siblings("k") == std::vector<std::string>{seen + "+"});  // supersedes both

  REQUIRE(f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Delete(); }).ok());
  REQUIRE_FALSE(f.Get("k").has_value());

  f.shared.max_object_size = 4;
  Status s =
      f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Put("too long", 0); });
  REQUIRE(s.message().rfind("ERR value exceeds max-object-size", 0) == 0);
}

// ---- In a cluster a key's counters are never forgotten (kv679) -----------------------------

namespace {

// The live value the merge of two replicas' records shows (GET after read repair), "" for none.
std::string LiveAfterMerge(const std::string& a, const std::string& b, int64_t now_ms) {
  auto merged = replication::MergeRecords(a, b);
  REQUIRE(merged.ok());
  int64_t expire = 0;
  if (!kv::RecordLiveExpiry(*merged, now_ms, &expire)) return "";
  auto set = version::DVVSet::Decode(*merged);
  return set->LwwWinner()->value;
}

std::string Record(Fixture& f, const std::string& key) {
  std::optional<std::string> rec;
  REQUIRE(f.ks->LoadRecord(key, &rec).ok());
  REQUIRE(rec.has_value());
  return *rec;
}

// Runs the compaction filter's decision on the stored record, as RocksDB would.
storage::CompactDecision CompactStored(Fixture& f, const std::string& key, int64_t now_ms,
                                       bool keep_clocks) {
  std::string dk = storage::DataKey(f.ks->PartitionOf(key), key);
  std::string raw;
  REQUIRE(f.store->Get(dk, &raw).ok());
  storage::CompactDecision d = kv::Keyspace::Compact(raw, now_ms, 1000, keep_clocks);
  REQUIRE(d != storage::CompactDecision::kRewrite);  // Compact never rewrites a record
  if (d == storage::CompactDecision::kDrop) {
    REQUIRE(
        f.store->Write([&](const storage::Store::WriteVisitor& put) { put(dk, nullptr); }).ok());
  }
  return d;
}

// The history on a coordinator at t0: SET k a PX 300; SET k b PX 300. Returns the
// record its replicas hold; the clock is then past both expiries.
constexpr int64_t kT0 = 1'700'000'000'000;
std::string TwoExpiringWrites(Fixture& f) {
  f.virtual_ms = kT0;
  REQUIRE(f.ks->Put("k", "a", kT0 + 300).ok());
  REQUIRE(f.ks->Commit().ok());
  REQUIRE(f.ks->Put("k", "b", kT0 + 300).ok());
  REQUIRE(f.ks->Commit().ok());
  std::string replica = Record(f, "k");
  f.virtual_ms = kT0 + 1000;
  return replica;
}

// A's record of `key` sent to b as a replica store (DYNIS.PUTREC), committed.
std::string Replicate(Fixture& a, Fixture& b, const std::string& key) {
  const std::string record = Record(a, key);
  REQUIRE(b.ks->VnodeOf(key).Put(key, record).ok);
  REQUIRE(b.ks->Commit().ok());
  return record;
}

kv::ReplicaMerge PutTo(const std::string& local, const std::string& record) {
  return kv::MergeReplicaPut(local, record);
}

}  // namespace

TEST_CASE("a key written again after its values were dropped gets a dot no replica has seen",
          "[keyspace][kv679]") {
  // The reproduction: SET k a PX 300; SET k b PX 300; (expired); SET k c; GET k. The
  // replicas hold b's record (a, b from this node's actor); the coordinator drops the key by
  // one of the paths below, then writes c. Merging c's record into the replicas' must show c.
  Fixture f;
  f.shared.keep_clocks = true;
  const std::string replica = TwoExpiringWrites(f);

  const std::string path = GENERATE("lazy expiry", "compaction", "write over expired siblings",
                                    "tombstone reaping");
  SECTION(path) {
    if (path == "lazy expiry") {
      REQUIRE_FALSE(f.Get("k").has_value());
    } else if (path == "compaction") {
      // In a cluster compaction keeps the record unchanged (what it holds is what the
      // partition's hash tree summarises); the expired values turn into tombstones lazily, on
      // the read below.
      const std::string before = Record(f, "k");
      REQUIRE(CompactStored(f, "k", f.virtual_ms, true) == storage::CompactDecision::kKeep);
      REQUIRE(Record(f, "k") == before);
      REQUIRE_FALSE(f.Get("k").has_value());
    } else if (path == "write over expired siblings") {
      // A context write leaves the expired siblings to Store(), which drops them.
      REQUIRE(f.ks->PutWithContext("k", "", "", true).ok());
    } else {
      bool existed = false;
      REQUIRE(f.ks->Delete("k", &existed).ok());
      REQUIRE(f.ks->Commit().ok());
      f.virtual_ms += 5000;  // past tombstone-grace (1 s in CompactStored): still kept
      REQUIRE(CompactStored(f, "k", f.virtual_ms, true) == storage::CompactDecision::kKeep);
    }
    REQUIRE(f.ks->Commit().ok());
    REQUIRE_FALSE(f.Get("k").has_value());
    REQUIRE(f.ks->Put("k", "c", 0).ok());
    REQUIRE(f.ks->Commit().ok());
    const std::string written = Record(f, "k");
    CHECK(LiveAfterMerge(replica, written, f.virtual_ms) == "c");

    // The replica step agrees: no conflict, the store counts.
    kv::ReplicaMerge step = PutTo(replica, written);
    CHECK_FALSE(step.dot_conflict);
    CHECK(step.ok);
  }
}

TEST_CASE("an expired key leaves its write's tombstone, kept in a cluster only",
          "[keyspace][kv679]") {
  Fixture f;
  f.shared.keep_clocks = GENERATE(true, false);
  f.virtual_ms = 1'700'000'000'000;
  const int64_t expires = f.virtual_ms + 10;
  REQUIRE(f.ks->Put("k", "v", expires).ok());
  REQUIRE(f.ks->Commit().ok());
  f.virtual_ms += 100;
  REQUIRE_FALSE(f.Get("k").has_value());  // lazy expiry
  REQUIRE(f.ks->Commit().ok());
  const std::string dk = storage::DataKey(f.ks->PartitionOf("k"), "k");
  std::string raw;
  Status s = f.store->Get(dk, &raw);
  if (!f.shared.keep_clocks) {
    REQUIRE(s.IsNotFound());  // a standalone node has no peers that saw its dots
    return;
  }
  // The expired value became its write's tombstone: same dot and time, no bytes.
  REQUIRE(s.ok());
  REQUIRE_FALSE(kv::RecordIsLive(raw, f.virtual_ms));
  auto set = version::DVVSet::Decode(raw);
  REQUIRE(set.ok());
  REQUIRE(set->ValueCount() == 1);
  REQUIRE(set->Values()[0]->tombstone);
  REQUIRE(set->Values()[0]->value.empty());
  REQUIRE(set->Values()[0]->expire_at_ms == expires);
  REQUIRE(set->Join() == version::VersionVector{{f.shared.actor, 1}});
  // No key, and a client's context still covers the old dot.
  std::string ctx;
  REQUIRE(f.Siblings("k", &ctx).empty());
  REQUIRE_FALSE(ctx.empty());
  // Compaction keeps it long past tombstone-grace (until anti-entropy can prove every replica
  // holds it); a standalone node's compaction would drop it.
  REQUIRE(kv::Keyspace::Compact(raw, f.virtual_ms + 86'400'000, 1000, true) ==
          storage::CompactDecision::kKeep);
  REQUIRE(kv::Keyspace::Compact(raw, f.virtual_ms + 86'400'000, 1000, false) ==
          storage::CompactDecision::kDrop);
}

TEST_CASE("without kept clocks the replica step reports the reused dot", "[keyspace][kv679]") {
  // The negative control of the fix: a standalone keyspace's rules in a cluster reproduce
  // kv679, and the replica refuses to count the store instead of silently dropping c.
  Fixture f;
  f.shared.keep_clocks = false;
  const std::string replica = TwoExpiringWrites(f);
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.ks->Commit().ok());
  REQUIRE(f.ks->Put("k", "c", 0).ok());
  REQUIRE(f.ks->Commit().ok());
  const std::string written = Record(f, "k");
  CHECK(LiveAfterMerge(replica, written, f.virtual_ms).empty());  // c lost: the bug
  kv::ReplicaMerge step = PutTo(replica, written);
  CHECK(step.dot_conflict);
  CHECK_FALSE(step.ok);
  CHECK(step.error.rfind("ERR dot conflict", 0) == 0);
}

TEST_CASE("a blind SET with a past expiry hides what other replicas hold", "[keyspace]") {
  // SET k v1 reached replica b only; SET k v2 PXAT 1 through a node that holds nothing.
  Fixture a, b;
  a.shared.keep_clocks = b.shared.keep_clocks = true;
  b.shared.actor = version::Actor{43, 1};
  b.virtual_ms = 1'700'000'000'000;
  a.virtual_ms = b.virtual_ms + 5;  // later, in real time
  REQUIRE(b.ks->Put("k", "v1", 0).ok());
  REQUIRE(b.ks->Commit().ok());
  a.ks->BeginTracking();
  REQUIRE(a.ks->Put("k", "v2", 1).ok());
  REQUIRE(a.ks->TakeTracked() == std::vector<std::string>{"k"});  // replicated like any write
  REQUIRE(a.ks->Commit().ok());
  Replicate(a, b, "k");
  REQUIRE_FALSE(b.Get("k").has_value());
}

TEST_CASE("a replica's clock observes the records it merges", "[keyspace]") {
  // a's wall clock is 10 s ahead of b's. After b merged a's write, b's next write of the key
  // is later in LWW order, as it is in real time.
  Fixture a, b;
  a.shared.keep_clocks = b.shared.keep_clocks = true;
  b.shared.actor = version::Actor{43, 1};
  b.virtual_ms = 1'700'000'000'000;
  a.virtual_ms = b.virtual_ms + 10'000;
  REQUIRE(a.ks->Put("k", "from-a", 0).ok());
  REQUIRE(a.ks->Commit().ok());
  const std::string record = Replicate(a, b, "k");
  REQUIRE(b.clock.Now() > version::DVVSet::Decode(record)->MaxHlc());
  // A sibling written beside it (a context that did not see it) wins LWW: it came later.
  REQUIRE(b.ks->PutWithContext("k", "", "from-b", false).ok());
  REQUIRE(b.Get("k")->value == "from-b");
}

TEST_CASE("a later write with a TTL hides the older concurrent value, also once it expired",
          "[keyspace]") {
  // x and w were written through different nodes that had not seen each other's write; w is
  // the later one (LWW) and expires. GET shows w, then nothing: never x again.
  Fixture a, b;
  b.shared.actor = version::Actor{43, 1};
  a.virtual_ms = 1'700'000'000'000;
  b.virtual_ms = a.virtual_ms + 5;
  REQUIRE(a.ks->Put("k", "x", 0).ok());
  REQUIRE(a.ks->Commit().ok());
  REQUIRE(b.ks->Put("k", "w", b.virtual_ms + 100).ok());
  Replicate(a, b, "k");
  REQUIRE(b.Siblings("k").size() == 2);
  REQUIRE(b.Get("k")->value == "w");
  b.virtual_ms += 200;
  CHECK_FALSE(b.Get("k").has_value());
  CHECK(b.Siblings("k") == std::vector<std::string>{"x"});  // the sibling view still shows x
}
