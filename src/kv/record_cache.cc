#include "kv/record_cache.h"

#include <algorithm>

namespace dynis::kv {

namespace {

// Entries compared per eviction under kLru (Redis's maxmemory-samples default).
constexpr int kSamples = 5;

// What malloc hands out for a string's heap buffer (none within the small-string buffer):
// the bytes and the terminator, plus a chunk header, rounded to 16.
uint64_t HeapBytes(size_t capacity) {
  if (capacity <= 15) return 0;
  return (capacity + 1 + 8 + 15) & ~uint64_t{15};
}

// An unordered_map node holding (std::string, Entry) with its cached hash, as malloc rounds
// it, and one bucket pointer per entry at load factor 1.
constexpr uint64_t kNodeBytes = 96 + 8;

}  // namespace

RecordCache::RecordCache(uint32_t partitions, uint64_t max_bytes, CachePolicy policy)
    : max_bytes_(max_bytes), policy_(policy) {
  shards_.reserve(partitions);
  for (uint32_t p = 0; p < partitions; p++) shards_.push_back(std::make_unique<Shard>());
}

uint64_t RecordCache::Charge(const std::string& data_key, const std::string& record) {
  return kNodeBytes + HeapBytes(data_key.capacity()) + HeapBytes(record.capacity());
}

RecordCache::Found RecordCache::Lookup(uint32_t p, const std::string& data_key,
                                       std::string* record) {
  if (!enabled()) return Found::kMiss;
  Shard& s = *shards_[p];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(data_key);
  if (it != s.map.end()) {
    s.hits++;
    it->second.lru = clock_.load(std::memory_order_relaxed);
    *record = it->second.record;
    return Found::kHit;
  }
  if (s.complete) {
    s.absent++;
    return Found::kAbsent;
  }
  s.misses++;
  return Found::kMiss;
}

int64_t RecordCache::PutLocked(Shard& s, const std::string& data_key, std::string record) {
  auto [it, fresh] = s.map.try_emplace(data_key);
  int64_t delta = 0;
  if (fresh) {
    records_.fetch_add(1, std::memory_order_relaxed);
  } else {
    delta -= static_cast<int64_t>(Charge(it->first, it->second.record));
  }
  it->second.record = std::move(record);
  it->second.lru = clock_.load(std::memory_order_relaxed);
  delta += static_cast<int64_t>(Charge(it->first, it->second.record));
  bytes_.fetch_add(delta, std::memory_order_relaxed);
  return delta;
}

void RecordCache::Fill(uint32_t p, const std::string& data_key, const std::string& record) {
  if (!enabled()) return;
  {
    Shard& s = *shards_[p];
    std::lock_guard<std::mutex> lock(s.mu);
    // Under the lock: a set_max_bytes(0) that emptied this shard is seen here, so nothing is
    // cached while the cache is off (a write then would not update it).
    if (!enabled()) return;
    PutLocked(s, data_key, record);
  }
  Shrink();
}

void RecordCache::Committed(uint32_t p, const std::string& data_key,
                            std::optional<std::string> record) {
  if (!enabled()) return;
  {
    Shard& s = *shards_[p];
    std::lock_guard<std::mutex> lock(s.mu);
    if (record) {
      if (!enabled()) return;
      PutLocked(s, data_key, std::move(*record));
    } else {
      auto it = s.map.find(data_key);
      if (it == s.map.end()) return;
      bytes_.fetch_sub(static_cast<int64_t>(Charge(it->first, it->second.record)),
                       std::memory_order_relaxed);
      records_.fetch_sub(1, std::memory_order_relaxed);
      s.map.erase(it);
      return;
    }
  }
  Shrink();
}

uint64_t RecordCache::BeginWarm(uint32_t p) {
  Shard& s = *shards_[p];
  std::lock_guard<std::mutex> lock(s.mu);
  return s.evictions;
}

bool RecordCache::WarmFill(uint32_t p, const std::string& data_key, const std::string& record) {
  Shard& s = *shards_[p];
  std::lock_guard<std::mutex> lock(s.mu);
  const uint64_t max = max_bytes();
  if (max == 0) return false;
  // Cached already means committed since the scan read it, or the same record: keep it.
  if (s.map.find(data_key) != s.map.end()) return true;
  // Inserted, then taken back if that went over the bound (loops warm at once): warm-up never
  // evicts and never overshoots.
  PutLocked(s, data_key, record);
  if (static_cast<uint64_t>(std::max<int64_t>(0, bytes_.load(std::memory_order_relaxed))) <= max) {
    return true;
  }
  auto it = s.map.find(data_key);
  bytes_.fetch_sub(static_cast<int64_t>(Charge(it->first, it->second.record)),
                   std::memory_order_relaxed);
  records_.fetch_sub(1, std::memory_order_relaxed);
  s.map.erase(it);
  return false;
}

void RecordCache::EndWarm(uint32_t p, uint64_t token) {
  Shard& s = *shards_[p];
  std::lock_guard<std::mutex> lock(s.mu);
  // The token moves with every eviction and every DropAll (turning the cache off), so a scan
  // that lost records on the way never completes the partition.
  if (enabled() && s.evictions == token) s.complete = true;
}

void RecordCache::DropAll(bool complete) {
  for (auto& sp : shards_) {
    Shard& s = *sp;
    std::lock_guard<std::mutex> lock(s.mu);
    int64_t freed = 0;
    for (const auto& [k, e] : s.map) freed += static_cast<int64_t>(Charge(k, e.record));
    bytes_.fetch_sub(freed, std::memory_order_relaxed);
    records_.fetch_sub(static_cast<int64_t>(s.map.size()), std::memory_order_relaxed);
    s.map.clear();
    s.complete = complete;
    s.evictions++;  // a warm-up scan in progress no longer completes the shard
  }
}

void RecordCache::Clear() {
  DropAll(/*complete=*/enabled());
  warm_gen_.fetch_add(1, std::memory_order_acq_rel);
}

void RecordCache::set_max_bytes(uint64_t max_bytes) {
  const uint64_t before = max_bytes_.exchange(max_bytes, std::memory_order_relaxed);
  if (max_bytes == 0) {
    DropAll(/*complete=*/false);
    return;
  }
  Shrink();
  if (max_bytes > before) warm_gen_.fetch_add(1, std::memory_order_acq_rel);
}

void RecordCache::Shrink() {
  while (static_cast<uint64_t>(std::max<int64_t>(0, bytes_.load(std::memory_order_relaxed))) >
         max_bytes()) {
    if (!EvictOne()) return;
  }
}

uint64_t RecordCache::NextRandom() {
  // splitmix64 over a shared counter: any thread, no lock, good enough to sample.
  uint64_t z = rng_.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool RecordCache::EvictOne() {
  if (records_.load(std::memory_order_relaxed) <= 0) return false;
  const size_t n = shards_.size();
  const size_t first = NextRandom() % n;
  for (size_t i = 0; i < n; i++) {
    Shard& s = *shards_[(first + i) % n];
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.map.empty()) continue;
    const int samples = policy_.load(std::memory_order_relaxed) == CachePolicy::kLru ? kSamples : 1;
    auto victim = s.map.end();
    const size_t buckets = s.map.bucket_count();
    for (int k = 0; k < samples; k++) {
      // A random bucket, then the next non-empty one: each entry roughly equally likely.
      size_t b = NextRandom() % buckets;
      for (size_t step = 0; step < buckets && s.map.bucket_size(b) == 0; step++) {
        b = (b + 1) % buckets;
      }
      auto local = s.map.begin(b);
      if (local == s.map.end(b)) continue;
      auto it = s.map.find(local->first);
      if (victim == s.map.end() || it->second.lru < victim->second.lru) victim = it;
    }
    if (victim == s.map.end()) continue;
    bytes_.fetch_sub(static_cast<int64_t>(Charge(victim->first, victim->second.record)),
                     std::memory_order_relaxed);
    records_.fetch_sub(1, std::memory_order_relaxed);
    s.map.erase(victim);
    s.complete = false;
    s.evictions++;
    evictions_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

RecordCache::Stats RecordCache::stats() const {
  Stats st;
  st.bytes = static_cast<uint64_t>(std::max<int64_t>(0, bytes_.load(std::memory_order_relaxed)));
  st.records =
      static_cast<uint64_t>(std::max<int64_t>(0, records_.load(std::memory_order_relaxed)));
  st.evictions = evictions_.load(std::memory_order_relaxed);
  for (const auto& sp : shards_) {
    std::lock_guard<std::mutex> lock(sp->mu);
    st.hits += sp->hits;
    st.absent += sp->absent;
    st.misses += sp->misses;
    st.complete += sp->complete ? 1 : 0;
  }
  return st;
}

bool RecordCache::complete(uint32_t p) const {
  std::lock_guard<std::mutex> lock(shards_[p]->mu);
  return shards_[p]->complete;
}

}  // namespace dynis::kv
