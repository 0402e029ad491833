// Vnode: this node's replica of one partition (Dynamo's virtual node, riak_core's vnode).
//
// It serves the replica verbs a coordinator sends (read the stored record of a key; merge a
// record into it) and applies the replica's write rule: what arrives is merged with what is
// held by DVVSet sync, so delivery may be lost, duplicated or reordered without losing a value.
// A record that reuses a dot this replica holds for another write (a node minted a dot twice,
// kv679) is an invariant violation: the merge is stored (it loses nothing either record held)
// but the put fails, is counted (KeyspaceShared::dot_conflicts) and logged. Storage goes
// through the owning loop's Keyspace, so a replica's store is in the turn's batch and its
// answer leaves only once that batch is committed.
//
// Hints (kv/hints.h): as a fallback, the vnode keeps what it stores for a primary held down as
// that primary's hint, one record per (primary, key) merged like a replica put, refused (and
// counted as dropped) when the primary's hints are at hints-max-bytes or it has been down
// longer than hint-window; never at the cost of the node's own data. Reads (Get) merge the
// key's hints into the stored record, so a fallback answers reads with what it holds for
// others. Replay takes a hint out once its primary stored it (TakeHintIfUnchanged).
//
// This is where the partition's Merkle tree (anti-entropy) and its handoff folds attach in
// later releases. Thread rule: that of its Keyspace (the loop owning the partition).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynis::kv {

class Keyspace;

// The pure half of a replica put: the record to store (nullopt when nothing changes) given the
// local one (nullopt: absent). lww is the simulator's broken-merge negative control.
struct ReplicaMerge {
  bool ok = true;             // false: the put fails (see error)
  bool dot_conflict = false;  // a reused dot (ok is false too)
  std::string error;          // why, for the peer's reply and logs
  std::optional<std::string> store;
  uint64_t observed_hlc = 0;  // the newest timestamp the put carried: the clock observes it
};
ReplicaMerge MergeReplicaPut(const std::optional<std::string>& local, std::string_view incoming,
                             bool lww = false);

// A replica put's answer.
struct ReplicaPut {
  bool ok = true;
  std::string error;  // when !ok
};

class Vnode {
 public:
  Vnode(Keyspace* ks, uint32_t partition) : ks_(ks), partition_(partition) {}

  uint32_t partition() const { return partition_; }

  // The stored record of key (an encoded DVVSet) merged with the hints held for it, nullopt
  // when neither exists: DYNIS.GETREC, and a coordinator's own read. *with_hints (optional)
  // tells whether hints added to the stored record.
  Status Get(std::string_view key, std::optional<std::string>* record,
             bool* with_hints = nullptr);
  // Merges `record` into the key's record: DYNIS.PUTREC, and a coordinator's store of the
  // merge its quorum read produced.
  ReplicaPut Put(std::string_view key, std::string_view record);
  // Merges `record` into the hint of (target, key): DYNIS.PUTREC ... HINT target, and a
  // coordinator's own copy when it is the fallback. A new hint is dated by the node's clock.
  ReplicaPut PutHint(uint64_t target, std::string_view key, std::string_view record);
  // Replay: target stored `sent` (a hint value as ScanHints gave it). The hint is deleted
  // when it still holds exactly that; a hint that grew meanwhile stays for the next round.
  // True when it was deleted.
  bool TakeHintIfUnchanged(uint64_t target, std::string_view key, std::string_view sent);

 private:
  // MergeReplicaPut, with the clock's observation and the reused-dot report.
  ReplicaMerge Merge(const std::optional<std::string>& local, std::string_view record);

  Keyspace* ks_;
  uint32_t partition_;
};

}  // namespace dynis::kv
