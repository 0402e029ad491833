// Keyspace: the replica-side view of the data that commands use, one per event loop.
//
// It turns user keys into partition-prefixed storage keys, keeps each key's versions as a
// DVVSet (version/dvvset.h) and applies Dynamo's write rules: a plain write supersedes every
// version this replica holds, a context write supersedes exactly what the context names. Reads
// see expired versions as absent at once.
//
// A record whose values are all gone is deleted on a standalone node; in a cluster
// (KeyspaceShared::keep_clocks) expired values become tombstones and nothing is reaped: a node
// must never forget the counters of a key whose dots other replicas hold. A write whose expiry has already passed is a delete (a
// tombstone, replicated like any write), as in Redis.
//
// Writes made during one turn of the owning loop are buffered (and visible to later reads of
// the same loop) and stored together by Commit() as one RocksDB WriteBatch; the loop sends the
// replies of that turn only after Commit() succeeded.
//
// Thread rule: a Keyspace is used only by its loop's thread. It writes only keys of partitions
// that loop owns, or any key while the loop holds the all-loops barrier; it may read any key
// (a read of another loop's key sees that loop's committed writes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kv/hints.h"
#include "kv/record_cache.h"
#include "kv/trees.h"
#include "kv/vnode.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::kv {

// Limits and identity shared by every loop's keyspace.
struct KeyspaceShared {
  storage::Store* store = nullptr;
  HybridClock* clock = nullptr;
  version::Actor actor;  // this node's (node id, epoch)
  uint32_t partitions = 256;
  uint32_t workers = 1;  // partition p belongs to the keyspace with id p % workers
  // In a cluster other replicas hold this node's dots, so a key's causal history is never
  // forgotten: an expired value turns into its write's tombstone, tombstones are not reaped
  // (until anti-entropy can prove every replica holds them), and a record that loses its values
  // otherwise stays as a clock-only record (counters, no values). The next write of the key
  // mints a dot above every one this node minted before (kv679). A standalone node drops them.
  bool keep_clocks = false;
  // Mutable at run time (CONFIG SET) while loops read them.
  std::atomic<uint64_t> max_object_size{1 << 20};
  std::atomic<uint32_t> sibling_warn{25};
  std::atomic<uint32_t> sibling_max{100};
  // Replica stores refused because the record reused a dot held for another write (INFO).
  mutable std::atomic<uint64_t> dot_conflicts{0};
  // The simulator's broken-merge negative control: replicas keep only the LWW sibling of what
  // they merge. Never set in a server.
  bool lww_merge = false;
  // Hinted handoff (kv/hints.h): the node's tally of the hints it holds (nullptr: a node that
  // keeps none, e.g. standalone), the bound per target (hints-max-bytes, 0 = none), and whether
  // a target still gets new hints (false once it has been down longer than hint-window; unset:
  // always).
  HintLedger* hints = nullptr;
  std::atomic<uint64_t> hints_max_bytes{0};
  std::function<bool(uint64_t target)> hint_window_open;
  // Anti-entropy (kv/trees.h): the partitions' hash trees, kept up by every Commit, and their
  // reap floors (nullptr: a node without anti-entropy, e.g. standalone).
  PartitionTrees* trees = nullptr;
  // The node's record cache (kv/record_cache.h; nullptr: none): every read of a record looks
  // there first, the owner fills it from its store reads, every Commit updates it.
  RecordCache* cache = nullptr;
  // The test hook of a silently lost write (DEBUG REPLICA-PUT-DROP): this many more replica
  // puts are acknowledged without being stored.
  mutable std::atomic<int64_t> drop_replica_puts{0};
};

// The value a plain GET sees: the last-write-wins winner among live siblings.
struct LiveValue {
  std::string value;
  int64_t expire_at_ms = 0;  // 0 = no expiry
};

class Keyspace {
 public:
  explicit Keyspace(const KeyspaceShared* shared, uint32_t id = 0) : shared_(shared), id_(id) {}
  ~Keyspace();
  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;

  uint32_t PartitionOf(std::string_view key) const;
  // The node's wall time (unix ms) that expiry is measured against.
  int64_t NowMs() const { return shared_->clock->WallMs(); }
  bool Owns(std::string_view key) const { return PartitionOf(key) % shared_->workers == id_; }

  // The key's versions; an absent key gives an empty set (no values, no history).
  Status Load(std::string_view key, version::DVVSet* out);
  // The LWW winner when the key has a live (non-tombstone, unexpired) value.
  Status GetLive(std::string_view key, std::optional<LiveValue>* out);
  // Live siblings (tombstones and expired ones left out) and the context naming all versions.
  Status GetSiblings(std::string_view key, std::vector<version::Sibling>* values,
                     std::string* context);

