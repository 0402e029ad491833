#include "kv/keyspace.h"

#include <algorithm>

#include "common/errors.h"
#include "common/hash.h"
#include "common/log.h"
#include "kv/trees.h"

namespace dynis::kv {

using version::DVVSet;
using version::Sibling;

namespace {

bool Expired(const Sibling& s, int64_t now_ms) {
  return s.expire_at_ms != 0 && s.expire_at_ms <= now_ms;
}

// What a plain read sees: the LWW winner among all siblings (tombstones included: a newer
// delete wins), nothing when that winner has expired. Expiry is applied after LWW, not before:
// a later write with a TTL hides the concurrent older value it raced with, and once it
// expires the key is gone, as the last SET of a key is what Redis expires.
const Sibling* Winner(const DVVSet& set, int64_t now_ms) {
  const Sibling* best = set.LwwWinner();
  if (best != nullptr && Expired(*best, now_ms)) return nullptr;
  return best;
}

}  // namespace

uint32_t Keyspace::PartitionOf(std::string_view key) const {
  return KeyPartition(key, shared_->partitions);
}

Status Keyspace::Load(std::string_view key, DVVSet* out) {
  std::string dk = storage::DataKey(PartitionOf(key), key);
  auto it = pending_.find(dk);
  std::string stored;
  const std::string* bytes = nullptr;
  if (it != pending_.end()) {
    if (!it->second.record) {
      *out = DVVSet();
      return Status::OK();
    }
    bytes = &*it->second.record;
  } else {
    Status s = ReadCommitted(dk, &stored);
    NoteRead(dk, s.ok() ? &stored : nullptr);
    if (s.IsNotFound()) {
      *out = DVVSet();
      return Status::OK();
    }
    RETURN_IF_ERROR(s);
    bytes = &stored;
  }
  auto decoded = DVVSet::Decode(*bytes);
  if (!decoded.ok()) {
    LOG_WARNING("corrupt record for a key of partition %u: %s", PartitionOf(key),
                decoded.status().message().c_str());
    return decoded.status();
  }
  *out = std::move(decoded).value();
  return Status::OK();
}

std::optional<std::string> Keyspace::Emptied(const DVVSet& set) const {
  if (!shared_->keep_clocks || set.entries().empty()) return std::nullopt;
  return set.Encode();
}

void Keyspace::RemoveIfExpired(std::string_view key, const DVVSet& set, int64_t now_ms) {
  if (set.ValueCount() == 0 || !Owns(key)) return;  // only the owner may write the key
  auto expired = [now_ms](const Sibling& s) { return !s.tombstone && Expired(s, now_ms); };
  if (shared_->keep_clocks) {
    // In a cluster an expired value becomes its write's tombstone (DVVSet::ExpireValuesIf):
    // a replica that has not yet received an older concurrent value must still let the
    // expired write beat it when it comes. Tombstones are kept (see Compact).
    const std::vector<const Sibling*> values = set.Values();
    if (std::none_of(values.begin(), values.end(), [&](const Sibling* s) { return expired(*s); })) {
      return;
    }
    DVVSet turned = set;
    turned.ExpireValuesIf(expired);
    Buffer(storage::DataKey(PartitionOf(key), key), turned.Encode());
    return;
  }
  // Standalone: once every version has expired the record goes (lazy expiry).
  for (const Sibling* s : set.Values()) {
    if (!Expired(*s, now_ms)) return;
  }
  Buffer(storage::DataKey(PartitionOf(key), key), std::nullopt);
}

std::optional<LiveValue> Keyspace::LiveOf(const DVVSet& set, int64_t now_ms) {
  const Sibling* w = Winner(set, now_ms);
  if (w == nullptr || w->tombstone) return std::nullopt;
  return LiveValue{w->value, w->expire_at_ms};
}

Status Keyspace::GetLive(std::string_view key, std::optional<LiveValue>* out) {
  DVVSet set;
  RETURN_IF_ERROR(Load(key, &set));
  int64_t now = NowMs();
  RemoveIfExpired(key, set, now);
  *out = LiveOf(set, now);
  return Status::OK();
}

Status Keyspace::Apply(std::string_view key, DVVSet& set, Mutation m) {
  // A value whose expiry has already passed deletes the key (SET ... PXAT 1, GETEX EXAT 1).
  if (m.kind == Mutation::kPut && ExpiredAt(m.expire_at_ms)) m = Mutation::Delete();
  switch (m.kind) {
    case Mutation::kKeep:
      return Status::OK();
    case Mutation::kPut:
      RETURN_IF_ERROR(CheckValueSize(m.value));
      Mint(key, set, set.Join(), NewSibling(set, m.value, m.expire_at_ms, false));
      break;
    case Mutation::kDelete:
      if (set.ValueCount() == 0) return Status::OK();  // nothing to delete
      Mint(key, set, set.Join(), NewSibling(set, "", 0, true));
      break;
  }
  return Store(key, storage::DataKey(PartitionOf(key), key), set);
}

Status Keyspace::GetSiblings(std::string_view key, std::vector<Sibling>* values,
                             std::string* context) {
  DVVSet set;
  RETURN_IF_ERROR(Load(key, &set));
  int64_t now = NowMs();
  RemoveIfExpired(key, set, now);
  values->clear();
  for (const Sibling* s : set.Values()) {
    if (s->tombstone || Expired(*s, now)) continue;
    values->push_back(*s);
  }
  *context = version::EncodeContext(set.Join());
  return Status::OK();
}

Sibling Keyspace::NewSibling(const DVVSet& seen, std::string_view value, int64_t expire_at_ms,
                             bool tombstone) {
  Sibling s;
  s.value.assign(value.data(), value.size());
  // Later than every version it is written over or beside, whatever the writers' clocks said:
  // last-write-wins then follows the order in which this node saw the writes.
  shared_->clock->Observe(seen.MaxHlc());
  s.hlc = shared_->clock->Now();
  s.writer = shared_->actor.node_id;
  s.expire_at_ms = expire_at_ms;
  s.tombstone = tombstone;
  return s;
}

Status Keyspace::CheckValueSize(std::string_view value) const {
  if (value.size() > shared_->max_object_size) {
    return Status::Error(std::string(err::kObjectTooLarge) + " (" +
                         std::to_string(shared_->max_object_size.load()) + " bytes)");
  }
  return Status::OK();
}

Status Keyspace::Store(std::string_view key, std::string data_key, DVVSet& set) {
  int64_t now = NowMs();
  // Expired siblings go with the write; in a cluster each stays as its write's tombstone (see
  // RemoveIfExpired), so a concurrent older value arriving later does not outlive it.
  auto expired = [now](const Sibling& s) { return Expired(s, now); };
  if (shared_->keep_clocks) {
    set.ExpireValuesIf(expired);
  } else {
    set.RemoveValuesIf(expired);
  }
  if (set.ValueCount() == 0) {
    // Nothing live: the record goes away, or only its counters stay (keep_clocks).
    Buffer(std::move(data_key), Emptied(set));
    return Status::OK();
  }
  Buffer(std::move(data_key), set.Encode());
  if (tracking_ && std::find(tracked_.begin(), tracked_.end(), key) == tracked_.end()) {
    tracked_.emplace_back(key);
  }
  return Status::OK();
}

Status Keyspace::LoadRecord(std::string_view key, std::optional<std::string>* out) {
  std::string dk = storage::DataKey(PartitionOf(key), key);
  auto it = pending_.find(dk);
  if (it != pending_.end()) {
    *out = it->second.record;
    return Status::OK();
  }
  std::string stored;
  Status s = ReadCommitted(dk, &stored);
  NoteRead(dk, s.ok() ? &stored : nullptr);
  if (s.IsNotFound()) {
    out->reset();
    return Status::OK();
  }
  RETURN_IF_ERROR(s);
  *out = std::move(stored);
  return Status::OK();
}

Status Keyspace::ReadCommitted(const std::string& data_key, std::string* out) {
  RecordCache* cache = shared_->cache;
  if (cache == nullptr) return shared_->store->Get(data_key, out);
  const uint32_t p = storage::PartitionOfDataKey(data_key);
  switch (cache->Lookup(p, data_key, out)) {
    case RecordCache::Found::kHit:
      return Status::OK();
    case RecordCache::Found::kAbsent:
      return Status::NotFound();
    case RecordCache::Found::kMiss:
      break;
  }
  Status s = shared_->store->Get(data_key, out);
  // Only the owner fills: its read and its fill cannot have a commit of the key between them.
  if (s.ok() && p % shared_->workers == id_) cache->Fill(p, data_key, *out);
  return s;
}

void Keyspace::WarmCache(size_t budget) {
  RecordCache* cache = shared_->cache;
  if (cache == nullptr || !cache->enabled()) return;
  const uint64_t gen = cache->warm_generation();
  if (!warm_started_ || gen != warm_gen_) {
    warm_started_ = true;
    warm_gen_ = gen;
    warm_done_ = false;
    warm_active_ = false;
    warm_partition_ = id_;
    warm_after_.clear();
  }
  if (warm_done_) return;
  size_t scanned = 0;
  for (; warm_partition_ < shared_->partitions; warm_partition_ += shared_->workers) {
    const uint32_t p = warm_partition_;
    if (!warm_active_) {
      if (cache->complete(p)) continue;
      warm_token_ = cache->BeginWarm(p);
      warm_active_ = true;
      warm_after_.clear();
    }
    // A fresh iterator per call: it sees what was committed since the last one, and a record
    // cached meanwhile (by a commit or a read) is never replaced by what the scan read.
    auto it = shared_->store->NewRangeIterator(
        storage::Cf::kData, warm_after_.empty() ? storage::PartitionStart(p) : warm_after_,
        storage::PartitionEnd(p));
    for (; it->Valid(); it->Next()) {
      std::string_view k = it->key();
      if (!warm_after_.empty() && k == warm_after_) continue;
      if (scanned >= budget) return;
      std::string data_key(k);
      if (!cache->WarmFill(p, data_key, std::string(it->value()))) {
        warm_done_ = true;  // full: the rest stays on disk until more room is made
        return;
      }
      warm_after_ = std::move(data_key);
      scanned++;
    }
    if (!it->status().ok()) {
      LOG_WARNING("record cache warm-up of partition %u stopped: %s", p,
                  it->status().message().c_str());
      warm_done_ = true;
      return;
    }
    cache->EndWarm(p, warm_token_);
    warm_active_ = false;
    warm_after_.clear();
  }
  warm_done_ = true;
}

void Keyspace::NoteRead(const std::string& data_key, const std::string* stored) {
  if (shared_->trees == nullptr) return;
  last_read_key_ = data_key;
  last_read_hash_ =
      stored == nullptr ? 0 : HashTree::ItemHash(storage::UserKeyOf(data_key), *stored);
}

void Keyspace::Buffer(std::string data_key, std::optional<std::string> record) {
  auto [it, fresh] = pending_.try_emplace(std::move(data_key));
  if (fresh && shared_->trees != nullptr) it->second.before = CommittedHash(it->first);
  it->second.record = std::move(record);
}

uint64_t Keyspace::CommittedHash(const std::string& data_key) {
  // Every write path read the key just before (Load, LoadRecord): that read is the answer.
  if (data_key == last_read_key_) return last_read_hash_;
  std::string stored;
  if (!ReadCommitted(data_key, &stored).ok()) return 0;
  return HashTree::ItemHash(storage::UserKeyOf(data_key), stored);
}

uint64_t Keyspace::Mint(std::string_view key, DVVSet& set, version::VersionVector ctx,
                        Sibling s) {
  // After a reap this node may hold no counter of a key whose tombstone a replica still
  // keeps (a reap in progress, or one a replica missed): the new dot must be above every one
  // it minted in the partition's reaped records, or that tombstone would supersede it.
  // Only the counter moves: the values the context does not name stay siblings.
  if (shared_->trees != nullptr) {
    set.RaiseCounter(shared_->actor, shared_->trees->reap_floor(PartitionOf(key)));
  }
  return set.Update(ctx, std::move(s), shared_->actor);
}

Keyspace::~Keyspace() = default;

Vnode& Keyspace::VnodeOf(std::string_view key) {
  uint32_t p = PartitionOf(key);
  std::unique_ptr<Vnode>& v = vnodes_[p];
  if (!v) v = std::make_unique<Vnode>(this, p);
  return *v;
}

void Keyspace::StoreRecord(std::string_view key, std::string record) {
  Buffer(storage::DataKey(PartitionOf(key), key), std::move(record));
}

Status Keyspace::Reap(std::string_view key, uint64_t expected, bool* dropped) {
  *dropped = false;
  PartitionTrees* trees = shared_->trees;
  if (trees == nullptr) return Status::OK();
  std::optional<std::string> record;
  RETURN_IF_ERROR(LoadRecord(key, &record));
  if (!record || HashTree::ItemHash(key, *record) != expected) return Status::OK();
  auto set = DVVSet::Decode(*record);
  if (!set.ok()) return Status::OK();
  const int64_t now = NowMs();
  for (const Sibling* s : set->Values()) {
    if (!s->tombstone && !Expired(*s, now)) return Status::OK();  // a live value: never
  }
  uint64_t mine = 0;
  for (const DVVSet::Entry& e : set->entries()) {
    if (e.actor == shared_->actor) mine = e.counter;
  }
  const uint32_t p = PartitionOf(key);
  if (mine > trees->reap_floor(p)) {
    trees->set_reap_floor(p, mine);
    pending_floors_.insert(p);
  }
  Buffer(storage::DataKey(p, key), std::nullopt);
  *dropped = true;
  return Status::OK();
}

std::vector<std::string> Keyspace::PendingKeys() const {
  std::vector<std::string> out;
  out.reserve(pending_.size());
  for (const auto& [dk, pending] : pending_) out.emplace_back(storage::UserKeyOf(dk));
  return out;
}

Status Keyspace::Put(std::string_view key, std::string_view value, int64_t expire_at_ms) {
  RETURN_IF_ERROR(CheckValueSize(value));  // before the read: a refused value costs nothing
  DVVSet set;
  RETURN_IF_ERROR(Load(key, &set));
  // An expiry already past makes the write a delete. Its tombstone is written even when
  // nothing is held here: a blind write reads no other replica, and they may hold values.
  if (ExpiredAt(expire_at_ms)) {
    Mint(key, set, set.Join(), NewSibling(set, "", 0, true));
  } else {
    Mint(key, set, set.Join(), NewSibling(set, value, expire_at_ms, false));
  }
  return Store(key, storage::DataKey(PartitionOf(key), key), set);
}

Status Keyspace::Delete(std::string_view key, bool* existed) {
  return Mutate(key, [existed](const std::optional<LiveValue>& v) {
    *existed = v.has_value();
    return Mutation::Delete();
  });
}

Status Keyspace::PutWithContext(std::string_view key, std::string_view context,
                                std::string_view value, bool tombstone) {
  RETURN_IF_ERROR(CheckValueSize(value));
  auto vv = version::DecodeContext(context);
  if (!vv.ok()) return Status::Error(err::kInvalidContext);
  DVVSet set;
  RETURN_IF_ERROR(Load(key, &set));
  Mint(key, set, *vv, NewSibling(set, value, 0, tombstone));
  size_t n = set.ValueCount();
  if (n > shared_->sibling_max) {
    return Status::Error(std::string(err::kTooManySiblings) + " (" + std::to_string(n) +
                         " > sibling-max " + std::to_string(shared_->sibling_max.load()) +
                         "): GETCTX, merge and SETCTX with the returned context");
  }
  if (n > shared_->sibling_warn) {
    LOG_WARNING("key with %zu siblings (sibling-warn %u)", n, shared_->sibling_warn.load());
  }
  return Store(key, storage::DataKey(PartitionOf(key), key), set);
}

Status Keyspace::Commit() {
  last_read_key_.clear();  // what it said may change now
  if (pending_.empty() && pending_hints_.empty()) return Status::OK();
  storage::Store::Batch batch = shared_->store->NewBatch();
  for (const auto& [k, v] : pending_) {
    if (v.record) {
      batch.Put(storage::Cf::kData, k, *v.record);
    } else {
      batch.Delete(storage::Cf::kData, k);
    }
  }
  PartitionTrees* trees = shared_->trees;
  for (uint32_t p : pending_floors_) {
    batch.Put(storage::Cf::kMeta, PartitionTrees::ReapFloorName(p),
              PartitionTrees::EncodeReapFloor(trees->reap_floor(p)));
  }
  for (const auto& [k, v] : pending_hints_) {
    if (v) {
      batch.Put(storage::Cf::kHints, k, *v);
    } else {
      batch.Delete(storage::Cf::kHints, k);
    }
  }
  Status s = shared_->store->Write(batch);
  if (s.ok() && trees != nullptr) {
    for (const auto& [k, v] : pending_) {
      trees->Applied(k, v.before,
                     v.record ? HashTree::ItemHash(storage::UserKeyOf(k), *v.record) : 0);
    }
  }
  if (s.ok() && shared_->cache != nullptr) {
    // Stored: the cache now holds what the store does (the records move, pending_ is done).
    for (auto& [k, v] : pending_) {
      shared_->cache->Committed(storage::PartitionOfDataKey(k), k, std::move(v.record));
    }
  }
  pending_.clear();
  pending_hints_.clear();
  pending_floors_.clear();
  return s;
}

Status Keyspace::LoadHint(uint64_t target, std::string_view key, std::optional<std::string>* out) {
  std::string hk = storage::HintKey(target, PartitionOf(key), key);
  auto it = pending_hints_.find(hk);
  if (it != pending_hints_.end()) {
    *out = it->second;
    return Status::OK();
  }
  std::string stored;
  Status s = shared_->store->Get(storage::Cf::kHints, hk, &stored);
  if (s.IsNotFound()) {
    out->reset();
    return Status::OK();
  }
  RETURN_IF_ERROR(s);
  *out = std::move(stored);
  return Status::OK();
}

void Keyspace::StoreHint(uint64_t target, std::string_view key, std::optional<std::string> value) {
  pending_hints_[storage::HintKey(target, PartitionOf(key), key)] = std::move(value);
}

Status Keyspace::ScanHints(uint64_t target, const std::string& after, size_t limit,
                           std::vector<StoredHint>* out, bool* end) {
  out->clear();
  *end = false;
  const HintLedger* ledger = shared_->hints;
  // Only this loop's partitions, and of those only the ones holding hints: a seek per
  // partition, never a walk over other loops' hints.
  uint32_t first = 0;
  if (after.size() >= 10) first = storage::PartitionOfDataKey(storage::HintDataKeyOf(after));
  for (uint32_t p = first; p < shared_->partitions && out->size() < limit; p++) {
    if (p % shared_->workers != id_) continue;
    if (ledger != nullptr && !ledger->PartitionHasHints(p)) continue;
    const std::string start =
        (p == first && !after.empty()) ? after : storage::HintKey(target, p, "");
    const std::string stop = p + 1 < storage::kMaxPartitions ? storage::HintKey(target, p + 1, "")
                                                              : storage::HintTargetEnd(target);
    auto it = shared_->store->NewRangeIterator(storage::Cf::kHints, start, stop);
    for (; it->Valid() && out->size() < limit; it->Next()) {
      std::string_view k = it->key();
      if (k.size() < 10 || (!after.empty() && k == after)) continue;
      std::string hint_key(k);
      auto pending = pending_hints_.find(hint_key);
      if (pending != pending_hints_.end() && !pending->second) continue;  // deleted this turn
      StoredHint h;
      h.user_key.assign(storage::UserKeyOf(storage::HintDataKeyOf(k)));
      h.value = pending != pending_hints_.end() ? *pending->second : std::string(it->value());
      h.hint_key = std::move(hint_key);
      out->push_back(std::move(h));
    }
    RETURN_IF_ERROR(it->status());
    if (out->size() >= limit) return Status::OK();
  }
  *end = true;
  return Status::OK();
}

storage::CompactDecision Keyspace::Compact(std::string_view encoded, int64_t now_ms,
                                           int64_t tombstone_grace_ms, bool keep_clocks) {
  using storage::CompactDecision;
  auto decoded = DVVSet::Decode(encoded);
  if (!decoded.ok()) return CompactDecision::kKeep;  // never drop what we cannot read
  DVVSet& set = decoded.value();
  if (keep_clocks) {
    // In a cluster compaction changes nothing: a record a replica may still need stays, and
    // what the record holds is what the partition's hash tree (kv/trees.h) summarises, so a
    // rewrite here would make every exchange see a difference that no repair can remove.
    // Expired values turn into tombstones on the loop (lazy expiry), and records with no live
    // value go only when anti-entropy proved every replica holds them (Keyspace::Reap).
    return CompactDecision::kKeep;
  }
  // Standalone: the record goes once every value is gone (expired, or a tombstone older than
  // the grace period).
  for (const Sibling* s : set.Values()) {
    if (Expired(*s, now_ms)) continue;
    if (!s->tombstone) return CompactDecision::kKeep;
    if (HybridClock::PhysicalMs(s->hlc) + tombstone_grace_ms > now_ms) {
      return CompactDecision::kKeep;
    }
  }
  return CompactDecision::kDrop;
}

bool RecordHasNoLiveValue(std::string_view encoded, int64_t now_ms, int64_t* newest_ms) {
  auto set = DVVSet::Decode(encoded);
  if (!set.ok()) return false;
  int64_t newest = HybridClock::PhysicalMs(set->MaxHlc());
  for (const Sibling* s : set->Values()) {
    if (!s->tombstone && !Expired(*s, now_ms)) return false;
    newest = std::max(newest, s->expire_at_ms);
  }
  *newest_ms = newest;
  return true;
}

bool RecordLiveExpiry(std::string_view encoded, int64_t now_ms, int64_t* expire_at) {
  auto decoded = DVVSet::Decode(encoded);
  if (!decoded.ok()) return false;
  const Sibling* w = Winner(*decoded, now_ms);
  if (w == nullptr || w->tombstone) return false;
  *expire_at = w->expire_at_ms;
  return true;
}

}  // namespace dynis::kv
