// Specification of cluster::Claim and cluster::Ring.
//
// Notation as in ring.cc: Q partitions, S members, n = n_val, q = Q / S, r = Q % S. A window is
// the n cyclically consecutive partitions starting at one partition; it is good when it holds
// min(n, S, Q) distinct owners. A claim is perfect when every window is good.
//
// Part 1 checks the claim against an exhaustive search over every balanced ring for small sizes:
// the claim is perfect exactly when some balanced ring is, and that is the closed-form condition
// below. Part 2 checks balance and spread against that condition over many more and realistic
// sizes. The rest pins down
// determinism, preference lists and the cluster's default (Q = 256, n = 3).
#include "cluster/ring.h"

#include "cluster/preflist.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace dynis::cluster {
namespace {

// Member ids far apart and unordered in index, so that a mix-up of ids and indices shows.
std::vector<NodeId> Members(uint32_t s) {
  std::vector<NodeId> out;
  for (uint32_t i = 0; i < s; i++) out.push_back(0x9e3779b97f4a7c15ULL * (i + 1) + 17);
  return out;
}

uint32_t Good(uint32_t q_parts, uint32_t s, uint32_t n) { return std::min({n, s, q_parts}); }

// Bad windows, straight from the definition (a set per window).
template <typename T>
uint32_t RefViolations(const std::vector<T>& owners, uint32_t s, uint32_t n) {
  const uint32_t q_parts = static_cast<uint32_t>(owners.size());
  uint32_t bad = 0;
  for (uint32_t p = 0; p < q_parts; p++) {
    std::set<T> seen;
    for (uint32_t i = 0; i < n; i++) seen.insert(owners[(p + i) % q_parts]);
    if (seen.size() < Good(q_parts, s, n)) bad++;
  }
  return bad;
}

std::vector<uint32_t> RoundRobin(uint32_t q_parts, uint32_t s) {
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < q_parts; p++) out.push_back(p % s);
  return out;
}

// The closed form of "a perfect balanced ring exists" (derived in ring.cc): windows longer than
// the ring are always good; with S >= n a member's ceil(Q/S) partitions must fit n apart; with
// S < n a member's floor(Q/S) partitions must be at most n apart.
bool PerfectExists(uint32_t q_parts, uint32_t s, uint32_t n) {
  if (q_parts < n) return true;
  const uint32_t q = q_parts / s;
  const uint32_t ceil_q = q + (q_parts % s != 0 ? 1 : 0);
  if (s >= n) return ceil_q * n <= q_parts;
  return q >= 1 && q_parts <= q * n;
}

// ---- the exhaustive search ------------------------------------------------------------------

// Finds the fewest bad windows over all balanced rings of Q partitions and S <= 32 members, or
// reports `cap` when none has fewer than `cap`. Branch and bound over partitions in order,
// counting the windows that no longer wrap as soon as they are complete. Two symmetries cut the
// search without losing any ring up to rotation and renaming, neither of which changes the
// count: the ring starts with a member that owns ceil(Q/S), and members of each count class are
// first used in index order (members 0..r-1 own q + 1, r..S-1 own q).
class Oracle {
 public:
  Oracle(uint32_t q_parts, uint32_t s, uint32_t n)
      : q_parts_(q_parts), s_(s), n_(n), good_(Good(q_parts, s, n)), seq_(q_parts) {
    const uint32_t q = q_parts / s;
    r_ = q_parts % s;
    for (uint32_t x = 0; x < s; x++) left_.push_back(x < r_ ? q + 1 : q);
  }

  uint32_t Min(uint32_t cap) {
    best_ = cap;
    next_heavy_ = 0;
    next_light_ = r_;
    Place(0, 0);
    return best_;
  }

 private:
  bool WindowGood(uint32_t start) const {
    uint32_t mask = 0;
    for (uint32_t i = 0; i < n_; i++) mask |= 1u << seq_[(start + i) % q_parts_];
    return static_cast<uint32_t>(__builtin_popcount(mask)) >= good_;
  }

