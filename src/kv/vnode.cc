#include "kv/vnode.h"

#include "common/errors.h"
#include "common/log.h"
#include "kv/keyspace.h"
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

Status Vnode::Get(std::string_view key, std::optional<std::string>* record) {
  return ks_->LoadRecord(key, record);
}

ReplicaPut Vnode::Put(std::string_view key, std::string_view record) {
  std::optional<std::string> local;
  Status s = ks_->LoadRecord(key, &local);
  if (!s.ok()) return ReplicaPut{false, err::kReplicaMergeFailed};
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
  if (m.store) ks_->StoreRecord(key, std::move(*m.store));
  return ReplicaPut{m.ok, std::move(m.error)};
}

}  // namespace dynis::kv
