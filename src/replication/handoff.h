// Hinted handoff, the replaying side (Dynamo §4.6): a fallback delivers the hints it holds
// (kv/hints.h) to their primary once the failure detector holds that primary up again.
//
// Per loop (each loop replays the hints of the partitions it owns). Every tick (the loop's
// cron, and at once when a target's batch was answered), for each
// target with hints that is held up and not backing off, the next hints in key order are sent
// as plain replica puts (DYNIS.PUTREC, Message::handoff set), at most `rate_per_s` keys per
// second for this loop and one batch in flight per target. A hint is deleted only when the
// primary acknowledged a committed store of it (its +OK), and only if it did not grow
// meanwhile (a hinted write merged into it since: the next round sends it again). The scan of a
// target resumes after the last hint sent and wraps around, so a restart of either side just
// begins again with what is left: hints are durable, deletions happen only after acks.
// Failures: a target that cannot be reached (a failed send, no answer within the deadline)
// backs off, doubling from backoff_min_ms to backoff_max_ms, once per failed round; a hint the
// primary refuses is skipped for its own backoff (doubling per refusal), so it cannot hold up
// the others, and the target pauses backoff_min_ms; nothing is ever dropped.
//
// Sans-IO like the engine: time, answers and failures are inputs, sends the output; the worker
// (server/availability.cc) and the simulator carry them. Thread rule: the owning loop's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/keyspace.h"
#include "replication/coordinator.h"
#include "replication/engine.h"

namespace dynis::replication {

struct HandoffOptions {
  NodeId self = 0;
  int64_t rate_per_s = 10000;  // keys per second for this loop; 0: unlimited
  size_t batch = 256;          // hints in flight per target at most
  int64_t timeout_ms = 3000;   // an unanswered replay counts as failed after this
  int64_t backoff_min_ms = 500;
  int64_t backoff_max_ms = 30000;
};

class HintReplay {
 public:
  HintReplay(HandoffOptions opts, kv::Keyspace* ks);

  void set_rate(int64_t per_s) { opts_.rate_per_s = per_s; }
  void set_timeout_ms(int64_t ms) { opts_.timeout_ms = ms; }

  // Sends the hints that are due (appended to *sends: kPutReq with handoff set).
  void OnTick(int64_t now_ms, PeerHealth* health, std::vector<Message>* sends);
  // The primary's answer to a replayed hint (a kPutResp with handoff set).
  void OnResponse(int64_t now_ms, const Message& resp, PeerHealth* health);
  // A replayed hint could not be delivered.
  void OnSendFailed(int64_t now_ms, uint64_t op, PeerHealth* health);

  size_t inflight() const { return inflight_.size(); }
  // Whether nothing is in flight to target: the caller ticks again at once, so that replay
  // runs at the rate limit (or the target's speed) rather than one batch per cron tick.
  bool Idle(NodeId target) const;
  // Forgets what is in flight (shutdown; a crashed node in the simulator).
  void Reset();

 private:
  struct Skip {
    int64_t until_ms = 0;
    int64_t backoff_ms = 0;
  };
  struct Target {
    std::string cursor;        // the last hint key sent; "" = from the start
    int64_t retry_at_ms = 0;   // backing off until then
    int64_t backoff_ms = 0;
    int inflight = 0;
    // Refused hints, by hint key, until they are delivered (a hint deleted meanwhile by
    // someone else leaves a stale entry: refused hints are few, and Reset clears them).
    std::unordered_map<std::string, Skip> skip;
  };
  struct Inflight {
    NodeId target = 0;
    std::string hint_key;
    std::string user_key;
    std::string value;  // the hint value sent (EncodeHintValue)
    int64_t sent_ms = 0;
  };
  void Failed(int64_t now_ms, uint64_t op, bool unreachable, PeerHealth* health);
  size_t Tokens(int64_t now_ms);

  HandoffOptions opts_;
  kv::Keyspace* ks_;
  std::map<NodeId, Target> targets_;
  std::map<uint64_t, Inflight> inflight_;
  uint64_t next_op_ = 1;
  double tokens_ = 0;
  int64_t last_tick_ms_ = 0;
};

}  // namespace dynis::replication
