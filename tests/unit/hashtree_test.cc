// kv/hashtree.h against a brute-force oracle: per-segment XORs computed from the item sets.
#include "kv/hashtree.h"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>

namespace dynis::kv {
namespace {

using Items = std::map<std::string, std::string>;  // key -> record

HashTree Build(const Items& items) {
  HashTree t;
  for (const auto& [k, r] : items) t.Add(k, r);
  return t;
}

// The oracle: the segments holding a key whose record differs (or exists on one side only).
std::set<uint32_t> DifferingSegments(const Items& a, const Items& b) {
  std::set<uint32_t> out;
  for (const auto& [k, r] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != r) out.insert(HashTree::SegmentOf(k));
  }
  for (const auto& [k, r] : b) {
    if (a.find(k) == a.end()) out.insert(HashTree::SegmentOf(k));
  }
  return out;
}

Items RandomItems(std::mt19937_64& rng, int n) {
  Items items;
  for (int i = 0; i < n; i++) {
    items["key:" + std::to_string(rng() % 100000)] = "rec" + std::to_string(rng() % 5);
  }
  return items;
}

TEST_CASE("hash tree: each level is the XOR of the one below, as the oracle computes it",
          "[hashtree]") {
  std::mt19937_64 rng(7);
  const Items items = RandomItems(rng, 3000);
  const HashTree t = Build(items);
  std::array<uint64_t, HashTree::kSegments> seg{};
  for (const auto& [k, r] : items) seg[HashTree::SegmentOf(k)] ^= HashTree::ItemHash(k, r);
  uint64_t root = 0;
  for (uint32_t b = 0; b < HashTree::kFanout; b++) {
    uint64_t branch = 0;
    for (uint32_t i = 0; i < HashTree::kFanout; i++) {
      CHECK(t.segment(b * HashTree::kFanout + i) == seg[b * HashTree::kFanout + i]);
      branch ^= seg[b * HashTree::kFanout + i];
    }
    CHECK(t.branch(b) == branch);
    root ^= branch;
  }
  CHECK(t.root() == root);
  CHECK(t.root() != 0);
}

TEST_CASE("hash tree: incremental updates equal a rebuild, in any order", "[hashtree]") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20; round++) {
    Items items;
    HashTree live;
    for (int op = 0; op < 2000; op++) {
      const std::string k = "k" + std::to_string(rng() % 300);
      auto it = items.find(k);
      const uint64_t before = it == items.end() ? 0 : HashTree::ItemHash(k, it->second);
      if (rng() % 4 == 0) {  // a drop (reaping, expiry removal)
        live.Update(k, before, 0);
        items.erase(k);
      } else {
        const std::string r = "v" + std::to_string(rng());
        live.Update(k, before, HashTree::ItemHash(k, r));
        items[k] = r;
      }
    }
    const HashTree rebuilt = Build(items);
    CHECK(live.root() == rebuilt.root());
    CHECK(live.Diff(rebuilt).empty());
  }
}

TEST_CASE("hash tree: the diff walks down to exactly the segments that differ", "[hashtree]") {
  std::mt19937_64 rng(23);
  for (int round = 0; round < 50; round++) {
    Items a = RandomItems(rng, 1 + static_cast<int>(rng() % 4000));
    Items b = a;
    const int changes = static_cast<int>(rng() % 40);
    for (int i = 0; i < changes; i++) {
      switch (rng() % 3) {
        case 0:  // a write only b saw
          b["key:" + std::to_string(rng() % 100000)] = "new" + std::to_string(rng());
          break;
        case 1:  // a key only a holds
          if (!b.empty()) b.erase(std::next(b.begin(), static_cast<long>(rng() % b.size())));
          break;
        default:  // a newer version on one side
          if (!b.empty()) std::next(b.begin(), static_cast<long>(rng() % b.size()))->second += "'";
      }
    }
    const HashTree ta = Build(a), tb = Build(b);
    const std::set<uint32_t> want = DifferingSegments(a, b);
    const std::vector<uint32_t> got = ta.Diff(tb);
    CHECK(std::set<uint32_t>(got.begin(), got.end()) == want);
    CHECK(got.size() == want.size());  // each once
    CHECK((ta.root() == tb.root()) == want.empty());
    // Both ways, and through the exchange a peer would make (branches, then segments).
    std::vector<uint32_t> stepwise;
    for (uint32_t br : tb.DiffBranches(ta.Branches())) {
      for (uint32_t s : tb.DiffSegments(br, ta.SegmentsOf(br))) stepwise.push_back(s);
    }
    CHECK(stepwise == tb.Diff(ta));
    CHECK(std::set<uint32_t>(stepwise.begin(), stepwise.end()) == want);
  }
}

TEST_CASE("hash tree: empty trees agree; Clear empties", "[hashtree]") {
  HashTree a, b;
  CHECK(a.root() == 0);
  CHECK(a.Diff(b).empty());
  b.Add("k", "r");
  CHECK(a.Diff(b) == std::vector<uint32_t>{HashTree::SegmentOf("k")});
  b.Clear();
  CHECK(b.root() == 0);
  CHECK(a.Diff(b).empty());
  // The same key and record hash alike everywhere; another record of it does not.
  CHECK(HashTree::ItemHash("k", "r") == HashTree::ItemHash("k", "r"));
  CHECK(HashTree::ItemHash("k", "r") != HashTree::ItemHash("k", "s"));
  CHECK(HashTree::ItemHash("k", "r") != HashTree::ItemHash("j", "r"));
}

}  // namespace
}  // namespace dynis::kv
