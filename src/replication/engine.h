// The replication engine: a coordinator's get/put state machines, one per key and operation
// (replication/coordinator.h runs whole client commands on top of it; replication/replica.h is
// the replica's side). Sans-IO: it is fed messages, timer ticks, transport failures and storage
// results, and returns effects (send a message, store a merged record locally, complete an
// operation). The libuv runtime (server/) and the seeded simulator (tests/sim/) drive this code.
//
// Records are encoded DVVSets (version/dvvset.h). Replicas merge what they receive with
// DVVSet::Sync, so delivery may be lost, duplicated or reordered without losing a value.
//
// Sloppy quorum (Dynamo §4.6): a preference list may hold fallbacks, nodes standing in for a
// primary held down. They count toward R and W like primaries; a request's PR/PW (Riak's
// names) says how many of the answers must come from primaries. A put or read repair sent to
// a fallback names the primary it stands in for (Message::hint_for): the fallback keeps it as a
// hint for that primary (kv/vnode.h) until hinted handoff delivers it (replication/handoff.h).
//
// Get (Dynamo): the caller loads the local record and calls StartGet with the key's preference
// list. The engine asks every other member, merges answers as they come, and completes once R
// members (the coordinator counts when it is in the list) answered. Before completing it asks
// the caller to store the merged record locally when the local one is older (the caller runs
// the command against its local store afterwards). After completing it keeps collecting
// answers until every member answered or the deadline passed, then read-repairs: it sends the
// merged record to every member that answered with an older record, or did not answer.
// Put: the caller has already applied the write locally and passes the resulting record; the
// engine sends it to the others and completes after W stores. The caller's own copy counts
// (when the coordinator is in the list) only once the caller reports, with OnLocalStored,
// that the batch holding it is committed; a failed local commit counts as a failed member, so
// W is only ever reached by durable copies. Either completes with ok=false as soon as quorum
// became impossible (failures) or at the deadline, saying how many answered. Both stay open
// after completing until every member answered or the deadline passed; a member that never
// answered is reported with kUnanswered then (the failure detector's timeout evidence).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynis::replication {

using NodeId = uint64_t;

// One message of the replica protocol.
struct Message {
  // kProbeReq/kProbeResp: the failure detector's probe of a peer it holds down (PING).
  enum class Type : uint8_t { kGetReq, kGetResp, kPutReq, kPutResp, kProbeReq, kProbeResp };
  Type type = Type::kGetReq;
  NodeId from = 0;
  NodeId to = 0;
  uint64_t op = 0;      // the coordinator's operation id, echoed in the response
  std::string key;
  bool found = false;   // kGetResp: the replica holds a record for key
  std::string record;   // kGetResp (when found): its encoded record; kPutReq: record to merge
  bool ok = true;       // responses: false when the replica failed the request
  bool repair = false;  // kPutReq sent by read repair; its response completes nothing
  bool handoff = false;  // kPutReq replaying a hint (replication/handoff.h); echoed
  bool aae = false;      // kGetReq / kPutReq repairing an anti-entropy difference; echoed
  NodeId hint_for = 0;   // kPutReq to a fallback: the primary it stands in for (0: a primary)
  std::string error;    // responses with ok=false: why, for the peer's reply and logs
};

struct Outcome {
  bool ok = false;
  int answered = 0;    // members that answered successfully (the coordinator included)
  int required = 0;    // R or W after capping at the preference list's size
  int replicas = 0;    // size of the preference list
  int primaries_answered = 0;  // of `answered`: primaries (the rest are fallbacks)
  int primary_required = 0;    // PR or PW (0: none)
  bool found = false;  // get: some answer (or the local record) held a record
  std::string record;  // get: the merged encoded record when found
};

struct Effect {
  // kUnanswered: msg.to did not answer op before its deadline (nothing to do for the op; the
  // caller tells its failure detector).
  enum class Kind : uint8_t { kSend, kStoreLocal, kComplete, kUnanswered };
  Kind kind = Kind::kSend;
  Message msg;         // kSend; kUnanswered: msg.to
  uint64_t op = 0;     // kStoreLocal, kComplete
  std::string key;     // kStoreLocal, kComplete
  std::string record;  // kStoreLocal: merge this into the local record of key
  Outcome outcome;     // kComplete
};
using Effects = std::vector<Effect>;

