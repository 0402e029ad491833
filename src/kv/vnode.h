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
// This is where the partition's Merkle tree (anti-entropy), its hints and its handoff folds
// attach in later releases. Thread rule: that of its Keyspace (the loop owning the partition).
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

  // The stored record of key (an encoded DVVSet), nullopt when absent: DYNIS.GETREC.
  Status Get(std::string_view key, std::optional<std::string>* record);
  // Merges `record` into the key's record: DYNIS.PUTREC, and a coordinator's store of the
  // merge its quorum read produced.
  ReplicaPut Put(std::string_view key, std::string_view record);

 private:
  Keyspace* ks_;
  uint32_t partition_;
};

}  // namespace dynis::kv
