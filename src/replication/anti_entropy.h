// Active anti-entropy (Dynamo §4.7, Riak's AAE): each node compares its partitions' hash trees
// (kv/trees.h) with the other primaries of each partition and repairs what differs, so replicas
// converge without client reads: a wiped disk, a dropped hint, a write that reached only W of N.
//
// Exchange of partition p with peer q, started by this node (both sides start their own, so a
// pair is compared twice per round): the root (8 bytes) of q's tree; equal means done. Else
// q's branches (kFanout hashes), then the segments of the differing branches only, then the
// (key, item hash) lists of the differing segments from both sides. Every key that differs is
// repaired both ways: q's record is read (DYNIS.GETREC) and merged here by DVVSet sync (the
// replica put, kv/vnode.h), and the merge is sent to q (DYNIS.PUTREC) unless q already holds
// it, so no sibling is ever lost. Repairs are plain replica puts (Message::aae set).
//
// Schedule: the pairs (p, q) of the partitions this loop owns are started one after another,
// spread so that every pair starts once per round (aae-round), never more than `concurrency`
// at a time, none while the node is overloaded, none with a peer held down. ExchangeNow puts
// pairs first in line (DYNIS AAE EXCHANGE). Rates (per loop): exchange_rate bounds the keys
// the segment listings scan (both sides' scans count), repair_rate the keys repaired per second.
//
// Tombstones (and clock-only records) are reaped by the partition's first primary: once per
// round, for records with no live value whose newest write is older than tombstone-grace, it
// asks every member whether it holds hints in p (a hint may carry an older value to a
// primary), then every other primary whether it holds exactly that record (its item hash);
// only records every primary holds, with no hints in p anywhere and every member answering,
// are dropped, first on the other primaries, then here; each side drops only a record that is
// still the one confirmed (Keyspace::Reap, which also keeps the minted counters above it).
// A replica that misses the drop keeps its copy and an exchange sends it back: that costs a
// tombstone, never a value, since every replica held the tombstone before anyone dropped it.
//
// Tree builds (startup, aae-rebuild-interval) run here too, in steps between turns.
//
// Sans-IO like the engine and HintReplay: time, answers and failures are inputs, requests the
// output; the worker (server/anti_entropy.cc) and the simulator carry them. Thread rule: the
// owning loop's.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kv/keyspace.h"
#include "kv/trees.h"
#include "replication/coordinator.h"
#include "replication/engine.h"

namespace dynis::replication {

// One request of the exchange protocol (DYNIS.AAE, transport/verbs.h) and its answer.
struct AaeRequest {
  enum class Type : uint8_t { kRoot, kBranches, kSegments, kKeys, kHints, kReapCheck, kReapDrop };
  Type type = Type::kRoot;
  NodeId from = 0;
  NodeId to = 0;
  uint64_t op = 0;
  uint32_t partition = 0;
  std::vector<uint32_t> items;                         // kSegments: branches; kKeys: segments
  std::vector<std::pair<std::string, uint64_t>> keys;  // kReap*: (key, item hash)
  std::string after;  // kKeys: list keys above this one ("": from the start), a page's start
};

struct AaeResponse {
  AaeRequest::Type type = AaeRequest::Type::kRoot;
  NodeId from = 0;
  uint64_t op = 0;
  bool ok = true;
  std::string error;
  std::vector<uint64_t> hashes;  // kRoot: 1; kBranches: kFanout; kSegments: kFanout per branch
  std::vector<std::pair<std::string, uint64_t>> keys;  // kKeys: (key, item hash), key order
  bool truncated = false;     // kKeys: more keys than one answer carries (kMaxListedKeys):
                              // the next page starts after the last key listed
  std::vector<uint8_t> held;  // kReapCheck: 1 per key held exactly; kReapDrop: 1 per key dropped
  uint64_t count = 0;         // kHints: hints held in the partition
};

// Keys one kKeys answer carries at most; the rest are compared in a later exchange.
inline constexpr size_t kMaxListedKeys = 20000;

class AaeBoard;
// The answering side, on the loop owning the partition; counts its answers' bytes and the
// records it reaped in `board` (optional).
AaeResponse ServeAae(kv::Keyspace& ks, const kv::PartitionTrees& trees,
                     const kv::HintLedger* hints, const AaeRequest& req,
                     AaeBoard* board = nullptr);

// Bytes a request or an answer carries (INFO's aae_bytes_sent; the transport adds framing).
size_t PayloadBytes(const AaeRequest& req);
size_t PayloadBytes(const AaeResponse& resp);

// The node's counters and the last exchange of each (partition, peer): any thread.
class AaeBoard {
 public:
  std::atomic<uint64_t> exchanges{0};         // completed (agreeing or repaired)
  std::atomic<uint64_t> exchanges_failed{0};  // a peer that did not answer, a tree not built
  std::atomic<uint64_t> exchanges_agreed{0};  // roots equal
  std::atomic<uint64_t> segments_compared{0};
  std::atomic<uint64_t> keys_compared{0};
  std::atomic<uint64_t> keys_repaired{0};
  std::atomic<uint64_t> bytes_sent{0};        // requests sent, answers served, repair records
  std::atomic<uint64_t> tombstones_reaped{0};
  std::atomic<uint64_t> reap_candidates{0};   // old enough; reaped only when confirmed