  void Place(uint32_t pos, uint32_t bad) {
    if (bad >= best_) return;
    if (pos == q_parts_) {
      // The windows that wrap past the last partition (all of them when n > Q).
      const uint32_t first_wrapping = n_ <= q_parts_ ? q_parts_ - n_ + 1 : 0;
      for (uint32_t p = first_wrapping; p < q_parts_; p++) {
        if (!WindowGood(p)) bad++;
      }
      best_ = std::min(best_, bad);
      return;
    }
    for (uint32_t x = 0; x < s_; x++) {
      if (left_[x] == 0) continue;
      const bool heavy = x < r_;
      if (pos == 0 && r_ > 0 && !heavy) continue;
      const uint32_t next = heavy ? next_heavy_ : next_light_;
      if (x > next) continue;  // unused members are taken in index order
      const bool fresh = x == next;
      if (fresh) (heavy ? next_heavy_ : next_light_)++;
      left_[x]--;
      seq_[pos] = x;
      uint32_t now_bad = bad;
      if (n_ <= q_parts_ && pos + 1 >= n_ && !WindowGood(pos + 1 - n_)) now_bad++;
      Place(pos + 1, now_bad);
      left_[x]++;
      if (fresh) (heavy ? next_heavy_ : next_light_)--;
    }
  }

  uint32_t q_parts_, s_, n_, good_, r_ = 0;
  std::vector<uint32_t> seq_, left_;
  uint32_t next_heavy_ = 0, next_light_ = 0, best_ = 0;
};

void RequireBalanced(const Ring& ring) {
  const uint32_t q_parts = ring.partitions();
  const uint32_t s = static_cast<uint32_t>(ring.members().size());
  for (const auto& [node, owned] : ring.OwnershipCounts()) {
    INFO("node " << node << " owns " << owned);
    REQUIRE(owned >= q_parts / s);
    REQUIRE(owned <= (q_parts + s - 1) / s);
  }
}

// ---- part 1: exhaustive search ----------------------------------------------------------------

TEST_CASE("claim is perfect exactly when some balanced ring is (exhaustive, Q<=28 S<=8 n<=5)",
          "[ring]") {
  for (uint32_t q_parts = 1; q_parts <= 28; q_parts++) {
    for (uint32_t s = 1; s <= 8; s++) {
      for (uint32_t n = 1; n <= 5; n++) {
        INFO("Q=" << q_parts << " S=" << s << " n=" << n);
        const bool exists = Oracle(q_parts, s, n).Min(1) == 0;
        REQUIRE(PerfectExists(q_parts, s, n) == exists);

        const Ring ring(q_parts, Members(s), n);
        RequireBalanced(ring);
        const uint32_t bad = RefViolations(ring.owners(), s, n);
        REQUIRE(ring.WindowViolations(n) == bad);
        REQUIRE((bad == 0) == exists);
        // When no ring is perfect the claim is never worse than round-robin.
        REQUIRE(bad <= RefViolations(RoundRobin(q_parts, s), s, n));
      }
    }
  }
}

TEST_CASE("S == n with Q % S != 0: n - 1 bad windows, and no balanced ring has fewer", "[ring]") {
  for (uint32_t n = 2; n <= 4; n++) {
    for (uint32_t q_parts = n + 1; q_parts <= 30; q_parts++) {
      if (q_parts % n == 0) continue;
      INFO("Q=" << q_parts << " S=n=" << n);
      const Ring ring(q_parts, Members(n), n);
      REQUIRE(ring.WindowViolations(n) == n - 1);
      REQUIRE(Oracle(q_parts, n, n).Min(n - 1) == n - 1);
    }
  }
}

// ---- part 2: realistic sizes ------------------------------------------------------------------

TEST_CASE("balance and spread over realistic sizes", "[ring]") {
  for (uint32_t q_parts : {8u, 16u, 64u, 100u, 256u, 1000u, 1024u}) {
    for (uint32_t s = 1; s <= 20; s++) {
      for (uint32_t n = 1; n <= 5; n++) {
        INFO("Q=" << q_parts << " S=" << s << " n=" << n);
        const Ring ring(q_parts, Members(s), n);
        REQUIRE(ring.owners().size() == q_parts);
        RequireBalanced(ring);
        const uint32_t bad = ring.WindowViolations(n);
        if (q_parts <= 256) REQUIRE(bad == RefViolations(ring.owners(), s, n));
        REQUIRE((bad == 0) == PerfectExists(q_parts, s, n));
        // The cases round-robin already handles stay perfect.
        if (s >= n && (q_parts % s == 0 || q_parts % s >= n)) REQUIRE(bad == 0);
        // With more members than n a perfect ring exists once Q >= n * n, whatever Q % S is.
        if (s > n && q_parts >= n * n) REQUIRE(bad == 0);
        if (s == n && q_parts % s != 0) REQUIRE(bad == n - 1);
      }
    }
  }
}

TEST_CASE("perfect exactly when the closed form says so, Q<=200 S<=16 n<=7", "[ring]") {
  for (uint32_t q_parts = 1; q_parts <= 200; q_parts++) {
    for (uint32_t s = 1; s <= 16; s++) {
      for (uint32_t n = 1; n <= 7; n++) {
        INFO("Q=" << q_parts << " S=" << s << " n=" << n);
        const Ring ring(q_parts, Members(s), n);
        REQUIRE((ring.WindowViolations(n) == 0) == PerfectExists(q_parts, s, n));
      }
    }
  }
}

