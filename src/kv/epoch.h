// Actor epochs: the part of a node's actor (node id, epoch) that makes its dots unique.
//
// A node must never mint a dot (actor, counter) that another replica may already have seen
// (riak's kv679). Within one run the keyspace keeps every key's counter (tombstones it does not
// reap, kv/keyspace.h); across runs the counter survives only what the store kept. So a run
// mints under the epoch of the previous run only when that run shut down cleanly (every batch
// synced, the marker written last); after a crash, a lost WAL tail (fsync everysec|no), a lost
// data dir or a FLUSHALL, the node leases a new epoch, durably, before it mints anything.
// Epochs grow strictly (max(previous + 1, now in microseconds)).
//
// Thread rule: called at startup and shutdown, and under the all-loops barrier (FLUSHALL).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "storage/store.h"

namespace dynis::kv {

struct EpochStart {
  uint64_t epoch = 0;
  bool renewed = false;  // a new epoch was leased (fresh store, or the last run did not end cleanly)
  bool fresh = false;    // the store had no epoch at all
};

// The epoch this run mints under; a new one is stored durably unless the previous run shut down
// cleanly. Clears the clean-shutdown marker, so a crash of this run is seen by the next one.
StatusOr<EpochStart> StartEpoch(storage::Store* store, uint64_t now_us);
// After the last batch of a run: the next start may keep `epoch`. Synced, and written after
// every data write of the run, so it is in the WAL only if they are.
Status RecordCleanShutdown(storage::Store* store, uint64_t epoch);
// A new epoch, stored durably.
StatusOr<uint64_t> RenewEpoch(storage::Store* store, uint64_t current, uint64_t now_us);
// FLUSHALL / FLUSHDB: deletes every data record, which forgets every key's counter, so a new
// epoch is leased first; returns it (the caller's actor must use it from now on).
StatusOr<uint64_t> FlushAll(storage::Store* store, uint64_t current, uint64_t now_us);

}  // namespace dynis::kv
