// Dotted Version Vector Sets: the per-key causality tracker and sibling container of dynis.
//
// Contract (after Preguiça, Baquero et al., "Dotted Version Vectors"; riak's dvvset):
//  - Every value written through Update gets a unique dot (actor, n): the coordinating replica's
//    n-th event for this key. An Actor is (node, epoch); a node that loses its data leases a new
//    epoch, so dots are never reused.
//  - A DVVSet holds, per actor, a counter N (all dots (actor, 1..N) have been seen) and the
//    subset of those dots whose values are still live. A seen dot that is not live was
//    superseded (or removed by RemoveValuesIf) and stays dead forever: Sync never revives it.
//  - Update(ctx, v, actor) discards exactly the live values whose dots ctx covers, keeps the
//    others as siblings and adds v under a fresh dot. Sync is the join of two replicas' states:
//    commutative, associative, idempotent.
//  - Join() is the causal context handed to clients (opaque bytes via EncodeContext); a client
//    writing back with that context supersedes exactly what it read.
//  - Deviation from riak's layout: values carry their dot explicitly (not "counter - index"),
//    because RemoveValuesIf can punch holes in the middle of an actor's value list.
//  - Encode/Decode are a strict, versioned binary format; Decode never trusts a length.
// Nothing throws; decode errors come back as Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace dynis::version {

// A server-side actor: a node and the durable epoch it leased (bumped when the node loses its
// data, so a reborn node never mints a dot it minted before).
struct Actor {
  uint64_t node_id = 0;
  uint64_t epoch = 0;

  bool operator==(const Actor& o) const { return node_id == o.node_id && epoch == o.epoch; }
  bool operator!=(const Actor& o) const { return !(*this == o); }
  bool operator<(const Actor& o) const {
    return node_id != o.node_id ? node_id < o.node_id : epoch < o.epoch;
  }
  std::string ToString() const;  // "node_id.epoch"
};

// One concurrent value of a key. Immutable once it has a dot, except that an expired value may
// be turned into its tombstone (DVVSet::ExpireValuesIf).
struct Sibling {
  std::string value;    // binary-safe user bytes (empty for tombstones)
  uint64_t hlc = 0;     // hybrid logical clock timestamp of the write: (unix_ms << 16) | logical
  uint64_t writer = 0;  // node id of the coordinating node: LWW tie-breaker
  int64_t expire_at_ms = 0;  // absolute unix ms; 0 = never
  bool tombstone = false;

  bool operator==(const Sibling& o) const {
    return value == o.value && hlc == o.hlc && writer == o.writer &&
           expire_at_ms == o.expire_at_ms && tombstone == o.tombstone;
  }
  bool operator!=(const Sibling& o) const { return !(*this == o); }
};

// Total order on siblings used by LWW: (hlc, writer, tombstone, value bytes, expire_at_ms). The
// same write as a value and as its expired tombstone (one dot) orders the tombstone last, so
// Sync keeps the tombstone whichever replica converted first.
bool LwwLess(const Sibling& a, const Sibling& b);

// Sorted by actor, unique actors, counters > 0: the causal context. Functions taking a
// VersionVector accept unsorted input too (it is normalised: duplicates keep the max counter,
// zero counters are dropped).
using VersionVector = std::vector<std::pair<Actor, uint64_t>>;

// Counters above this are rejected by the decoders so that minting a new dot (+1) can never
// overflow, whatever a client puts in its context.
inline constexpr uint64_t kMaxCounter = uint64_t{1} << 62;
// Upper bound on actors in a decoded context or set: a guard against hostile inputs, far above
// what Prune keeps.
inline constexpr size_t kMaxActors = 4096;

class DVVSet {
 public:
  struct DottedValue {
    uint64_t counter = 0;  // the dot is (entry actor, counter)
    Sibling sibling;
    bool operator==(const DottedValue& o) const {
      return counter == o.counter && sibling == o.sibling;
    }
  };
  struct Entry {
    Actor actor;
    uint64_t counter = 0;             // every dot (actor, 1..counter) has been seen
    // When the dot (actor, counter) was written (its value's hlc); 0 when unknown, i.e. the
    // counter came from a client's context. Prune's recency; CountReusedDots' evidence.
    uint64_t last_hlc = 0;
    std::vector<DottedValue> values;  // live values, dots strictly descending (newest first)
    bool operator==(const Entry& o) const {
      return actor == o.actor && counter == o.counter && last_hlc == o.last_hlc &&
             values == o.values;
    }
  };

  DVVSet() = default;

  // No values at all (may still hold causal history, e.g. after every value expired).
  bool Empty() const;
  // The context summarising everything this set has seen: (actor, counter) per entry.
  VersionVector Join() const;

  // A client write of `v` with causal context `ctx`, coordinated by replica `actor`: every value
  // whose dot ctx covers is discarded; v gets the dot (actor, max(local counter, ctx[actor]) + 1);
  // uncovered values survive as siblings. Counters absent locally are raised to ctx's, so values
  // the client saw elsewhere stay dead when they arrive later. Returns the new dot's counter.
  // Precondition: ctx counters <= kMaxCounter (DecodeContext guarantees it).
  uint64_t Update(const VersionVector& ctx, Sibling v, const Actor& actor);