TEST_CASE("fewer members than n: every window holds all members when a member's partitions fit",
          "[ring]") {
  // 3 members, n = 4, Q = 3 * 5 + 2: the lights own 5 partitions, so at most 4 apart needs
  // Q <= 20. Round-robin puts both extra partitions at the wrap and leaves a 5-gap there.
  const Ring ring(17, Members(3), 4);
  REQUIRE(RefViolations(RoundRobin(17, 3), 3, 4) > 0);
  REQUIRE(ring.WindowViolations(4) == 0);
  RequireBalanced(ring);
  // With Q = 5 the light owns one partition, and the window of 4 that skips it is bad.
  REQUIRE(Ring(5, Members(3), 4).WindowViolations(4) == 1);
}

TEST_CASE("the cases round-robin cannot do: S > n and 0 < Q % S < n", "[ring]") {
  // Round-robin puts a member at both ends of the wrap, Q % S apart: too close.
  const Ring ring(22, Members(10), 3);  // 22 % 10 == 2
  REQUIRE(RefViolations(RoundRobin(22, 10), 10, 3) > 0);
  REQUIRE(ring.WindowViolations(3) == 0);
  RequireBalanced(ring);

  // A tight one: members owning 3 of 21 partitions must be exactly 7 apart.
  const Ring tight(21, Members(10), 7);
  REQUIRE(tight.WindowViolations(7) == 0);
  RequireBalanced(tight);
}

TEST_CASE("large rings (Q = 65536, n = 7) are balanced and perfect", "[ring]") {
  for (uint32_t s : {8u, 64u, 100u}) {
    INFO("S=" << s);
    const Ring ring(65536, Members(s), 7);
    RequireBalanced(ring);
    REQUIRE(ring.WindowViolations(7) == 0);
  }
}

// ---- determinism ------------------------------------------------------------------------------

TEST_CASE("the claim depends only on the set of members", "[ring]") {
  std::mt19937 rng(7);
  for (uint32_t s : {1u, 2u, 3u, 5u, 8u, 13u}) {
    for (uint32_t q_parts : {5u, 64u, 256u}) {
      INFO("Q=" << q_parts << " S=" << s);
      const std::vector<NodeId> sorted = Members(s);
      std::vector<NodeId> canonical = sorted;
      std::sort(canonical.begin(), canonical.end());
      const std::vector<NodeId> expected = Claim(q_parts, canonical, 3);
      for (int trial = 0; trial < 10; trial++) {
        std::vector<NodeId> shuffled = sorted;
        // Duplicates of some members, then any order.
        for (uint32_t i = 0; i < s; i += 2) shuffled.push_back(sorted[i]);
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        REQUIRE(Claim(q_parts, shuffled, 3) == expected);
        const Ring ring(q_parts, shuffled, 3);
        REQUIRE(ring.owners() == expected);
        REQUIRE(ring.members() == canonical);
      }
    }
  }
}

TEST_CASE("every partition is owned by a member, and every member owns one when Q >= S", "[ring]") {
  const Ring ring(10, {5, 1, 9}, 2);
  for (uint32_t p = 0; p < ring.partitions(); p++) REQUIRE(ring.Contains(ring.Owner(p)));
  const auto counts = ring.OwnershipCounts();
  REQUIRE(counts.size() == 3);
  REQUIRE(counts[0] == std::make_pair(NodeId{1}, 4u));  // r = 1: the first member owns one more
  REQUIRE(counts[1] == std::make_pair(NodeId{5}, 3u));
  REQUIRE(counts[2] == std::make_pair(NodeId{9}, 3u));
}

TEST_CASE("fewer partitions than members: each member owns at most one", "[ring]") {
  const Ring ring(3, {40, 10, 30, 20, 50}, 3);
  REQUIRE(ring.owners().size() == 3);
  const auto counts = ring.OwnershipCounts();
  REQUIRE(counts.size() == 5);  // every member is listed, owners or not
  uint32_t owners = 0;
  for (const auto& [node, owned] : counts) {
    REQUIRE(owned <= 1);
    owners += owned;
  }
  REQUIRE(owners == 3);
  REQUIRE(std::set<NodeId>(ring.owners().begin(), ring.owners().end()).size() == 3);
  REQUIRE(ring.WindowViolations(3) == 0);
  // A window longer than the ring holds every owner, which is all it can hold.
  REQUIRE(ring.WindowViolations(7) == 0);
  REQUIRE(Primaries(ring, 1, 3).size() == 3);
  REQUIRE(Primaries(ring, 1, 5).size() == 3);  // only 3 members own anything
}

