#include "kv/trees.h"

#include <cstdlib>

#include "common/log.h"
#include "storage/store.h"

namespace dynis::kv {

PartitionTrees::PartitionTrees(uint32_t partitions)
    : slots_(partitions), published_(new Published[partitions]) {}

void PartitionTrees::Applied(std::string_view data_key, uint64_t before, uint64_t after) {
  if (before == after) return;
  const uint32_t p = storage::PartitionOfDataKey(data_key);
  if (p >= slots_.size()) return;
  Slot& s = slots_[p];
  const std::string_view key = storage::UserKeyOf(data_key);
  const int delta = (before == 0) - (after == 0);
  if (s.ready) {
    s.live.Update(key, before, after);
    s.keys += delta;
  }
  // The build counts what it scans: a key it has passed changes its tree here, one ahead of it
  // is counted when the scan reaches it.
  if (s.building && !s.cursor.empty() && data_key <= s.cursor) {
    s.next.Update(key, before, after);
    s.next_keys += delta;
  }
  Publish(p);
}

void PartitionTrees::StartBuild(uint32_t p) {
  Slot& s = slots_[p];
  if (s.building) return;
  s.building = true;
  s.next.Clear();
  s.next_keys = 0;
  s.cursor.clear();
  Publish(p);
}

Status PartitionTrees::BuildStep(storage::Store* store, uint32_t p, size_t max_keys,
                                 int64_t now_ms, bool* done, size_t* scanned_out) {
  Slot& s = slots_[p];
  *done = false;
  size_t scanned = 0;
  if (scanned_out != nullptr) *scanned_out = 0;
  if (!s.building) {
    *done = true;
    return Status::OK();
  }
  const std::string start = s.cursor.empty() ? storage::PartitionStart(p) : s.cursor;
  auto it = store->NewRangeIterator(storage::Cf::kData, start, storage::PartitionEnd(p));
  for (; it->Valid() && scanned < max_keys; it->Next()) {
    if (!s.cursor.empty() && it->key() == s.cursor) continue;
    s.next.Add(storage::UserKeyOf(it->key()), it->value());
    s.next_keys++;
    s.cursor.assign(it->key());
    scanned++;
  }
  if (scanned_out != nullptr) *scanned_out = scanned;
  RETURN_IF_ERROR(it->status());
  if (it->Valid()) return Status::OK();  // more to scan
  // The scan reached the partition's end: the new tree is the data's.
  if (s.ready && s.live.root() != s.next.root()) {
    rebuild_mismatches.fetch_add(1, std::memory_order_relaxed);
    LOG_WARNING(
        "Anti-entropy: the hash tree kept for partition %u differed from its data (a change "
        "stored without the tree seeing it); replaced by the rebuilt one",
        p);
  }
  s.live = s.next;
  s.keys = s.next_keys;
  s.ready = true;
  s.building = false;
  s.cursor.clear();
  s.cursor.shrink_to_fit();
  s.built_ms = now_ms;
  builds.fetch_add(1, std::memory_order_relaxed);
  Publish(p);
  *done = true;
  return Status::OK();
}

void PartitionTrees::Reset(int64_t now_ms) {
  for (uint32_t p = 0; p < slots_.size(); p++) {
    Slot& s = slots_[p];
    const uint64_t floor = s.reap_floor;
    s = Slot();
    s.reap_floor = floor;
    s.ready = true;
    s.built_ms = now_ms;
    Publish(p);
  }
}

std::string PartitionTrees::ReapFloorName(uint32_t p) {
  return "reap-floor:" + std::to_string(p);
}

std::string PartitionTrees::EncodeReapFloor(uint64_t floor) { return std::to_string(floor); }

Status PartitionTrees::LoadReapFloors(storage::Store* store) {
  for (uint32_t p = 0; p < slots_.size(); p++) {
    std::string v;
    Status s = store->GetMeta(ReapFloorName(p), &v);
    if (s.IsNotFound()) continue;
    RETURN_IF_ERROR(s);
    slots_[p].reap_floor = std::strtoull(v.c_str(), nullptr, 10);
  }
  return Status::OK();
}

void PartitionTrees::Publish(uint32_t p) {
  const Slot& s = slots_[p];
  Published& out = published_[p];
  out.ready.store(s.ready, std::memory_order_relaxed);
  out.building.store(s.building, std::memory_order_relaxed);
  out.root.store(s.live.root(), std::memory_order_relaxed);
  out.keys.store(s.keys, std::memory_order_relaxed);
  out.built_ms.store(s.built_ms, std::memory_order_relaxed);
}

Status ListSegmentKeys(storage::Store* store, uint32_t p, const std::vector<bool>& wanted,
                       const std::string& after, size_t limit,
                       std::vector<std::pair<std::string, uint64_t>>* out, bool* truncated,
                       size_t* scanned) {
  out->clear();
  *truncated = false;
  *scanned = 0;
  const std::string start = after.empty() ? storage::PartitionStart(p) : storage::DataKey(p, after);
  auto it = store->NewRangeIterator(storage::Cf::kData, start, storage::PartitionEnd(p));
  for (; it->Valid(); it->Next()) {
    ++*scanned;
    const std::string_view key = storage::UserKeyOf(it->key());
    if (!after.empty() && key == after) continue;
    const uint32_t seg = HashTree::SegmentOf(key);
    if (seg >= wanted.size() || !wanted[seg]) continue;
    if (out->size() >= limit) {
      *truncated = true;
      break;
    }
    out->emplace_back(std::string(key), HashTree::ItemHash(key, it->value()));
  }
  return it->status();
}

}  // namespace dynis::kv
