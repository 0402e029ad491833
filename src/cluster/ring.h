// The ring: Q equal partitions of the 64-bit xxh3 key space (Dynamo's strategy 3), claimed by
// the cluster's members. Pure and deterministic: the same members (in any order) and the same Q
// give the same ring on every node, so nodes that agree on membership agree on ownership.
//
// The claim (Claim below) guarantees:
//  - balance: every member owns floor(Q/S) or ceil(Q/S) partitions (S = number of members);
//  - spread: every window of n_val cyclically consecutive partitions holds n_val distinct
//    members whenever such an arrangement exists. It cannot exist when S < n_val, nor when
//    S == n_val and Q is not a multiple of S (then the sequence would have to be periodic with
//    period S); in those cases the claim keeps balance and has as few violating windows as it
//    can (WindowViolations reports them). With S < n_val, where a window can at best hold all S
//    members, the claim makes every window hold all S whenever that is possible.
// Preference lists (cluster/preflist.h) never depend on spread for correctness: they walk clockwise and skip
// members already taken, so they always hold min(n, S) distinct members.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dynis::cluster {

using NodeId = uint64_t;

// The owner of each partition, for members given in any order (duplicates ignored).
// partitions >= 1; an empty member list gives an empty vector.
std::vector<NodeId> Claim(uint32_t partitions, std::vector<NodeId> members, uint32_t n_val);

class Ring {
 public:
  Ring() = default;
  Ring(uint32_t partitions, std::vector<NodeId> members, uint32_t n_val);

  uint32_t partitions() const { return partitions_; }
  uint32_t n_val() const { return n_val_; }
  const std::vector<NodeId>& members() const { return members_; }  // sorted, unique
  bool empty() const { return owners_.empty(); }
  bool Contains(NodeId node) const;

  NodeId Owner(uint32_t partition) const { return owners_[partition]; }
  const std::vector<NodeId>& owners() const { return owners_; }

  // Partitions owned per member, in member order.
  std::vector<std::pair<NodeId, uint32_t>> OwnershipCounts() const;

  // Windows of n cyclically consecutive partitions that do not hold min(n, S) distinct members.
  // One window starts at each partition: window p is partitions p, p+1, ..., p+n-1 (mod Q) and
  // must hold min(n, S, Q) distinct members. Q matters only when Q < min(n, S): then a window
  // wraps the whole ring and only Q members own anything, so holding every owner is the best
  // any ring can do. 0 for n == 0 or an empty ring.
  uint32_t WindowViolations(uint32_t n) const;

 private:
  uint32_t partitions_ = 0;
  uint32_t n_val_ = 0;
  std::vector<NodeId> members_;
  std::vector<NodeId> owners_;
};

}  // namespace dynis::cluster
