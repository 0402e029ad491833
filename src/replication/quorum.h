// The pure quorum decisions of the replication engine, kept apart from its state machines so
// they can be specified by a table: when an operation has enough answers, when it can no longer
// get them, and whom read repair must send the merged record to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dynis::replication {

using NodeId = uint64_t;  // the same alias as engine.h

enum class QuorumState : uint8_t {
  kWait,        // neither reached nor impossible yet: more answers are pending
  kReached,     // successes >= required
  kImpossible,  // even if every pending member succeeded, required would not be met
};

// The count an operation needs out of n members: `wanted` (R or W) capped at n, and at least 1
// so that a zero or negative R/W cannot complete an operation nobody answered. 0 when n <= 0.
int QuorumRequired(int n, int wanted);

// The decision after `successes` and `failures` answers out of n members (each member answers
// at most once; callers guarantee successes + failures <= n). An empty member list can never
// reach a quorum.
QuorumState DecideQuorum(int n, int required, int successes, int failures);

// An operation's counts under sloppy quorum: all answers (R/W, fallbacks included) and those of
// primaries (PR/PW). Reached when both are; impossible when either is; with primary_required 0
// only the first counts.
struct QuorumTally {
  int replicas = 0;
  int required = 0;
  int successes = 0;
  int failures = 0;
  int primaries = 0;
  int primary_required = 0;
  int primary_successes = 0;
  int primary_failures = 0;
};
QuorumState DecideTally(const QuorumTally& t);

// One member's answer to a get, as read repair sees it.
struct MemberAnswer {
  enum class Kind : uint8_t {
    kNone,    // no answer (yet): lost, slow, partitioned or crashed
    kRecord,  // answered with `record`
    kAbsent,  // answered: it holds no record for the key
    kFailed,  // answered with an error, sent a record that does not decode, or unreachable
  };
  NodeId node = 0;
  Kind kind = Kind::kNone;
  std::string record;  // kRecord: its encoded record (canonical: DVVSet::Decode accepts only
                       // canonical bytes, so equal sets have equal encodings)
  bool primary = true;  // false: a fallback standing in for hint_for
  NodeId hint_for = 0;
};

// The members read repair sends `merged` to: every primary that answered with a record other
// than `merged`, answered absent, failed or did not answer (fallbacks never: they keep hints). Nobody when nothing was found
// (there is nothing to send), and never `self` (the coordinator updates its own copy through
// kStoreLocal). Members come out in the order of `answers`.
std::vector<NodeId> RepairTargets(NodeId self, const std::vector<MemberAnswer>& answers,
                                  const std::optional<std::string>& merged);

}  // namespace dynis::replication
