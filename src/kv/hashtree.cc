#include "kv/hashtree.h"

#include "common/hash.h"

namespace dynis::kv {

uint64_t HashTree::ItemHash(std::string_view key, std::string_view record) {
  return SeededHash(record, KeyHash(key));
}

uint32_t HashTree::SegmentOf(std::string_view key) {
  return static_cast<uint32_t>(KeyHash(key) & (kSegments - 1));
}

void HashTree::Clear() {
  root_ = 0;
  branches_.fill(0);
  segments_.fill(0);
}

std::vector<uint32_t> HashTree::DiffBranches(
    const std::array<uint64_t, kFanout>& other_branches) const {
  std::vector<uint32_t> out;
  for (uint32_t b = 0; b < kFanout; b++) {
    if (branches_[b] != other_branches[b]) out.push_back(b);
  }
  return out;
}

std::vector<uint32_t> HashTree::DiffSegments(
    uint32_t b, const std::array<uint64_t, kFanout>& other_segments) const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < kFanout; i++) {
    if (segments_[b * kFanout + i] != other_segments[i]) out.push_back(b * kFanout + i);
  }
  return out;
}

std::vector<uint32_t> HashTree::Diff(const HashTree& other) const {
  std::vector<uint32_t> out;
  if (root_ == other.root_) return out;
  for (uint32_t b : DiffBranches(other.branches_)) {
    for (uint32_t s : DiffSegments(b, other.SegmentsOf(b))) out.push_back(s);
  }
  return out;
}

std::array<uint64_t, HashTree::kFanout> HashTree::SegmentsOf(uint32_t b) const {
  std::array<uint64_t, kFanout> out{};
  for (uint32_t i = 0; i < kFanout; i++) out[i] = segments_[b * kFanout + i];
  return out;
}

}  // namespace dynis::kv
