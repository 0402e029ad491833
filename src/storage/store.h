// Store: the node's one RocksDB, the only unit that includes RocksDB.
//
// Column families (named by `Cf`): `data` (key = 2-byte big-endian partition id + user key ->
// encoded DVVSet), `hints` (HintKey = target node + DataKey -> the record a fallback holds for
// an unreachable primary until hinted handoff delivers it, kv/vnode.h) and `meta` (node id,
// actor epoch). Open creates whichever
// column family a DB lacks, so an older DB gains `hints` on its first start. Partition-prefixed
// keys make one partition a range: RangeIterator walks one column family in [start, end),
// optionally at a Snapshot, and PartitionStart/PartitionEnd give a partition's bounds (handoff,
// Merkle rebuilds). Tuned for point lookups in `data`: bloom filters, a shared block cache.
//
// Writes: a Batch holds puts and deletes across column families and Write(batch) commits it
// atomically; Write(visitor) is the same path for data-only batches. Durability follows Redis's
// vocabulary: fsync always (WAL synced by every write batch), everysec (SyncWal() from a
// timer), no. Every batch is written to the WAL before Write() returns, so an acknowledged
// write survives kill -9 with any setting.
//
// A fault hook for tests (DEBUG COMMIT-FAULT): a queue of actions, each consumed by one
// Write(), that delays the batch before it reaches the WAL or fails it as an I/O error does.
//
// Thread-safety: all methods may be called from any thread (RocksDB is thread-safe); a Batch,
// Snapshot or RangeIterator is used by one thread at a time and must not outlive its Store.
// Callers serialise read-modify-write of one key by ownership (one event loop owns a partition).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynis::storage {

// The column families a caller can name.
enum class Cf { kData, kHints, kMeta };

// Builds the data-CF key of a user key. partition < kMaxPartitions.
std::string DataKey(uint32_t partition, std::string_view key);
inline std::string_view UserKeyOf(std::string_view data_key) { return data_key.substr(2); }
inline uint32_t PartitionOfDataKey(std::string_view data_key) {
  return (static_cast<uint8_t>(data_key[0]) << 8) | static_cast<uint8_t>(data_key[1]);
}

// The 2-byte prefix holds at most this many partitions.
constexpr uint32_t kMaxPartitions = 1u << 16;
// The DataKey range [PartitionStart(p), PartitionEnd(p)) holds exactly partition p's keys.
// PartitionEnd of the last partition (kMaxPartitions - 1) is "": no key is above it, and ""
// as a RangeIterator's end means unbounded.
std::string PartitionStart(uint32_t partition);
std::string PartitionEnd(uint32_t partition);

// The hints-CF key of a hint: 8-byte big-endian target node id + the DataKey of the user key,
// so one target's hints are one range ([HintTargetStart, HintTargetEnd)) and, within it, one
// partition's are too.
std::string HintKey(uint64_t target, uint32_t partition, std::string_view key);
std::string HintTargetStart(uint64_t target);
std::string HintTargetEnd(uint64_t target);  // "" (unbounded) for the largest id
// The parts of a HintKey (which must be at least 10 bytes).
uint64_t HintTargetOf(std::string_view hint_key);
inline std::string_view HintDataKeyOf(std::string_view hint_key) { return hint_key.substr(8); }

enum class Fsync { kAlways, kEverySec, kNo };

// What compaction does with one data record.
enum class CompactDecision { kKeep, kDrop, kRewrite };

struct StoreOptions {
  std::string dir;
  // Every file (tables, WAL, manifest) lives in this Store's own memory (RocksDB's MemEnv) and
  // goes with it; `dir` only names it. For the simulator, which runs many nodes per process.
  bool in_memory = false;
  uint64_t block_cache_bytes = 256ull << 20;
  uint64_t write_buffer_bytes = 64ull << 20;
  Fsync fsync = Fsync::kEverySec;
  // Called by compaction for every data value: keep it, drop it, or replace it with *rewrite
  // (e.g. all versions expired: dropped, or reduced to the key's causal history in a cluster).
  std::function<CompactDecision(std::string_view value, std::string* rewrite)> compact;
};

class Store {
 public:
  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  class Batch;
  class Snapshot;
  class RangeIterator;

  // Point lookup in `data`. NotFound when absent.
  Status Get(std::string_view key, std::string* value);
  // Point lookup in any column family. NotFound when absent.
  Status Get(Cf cf, std::string_view key, std::string* value);

