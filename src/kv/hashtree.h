// HashTree: the anti-entropy summary of one partition's records on this node (Dynamo §4.7,
// Riak's TicTac AAE), the first piece of Merkle-tree anti-entropy (issue 10).
//
// Every (key, record) contributes an item hash, SeededHash(record bytes, KeyHash(key)): the
// encoding is canonical (version/dvvset.h), so equal versions give equal hashes on every
// replica. A key falls in one of kSegments leaf segments by the low bits of its KeyHash (the
// partition is taken from the high bits, so segments spread a partition's keys evenly). A
// segment's hash is the XOR of its items' hashes, a branch's the XOR of its kFanout segments,
// the root the XOR of the branches: XOR is its own inverse and order-free, so a write updates
// the tree in O(1) (XOR the old item hash out and the new one in, at the segment, its branch
// and the root), and a tree rebuilt from a scan equals the one kept up incrementally.
//
// Two replicas compare roots (8 bytes); when they differ, the branches (kFanout hashes), then
// the segments of differing branches only; only the keys of differing segments are exchanged.
// Memory: (kSegments + kFanout + 1) x 8 bytes = 8,456 bytes per partition.
//
// Two different item sets can XOR to the same hash only by a 64-bit collision. Thread rule:
// none (the vnode owning the partition keeps its tree, on its loop).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dynis::kv {

class HashTree {
 public:
  static constexpr uint32_t kFanout = 32;
  static constexpr uint32_t kSegments = kFanout * kFanout;  // 1024 leaves

  static uint64_t ItemHash(std::string_view key, std::string_view record);
  static uint32_t SegmentOf(std::string_view key);

  // A key's record changed from `before` to `after` (0: absent; ItemHash otherwise).
  void Update(std::string_view key, uint64_t before, uint64_t after) {
    Toggle(SegmentOf(key), before ^ after);
  }
  void Add(std::string_view key, std::string_view record) {
    Toggle(SegmentOf(key), ItemHash(key, record));
  }
  void Clear();

  uint64_t root() const { return root_; }
  uint64_t branch(uint32_t b) const { return branches_[b]; }
  uint64_t segment(uint32_t s) const { return segments_[s]; }

  // The branches whose hashes differ from `other_branches`' (kFanout hashes, as a peer sends
  // them), in order.
  std::vector<uint32_t> DiffBranches(const std::array<uint64_t, kFanout>& other_branches) const;
  // The segments of branch b whose hashes differ from `other_segments` (that branch's kFanout
  // segment hashes), as indexes into the kSegments leaves.
  std::vector<uint32_t> DiffSegments(uint32_t b,
                                     const std::array<uint64_t, kFanout>& other_segments) const;
  // Every differing segment against a whole tree: root, then branches, then their segments.
  std::vector<uint32_t> Diff(const HashTree& other) const;

  std::array<uint64_t, kFanout> Branches() const { return branches_; }
  std::array<uint64_t, kFanout> SegmentsOf(uint32_t b) const;

 private:
  void Toggle(uint32_t segment, uint64_t h) {
    segments_[segment] ^= h;
    branches_[segment / kFanout] ^= h;
    root_ ^= h;
  }

  uint64_t root_ = 0;
  std::array<uint64_t, kFanout> branches_{};
  std::array<uint64_t, kSegments> segments_{};
};

}  // namespace dynis::kv
