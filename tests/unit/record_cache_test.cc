// RecordCache and the Keyspace over it: what the cache answers is always what the store holds,
// whatever is evicted, warmed, flushed or read from other loops meanwhile.
#include "kv/record_cache.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "kv/keyspace.h"
#include "storage/store.h"

using namespace dynis;
using kv::RecordCache;
using Found = RecordCache::Found;

namespace {

std::string Dk(uint32_t p, const std::string& k) { return storage::DataKey(p, k); }

struct StoreDir {
  std::string dir;
  std::unique_ptr<storage::Store> store;
  StoreDir() {
    char tmpl[] = "/tmp/dynis-cache-XXXXXX";
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
  }
  ~StoreDir() {
    store.reset();
    std::string cmd = "rm -rf " + dir;
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
};

// A node with `loops` keyspaces over one store and one cache, as Server::ShareKeyspace makes.
struct Node {
  StoreDir sd;
  HybridClock clock{[] { return NowMs(); }};
  kv::KeyspaceShared shared;
  std::unique_ptr<RecordCache> cache;
  std::vector<std::unique_ptr<kv::Keyspace>> loops;

  Node(uint32_t workers, uint64_t cache_bytes, bool keep_clocks = false) {
    cache = std::make_unique<RecordCache>(16, cache_bytes);
    shared.partitions = 16;
    shared.workers = workers;
    shared.keep_clocks = keep_clocks;
    Attach();
  }
  void Attach() {
    shared.store = sd.store.get();
    shared.clock = &clock;
    shared.actor = version::Actor{42, 7};
    shared.cache = cache.get();
    loops.clear();
    for (uint32_t i = 0; i < shared.workers; i++) {
      loops.push_back(std::make_unique<kv::Keyspace>(&shared, i));
    }
  }
  // The loop owning key k.
  kv::Keyspace& Owner(const std::string& k) {
    return *loops[loops[0]->PartitionOf(k) % shared.workers];
  }
  void WarmAll() {
    for (auto& ks : loops) {
      for (int i = 0; i < 1000 && !ks->cache_warm(); i++) ks->WarmCache(3);
    }
  }
  std::optional<std::string> Live(kv::Keyspace& ks, const std::string& k) {
    std::optional<kv::LiveValue> v;
    REQUIRE(ks.GetLive(k, &v).ok());
    if (!v) return std::nullopt;
    return v->value;
  }
  // The record in the store itself, past the cache.
  std::optional<std::string> Stored(const std::string& k) {
    std::string v;
    Status s = sd.store->Get(storage::DataKey(loops[0]->PartitionOf(k), k), &v);
    if (s.IsNotFound()) return std::nullopt;
    REQUIRE(s.ok());
    return v;
  }
};

}  // namespace

TEST_CASE("cache: a filled record is a hit, a commit replaces it, a delete removes it",
          "[cache]") {
  RecordCache c(4, 1 << 20);
  std::string r;
  CHECK(c.Lookup(1, Dk(1, "a"), &r) == Found::kMiss);
  c.Fill(1, Dk(1, "a"), "rec1");
  REQUIRE(c.Lookup(1, Dk(1, "a"), &r) == Found::kHit);
  CHECK(r == "rec1");
  c.Committed(1, Dk(1, "a"), std::string("rec2"));
  REQUIRE(c.Lookup(1, Dk(1, "a"), &r) == Found::kHit);
  CHECK(r == "rec2");
  c.Committed(1, Dk(1, "a"), std::nullopt);
  CHECK(c.Lookup(1, Dk(1, "a"), &r) == Found::kMiss);  // not complete: the store decides
  // A commit caches a key never read (write-allocate).
  c.Committed(2, Dk(2, "b"), std::string("x"));
  CHECK(c.Lookup(2, Dk(2, "b"), &r) == Found::kHit);
  RecordCache::Stats st = c.stats();
  CHECK(st.records == 1);
  CHECK(st.bytes == RecordCache::Charge(Dk(2, "b"), "x"));
  CHECK(st.hits == 3);
  CHECK(st.misses == 2);
}

TEST_CASE("cache: a warmed partition answers absent keys without the store until it evicts",
          "[cache]") {
  RecordCache c(4, 1 << 20);
  uint64_t token = c.BeginWarm(0);
  REQUIRE(c.WarmFill(0, Dk(0, "a"), "ra"));
  c.EndWarm(0, token);
  CHECK(c.complete(0));
  CHECK_FALSE(c.complete(1));
  std::string r;
  CHECK(c.Lookup(0, Dk(0, "zz"), &r) == Found::kAbsent);
  CHECK(c.Lookup(1, Dk(1, "zz"), &r) == Found::kMiss);
  // A delete in a complete partition keeps it complete: the key is now absent.
  c.Committed(0, Dk(0, "a"), std::nullopt);
  CHECK(c.Lookup(0, Dk(0, "a"), &r) == Found::kAbsent);
  CHECK(c.stats().absent == 2);

  SECTION("an eviction during the warm-up leaves the partition incomplete") {
    RecordCache small(1, 3 * RecordCache::Charge(Dk(0, "k0"), "v"));
    uint64_t t = small.BeginWarm(0);
    REQUIRE(small.WarmFill(0, Dk(0, "k0"), "v"));
    for (int i = 1; i < 10; i++) small.Committed(0, Dk(0, "k" + std::to_string(i)), "v");
    CHECK(small.stats().evictions > 0);
    small.EndWarm(0, t);
    CHECK_FALSE(small.complete(0));
  }
  SECTION("an eviction makes a complete partition incomplete") {
    RecordCache small(1, 3 * RecordCache::Charge(Dk(0, "k0"), "v"));
    uint64_t t = small.BeginWarm(0);
    small.EndWarm(0, t);
    REQUIRE(small.complete(0));
    for (int i = 0; i < 10; i++) small.Committed(0, Dk(0, "k" + std::to_string(i)), "v");
    CHECK_FALSE(small.complete(0));
    CHECK(small.Lookup(0, Dk(0, "nope"), &r) == Found::kMiss);
  }
  SECTION("warm-up stops instead of evicting once full") {
    RecordCache small(1, 2 * RecordCache::Charge(Dk(0, "k0"), "v"));
    small.BeginWarm(0);
    CHECK(small.WarmFill(0, Dk(0, "k0"), "v"));
    CHECK(small.WarmFill(0, Dk(0, "k1"), "v"));
    CHECK_FALSE(small.WarmFill(0, Dk(0, "k2"), "v"));
    CHECK(small.stats().evictions == 0);
  }
}

TEST_CASE("cache: turning it off and on during a warm-up scan never completes the partition",
          "[cache]") {
  // CONFIG SET runs on any loop while an owner is mid-scan: the records cached so far were
  // dropped, and writes made while it was off were not cached, so the scan must not end with
  // the partition complete (a key it holds would read as absent).
  RecordCache c(2, 1 << 20);
  const uint64_t token = c.BeginWarm(0);
  REQUIRE(c.WarmFill(0, Dk(0, "k1"), "r1"));
  c.set_max_bytes(0);
  c.Committed(0, Dk(0, "k2"), std::string("r2"));  // off: not cached
  c.set_max_bytes(1 << 20);
  c.EndWarm(0, token);
  CHECK_FALSE(c.complete(0));
  std::string r;
  CHECK(c.Lookup(0, Dk(0, "k1"), &r) == Found::kMiss);
  CHECK(c.Lookup(0, Dk(0, "k2"), &r) == Found::kMiss);
  // A fresh warm-up completes it.
  const uint64_t again = c.BeginWarm(0);
  REQUIRE(c.WarmFill(0, Dk(0, "k1"), "r1"));
  REQUIRE(c.WarmFill(0, Dk(0, "k2"), "r2"));
  c.EndWarm(0, again);
  CHECK(c.complete(0));
}

TEST_CASE("cache: warm-up fills never take it over its bound", "[cache]") {
  const uint64_t per = RecordCache::Charge(Dk(0, "w0"), "v");
  RecordCache c(4, 10 * per);
  std::vector<std::thread> loops;
  std::atomic<int> filled{0};
  for (uint32_t w = 0; w < 4; w++) {
    loops.emplace_back([&, w] {
      for (int i = 0; i < 100; i++) {
        if (c.WarmFill(w, Dk(w, "w" + std::to_string(i % 10)), "v")) filled++;
      }
    });
  }
  for (auto& t : loops) t.join();
  CHECK(c.stats().bytes <= 10 * per);
  CHECK(c.stats().evictions == 0);
  CHECK(c.stats().records <= 10);
  CHECK(filled.load() >= 10);
}

TEST_CASE("cache: the bound holds, and lru keeps the records in use", "[cache]") {
  const uint64_t per = RecordCache::Charge(Dk(0, "key:c100000"), std::string(64, 'v'));
  std::map<kv::CachePolicy, double> miss_rate;
  for (kv::CachePolicy policy : {kv::CachePolicy::kLru, kv::CachePolicy::kRandom}) {
    RecordCache c(8, 200 * per, policy);
    int64_t now = 1000;
    // 50 hot keys read after every insert of one of 5,000 cold keys, a miss filled again as
    // the owner does: the hot keys' hit rate is the policy's quality.
    auto key = [](const char* kind, int i) {
      return std::string("key:") + kind + std::to_string(100000 + i);
    };
    std::string r;
    uint64_t hot_hits = 0, hot_reads = 0;
    for (int i = 0; i < 5000; i++) {
      now += 100;
      c.Tick(now);
      c.Committed(i % 8, Dk(i % 8, key("c", i)), std::string(64, 'v'));
      for (int h = 0; h < 50; h++) {
        const std::string dk = Dk(h % 8, key("h", h));
        const bool hit = c.Lookup(h % 8, dk, &r) == Found::kHit;
        if (!hit) c.Fill(h % 8, dk, std::string(64, 'v'));
        if (i >= 1000) {
          hot_reads++;
          hot_hits += hit ? 1 : 0;
        }
      }
      REQUIRE(c.stats().bytes <= c.max_bytes());
    }
    const double rate = static_cast<double>(hot_hits) / static_cast<double>(hot_reads);
    INFO("policy " << (policy == kv::CachePolicy::kLru ? "lru" : "random") << " hot hit rate "
                   << rate);
    CHECK(c.stats().evictions >= 4800);
    miss_rate[policy] = 1 - rate;
  }
  // Sampled LRU misses a hot key a tenth as often as random eviction, or less.
  INFO("hot miss rate: lru " << miss_rate[kv::CachePolicy::kLru] << ", random "
                             << miss_rate[kv::CachePolicy::kRandom]);
  CHECK(miss_rate[kv::CachePolicy::kLru] < 0.005);
  CHECK(miss_rate[kv::CachePolicy::kLru] * 10 < miss_rate[kv::CachePolicy::kRandom]);
}

TEST_CASE("cache: a lower bound evicts at once, 0 turns it off, Clear leaves it complete",
          "[cache]") {
  RecordCache c(4, 1 << 20);
  for (int i = 0; i < 100; i++) c.Committed(i % 4, Dk(i % 4, "k" + std::to_string(i)), "v");
  const uint64_t per = RecordCache::Charge(Dk(0, "k10"), "v");
  c.set_max_bytes(10 * per);
  CHECK(c.stats().bytes <= 10 * per);
  c.set_max_bytes(0);
  CHECK(c.stats().records == 0);
  CHECK(c.stats().bytes == 0);
  std::string r;
  CHECK(c.Lookup(0, Dk(0, "k0"), &r) == Found::kMiss);
  c.Committed(0, Dk(0, "k0"), std::string("v"));  // off: nothing is kept
  CHECK(c.stats().records == 0);
  const uint64_t gen = c.warm_generation();
  c.set_max_bytes(1 << 20);
  CHECK(c.warm_generation() != gen);  // more room: warm again
  c.Committed(0, Dk(0, "k0"), std::string("v"));
  c.Clear();
  CHECK(c.stats().records == 0);
  CHECK(c.stats().complete == 4);
  CHECK(c.Lookup(0, Dk(0, "k0"), &r) == Found::kAbsent);
}

TEST_CASE("keyspace over the cache: every read and record equals a keyspace without one",
          "[cache][keyspace]") {
  // The same random operations on two nodes, one with a cache so small it evicts all the time
  // (and one with room for everything), one without: after every turn both must answer every
  // key alike and hold the same records in the store.
  const uint64_t bound = GENERATE(uint64_t{0}, uint64_t{1500}, uint64_t{1} << 20);
  const bool keep_clocks = GENERATE(false, true);
  Node cached(2, bound, keep_clocks);
  Node plain(2, 0, keep_clocks);
  plain.cache.reset();
  plain.Attach();
  std::mt19937_64 rng(bound * 2 + (keep_clocks ? 1 : 0));
  std::vector<std::string> keys;
  for (int i = 0; i < 40; i++) keys.push_back("key" + std::to_string(i));
  for (int turn = 0; turn < 300; turn++) {
    for (int op = 0; op < 6; op++) {
      const std::string& k = keys[rng() % keys.size()];
      const int kind = static_cast<int>(rng() % 6);
      for (Node* n : {&cached, &plain}) {
        kv::Keyspace& ks = n->Owner(k);
        if (kind <= 1) {
          REQUIRE(ks.Put(k, "v" + std::to_string(turn), 0).ok());
        } else if (kind == 2) {
          bool existed = false;
          REQUIRE(ks.Delete(k, &existed).ok());
        } else if (kind == 3) {
          std::vector<version::Sibling> vals;
          std::string ctx;
          REQUIRE(ks.GetSiblings(k, &vals, &ctx).ok());
          REQUIRE(ks.PutWithContext(k, ctx, "c" + std::to_string(turn), false).ok());
        } else {
          // A read from either loop: the other loop reads the store or the owner's cache.
          (void)n->Live(*n->loops[rng() % 2], k);
        }
      }
      (void)rng();
    }
    for (Node* n : {&cached, &plain}) {
      for (auto& ks : n->loops) REQUIRE(ks->Commit().ok());
    }
    if (turn % 7 == 0) cached.loops[turn % 2]->WarmCache(5);
    for (const std::string& k : keys) {
      INFO("turn " << turn << " key " << k << " bound " << bound);
      REQUIRE(cached.Live(*cached.loops[0], k) == plain.Live(*plain.loops[0], k));
      REQUIRE(cached.Live(*cached.loops[1], k) == plain.Live(*plain.loops[1], k));
      std::optional<std::string> rec;
      REQUIRE(cached.Owner(k).LoadRecord(k, &rec).ok());
      REQUIRE(rec == cached.Stored(k));  // the cache answers what the store holds
      REQUIRE(cached.Stored(k).has_value() == plain.Stored(k).has_value());
    }
    if (bound > 0) REQUIRE(cached.cache->stats().bytes <= bound);
  }
  if (bound == 1500) CHECK(cached.cache->stats().evictions > 0);
  if (bound == (uint64_t{1} << 20)) CHECK(cached.cache->stats().hits > 0);
}

TEST_CASE("keyspace over the cache: a warmed node reads and writes without the store",
          "[cache][keyspace]") {
  Node n(2, 1 << 20);
  for (int i = 0; i < 50; i++) {
    const std::string k = "k" + std::to_string(i);
    REQUIRE(n.Owner(k).Put(k, "v", 0).ok());
  }
  for (auto& ks : n.loops) REQUIRE(ks->Commit().ok());
  // A restart: the cache is memory, the store keeps everything.
  n.loops.clear();
  n.sd.store.reset();
  n.sd.Open();
  n.cache = std::make_unique<RecordCache>(16, 1 << 20);
  n.Attach();
  CHECK(n.cache->stats().records == 0);
  n.WarmAll();
  CHECK(n.cache->stats().complete == 16);
  CHECK(n.cache->stats().records == 50);
  const RecordCache::Stats before = n.cache->stats();
  // Reads of present and absent keys, and writes of new keys: no store read at all.
  for (int i = 0; i < 100; i++) {
    const std::string k = "k" + std::to_string(i);
    CHECK(n.Live(*n.loops[i % 2], k) == (i < 50 ? std::optional<std::string>("v") : std::nullopt));
  }
  for (int i = 100; i < 120; i++) {
    const std::string k = "k" + std::to_string(i);
    REQUIRE(n.Owner(k).Put(k, "w", 0).ok());
  }
  for (auto& ks : n.loops) REQUIRE(ks->Commit().ok());
  const RecordCache::Stats after = n.cache->stats();
  CHECK(after.misses == before.misses);
  CHECK(after.hits - before.hits == 50);
  CHECK(after.absent - before.absent == 70);
  CHECK(n.Stored("k110").has_value());  // the store has every committed write
  CHECK(n.Live(*n.loops[0], "k110") == std::optional<std::string>("w"));
}

TEST_CASE("keyspace over the cache: other loops read the owner's committed writes only",
          "[cache][keyspace]") {
  Node n(2, 1 << 20);
  n.WarmAll();
  // A key of loop 0, read from loop 1 while loop 0 has it buffered: the old value, then the
  // new one once committed.
  std::string k;
  for (int i = 0;; i++) {
    k = "x" + std::to_string(i);
    if (n.loops[0]->Owns(k)) break;
  }
  REQUIRE(n.loops[0]->Put(k, "old", 0).ok());
  REQUIRE(n.loops[0]->Commit().ok());
  REQUIRE(n.loops[0]->Put(k, "new", 0).ok());
  CHECK(n.Live(*n.loops[1], k) == std::optional<std::string>("old"));
  CHECK(n.Live(*n.loops[0], k) == std::optional<std::string>("new"));
  REQUIRE(n.loops[0]->Commit().ok());
  CHECK(n.Live(*n.loops[1], k) == std::optional<std::string>("new"));

  SECTION("concurrently: readers never see a value the owner did not commit") {
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::atomic<int> committed{0};
    std::thread reader([&] {
      kv::Keyspace& other = *n.loops[1];
      while (!stop.load()) {
        std::optional<kv::LiveValue> v;
        if (!other.GetLive(k, &v).ok() || !v) {
          bad++;
          continue;
        }
        // A value is "v<i>": committed before the read began, or the one being committed.
        const int seen = std::atoi(v->value.c_str() + 1);
        if (v->value != "new" && seen > committed.load() + 1) bad++;
      }
    });
    for (int i = 1; i <= 3000; i++) {
      REQUIRE(n.loops[0]->Put(k, "v" + std::to_string(i), 0).ok());
      REQUIRE(n.loops[0]->Commit().ok());
      committed.store(i);
    }
    stop = true;
    reader.join();
    CHECK(bad.load() == 0);
    CHECK(n.Live(*n.loops[1], k) == std::optional<std::string>("v3000"));
  }
}
