// The replica side of the replication protocol: a request from a coordinator (a read of the
// key's record, or a record to merge) served by the local vnode of the key's partition
// (kv/vnode.h). The peer verbs (DYNIS.GETREC / DYNIS.PUTREC, decoded by transport/verbs.h) and
// the simulator's deliveries go through this one function. The response must be sent only once
// the loop's batch holding the store is committed.
#pragma once

#include "kv/vnode.h"
#include "replication/engine.h"

namespace dynis::replication {

// The response to a kGetReq or kPutReq (from, to, op, key and repair echoed); any other type
// is answered with a failure of the same type.
Message ServeReplica(kv::Vnode& vnode, const Message& req);

}  // namespace dynis::replication
