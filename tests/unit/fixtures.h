// Shared by the unit tests of the replication side (engine, replica, coordinator): sample
// records with known causal order, their values, and an in-memory store.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "replication/engine.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::test {

inline version::Sibling Val(std::string v, uint64_t hlc, uint64_t writer) {
  version::Sibling s;
  s.value = std::move(v);
  s.hlc = hlc;
  s.writer = writer;
  return s;
}

// Histories: A, then B written over A (B descends A); C concurrent with both (actor 2).
struct Records {
  std::string a, b, c, ac;
  Records() {
    version::DVVSet s;
    s.Update({}, Val("a", 10, 1), version::Actor{1, 0});
    a = s.Encode();
    s.Update(s.Join(), Val("b", 20, 1), version::Actor{1, 0});
    b = s.Encode();
    version::DVVSet t;
    t.Update({}, Val("c", 15, 2), version::Actor{2, 0});
    c = t.Encode();
    ac = replication::MergeRecords(a, c).value();
  }
};

// The values of an encoded record, sorted.
inline std::vector<std::string> ValuesOf(const std::string& record) {
  auto set = version::DVVSet::Decode(record);
  REQUIRE(set.ok());
  std::vector<std::string> out;
  for (const version::Sibling* s : set->Values()) out.push_back(s->value);
  std::sort(out.begin(), out.end());
  return out;
}

// A store whose every file lives in its own memory.
inline std::unique_ptr<storage::Store> InMemoryStore(const std::string& name) {
  storage::StoreOptions o;
  o.dir = "/" + name;
  o.in_memory = true;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  auto s = storage::Store::Open(o);
  REQUIRE(s.ok());
  return std::move(s).value();
}

}  // namespace dynis::test