  // What a read-modify-write decides to do with a key.
  struct Mutation {
    enum Kind { kKeep, kPut, kDelete } kind = kKeep;
    std::string value;
    int64_t expire_at_ms = 0;
    static Mutation Keep() { return Mutation{}; }
    static Mutation Put(std::string v, int64_t expire_at_ms) {
      return Mutation{kPut, std::move(v), expire_at_ms};
    }
    static Mutation Delete() { return Mutation{kDelete, {}, 0}; }
  };
  // Read-modify-write with one read: `fn` sees the live value (nullopt when absent) and returns
  // what to do; a put or delete is a plain write (supersedes every version held here). Used by
  // every command whose write depends on the current value (INCR, APPEND, SET NX/GET, EXPIRE...).
  template <class Fn>
  Status Mutate(std::string_view key, Fn&& fn) {
    version::DVVSet set;
    RETURN_IF_ERROR(Load(key, &set));
    std::optional<LiveValue> live = LiveOf(set, NowMs());
    Mutation m = fn(live);
    return Apply(key, set, std::move(m));
  }

  // Plain SET: supersedes every version held here.
  Status Put(std::string_view key, std::string_view value, int64_t expire_at_ms);
  // Plain DEL: a tombstone superseding every version. *existed tells whether a live value was
  // there (DEL's count).
  Status Delete(std::string_view key, bool* existed);
  // SETCTX / DELCTX: supersedes exactly the versions `context` names.
  Status PutWithContext(std::string_view key, std::string_view context, std::string_view value,
                        bool tombstone);

  // Replica side of the cluster. The stored record (encoded DVVSet) of key, nullopt when absent.
  Status LoadRecord(std::string_view key, std::optional<std::string>* out);
  // The replica of the key's partition (created on first use, owned here): it serves the
  // replica verbs (kv/vnode.h).
  Vnode& VnodeOf(std::string_view key);
  // For vnodes: buffers an encoded record as the key's new record in this turn's batch; moves
  // the clock past a timestamp a replica received; counts a reused dot (INFO).
  void StoreRecord(std::string_view key, std::string record);
  // Anti-entropy's reaping (replication/anti_entropy.h): drops the key's record when it is
  // still the one whose item hash is `expected` and holds no live value, raising the
  // partition's reap floor to this node's counter in it (stored in the same batch). *dropped
  // tells whether it did.
  Status Reap(std::string_view key, uint64_t expected, bool* dropped);
  void ObserveHlc(uint64_t ts) { shared_->clock->Observe(ts); }
  void CountDotConflict() const {
    shared_->dot_conflicts.fetch_add(1, std::memory_order_relaxed);
  }
  bool lww() const { return shared_->lww_merge; }
  const KeyspaceShared& shared() const { return *shared_; }

  // Hints (kv/hints.h), for vnodes: the stored hint value of (target, key), nullopt when none;
  // buffers a new value (nullopt: delete) in this turn's batch. The caller keeps the ledger.
  Status LoadHint(uint64_t target, std::string_view key, std::optional<std::string>* out);
  void StoreHint(uint64_t target, std::string_view key, std::optional<std::string> value);
  // Up to `limit` hints of `target` in partitions this loop owns, in key order, from the first
  // hint key above `after` ("" = from the start); *end is set when the range is exhausted.
  struct StoredHint {
    std::string hint_key;
    std::string user_key;
    std::string value;  // EncodeHintValue
  };
  Status ScanHints(uint64_t target, const std::string& after, size_t limit,
                   std::vector<StoredHint>* out, bool* end);
  // The coordinator replicates what a command wrote: between BeginTracking and TakeTracked the
  // keys stored with a record (plain, context and merged writes; not lazy expiry removal) are
  // collected, once each, in first-write order.
  void BeginTracking() {
    tracking_ = true;
    tracked_.clear();
  }
  std::vector<std::string> TakeTracked() {
    tracking_ = false;
    return std::move(tracked_);
  }

  // Buffered writes of this turn.
  bool HasPending() const { return !pending_.empty() || !pending_hints_.empty(); }
  // The user keys of this turn's buffered writes (the simulator inspects what a turn stored).
  std::vector<std::string> PendingKeys() const;
  Status Commit();
  void DropPending() {
    pending_.clear();
    pending_hints_.clear();
    pending_floors_.clear();
  }

