// Specification of preference lists (cluster/preflist.h): the primaries of a partition, and the
// list with some primaries held down (up primaries first, then one fallback per down primary,
// in ring order). Hand-made cases first, then an oracle built independently from the ring's
// owners over random member sets and random health judgements.
#include "cluster/preflist.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "cluster/ring.h"

namespace dynis::cluster {
namespace {

std::vector<NodeId> Ids(uint32_t s) {
  std::vector<NodeId> out;
  for (uint32_t i = 1; i <= s; i++) out.push_back(i * 10);
  return out;
}

std::function<bool(NodeId)> UpExcept(std::set<NodeId> down) {
  return [down](NodeId node) { return down.count(node) == 0; };
}

// Oracle: every member that owns something, ordered by how far clockwise from `partition` its
// first partition lies (the owner of `partition` at distance 0).
std::vector<NodeId> ClockwiseMembers(const Ring& ring, uint32_t partition) {
  const std::vector<NodeId>& owners = ring.owners();
  const size_t q = owners.size();
  std::map<NodeId, size_t> first;  // member -> distance of its first partition
  for (size_t p = 0; p < q; p++) {
    const size_t distance = (p + q - partition) % q;
    auto it = first.find(owners[p]);
    if (it == first.end() || distance < it->second) first[owners[p]] = distance;
  }
  std::vector<std::pair<size_t, NodeId>> by_distance;
  for (const auto& [node, distance] : first) by_distance.emplace_back(distance, node);
  std::sort(by_distance.begin(), by_distance.end());
  std::vector<NodeId> out;
  for (const auto& [distance, node] : by_distance) out.push_back(node);
  return out;
}

// Oracle: the expected list. Primaries are the first n of the clockwise order; the up ones stay
// in order; the k-th fallback is the k-th up non-primary in clockwise order and stands in for
// the k-th down primary.
std::vector<PreflistEntry> Expected(const Ring& ring, uint32_t partition, uint32_t n,
                                    const std::set<NodeId>& down) {
  if (ring.empty()) return {};
  const std::vector<NodeId> order = ClockwiseMembers(ring, partition);
  const size_t primaries = std::min<size_t>(n, order.size());
  std::vector<PreflistEntry> out;
  std::vector<NodeId> down_primaries;
  for (size_t i = 0; i < primaries; i++) {
    if (down.count(order[i])) {
      down_primaries.push_back(order[i]);
    } else {
      out.push_back({order[i], true, 0});
    }
  }
  std::vector<NodeId> spare;
  for (size_t i = primaries; i < order.size(); i++) {
    if (!down.count(order[i])) spare.push_back(order[i]);
  }
  for (size_t k = 0; k < down_primaries.size() && k < spare.size(); k++) {
    out.push_back({spare[k], false, down_primaries[k]});
  }
  return out;
}

void CheckSame(const Preflist& got, const std::vector<PreflistEntry>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); i++) {
    INFO("entry " << i);
    CHECK(got.entries[i].node == want[i].node);
    CHECK(got.entries[i].primary == want[i].primary);
    CHECK(got.entries[i].stands_in_for == want[i].stands_in_for);
  }
}

TEST_CASE("without a health judgement every entry is a primary and the list is Primaries()",
          "[preflist]") {
  const Ring ring(64, Ids(5), 3);
  for (uint32_t p = 0; p < ring.partitions(); p++) {
    INFO("partition " << p);
    const Preflist list = PreflistOf(ring, p, 3);
    REQUIRE(list.size() == 3);
    for (const PreflistEntry& e : list.entries) {
      CHECK(e.primary);
      CHECK(e.stands_in_for == 0);
    }
    CHECK(list.Nodes() == Primaries(ring, p, 3));
    CHECK(list.Nodes().front() == ring.Owner(p));  // the owner first
    for (NodeId node : list.Nodes()) CHECK(list.Contains(node));
  }
}

