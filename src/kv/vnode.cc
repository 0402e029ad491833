#include "kv/vnode.h"

#include "common/errors.h"
#include "common/log.h"
#include "kv/hints.h"
#include "kv/keyspace.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::kv {

using version::DVVSet;

ReplicaMerge MergeReplicaPut(const std::optional<std::string>& local, std::string_view incoming,
                             bool lww) {
  ReplicaMerge out;
  auto in = DVVSet::Decode(incoming);
  if (!in.ok()) {
    out.ok = false;
    out.error = err::kReplicaMergeFailed;
    return out;
  }
  DVVSet merged = std::move(in).value();
  out.observed_hlc = merged.MaxHlc();
  if (local.has_value()) {
    auto mine = DVVSet::Decode(*local);
    // A local record that does not decode is not overwritten: that would silently drop
    // whatever it held. The write fails on this replica instead.
    if (!mine.ok()) {
      out.ok = false;
      out.error = err::kReplicaRecordUndecodable;
      return out;
    }
    if (size_t reused = mine->CountReusedDots(merged); reused > 0) {
      out.ok = false;
      out.dot_conflict = true;
      out.error = err::DotConflict(reused);
    }
    merged.Sync(mine.value());
  }
  if (lww) merged.KeepLwwWinner();
  std::string encoded = merged.Encode();
  if (!local.has_value() || encoded != *local) out.store = std::move(encoded);
  return out;
}

Status Vnode::Get(std::string_view key, std::optional<std::string>* record, bool* with_hints) {
  if (with_hints != nullptr) *with_hints = false;
  RETURN_IF_ERROR(ks_->LoadRecord(key, record));
  const HintLedger* ledger = ks_->shared().hints;
  if (ledger == nullptr || !ledger->PartitionHasHints(partition_)) return Status::OK();
  // A fallback: what it holds for others is part of what it answers.
  std::optional<DVVSet> merged;
  if (record->has_value()) {
    auto mine = DVVSet::Decode(**record);
    if (!mine.ok()) return Status::OK();  // the coordinator counts it as a failed answer
    merged = std::move(mine).value();
  }
  for (uint64_t target : *ledger->TargetsSnapshot()) {
    std::optional<std::string> stored;
    RETURN_IF_ERROR(ks_->LoadHint(target, key, &stored));
    HintValue hint;
    if (!stored || !DecodeHintValue(*stored, &hint)) continue;
    auto theirs = DVVSet::Decode(hint.record);
    if (!theirs.ok()) continue;
    if (!merged) {
      merged = std::move(theirs).value();
    } else {
      merged->Sync(theirs.value());
    }
  }
  if (!merged) return Status::OK();
  std::string encoded = merged->Encode();
  if (with_hints != nullptr) *with_hints = !record->has_value() || **record != encoded;
  *record = std::move(encoded);
  return Status::OK();
}

ReplicaPut Vnode::Put(std::string_view key, std::string_view record) {
  std::optional<std::string> local;
  Status s = ks_->LoadRecord(key, &local);
  if (!s.ok()) return ReplicaPut{false, err::kReplicaMergeFailed};
  ReplicaMerge m = Merge(local, record);
  if (m.store) ks_->StoreRecord(key, std::move(*m.store));
  return ReplicaPut{m.ok, std::move(m.error)};
}

ReplicaMerge Vnode::Merge(const std::optional<std::string>& local, std::string_view record) {
  ReplicaMerge m = MergeReplicaPut(local, record, ks_->lww());
  ks_->ObserveHlc(m.observed_hlc);
  if (m.dot_conflict) {
    ks_->CountDotConflict();
    LOG_WARNING(
        "INVARIANT VIOLATION: a record for a key of partition %u reuses a version (dot) this "
        "replica holds for another write; the new value was not stored. A node minted a dot "
        "twice (kv679)",
        partition_);
  }
  return m;
}

ReplicaPut Vnode::PutHint(uint64_t target, std::string_view key, std::string_view record) {
  const KeyspaceShared& shared = ks_->shared();
  HintLedger* ledger = shared.hints;
  // No ledger: this node keeps no hints (standalone). A hint for itself: the sender's ring
  // differs from ours; it would never be replayed.
  if (ledger == nullptr || target == shared.actor.node_id) {
    return ReplicaPut{false, err::kHintRefused};
  }
  std::optional<std::string> stored;
  if (!ks_->LoadHint(target, key, &stored).ok()) return ReplicaPut{false, err::kReplicaMergeFailed};
  HintValue hint;
  if (stored && !DecodeHintValue(*stored, &hint)) stored.reset();  // unreadable: replaced
  std::optional<std::string> held;
  if (stored) held = hint.record;
  ReplicaMerge m = Merge(held, record);
  if (!m.store) return ReplicaPut{m.ok, std::move(m.error)};  // nothing new for the hint
  if (shared.hint_window_open && !shared.hint_window_open(target)) {
    ledger->dropped.fetch_add(1, std::memory_order_relaxed);
    return ReplicaPut{false, err::kHintWindowPassed};
  }
  std::string value = EncodeHintValue(stored ? hint.stored_ms : ks_->NowMs(), *m.store);
  const size_t key_bytes = storage::HintKey(target, partition_, key).size();
  const int64_t before = stored ? static_cast<int64_t>(key_bytes + stored->size()) : 0;
  const int64_t grow = static_cast<int64_t>(key_bytes + value.size()) - before;
  const uint64_t max = shared.hints_max_bytes.load(std::memory_order_relaxed);
  if (max != 0 && grow > 0 && ledger->Totals(target).bytes + static_cast<uint64_t>(grow) > max) {
    ledger->dropped.fetch_add(1, std::memory_order_relaxed);
    return ReplicaPut{false, err::kHintsFull};
  }
  ks_->StoreHint(target, key, std::move(value));
  ledger->Add(target, partition_, stored ? 0 : 1, grow);
  ledger->stored.fetch_add(1, std::memory_order_relaxed);
  return ReplicaPut{m.ok, std::move(m.error)};
}

bool Vnode::TakeHintIfUnchanged(uint64_t target, std::string_view key, std::string_view sent) {
  HintLedger* ledger = ks_->shared().hints;
  std::optional<std::string> stored;
  if (ledger == nullptr || !ks_->LoadHint(target, key, &stored).ok() || !stored ||
      *stored != sent) {
    return false;
  }
  const int64_t bytes =
      static_cast<int64_t>(storage::HintKey(target, partition_, key).size() + stored->size());
  ks_->StoreHint(target, key, std::nullopt);
  ledger->Add(target, partition_, -1, -bytes);
  ledger->replayed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace dynis::kv
