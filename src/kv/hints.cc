#include "kv/hints.h"

#include "storage/store.h"

namespace dynis::kv {

std::string EncodeHintValue(int64_t stored_ms, std::string_view record) {
  std::string out(8, '\0');
  const uint64_t t = static_cast<uint64_t>(stored_ms);
  for (int i = 0; i < 8; i++) out[i] = static_cast<char>((t >> (56 - 8 * i)) & 0xff);
  out.append(record.data(), record.size());
  return out;
}

bool DecodeHintValue(std::string_view bytes, HintValue* out) {
  if (bytes.size() < 8) return false;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = (t << 8) | static_cast<uint8_t>(bytes[i]);
  out->stored_ms = static_cast<int64_t>(t);
  out->record.assign(bytes.substr(8));
  return true;
}

HintLedger::HintLedger(uint32_t partitions) : per_partition_(partitions) {}

void HintLedger::Add(uint64_t target, uint32_t partition, int count, int64_t bytes) {
  if (partition < per_partition_.size()) {
    per_partition_[partition].fetch_add(count, std::memory_order_relaxed);
  }
  total_.fetch_add(count, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  const size_t before = targets_.size();
  HintTotals& t = targets_[target];
  t.count = static_cast<uint64_t>(static_cast<int64_t>(t.count) + count);
  t.bytes = static_cast<uint64_t>(static_cast<int64_t>(t.bytes) + bytes);
  if (t.count == 0) targets_.erase(target);
  if (targets_.size() != before) PublishTargets();
}

void HintLedger::PublishTargets() {
  auto ids = std::make_shared<std::vector<uint64_t>>();
  ids->reserve(targets_.size());
  for (const auto& [id, totals] : targets_) ids->push_back(id);
  std::atomic_store_explicit(&targets_snapshot_,
                             std::shared_ptr<const std::vector<uint64_t>>(std::move(ids)),
                             std::memory_order_release);
}

HintTotals HintLedger::Totals(uint64_t target) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = targets_.find(target);
  return it == targets_.end() ? HintTotals{} : it->second;
}

std::map<uint64_t, HintTotals> HintLedger::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  return targets_;
}

std::vector<uint64_t> HintLedger::Targets() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  out.reserve(targets_.size());
  for (const auto& [t, totals] : targets_) out.push_back(t);
  return out;
}

Status HintLedger::Rebuild(storage::Store* store) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets_.clear();
    PublishTargets();
  }
  for (auto& p : per_partition_) p.store(0, std::memory_order_relaxed);
  total_.store(0, std::memory_order_relaxed);
  auto it = store->NewRangeIterator(storage::Cf::kHints, "", "");
  for (; it->Valid(); it->Next()) {
    std::string_view k = it->key();
    if (k.size() < 10) continue;  // not a HintKey: ignored, never replayed
    Add(storage::HintTargetOf(k), storage::PartitionOfDataKey(storage::HintDataKeyOf(k)), 1,
        static_cast<int64_t>(k.size() + it->value().size()));
  }
  return it->status();
}

}  // namespace dynis::kv