  // An empty batch for this Store; Write() refuses it on another Store.
  Batch NewBatch();
  // Commits `batch` atomically: all of it or, on error, none of it (synced when fsync is
  // always). The batch is left as it was. After the first I/O error every later Write fails
  // too: the node refuses writes rather than acknowledging ones it may not have stored.
  Status Write(const Batch& batch);
  // The same for a batch of `data` only: `each` calls the visitor once per DataKey with its
  // new value, or nullptr for a delete.
  using WriteVisitor = std::function<void(std::string_view key, const std::string* value)>;
  Status Write(const std::function<void(const WriteVisitor&)>& each);
  Status SyncWal();
  void set_fsync(Fsync f) { fsync_.store(f); }

  // Deletes every data record (FLUSHALL).
  Status DeleteAllData();
  // Compacts all of `data` now (memtable included) down to one level, so the compaction filter
  // sees every record: the simulator's compactions.
  Status CompactAll();

  // A consistent view of every column family as of now, released when destroyed.
  std::unique_ptr<Snapshot> NewSnapshot();
  // Ordered iteration over `cf` in [start, end); "" as end means unbounded. Reads at
  // `snapshot` if given (which must outlive the iterator), else at the moment of the call.
  // Bypasses the block cache: range reads are bulk work (handoff, Merkle rebuilds, SCAN) and
  // should not evict the hot set.
  std::unique_ptr<RangeIterator> NewRangeIterator(Cf cf, std::string_view start,
                                                  std::string_view end,
                                                  const Snapshot* snapshot = nullptr);

  // Ordered iteration over `data` from `start` (a DataKey or ""); fn returns false to stop.
  Status Scan(std::string_view start,
              const std::function<bool(std::string_view key, std::string_view value)>& fn);

  Status GetMeta(std::string_view name, std::string* value);
  Status PutMetaDurably(std::string_view name, std::string_view value);

  // True once a write failed; the reason is kept for error replies and INFO.
  bool write_failed() const { return write_failed_.load(); }
  std::string write_error() const;

  // The test hook. Each of the next Write() calls that has not already been refused takes the
  // first queued action: kDelay sleeps delay_ms on the caller's thread before the batch is
  // written (the write is not durable meanwhile), kFail writes nothing and fails the batch
  // exactly like a RocksDB I/O error (write_failed() from then on).
  struct CommitFault {
    enum class Kind { kDelay, kFail } kind = Kind::kDelay;
    int64_t delay_ms = 0;
  };
  void AddCommitFaults(CommitFault fault, int count);
  void ClearCommitFaults();
  size_t queued_commit_faults() const;

  // Approximate figures for INFO.
  uint64_t EstimateKeys();
  uint64_t DiskBytes();
  uint64_t MemtableBytes();

 private:
  Store() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  // Records the first write error: every later Write() is refused with it.
  Status FailWrites(const std::string& reason);
  // Takes the next queued CommitFault, if any: sleeps for a kDelay, fails for a kFail.
  Status TakeCommitFault();

  std::atomic<Fsync> fsync_{Fsync::kEverySec};
  std::atomic<bool> write_failed_{false};
  mutable std::mutex faults_mu_;
  std::deque<CommitFault> faults_;       // guarded by faults_mu_
  std::atomic<bool> has_faults_{false};  // lets Write() skip the lock when none are queued
};

// Puts and deletes across column families, committed together by Store::Write. Later
// operations on a key override earlier ones in the same batch. Made by Store::NewBatch.
class Store::Batch {
 public:
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;
  ~Batch();

  void Put(Cf cf, std::string_view key, std::string_view value);
  void Delete(Cf cf, std::string_view key);
  // Operations added so far.
  size_t size() const;

 private:
  friend class Store;
  struct Rep;
  explicit Batch(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// A point-in-time view for RangeIterator. Made by Store::NewSnapshot; released on destruction.
class Store::Snapshot {
 public:
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  friend class Store;
  struct Rep;
  explicit Snapshot(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Walks one column family's range in key order. Made by Store::NewRangeIterator, positioned at
// the first key >= start. key() and value() are valid until the next Next(). When Valid()
// turns false, status() says whether the range ended or an error stopped it.
class Store::RangeIterator {
 public:
  ~RangeIterator();
  RangeIterator(const RangeIterator&) = delete;
  RangeIterator& operator=(const RangeIterator&) = delete;

  bool Valid() const;
  std::string_view key() const;
  std::string_view value() const;
  void Next();
  Status status() const;

 private:
  friend class Store;
  struct Rep;
  explicit RangeIterator(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace dynis::storage
