// PartitionTrees: the node's anti-entropy trees (kv/hashtree.h), one per partition, kept equal
// to what the `data` column family holds (issue 10, Dynamo §4.7).
//
// Kept up incrementally: Keyspace::Commit reports every committed change of a record (client
// writes, replica merges, read repair, hint replay, AAE repairs, lazy expiry, reaping) as
// (before, after) item hashes, so one write costs two hashes and three XORs. Nothing else writes
// `data` in a cluster: the compaction filter keeps every record there (Keyspace::Compact), and
// FLUSHALL resets the trees (Reset). A partition's tree is built from a range scan of the
// partition (Build): at startup, and again every aae-rebuild-interval to catch what incremental
// upkeep cannot see (a corrupted file, a bug). A build runs in steps between the loop's turns;
// meanwhile a committed change updates the tree being built only when the scan has passed its
// key (the scan reads the committed state, so a key ahead of it is counted when reached).
// The first build makes the tree ready; a rebuild replaces a ready tree when done, counting a
// mismatch when the two differ. Exchanges use a partition's tree only once it is ready.
//
// Why rebuild rather than persist: a rebuild scans the partition once in the background (figures
// in docs/BENCHMARKS.md); a persisted tree would save that scan only after a clean shutdown and
// needs the same scan after any crash, so it adds a format and a trust question for no
// worst-case gain. Memory: 8,456 bytes per partition (2.1 MiB for 256) plus the same again
// while a partition is being rebuilt.
//
// Thread rule: a partition's slot belongs to the loop owning the partition (or to a loop
// holding the all-loops barrier, like the data); Published() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kv/hashtree.h"

namespace dynis::storage {
class Store;
}

namespace dynis::kv {

class PartitionTrees {
 public:
  explicit PartitionTrees(uint32_t partitions);

  uint32_t partitions() const { return static_cast<uint32_t>(slots_.size()); }

  // A committed change of the record stored under data_key (a partition's DataKey): item
  // hashes before and after (0: absent).
  void Applied(std::string_view data_key, uint64_t before, uint64_t after);

  bool Ready(uint32_t p) const { return slots_[p].ready; }
  const HashTree& tree(uint32_t p) const { return slots_[p].live; }
  // Records in partition p by the live tree's count (exact once ready).
  uint64_t keys(uint32_t p) const { return slots_[p].keys; }
  bool Building(uint32_t p) const { return slots_[p].building; }
  // Starts a (re)build of partition p, unless one runs.
  void StartBuild(uint32_t p);
  // Scans up to max_keys more records of a running build; *done once it finished (the tree is
  // then ready, or replaced). *scanned (optional): records read.
  Status BuildStep(storage::Store* store, uint32_t p, size_t max_keys, int64_t now_ms,
                   bool* done, size_t* scanned = nullptr);
  int64_t built_ms(uint32_t p) const { return slots_[p].built_ms; }
  // FLUSHALL: every record is gone; the trees are empty and ready.
  void Reset(int64_t now_ms);

  // What other threads may read of a partition's tree (DYNIS AAE, INFO).
  struct Published {
    std::atomic<bool> ready{false};
    std::atomic<bool> building{false};
    std::atomic<uint64_t> root{0};
    std::atomic<uint64_t> keys{0};
    std::atomic<int64_t> built_ms{0};
  };
  const Published& published(uint32_t p) const { return published_[p]; }

  // Reaping (Keyspace::Reap): the highest counter of this node's actor in a record of the
  // partition that was reaped. A new dot minted in the partition is above it, so no tombstone
  // a replica still holds can supersede it (kv679 after a reap). Durable in `meta`.
  uint64_t reap_floor(uint32_t p) const { return slots_[p].reap_floor; }
  void set_reap_floor(uint32_t p, uint64_t floor) { slots_[p].reap_floor = floor; }
  static std::string ReapFloorName(uint32_t p);
  static std::string EncodeReapFloor(uint64_t floor);
  // Reads every partition's floor back (startup).
  Status LoadReapFloors(storage::Store* store);

  // Builds finished, and rebuilds that found the kept tree different from the data.
  std::atomic<uint64_t> builds{0};
  std::atomic<uint64_t> rebuild_mismatches{0};

 private:
  struct Slot {
    HashTree live;
    uint64_t keys = 0;
    bool ready = false;
    bool building = false;
    HashTree next;            // the tree being built
    uint64_t next_keys = 0;
    std::string cursor;       // the last DataKey the build scanned ("" = none yet)
    int64_t built_ms = 0;
    uint64_t reap_floor = 0;
  };
  void Publish(uint32_t p);

  std::vector<Slot> slots_;
  std::unique_ptr<Published[]> published_;
};

// The (user key, item hash) of every record of partition p above user key `after` ("": from
// the start) whose segment is marked in `wanted` (kSegments flags), in key order, at most
// `limit` (*truncated when more were there: the next page starts after the last one listed);
// the partition is scanned (segments are hashes, not ranges): *scanned records.
Status ListSegmentKeys(storage::Store* store, uint32_t p, const std::vector<bool>& wanted,
                       const std::string& after, size_t limit,
                       std::vector<std::pair<std::string, uint64_t>>* out, bool* truncated,
                       size_t* scanned);

}  // namespace dynis::kv