  struct Last {
    int64_t at_ms = 0;       // when it ended
    int64_t took_ms = 0;
    std::string result;      // "agreed", "repaired", or why it failed
    uint64_t segments = 0;   // differing segments compared
    uint64_t repaired = 0;   // keys repaired
  };
  void Record(uint32_t partition, NodeId peer, Last last);
  void RecordReap(uint32_t partition, uint64_t reaped);
  struct PartitionView {
    std::map<NodeId, Last> peers;
    uint64_t reaped = 0;
  };
  std::map<uint32_t, PartitionView> Snapshot() const;

  // DYNIS AAE EXCHANGE, from any loop: each loop takes what was asked of it at its next tick
  // (a partition, or -1 for all it owns).
  void QueueExchange(uint32_t loops, int64_t partition);
  std::vector<int64_t> TakeQueued(uint32_t loop);

 private:
  mutable std::mutex mu_;
  std::map<uint32_t, PartitionView> parts_;       // guarded by mu_
  std::map<uint32_t, std::vector<int64_t>> asked_;  // by loop, guarded by mu_
};

struct AaeOptions {
  NodeId self = 0;
  int64_t round_ms = 60000;           // every pair started once per round (aae-round)
  int64_t exchange_rate = 200000;     // keys the listings scan per second; 0: unlimited
  int64_t repair_rate = 2000;         // keys repaired per second; 0: unlimited
  int64_t timeout_ms = 3000;          // an unanswered request fails its exchange after this
  int64_t tombstone_grace_ms = 3600000;
  int64_t rebuild_interval_ms = 604800000;  // aae-rebuild-interval; 0: never after the first
  size_t concurrency = 4;             // exchanges in flight at once (twice that asked for now)
  size_t build_keys_per_tick = 20000; // tree build scan per tick
  size_t reap_batch = 1000;           // records confirmed per reap pass at most
  bool reap = true;
};

// Who holds what: the primaries of a partition (in preference order) and every member.
struct AaeTopology {
  uint64_t version = 0;  // changes whenever the rest may have
  std::vector<std::vector<NodeId>> primaries;  // by partition
  std::vector<NodeId> members;
};

struct AaeSends {
  std::vector<AaeRequest> aae;
  std::vector<Message> records;  // repairs: kGetReq / kPutReq with aae set
};

class AntiEntropy {
 public:
  AntiEntropy(AaeOptions opts, kv::Keyspace* ks, kv::PartitionTrees* trees, AaeBoard* board,
              uint32_t loop_id, uint32_t loops);

  AaeOptions& options() { return opts_; }
  // Builds trees that are due, starts exchanges and reap passes that are due, sends repairs
  // the rates allow, fails requests past their deadline.
  void OnTick(int64_t now_ms, const AaeTopology& topo, PeerHealth* health, bool overloaded,
              AaeSends* out);
  // With aae off: nothing in flight goes on (an exchange ending would start the next), only
  // the trees are kept built, so turning it on needs no wait.
  void BuildOnly(int64_t now_ms) {
    Reset();
    BuildTrees(now_ms);
  }
  void OnResponse(int64_t now_ms, const AaeResponse& resp, AaeSends* out);
  // An answer to a repair (kGetResp / kPutResp with aae set).
  void OnRecordResponse(int64_t now_ms, const Message& resp, AaeSends* out);
  // A request (either kind) that could not be sent or got no answer.
  void OnSendFailed(int64_t now_ms, uint64_t op, AaeSends* out);
  // Exchanges of partition p (every owned partition when nullopt) with each of its other
  // primaries go first in line. Returns the pairs queued.
  size_t ExchangeNow(const AaeTopology& topo, std::optional<uint32_t> partition);
  // Forgets everything in flight (shutdown, aae off; a crashed node in the simulator).
  void Reset();