TEST_CASE("a primary held down is replaced by the next up member beyond the primaries",
          "[preflist]") {
  const Ring ring(64, Ids(5), 3);
  const uint32_t p = 7;
  const std::vector<NodeId> order = ClockwiseMembers(ring, p);
  REQUIRE(order.size() == 5);
  REQUIRE(Primaries(ring, p, 3) == std::vector<NodeId>(order.begin(), order.begin() + 3));

  SECTION("one primary down: the up primaries, then the first spare standing in for it") {
    const Preflist list = PreflistOf(ring, p, 3, UpExcept({order[1]}));
    CHECK(list.Nodes() == std::vector<NodeId>{order[0], order[2], order[3]});
    CHECK(list.entries[2].primary == false);
    CHECK(list.entries[2].stands_in_for == order[1]);
    CHECK_FALSE(list.Contains(order[1]));
    CHECK(list.Contains(order[3]));
  }
  SECTION("two primaries down and the first spare down too: the next spare stands in") {
    const Preflist list = PreflistOf(ring, p, 3, UpExcept({order[0], order[2], order[3]}));
    CHECK(list.Nodes() == std::vector<NodeId>{order[1], order[4]});
    CHECK(list.entries[1].stands_in_for == order[0]);  // the first down primary first
  }
  SECTION("all down: empty") {
    CHECK(PreflistOf(ring, p, 3, [](NodeId) { return false; }).size() == 0);
  }
  SECTION("all up by judgement: the same as without one") {
    CHECK(PreflistOf(ring, p, 3, [](NodeId) { return true; }).Nodes() == Primaries(ring, p, 3));
  }
}

TEST_CASE("fewer members than N gives every member once", "[preflist]") {
  const Ring ring(16, Ids(2), 3);
  for (uint32_t p = 0; p < ring.partitions(); p++) {
    const std::vector<NodeId> primaries = Primaries(ring, p, 3);
    CHECK(primaries.size() == 2);
    CHECK(std::set<NodeId>(primaries.begin(), primaries.end()).size() == 2);
    CHECK(PreflistOf(ring, p, 3).Nodes() == primaries);
    // No spare to stand in for a down primary.
    CHECK(PreflistOf(ring, p, 3, UpExcept({primaries[0]})).Nodes() ==
          std::vector<NodeId>{primaries[1]});
  }
}

TEST_CASE("an empty ring or N=0 gives an empty list", "[preflist]") {
  const Ring empty;
  CHECK(Primaries(empty, 0, 3).empty());
  CHECK(PreflistOf(empty, 0, 3).size() == 0);
  CHECK(PreflistOf(empty, 0, 3, [](NodeId) { return true; }).size() == 0);
  const Ring ring(16, Ids(4), 3);
  CHECK(Primaries(ring, 3, 0).empty());
  CHECK(PreflistOf(ring, 3, 0).size() == 0);
  CHECK(PreflistOf(ring, 3, 0, UpExcept({10})).size() == 0);
  CHECK_FALSE(PreflistOf(ring, 3, 0).Contains(10));
}

TEST_CASE("preference lists match an oracle over random rings and health judgements",
          "[preflist]") {
  std::mt19937 rng(20240611);
  const std::vector<uint32_t> partitions = {1, 2, 3, 8, 16, 64};
  for (int round = 0; round < 400; round++) {
    const uint32_t q = partitions[rng() % partitions.size()];
    const uint32_t n = rng() % 6;  // 0..5
    std::vector<NodeId> members;
    for (NodeId id = 1; id <= 9; id++) {
      if (rng() % 2) members.push_back(id * 7 + 3);
    }
    const Ring ring(q, members, std::max<uint32_t>(n, 1));
    std::set<NodeId> down;
    for (NodeId m : members) {
      if (rng() % 3 == 0) down.insert(m);
    }
    const uint32_t p = rng() % q;
    INFO("round " << round << " Q=" << q << " n=" << n << " members=" << members.size()
                  << " down=" << down.size() << " partition=" << p);

    const std::vector<PreflistEntry> all_up = Expected(ring, p, n, {});
    const Preflist plain = PreflistOf(ring, p, n);
    CheckSame(plain, all_up);
    CHECK(Primaries(ring, p, n) == plain.Nodes());

    const Preflist judged = PreflistOf(ring, p, n, UpExcept(down));
    CheckSame(judged, Expected(ring, p, n, down));
    // The promises of the header, checked directly as well.
    const std::vector<NodeId> nodes = judged.Nodes();
    CHECK(nodes.size() <= n);
    CHECK(std::set<NodeId>(nodes.begin(), nodes.end()).size() == nodes.size());
    std::set<NodeId> replaced;
    bool fallbacks_started = false;
    for (const PreflistEntry& e : judged.entries) {
      CHECK(down.count(e.node) == 0);
      CHECK(judged.Contains(e.node));
      if (e.primary) {
        CHECK_FALSE(fallbacks_started);  // primaries first
        CHECK(e.stands_in_for == 0);
      } else {
        fallbacks_started = true;
        CHECK(down.count(e.stands_in_for) == 1);
        CHECK(plain.Contains(e.stands_in_for));  // it names a primary
        CHECK_FALSE(plain.Contains(e.node));     // and is none itself
        CHECK(replaced.insert(e.stands_in_for).second);
      }
    }
  }
}

}  // namespace
}  // namespace dynis::cluster