struct Options {
  int64_t timeout_ms = 1000;  // per operation: quorum deadline, then the read-repair deadline
  // Negative control for the simulator only: merges keep just the last-write-wins sibling
  // instead of every concurrent one. Must never be set in a server.
  bool lww_merge = false;
};

// Merge two encoded records (DVVSet::Sync; with lww only the LWW winner survives). A record
// that does not decode is an error.
StatusOr<std::string> MergeRecords(std::string_view a, std::string_view b, bool lww = false);

// One member of an operation's preference list (cluster/preflist.h's entries).
struct Replica {
  NodeId node = 0;
  bool primary = true;
  NodeId hint_for = 0;  // a fallback: the primary it stands in for
};
// How many answers an operation needs: R (or W), and of them PR (or PW) from primaries, both
// capped at n: the number of replicas a key has (N, or fewer when the ring has fewer members).
// n = 0 caps at the list's size. A sloppy list can be shorter than n (too few nodes up to
// stand in); the requirement stays, so W is never met by fewer distinct copies than asked.
struct Quorum {
  int q = 1;
  int pq = 0;
  int n = 0;
};

class Engine {
 public:
  Engine(NodeId self, Options opts);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // R/W and PR/PW are capped at Quorum::n (or the list's size without it; N > number of nodes
  // is allowed); PR/PW are not capped at the primaries present, so a list short of primaries
  // cannot meet them. Effects may include the completion itself (e.g. R=1 with the
  // coordinator in the list).
  uint64_t StartGet(int64_t now_ms, std::string key, const std::vector<Replica>& preflist,
                    Quorum r, std::optional<std::string> local, Effects* out);
  uint64_t StartPut(int64_t now_ms, std::string key, const std::vector<Replica>& preflist,
                    Quorum w, std::string record, Effects* out);
  // A list of primaries only, no PR/PW.
  uint64_t StartGet(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist, int r,
                    std::optional<std::string> local, Effects* out);
  uint64_t StartPut(int64_t now_ms, std::string key, const std::vector<NodeId>& preflist, int w,
                    std::string record, Effects* out);

  // A response from a replica (kGetResp / kPutResp); unknown or finished ops are ignored.
  void OnMessage(int64_t now_ms, const Message& m, Effects* out);
  // The transport could not deliver a request of `op` to `to` (or lost its connection before
  // the answer): that member counts as failed.
  void OnSendFailed(int64_t now_ms, uint64_t op, NodeId to, Effects* out);
  // The local copy of put `op` is committed (ok) or its commit failed (!ok). Counted once, and
  // only when the coordinator is in the op's list; unknown or finished ops are ignored.
  void OnLocalStored(int64_t now_ms, uint64_t op, bool ok, Effects* out);
  // Deadlines: completes timed-out operations, runs pending read repairs.
  void OnTick(int64_t now_ms, Effects* out);

  // Earliest deadline among live operations; INT64_MAX when none.
  int64_t NextDeadline() const;
  size_t inflight() const;
  // The deadline of operations started from now on (CONFIG SET cluster-request-timeout).
  void set_timeout_ms(int64_t timeout_ms) { opts_.timeout_ms = timeout_ms; }
  // Drop every operation without effects (a crashed node in the simulator, shutdown).
  void Reset();

 private:
  struct Op;
  // After an answer: completes the op once quorum is decided, keeps the local store current,
  // and read-repairs and forgets a get once every member answered (a put once decided).
  void Advance(uint64_t op_id, Effects* out);
  // The deadline passed: completes (ok=false) if still open, read-repairs a get, forgets it.
  void Expire(uint64_t op_id, Effects* out);

  NodeId self_;
  Options opts_;
  uint64_t next_op_ = 1;
  std::map<uint64_t, std::unique_ptr<Op>> ops_;
};

}  // namespace dynis::replication
