#include "cluster/preflist.h"

#include <algorithm>

namespace dynis::cluster {

namespace {

// Distinct owners clockwise from `partition`, at most `want` of them, one turn at most.
std::vector<NodeId> Walk(const Ring& ring, uint32_t partition, size_t want) {
  std::vector<NodeId> out;
  out.reserve(want);
  const std::vector<NodeId>& owners = ring.owners();
  const uint32_t q_parts = static_cast<uint32_t>(owners.size());
  for (uint32_t i = 0; i < q_parts && out.size() < want; i++) {
    const NodeId owner = owners[(partition + static_cast<uint64_t>(i)) % q_parts];
    // `out` holds few ids, so a linear scan beats a set.
    if (std::find(out.begin(), out.end(), owner) == out.end()) out.push_back(owner);
  }
  return out;
}

}  // namespace

std::vector<NodeId> Preflist::Nodes() const {
  std::vector<NodeId> out;
  out.reserve(entries.size());
  for (const PreflistEntry& e : entries) out.push_back(e.node);
  return out;
}

bool Preflist::Contains(NodeId node) const {
  for (const PreflistEntry& e : entries) {
    if (e.node == node) return true;
  }
  return false;
}

std::vector<NodeId> Primaries(const Ring& ring, uint32_t partition, uint32_t n) {
  if (ring.empty()) return {};
  return Walk(ring, partition, std::min<size_t>(n, ring.members().size()));
}

Preflist PreflistOf(const Ring& ring, uint32_t partition, uint32_t n,
                    const std::function<bool(NodeId)>& up) {
  Preflist out;
  if (ring.empty() || n == 0) return out;
  // Without a judgement nobody is down: the walk stops at the primaries.
  const std::vector<NodeId> walk = Walk(ring, partition, up ? ring.members().size() : n);
  out.entries.reserve(std::min<size_t>(n, walk.size()));
  const size_t primaries = std::min<size_t>(n, walk.size());
  std::vector<NodeId> down;
  for (size_t i = 0; i < primaries; i++) {
    if (!up || up(walk[i])) {
      out.entries.push_back({walk[i], true, 0});
    } else {
      down.push_back(walk[i]);
    }
  }
  size_t next = 0;
  for (size_t i = primaries; i < walk.size() && next < down.size(); i++) {
    if (up(walk[i])) out.entries.push_back({walk[i], false, down[next++]});
  }
  return out;
}

}  // namespace dynis::cluster