// ---- preference lists -------------------------------------------------------------------------

std::vector<NodeId> WalkClockwise(const Ring& ring, uint32_t p, uint32_t n) {
  std::vector<NodeId> out;
  const uint32_t q_parts = ring.partitions();
  for (uint32_t i = 0; i < q_parts && out.size() < n; i++) {
    const NodeId owner = ring.Owner((p + i) % q_parts);
    if (std::find(out.begin(), out.end(), owner) == out.end()) out.push_back(owner);
  }
  return out;
}

TEST_CASE("preference lists walk clockwise and skip members already taken", "[ring]") {
  for (uint32_t q_parts : {1u, 7u, 16u, 64u, 100u}) {
    for (uint32_t s = 1; s <= 9; s++) {
      for (uint32_t n = 0; n <= 5; n++) {
        INFO("Q=" << q_parts << " S=" << s << " n=" << n);
        const Ring ring(q_parts, Members(s), n);
        const bool perfect = ring.WindowViolations(n) == 0;
        const size_t expected_size = std::min({n, s, q_parts});
        for (uint32_t p = 0; p < q_parts; p++) {
          const std::vector<NodeId> list = Primaries(ring, p, n);
          REQUIRE(list.size() == expected_size);
          REQUIRE(std::set<NodeId>(list.begin(), list.end()).size() == list.size());
          if (!list.empty()) REQUIRE(list[0] == ring.Owner(p));
          REQUIRE(list == WalkClockwise(ring, p, n));
          // A perfect ring needs no skipping when n <= S: the list is the window itself.
          if (perfect && n <= s && n <= q_parts) {
            for (uint32_t i = 0; i < n; i++) REQUIRE(list[i] == ring.Owner((p + i) % q_parts));
          }
        }
      }
    }
  }
}

TEST_CASE("an empty ring owns nothing", "[ring]") {
  for (const Ring& ring : {Ring(), Ring(256, {}, 3)}) {
    REQUIRE(ring.empty());
    REQUIRE(ring.owners().empty());
    REQUIRE(Primaries(ring, 0, 3).empty());
    REQUIRE(ring.OwnershipCounts().empty());
    REQUIRE(ring.WindowViolations(3) == 0);
    REQUIRE_FALSE(ring.Contains(0));
  }
  REQUIRE(Claim(256, {}, 3).empty());
}

TEST_CASE("Contains answers for members only", "[ring]") {
  const Ring ring(16, {30, 10, 20, 10}, 3);
  REQUIRE(ring.members() == std::vector<NodeId>{10, 20, 30});
  REQUIRE(ring.Contains(10));
  REQUIRE(ring.Contains(20));
  REQUIRE(ring.Contains(30));
  REQUIRE_FALSE(ring.Contains(15));
  REQUIRE_FALSE(ring.Contains(0));
  REQUIRE(ring.partitions() == 16);
  REQUIRE(ring.n_val() == 3);
}

// ---- the default: Q = 256, n = 3 ----------------------------------------------------------------

TEST_CASE("default Q=256 n=3 with 4 or 5 members: every window holds 3 distinct members",
          "[ring]") {
  for (uint32_t s : {4u, 5u}) {
    INFO("S=" << s);
    const Ring ring(256, Members(s), 3);
    RequireBalanced(ring);
    REQUIRE(ring.WindowViolations(3) == 0);
    for (uint32_t p = 0; p < 256; p++) {
      for (uint32_t i = 0; i < 3; i++) REQUIRE(Primaries(ring, p, 3)[i] == ring.Owner((p + i) % 256));
    }
  }
}

TEST_CASE(
    "default Q=256 n=3 with 3 members cannot be perfect (256 % 3 != 0): 2 bad windows, at the "
    "wrap, and preference lists still hold 3 members",
    "[ring]") {
  const Ring ring(256, Members(3), 3);
  RequireBalanced(ring);
  REQUIRE(ring.WindowViolations(3) == 2);  // n - 1, the fewest possible (see above)
  // The bad windows are the two that contain the last partition and the first.
  for (uint32_t p = 0; p < 256; p++) {
    const std::set<NodeId> window{ring.Owner(p), ring.Owner((p + 1) % 256),
                                  ring.Owner((p + 2) % 256)};
    INFO("p=" << p);
    REQUIRE((window.size() < 3) == (p == 254 || p == 255));
    REQUIRE(Primaries(ring, p, 3).size() == 3);
  }
}

}  // namespace
}  // namespace dynis::cluster
