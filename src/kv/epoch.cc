#include "kv/epoch.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace dynis::kv {

namespace {

constexpr const char* kEpochKey = "epoch";
constexpr const char* kCleanKey = "clean-shutdown";

bool ParseEpoch(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtoull(text.c_str(), &end, 10);
  return *end == '\0';
}

}  // namespace

StatusOr<uint64_t> RenewEpoch(storage::Store* store, uint64_t current, uint64_t now_us) {
  uint64_t next = std::max(current + 1, now_us);
  RETURN_IF_ERROR(store->PutMetaDurably(kEpochKey, std::to_string(next)));
  return next;
}

StatusOr<EpochStart> StartEpoch(storage::Store* store, uint64_t now_us) {
  EpochStart start;
  std::string stored;
  Status s = store->GetMeta(kEpochKey, &stored);
  if (s.IsNotFound()) {
    start.fresh = true;
    start.renewed = true;
    ASSIGN_OR_RETURN(start.epoch, RenewEpoch(store, 0, now_us));
    return start;
  }
  RETURN_IF_ERROR(s);
  uint64_t epoch = 0;
  if (!ParseEpoch(stored, &epoch)) {
    return Status::Corruption("unreadable epoch '" + stored + "'");
  }
  std::string clean;
  s = store->GetMeta(kCleanKey, &clean);
  if (!s.ok() && !s.IsNotFound()) return s;
  uint64_t clean_epoch = 0;
  if (s.ok() && ParseEpoch(clean, &clean_epoch) && clean_epoch == epoch) {
    // Cleared before anything is minted: a crash of this run must renew at the next start.
    RETURN_IF_ERROR(store->PutMetaDurably(kCleanKey, ""));
    start.epoch = epoch;
    return start;
  }
  start.renewed = true;
  ASSIGN_OR_RETURN(start.epoch, RenewEpoch(store, epoch, now_us));
  return start;
}

Status RecordCleanShutdown(storage::Store* store, uint64_t epoch) {
  return store->PutMetaDurably(kCleanKey, std::to_string(epoch));
}

StatusOr<uint64_t> FlushAll(storage::Store* store, uint64_t current, uint64_t now_us) {
  ASSIGN_OR_RETURN(uint64_t next, RenewEpoch(store, current, now_us));
  RETURN_IF_ERROR(store->DeleteAllData());
  return next;
}

}  // namespace dynis::kv