  // Records that every dot (actor, 1..at_least) has been seen, without discarding a value:
  // the next dot Update mints for actor is above at_least. For a node that reaped records
  // holding its dots (kv/trees.h reap floors): those dots are dead, and no live one of this
  // key is among them (a node stores every dot it mints).
  void RaiseCounter(const Actor& actor, uint64_t at_least);
  // Merge another replica's set into this one (riak: sync).
  void Sync(const DVVSet& other);

  // All siblings: entries by actor, newest dot first within an actor. Pointers stay valid until
  // the next mutation.
  std::vector<const Sibling*> Values() const;
  size_t ValueCount() const;

  // The newest timestamp this set has seen (values and entries' last_hlc); 0 when empty.
  uint64_t MaxHlc() const;

  // The values of `incoming` whose dot this set has seen for a different write: it holds
  // another value under that dot, or it no longer holds the dot while the newest dot it knows
  // of that actor was written before the value (dots are minted in timestamp order, so a
  // legitimately superseded dot is never newer than the actor's newest known one), or is that
  // very dot written at another time. Such a dot was minted twice (kv679): Sync would drop the
  // newer write as if it were old. Entries whose newest dot's time is unknown prove nothing.
  size_t CountReusedDots(const DVVSet& incoming) const;

  // Last-write-wins winner: the LwwLess-maximum sibling, so every node picks the same one.
  // nullptr when empty.
  const Sibling* LwwWinner() const;
  // Drops every value but the LWW winner, keeping the causal history (so only the siblings
  // collapse): the simulator's broken-merge negative control, never a server's.
  void KeepLwwWinner();

  // Drop every value for which pred(const Sibling&) is true (e.g. expired values). The causal
  // history is kept, so the dropped dots stay dead when other replicas sync them back.
  // Returns the number of values dropped.
  template <class Pred>
  size_t RemoveValuesIf(Pred pred) {
    size_t removed = 0;
    for (Entry& e : entries_) {
      size_t kept = 0;
      for (size_t i = 0; i < e.values.size(); ++i) {
        if (pred(static_cast<const Sibling&>(e.values[i].sibling))) {
          ++removed;
        } else {
          if (kept != i) e.values[kept] = std::move(e.values[i]);
          ++kept;
        }
      }
      e.values.resize(kept);
    }
    return removed;
  }

  // Turn every value for which pred(const Sibling&) is true (an expired one) into the tombstone
  // of the same write: same dot, hlc, writer and expiry, no bytes. Unlike removal it keeps the
  // write's place in LWW order, so its expiry never lets an older concurrent value win again
  // (Cassandra's rule for an expired cell). Returns the number of values turned.
  template <class Pred>
  size_t ExpireValuesIf(Pred pred) {
    size_t turned = 0;
    for (Entry& e : entries_) {
      for (DottedValue& d : e.values) {
        Sibling& s = d.sibling;
        if (s.tombstone || !pred(static_cast<const Sibling&>(s))) continue;
        s.tombstone = true;
        s.value.clear();
        s.value.shrink_to_fit();
        ++turned;
      }
    }
    return turned;
  }

  // Bound causal history: while more than max_entries actors are recorded, drop entries that
  // hold no values, least recently written (last_hlc, then actor) first. Never drops a value.
  // Lossy by design: a pruned actor's old dots, if still live elsewhere, can come back on Sync,
  // and a pruned coordinator restarts its counter from what the next context carries. Keep
  // max_entries comfortably above the replication factor so only departed actors (old epochs,
  // removed nodes) get pruned. Returns the number of entries dropped.
  size_t Prune(size_t max_entries);

  // Binary encoding, format byte kFormatV1 first. Decode rejects garbage, truncation, trailing
  // bytes and non-canonical input with Status::Corruption, and allocates only for bytes present.
  std::string Encode() const;
  static StatusOr<DVVSet> Decode(std::string_view bytes);

  const std::vector<Entry>& entries() const { return entries_; }
  std::string DebugString() const;

  bool operator==(const DVVSet& o) const { return entries_ == o.entries_; }
  bool operator!=(const DVVSet& o) const { return !(*this == o); }

  static constexpr uint8_t kFormatV1 = 1;

 private:
  std::vector<Entry> entries_;  // sorted by actor, counters > 0
};

// The opaque, binary-safe causal context clients carry between GETCTX and SETCTX.
// Empty vv <-> empty string (a blind write). Otherwise: version byte, varint count, varint
// (node, epoch, counter) triples in strictly increasing actor order, CRC32C trailer.
std::string EncodeContext(const VersionVector& vv);
// Any malformed input -> Status::InvalidArgument("ERR invalid context").
StatusOr<VersionVector> DecodeContext(std::string_view bytes);

// a >= b: a has seen every dot b has seen.
bool Descends(const VersionVector& a, const VersionVector& b);
// Pointwise max.
VersionVector MergeVV(const VersionVector& a, const VersionVector& b);

}  // namespace dynis::version
