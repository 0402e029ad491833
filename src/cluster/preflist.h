// Preference lists: the one place that says which nodes hold a key's partition (Dynamo §4.3).
//
// The primaries of partition p are the first N distinct members walking the ring clockwise
// from p (its owner first). With a health judgement (`up`), the list is the primaries held up,
// then, for each primary held down, the next member beyond the primaries that is up: a
// fallback, standing in for that primary (it will keep the write with a hint naming it). Every
// list holds at most N entries, never a member twice. Pure: the same ring and judgement give
// the same list.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "cluster/ring.h"

namespace dynis::cluster {

struct PreflistEntry {
  NodeId node = 0;
  bool primary = true;
  NodeId stands_in_for = 0;  // a fallback: the primary held down it replaces (0 for primaries)
};

struct Preflist {
  std::vector<PreflistEntry> entries;  // primaries first, in ring order, then fallbacks
  std::vector<NodeId> Nodes() const;
  bool Contains(NodeId node) const;
  size_t size() const { return entries.size(); }
};

// The first min(n, members) distinct members clockwise from `partition` (its owner first). The
// walk stops after one turn, so with fewer partitions than members (Q < S) it holds min(n, Q)
// members: the others own nothing. Empty for an empty ring or n == 0.
std::vector<NodeId> Primaries(const Ring& ring, uint32_t partition, uint32_t n);

// The preference list of `partition`; without `up` every member counts as up (all primaries).
Preflist PreflistOf(const Ring& ring, uint32_t partition, uint32_t n,
                    const std::function<bool(NodeId)>& up = {});

}  // namespace dynis::cluster