  // Warms the record cache with this loop's partitions, scanning at most `budget` records per
  // call (the loop's cron) from where the last call stopped; a partition scanned to its end
  // with nothing evicted from it is complete (RecordCache). Stops when the cache is full, and
  // starts over on the partitions not complete when the cache's warm generation moves.
  void WarmCache(size_t budget);
  // Whether WarmCache has nothing left to do (until the warm generation moves).
  bool cache_warm() const { return warm_done_; }

  // The compaction filter's decision for a stored record. Standalone: dropped once its values
  // are all gone (expired, or tombstones older than the grace period). With keep_clocks (a
  // cluster): always kept, unchanged (anti-entropy reaps). A record that does not decode is
  // kept.
  static storage::CompactDecision Compact(std::string_view encoded, int64_t now_ms,
                                          int64_t tombstone_grace_ms, bool keep_clocks);

 private:
  Status CheckValueSize(std::string_view value) const;
  static std::optional<LiveValue> LiveOf(const version::DVVSet& set, int64_t now_ms);
  Status Apply(std::string_view key, version::DVVSet& set, Mutation m);
  void RemoveIfExpired(std::string_view key, const version::DVVSet& set, int64_t now_ms);
  Status Store(std::string_view key, std::string data_key, version::DVVSet& set);
  // What a record with no values left becomes: a clock-only record, or nothing.
  std::optional<std::string> Emptied(const version::DVVSet& set) const;
  // Every record write of the turn goes through here: with trees, the first write of a key in
  // the turn notes the item hash of its committed record (before), for Commit's tree update.
  void Buffer(std::string data_key, std::optional<std::string> record);
  uint64_t CommittedHash(const std::string& data_key);
  // The committed record of a data key: the cache's copy, or the store's (NotFound when
  // absent); the owner caches what it read from the store.
  Status ReadCommitted(const std::string& data_key, std::string* out);
  // Load and LoadRecord remember the last record they read from the store (with trees): the
  // write that follows a read needs no second read for its before-hash.
  void NoteRead(const std::string& data_key, const std::string* stored);
  // Adds a new sibling under a fresh dot of this node (DVVSet::Update), above the partition's
  // reap floor.
  uint64_t Mint(std::string_view key, version::DVVSet& set, version::VersionVector ctx,
                version::Sibling s);
  // A new value's sibling; its timestamp is above every one in `seen` (the versions it joins).
  version::Sibling NewSibling(const version::DVVSet& seen, std::string_view value,
                              int64_t expire_at_ms, bool tombstone);
  bool ExpiredAt(int64_t expire_at_ms) const {
    return expire_at_ms != 0 && expire_at_ms <= NowMs();
  }

  const KeyspaceShared* shared_;
  uint32_t id_;
  bool tracking_ = false;
  std::vector<std::string> tracked_;
  // data key -> encoded record (nullopt = delete), written by Commit(), and the item hash of
  // the record committed before this turn (with trees).
  struct PendingRecord {
    std::optional<std::string> record;
    uint64_t before = 0;
  };
  std::unordered_map<std::string, PendingRecord> pending_;
  std::string last_read_key_;
  uint64_t last_read_hash_ = 0;
  // Partitions whose reap floor rose this turn (stored by Commit()).
  std::set<uint32_t> pending_floors_;
  // hint key -> hint value (nullopt = delete), written by Commit() in the same batch.
  std::unordered_map<std::string, std::optional<std::string>> pending_hints_;
  std::unordered_map<uint32_t, std::unique_ptr<Vnode>> vnodes_;  // by partition
  // WarmCache's place: the cache's warm generation it works for, the partition it scans (one
  // of this loop's), the last key cached there and the partition's warm-up token.
  uint64_t warm_gen_ = 0;
  bool warm_started_ = false;
  bool warm_done_ = false;
  bool warm_active_ = false;
  uint32_t warm_partition_ = 0;
  std::string warm_after_;
  uint64_t warm_token_ = 0;
};

// Reads a stored record's liveness without a Keyspace (scans: KEYS, SCAN, DBSIZE); *expire_at
// gets the live value's expiry (0 = none).
bool RecordLiveExpiry(std::string_view encoded, int64_t now_ms, int64_t* expire_at);
// Whether a stored record holds no live value (only tombstones, expired values, or no value:
// what anti-entropy may reap), and when its newest write or expiry happened (*newest_ms, unix
// ms). False for a record that does not decode.
bool RecordHasNoLiveValue(std::string_view encoded, int64_t now_ms, int64_t* newest_ms);
inline bool RecordIsLive(std::string_view encoded, int64_t now_ms) {
  int64_t unused;
  return RecordLiveExpiry(encoded, now_ms, &unused);
}

}  // namespace dynis::kv