  size_t active() const { return exchanges_.size(); }
  bool Idle() const { return exchanges_.empty() && reaps_.empty() && urgent_.empty(); }

 private:
  struct Pair {
    uint32_t partition = 0;
    NodeId peer = 0;
    bool operator<(const Pair& o) const {
      return partition != o.partition ? partition < o.partition : peer < o.peer;
    }
  };
  enum class Step : uint8_t { kRoot, kBranches, kSegments, kKeys, kRepair };
  struct Repair {
    std::string key;
    uint64_t mine = 0;    // item hash here when listed (0: absent)
    uint64_t theirs = 0;  // at the peer (0: absent)
  };
  struct Exchange {
    Pair pair;
    Step step = Step::kRoot;
    int64_t started_ms = 0;
    uint64_t waiting_op = 0;  // the request in flight (0: none)
    std::vector<uint32_t> branches;
    std::vector<uint32_t> segments;
    std::deque<Repair> todo;
    size_t repairs_inflight = 0;
    uint64_t repaired = 0;
    uint64_t failed_repairs = 0;
    // A listing was cut short: once this page's repairs are done, the next page is listed
    // from after `next_after`, until the segments are covered.
    bool more = false;
    std::string next_after;
  };
  struct ReapPass {
    uint32_t partition = 0;
    int stage = 0;  // what was asked last: 1 hints, 2 checks, 3 drops
    std::vector<std::pair<std::string, uint64_t>> candidates;
    std::vector<uint8_t> confirmed;  // per candidate, while checking
    std::set<NodeId> waiting;        // peers whose answer is due
    bool failed = false;
    std::vector<NodeId> peers;    // the other primaries
    std::vector<NodeId> members;  // every other member
  };
  struct Pending {
    enum Kind : uint8_t { kExchange, kRepairGet, kRepairPut, kReap } kind = kExchange;
    Pair pair;
    std::string key;
    int64_t deadline_ms = 0;
  };

  void BuildTrees(int64_t now_ms);
  void Refill(int64_t now_ms);
  void Schedule(int64_t now_ms, PeerHealth* health, AaeSends* out);
  void ScheduleAfterFinish(int64_t now_ms, AaeSends* out);
  void HandleResponse(int64_t now_ms, const AaeResponse& resp, AaeSends* out);
  void HandleRecordResponse(int64_t now_ms, const Message& resp, AaeSends* out);
  bool Start(int64_t now_ms, const Pair& pair, AaeSends* out);
  void Ask(int64_t now_ms, Exchange& x, AaeRequest req, AaeSends* out);
  void Advance(int64_t now_ms, Exchange& x, const AaeResponse& resp, AaeSends* out);
  bool Compare(Exchange& x, const AaeResponse& resp);
  void AskKeys(int64_t now_ms, Exchange& x, AaeSends* out);
  void SendRepairs(int64_t now_ms, AaeSends* out);
  void Finish(int64_t now_ms, const Pair& pair, const std::string& result);
  void ExpireDeadlines(int64_t now_ms, AaeSends* out);
  uint64_t NextOp() { return next_op_++; }

  void StartReaps(int64_t now_ms, const AaeTopology& topo, PeerHealth* health, AaeSends* out);
  void ReapAnswer(int64_t now_ms, ReapPass& r, NodeId from, const AaeResponse* resp,
                  AaeSends* out);
  void ReapNextStage(int64_t now_ms, ReapPass& r, AaeSends* out);

  AaeOptions opts_;
  kv::Keyspace* ks_;
  kv::PartitionTrees* trees_;
  AaeBoard* board_;
  uint32_t loop_id_;
  uint32_t loops_;

  std::vector<Pair> pairs_;  // this loop's, in partition order
  size_t topo_hash_ = 0;
  size_t cursor_ = 0;
  int64_t next_start_ms_ = 0;
  std::deque<Pair> urgent_;
  std::set<Pair> urgent_set_;  // what urgent_ holds (a pair is queued once)
  std::map<Pair, Exchange> exchanges_;
  std::map<uint32_t, ReapPass> reaps_;
  std::map<uint32_t, int64_t> last_reap_ms_;
  std::map<uint64_t, Pending> pending_;  // requests in flight by op
  // From the last tick: the health and load that starts between ticks go by.
  PeerHealth* health_ = nullptr;
  bool overloaded_ = false;
  bool finished_since_tick_ = false;
  double scan_tokens_ = 0;
  double repair_tokens_ = 0;
  int64_t last_refill_ms_ = 0;
  uint64_t next_op_ = 1;
};

}  // namespace dynis::replication
