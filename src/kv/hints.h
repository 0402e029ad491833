// Hints: what a fallback keeps for a primary it stood in for (Dynamo §4.6, hinted handoff).
//
// A hint is one record per (primary, key) in the `hints` column family (storage::HintKey): the
// DVVSet merge of every hinted write of that key for that primary, so repeated writes during a
// fault cost one record, not a log. Its value is the time the hint was first stored (8 bytes,
// big-endian unix ms: how long the primary has been missing writes) followed by the encoded
// record. Hints are written and deleted in the owning loop's turn batch like data, so a hinted
// store is acknowledged only once committed (kv/vnode.h), and replay deletes a hint only after
// the primary acknowledged a committed store of it (replication/handoff.h).
//
// HintLedger is the node-wide tally of the hints held, per target (count, bytes) and per
// partition (whether reads of it must look at hints), rebuilt from the column family at
// startup. Thread rule: any thread (a mutex for the per-target tally, relaxed atomics per
// partition: hinted writes are rare, the per-partition check is on every read).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynis::storage {
class Store;
}

namespace dynis::kv {

struct HintValue {
  int64_t stored_ms = 0;  // when the hint was first stored
  std::string record;     // encoded DVVSet
};
std::string EncodeHintValue(int64_t stored_ms, std::string_view record);
bool DecodeHintValue(std::string_view bytes, HintValue* out);

struct HintTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;  // key + value bytes in the column family
};

class HintLedger {
 public:
  explicit HintLedger(uint32_t partitions);

  // One hint of `target` in `partition` added (count +1) or removed (-1), and its bytes.
  void Add(uint64_t target, uint32_t partition, int count, int64_t bytes);
  bool PartitionHasHints(uint32_t partition) const {
    return partition < per_partition_.size() &&
           per_partition_[partition].load(std::memory_order_relaxed) > 0;
  }
  int64_t PartitionHintCount(uint32_t partition) const {
    return partition < per_partition_.size()
               ? per_partition_[partition].load(std::memory_order_relaxed)
               : 0;
  }
  bool Any() const { return total_.load(std::memory_order_relaxed) > 0; }
  HintTotals Totals(uint64_t target) const;
  std::map<uint64_t, HintTotals> All() const;  // targets with hints
  std::vector<uint64_t> Targets() const;
  // The same without the mutex: the reads of a partition with hints ask on every read.
  std::shared_ptr<const std::vector<uint64_t>> TargetsSnapshot() const {
    return std::atomic_load_explicit(&targets_snapshot_, std::memory_order_acquire);
  }

  // Counters for INFO: hints stored (new or merged), replayed (delivered and deleted), dropped
  // (refused: over hints-max-bytes or past hint-window).
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> replayed{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> replay_failures{0};
  std::atomic<uint64_t> replay_rate{0};  // hints replayed per second, over the last second

  // Forgets everything and counts the column family again (startup, and the simulator's
  // restarts). Counters are kept.
  Status Rebuild(storage::Store* store);

 private:
  void PublishTargets();  // under mu_

  mutable std::mutex mu_;
  std::map<uint64_t, HintTotals> targets_;  // guarded by mu_
  // The keys of targets_, republished (under mu_) whenever a target appears or goes.
  std::shared_ptr<const std::vector<uint64_t>> targets_snapshot_ =
      std::make_shared<const std::vector<uint64_t>>();
  std::vector<std::atomic<int64_t>> per_partition_;
  std::atomic<int64_t> total_{0};
};

}  // namespace dynis::kv
