// The record cache (kv/record_cache.h) as a user sees it: reads served from memory with the
// counts in INFO, a restarted node warming up, the bound honoured with nothing lost, and
// CONFIG SET of both options.
#include <catch2/catch.hpp>
#include <string>

#include "cluster_harness.h"
#include "harness.h"

using namespace dynis::test;

namespace {

bool CacheWarm(Client& c) { return InfoField(c, "cache_partitions_complete") == 256; }

std::string Value(int i) { return std::string(60, 'v') + std::to_string(1000 + i); }

}  // namespace

TEST_CASE("record cache: GETs and the reads of writes are served from memory", "[cache]") {
  TestServer srv;
  Client c = srv.Connect();
  // A fresh data dir warms at once: every partition is complete, a miss is an absent key.
  REQUIRE(WaitFor([&] { return CacheWarm(c); }, 10));
  CHECK(InfoField(c, "cache_max_bytes") == 1073741824);
  for (int i = 0; i < 1000; i++) c.Append({"SET", "k" + std::to_string(i), Value(i)});
  for (int i = 0; i < 1000; i++) REQUIRE(c.GetReply().Repr() == "+OK");
  for (int i = 0; i < 1000; i++) c.Append({"GET", "k" + std::to_string(i)});
  for (int i = 0; i < 1000; i++) REQUIRE(c.GetReply().Str() == Value(i));
  CHECK(c.Cmd({"GET", "absent"}).IsNil());
  CHECK(InfoField(c, "cache_records") == 1000);
  CHECK(InfoField(c, "cache_hits") >= 1000);
  // The SETs of new keys and the GET of an absent one: answered without RocksDB.
  CHECK(InfoField(c, "cache_absent_hits") >= 1001);
  CHECK(InfoField(c, "cache_misses") == 0);
  CHECK(InfoField(c, "cache_bytes") > 1000 * 64);
  CHECK(c.Cmd({"INFO", "dynis"}).Str().find("cache_hit_rate:1.0000") != std::string::npos);
  // FLUSHALL empties it; every partition stays complete.
  REQUIRE(c.Cmd({"FLUSHALL"}).Repr() == "+OK");
  CHECK(InfoField(c, "cache_records") == 0);
  CHECK(c.Cmd({"GET", "k1"}).IsNil());
  CHECK(CacheWarm(c));
}

TEST_CASE("record cache: a restarted node warms up from its data and serves from memory",
          "[cache]") {
  TestServer srv;
  {
    Client c = srv.Connect();
    for (int i = 0; i < 3000; i++) c.Append({"SET", "w" + std::to_string(i), Value(i)});
    for (int i = 0; i < 3000; i++) REQUIRE(c.GetReply().Repr() == "+OK");
  }
  REQUIRE(srv.Stop() == 0);
  srv.Restart();
  Client c = srv.Connect();
  REQUIRE(WaitFor([&] { return CacheWarm(c); }, 20));
  CHECK(InfoField(c, "cache_records") == 3000);
  const long long misses = InfoField(c, "cache_misses");
  for (int i = 0; i < 3000; i++) c.Append({"GET", "w" + std::to_string(i)});
  for (int i = 0; i < 3000; i++) REQUIRE(c.GetReply().Str() == Value(i));
  CHECK(c.Cmd({"EXISTS", "w-none"}).Repr() == ":0");
  CHECK(InfoField(c, "cache_misses") == misses);
}

TEST_CASE("record cache: cache-max-bytes bounds it, evicted records come from RocksDB",
          "[cache]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"CONFIG", "SET", "cache-max-bytes", "100kb"}).Repr() == "+OK");
  CHECK(c.Cmd({"CONFIG", "GET", "cache-max-bytes"}).Strings() ==
        std::vector<std::string>{"cache-max-bytes", "102400"});
  for (int i = 0; i < 5000; i++) c.Append({"SET", "b" + std::to_string(i), Value(i)});
  for (int i = 0; i < 5000; i++) REQUIRE(c.GetReply().Repr() == "+OK");
  CHECK(InfoField(c, "cache_bytes") <= 102400);
  CHECK(InfoField(c, "cache_evictions") > 0);
  // Evicted partitions are no longer complete: their misses read RocksDB.
  CHECK(InfoField(c, "cache_partitions_complete") < 256);
  for (int i = 0; i < 5000; i++) c.Append({"GET", "b" + std::to_string(i)});
  int wrong = 0;
  for (int i = 0; i < 5000; i++) wrong += c.GetReply().Str() != Value(i);
  CHECK(wrong == 0);
  CHECK(InfoField(c, "cache_misses") > 0);
  CHECK(InfoField(c, "cache_bytes") <= 102400);

  SECTION("the random policy, and bad values refused with Redis's wording") {
    REQUIRE(c.Cmd({"CONFIG", "SET", "cache-eviction-policy", "random"}).Repr() == "+OK");
    CHECK(c.Cmd({"INFO", "dynis"}).Str().find("cache_eviction_policy:random") !=
          std::string::npos);
    for (int i = 0; i < 2000; i++) c.Append({"SET", "r" + std::to_string(i), Value(i)});
    for (int i = 0; i < 2000; i++) REQUIRE(c.GetReply().Repr() == "+OK");
    CHECK(InfoField(c, "cache_bytes") <= 102400);
    CHECK(c.Cmd({"GET", "r1999"}).Str() == Value(1999));
    Reply bad = c.Cmd({"CONFIG", "SET", "cache-eviction-policy", "lfu"});
    CHECK(bad.IsError());
    CHECK(bad.Str().find("cache-eviction-policy") != std::string::npos);
    CHECK(c.Cmd({"CONFIG", "SET", "cache-max-bytes", "-1"}).IsError());
  }
  SECTION("0 turns it off; the data is all there") {
    REQUIRE(c.Cmd({"CONFIG", "SET", "cache-max-bytes", "0"}).Repr() == "+OK");
    CHECK(InfoField(c, "cache_bytes") == 0);
    CHECK(InfoField(c, "cache_records") == 0);
    const long long hits = InfoField(c, "cache_hits");
    CHECK(c.Cmd({"GET", "b4999"}).Str() == Value(4999));
    CHECK(InfoField(c, "cache_hits") == hits);
    // Back on: the node warms again and serves from memory.
    REQUIRE(c.Cmd({"CONFIG", "SET", "cache-max-bytes", "1gb"}).Repr() == "+OK");
    REQUIRE(WaitFor([&] { return CacheWarm(c); }, 20));
    CHECK(InfoField(c, "cache_records") == 5000);
  }
}
