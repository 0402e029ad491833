// The ring and its claim: see ring.h for the contract.
//
// Notation: Q partitions, S members (sorted, unique, indexed 0..S-1), n = n_val, q = Q / S and
// r = Q % S. A balanced claim gives r members ("heavy") q + 1 partitions and the other S - r
// ("light") q partitions. A window of n cyclically consecutive partitions is good when it holds
// k = min(n, S, Q) distinct owners (see WindowViolations for why Q enters).
//
// When a perfect claim exists (every window good), one of two constructions finds it:
//
//  - S >= n: windows must hold n distinct owners, i.e. two partitions of one member are at least
//    n apart (cyclically). Necessary: a heavy member's q + 1 partitions need (q + 1) * n <= Q.
//    Sufficient, by rounds: lay out R = q + 1 rounds (q if r == 0, plain round-robin); each round
//    lists the heavies in order, then the lights it holds in order. Every light skips exactly one
//    round: the lights are cut into R consecutive blocks, round j skipping block j, and the blocks
//    are taken in DECREASING light order (round 0 skips the last lights, round R-1 the first).
//    Round j has length L_j = S - m_j (m_j = its block's size), with the blocks as even as
//    possible so max m_j = ceil((S - r) / R), and L_j >= n is exactly (q + 1) * n <= Q. Then:
//    a heavy's distance to its next copy is L_j >= n; a light skipping round j + 1 is more than
//    L_{j+1} >= n from its next copy; a light in rounds j and j + 1 is S - (skipped lights of
//    round j after it) - (skipped lights of round j + 1 before it) away. Because block j + 1 lies
//    right below block j, at most one of those terms is non-zero, so the distance is at least
//    S - max(m_j, m_{j+1}) >= n; for the wrap (last round -> round 0) block R-1 is below every
//    light that both rounds hold and block 0 above it, so both terms are zero. (Taking the blocks
//    in increasing order instead breaks exactly at the wrap: both terms count there.)
//  - S < n: windows of n must hold all S members, i.e. two consecutive partitions of one member
//    are at most n apart. Necessary: a light's q partitions need Q <= q * n. Sufficient: take
//    round-robin over q * S slots (member gaps S) and insert the r heavies' extra partitions
//    evenly (insertion i after slot floor(i * q * S / r)). Evenly spaced insertions form a
//    balanced word, so S consecutive slots get at most ceil(r / q) <= n - S of them, and every
//    gap grows to at most n.
//
// So a perfect claim exists iff Q < n (every window covers the whole ring), or S >= n and
// ceil(Q / S) * n <= Q, or S < n and Q <= q * n with q >= 1 (r == 0 included). The unit test
// checks this against an exhaustive search over small sizes. Otherwise the claim takes plain
// round-robin, whose bad windows are all at the wrap, unless the construction has fewer. For
// Q >= n * n the only such case is S == n with r != 0, where round-robin has n - 1 bad windows,
// the fewest possible (the exhaustive search confirms it for small sizes). Below that (S != n,
// tiny rings) the choice is not always the minimum: Q = 11, S = 5, n = 4 has 2 bad windows where
// a search finds a ring with 1.
#include "cluster/ring.h"

#include <algorithm>

