// Quorum decisions: see quorum.h.
#include "replication/quorum.h"

#include <algorithm>

namespace dynis::replication {

int QuorumRequired(int n, int wanted) {
  if (n <= 0) return 0;
  return std::clamp(wanted, 1, n);
}

QuorumState DecideQuorum(int n, int required, int successes, int failures) {
  if (n <= 0 || required <= 0) return QuorumState::kImpossible;
  if (successes >= required) return QuorumState::kReached;
  // The best case: every member that has not failed yet ends up succeeding.
  if (n - failures < required) return QuorumState::kImpossible;
  return QuorumState::kWait;
}

QuorumState DecideTally(const QuorumTally& t) {
  const QuorumState all = DecideQuorum(t.replicas, t.required, t.successes, t.failures);
  if (t.primary_required <= 0) return all;
  const QuorumState primaries =
      DecideQuorum(t.primaries, t.primary_required, t.primary_successes, t.primary_failures);
  if (all == QuorumState::kImpossible || primaries == QuorumState::kImpossible) {
    return QuorumState::kImpossible;
  }
  if (all == QuorumState::kReached && primaries == QuorumState::kReached) {
    return QuorumState::kReached;
  }
  return QuorumState::kWait;
}

std::vector<NodeId> RepairTargets(NodeId self, const std::vector<MemberAnswer>& answers,
                                  const std::optional<std::string>& merged) {
  std::vector<NodeId> out;
  if (!merged.has_value()) return out;
  for (const MemberAnswer& a : answers) {
    // Fallbacks are not repaired (Riak's rule): what they hold is a hint for a primary, and a
    // repair would turn every read of an old key into a new hint, filling hints-max-bytes
    // with data the primary already has.
    if (a.node == self || !a.primary) continue;
    // Identical bytes mean an identical set; anything else (older, absent, unknown) gets the
    // merge. A replica's record can never be newer than the merge, which includes it.
    if (a.kind == MemberAnswer::Kind::kRecord && a.record == *merged) continue;
    if (std::find(out.begin(), out.end(), a.node) != out.end()) continue;
    out.push_back(a.node);
  }
  return out;
}

}  // namespace dynis::replication
