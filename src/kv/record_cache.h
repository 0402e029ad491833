// RecordCache: the node's committed records in memory, in front of the store, one shard per
// partition.
//
// What it holds is exactly what the store holds for the keys it holds: an entry is filled from
// a store read by the partition's owning loop, replaced or erased by every committed change
// (Keyspace::Commit, after the batch is stored), and dropped by eviction. Only the owner reads
// a key before writing it, and only the owner fills, so no stale read can land in the cache:
// the one writer of a partition's records (the owner, or a loop holding the all-loops barrier
// while the owner is paused) updates the shard under its lock after storing the batch, and
// every loop may read any shard under its lock.
//
// A partition is *complete* when every record it holds is cached: a miss there means the key
// is absent, so neither a read nor a write of a new key touches the store. A partition becomes
// complete when its owner's warm-up scan ends without an eviction in it since the scan began
// (Keyspace::WarmCache), or when FLUSHALL empties it; any eviction from it makes it incomplete
// again. Warm-up never evicts: it stops when the cache is full.
//
// Bounded by `max_bytes` (cache-max-bytes; 0 turns the cache off): an insert that takes the
// cache over it evicts entries, chosen as Redis's allkeys-lru and allkeys-random do, from a
// sample (kLru: the least recently used of 5 entries of one random shard, at the resolution of
// Tick; kRandom: one random entry). Evicting drops only the cached copy, never data.
//
// Thread-safety: every method may be called from any thread; each shard has its own mutex,
// held only inside a call (two are never held together).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dynis::kv {

enum class CachePolicy { kLru, kRandom };

class RecordCache {
 public:
  explicit RecordCache(uint32_t partitions, uint64_t max_bytes = 0,
                       CachePolicy policy = CachePolicy::kLru);
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  enum class Found {
    kMiss,    // not cached: the store decides
    kHit,     // *record is the stored record
    kAbsent,  // the partition is complete and the key is not in it: no record is stored
  };
  // `data_key` is a storage::DataKey of partition p.
  Found Lookup(uint32_t p, const std::string& data_key, std::string* record);
  // A record the owner just read from the store (not for a key it has uncommitted writes of).
  void Fill(uint32_t p, const std::string& data_key, const std::string& record);
  // The key's committed new record (nullopt: deleted). Cached whether it was before or not.
  void Committed(uint32_t p, const std::string& data_key, std::optional<std::string> record);

  // Warm-up (Keyspace::WarmCache), partition by partition: BeginWarm returns a token,
  // WarmFill caches a scanned record unless cached already (false when the cache is full:
  // the scan should stop), EndWarm makes the partition complete when nothing was evicted
  // from it since the token was taken.
  uint64_t BeginWarm(uint32_t p);
  bool WarmFill(uint32_t p, const std::string& data_key, const std::string& record);
  void EndWarm(uint32_t p, uint64_t token);
  // Bumped whenever warming may succeed where it stopped before (more room, FLUSHALL): owners
  // warm again the partitions that are not complete.
  uint64_t warm_generation() const { return warm_gen_.load(std::memory_order_acquire); }

  // FLUSHALL (every loop paused or only the caller running): no record is stored any more, so
  // every partition is complete and empty.
  void Clear();
  // CONFIG SET: a smaller bound evicts at once; 0 drops everything and turns the cache off.
  void set_max_bytes(uint64_t max_bytes);
  void set_policy(CachePolicy policy) { policy_.store(policy, std::memory_order_relaxed); }
  uint64_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }
  bool enabled() const { return max_bytes() > 0; }
  // The recency clock (the loops' cron): entries touched in one tick are equally recent.
  void Tick(int64_t now_ms) {
    clock_.store(static_cast<uint32_t>(now_ms / 100), std::memory_order_relaxed);
  }

  struct Stats {
    uint64_t bytes = 0;
    uint64_t records = 0;
    uint64_t hits = 0;    // kHit
    uint64_t absent = 0;  // kAbsent (a miss answered without the store)
    uint64_t misses = 0;  // kMiss
    uint64_t evictions = 0;
    uint32_t complete = 0;  // partitions
  };
  Stats stats() const;
  bool complete(uint32_t p) const;
  uint32_t partitions() const { return static_cast<uint32_t>(shards_.size()); }

  // What an entry is charged: the bytes malloc hands out for it (node, key, record, bucket).
  static uint64_t Charge(const std::string& data_key, const std::string& record);

 private:
  struct Entry {
    std::string record;
    uint32_t lru = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> map;
    bool complete = false;
    uint64_t evictions = 0;  // evictions and emptyings since construction: a warm-up token
    uint64_t hits = 0, absent = 0, misses = 0;
  };
  // Inserts or replaces under the shard's lock; returns the change in charged bytes.
  int64_t PutLocked(Shard& s, const std::string& data_key, std::string record);
  // Empties every shard, leaving each complete or not.
  void DropAll(bool complete);
  // Evicts until the cache is within its bound (no shard lock held by the caller).
  void Shrink();
  // Evicts one entry of a sampled shard; false when the cache is empty.
  bool EvictOne();
  uint64_t NextRandom();

  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> max_bytes_;
  std::atomic<CachePolicy> policy_;
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> records_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint32_t> clock_{0};
  std::atomic<uint64_t> warm_gen_{0};
  std::atomic<uint64_t> rng_{0x9e3779b97f4a7c15ull};
};

}  // namespace dynis::kv