namespace dynis::cluster {

namespace {

// Member indices into the sorted member list, one per partition.
using Layout = std::vector<uint32_t>;

Layout RoundRobin(uint32_t q_parts, uint32_t s) {
  Layout out(q_parts);
  for (uint32_t p = 0; p < q_parts; p++) out[p] = p % s;
  return out;
}

// Rounds of distinct members with the lights' skipped blocks in decreasing order (see the top of
// the file). Also covers Q < S: a single round of the first Q members.
Layout Rounds(uint32_t q_parts, uint32_t s) {
  const uint32_t q = q_parts / s;
  const uint32_t r = q_parts % s;
  if (r == 0) return RoundRobin(q_parts, s);
  const uint32_t rounds = q + 1;
  const uint32_t lights = s - r;
  Layout out;
  out.reserve(q_parts);
  uint32_t hi = lights;  // round j skips lights [hi - m_j, hi)
  for (uint32_t j = 0; j < rounds; j++) {
    const uint32_t skip = lights / rounds + (j < lights % rounds ? 1 : 0);
    const uint32_t lo = hi - skip;
    for (uint32_t h = 0; h < r; h++) out.push_back(h);
    for (uint32_t l = 0; l < lights; l++) {
      if (l < lo || l >= hi) out.push_back(r + l);
    }
    hi = lo;
  }
  return out;
}

// Round-robin over q * S slots with the heavies' extra partitions spread evenly (S < n).
Layout SpreadExtras(uint32_t q_parts, uint32_t s) {
  const uint32_t q = q_parts / s;
  const uint32_t r = q_parts % s;
  if (q == 0 || r == 0) return RoundRobin(q_parts, s);
  const uint64_t slots = static_cast<uint64_t>(q) * s;
  Layout out;
  out.reserve(q_parts);
  uint32_t next = 0;  // the next heavy to insert
  for (uint64_t b = 0; b < slots; b++) {
    out.push_back(static_cast<uint32_t>(b % s));
    // Insertion `next` goes after slot floor(next * slots / r); slots > r, so at most one per slot.
    if (next < r && static_cast<uint64_t>(next) * slots / r == b) out.push_back(next++);
  }
  return out;
}

uint32_t Target(uint32_t q_parts, uint32_t s, uint32_t n) { return std::min({n, s, q_parts}); }

// Windows of n cyclically consecutive partitions holding fewer than min(n, S, Q) distinct
// members; a sliding window of per-member counts, O(Q + S).
uint32_t CountViolations(const Layout& layout, uint32_t s, uint32_t n) {
  const uint32_t q_parts = static_cast<uint32_t>(layout.size());
  if (q_parts == 0 || n == 0) return 0;
  const uint32_t target = Target(q_parts, s, n);
  // A window longer than the ring holds what the whole ring holds.
  const uint32_t len = std::min(n, q_parts);
  std::vector<uint32_t> count(s, 0);
  uint32_t distinct = 0;
  for (uint32_t i = 0; i < len; i++) {
    if (count[layout[i]]++ == 0) distinct++;
  }
  uint32_t violations = 0;
  for (uint32_t p = 0; p < q_parts; p++) {
    if (distinct < target) violations++;
    // Slide: drop partition p, add partition p + len.
    if (--count[layout[p]] == 0) distinct--;
    if (count[layout[(p + static_cast<uint64_t>(len)) % q_parts]]++ == 0) distinct++;
  }
  return violations;
}

bool PerfectExists(uint32_t q_parts, uint32_t s, uint32_t n) {
  if (q_parts < n) return true;
  const uint64_t q = q_parts / s;
  const uint64_t r = q_parts % s;
  if (s >= n) return (q + (r != 0 ? 1 : 0)) * n <= q_parts;
  return q >= 1 && q_parts <= q * n;
}

}  // namespace

std::vector<NodeId> Claim(uint32_t partitions, std::vector<NodeId> members, uint32_t n_val) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members.empty() || partitions == 0) return {};
  const uint32_t s = static_cast<uint32_t>(members.size());
  const uint32_t n = std::max<uint32_t>(n_val, 1);  // n_val 0 asks for no spread, like 1

  Layout layout = s >= n ? Rounds(partitions, s) : SpreadExtras(partitions, s);
  if (!PerfectExists(partitions, s, n)) {
    // Round-robin keeps its bad windows at the wrap; the construction must do strictly better.
    Layout rr = RoundRobin(partitions, s);
    if (CountViolations(rr, s, n) <= CountViolations(layout, s, n)) layout = std::move(rr);
  }

  std::vector<NodeId> owners(partitions);
  for (uint32_t p = 0; p < partitions; p++) owners[p] = members[layout[p]];
  return owners;
}

Ring::Ring(uint32_t partitions, std::vector<NodeId> members, uint32_t n_val)
    : partitions_(partitions), n_val_(n_val) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  owners_ = Claim(partitions, members, n_val);
  members_ = std::move(members);
}

bool Ring::Contains(NodeId node) const {
  return std::binary_search(members_.begin(), members_.end(), node);
}

// Stops after one full turn: with Q < S only Q members own a partition, so the list can be
// shorter than min(n, S) (it is min(n, S, Q) for a claimed ring).
std::vector<std::pair<NodeId, uint32_t>> Ring::OwnershipCounts() const {
  std::vector<std::pair<NodeId, uint32_t>> out;
  out.reserve(members_.size());
  for (NodeId m : members_) out.emplace_back(m, 0);
  for (NodeId owner : owners_) {
    auto it = std::lower_bound(
        out.begin(), out.end(), owner,
        [](const std::pair<NodeId, uint32_t>& e, NodeId id) { return e.first < id; });
    it->second++;
  }
  return out;
}

uint32_t Ring::WindowViolations(uint32_t n) const {
  Layout layout(owners_.size());
  for (size_t p = 0; p < owners_.size(); p++) {
    layout[p] = static_cast<uint32_t>(
        std::lower_bound(members_.begin(), members_.end(), owners_[p]) - members_.begin());
  }
  return CountViolations(layout, static_cast<uint32_t>(members_.size()), n);
}

}  // namespace dynis::cluster
