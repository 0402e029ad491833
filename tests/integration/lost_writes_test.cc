// No acknowledged write is lost (issue 7), with real processes: a key written again after its
// TTL ran out keeps the new value on every node (kv679: the coordinator must not reuse a dot its
// peers have seen), and a write with an expiry in the past is a replicated delete.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.h"

using dynis::test::Client;
using dynis::test::InfoField;
using dynis::test::TestCluster;

namespace {

std::string Key(int i) { return "ttl:" + std::to_string(i); }

}  // namespace

TEST_CASE("a key written again after its TTL ran out keeps the new value on every node",
          "[cluster][kv679]") {
  // The reproduction, 40 keys at once: two writes with a short TTL, a read after they
  // expired (lazy expiry drops the record on the coordinator), then a write without TTL.
  TestCluster cl(3);
  constexpr int kKeys = 40;
  Client c0 = cl.Connect(0);
  for (int i = 0; i < kKeys; i++) {
    REQUIRE(c0.Cmd({"SET", Key(i), "a", "PX", "300"}).Repr() == "+OK");
    REQUIRE(c0.Cmd({"SET", Key(i), "b", "PX", "300"}).Repr() == "+OK");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  for (int i = 0; i < kKeys; i++) REQUIRE(c0.Cmd({"GET", Key(i)}).IsNil());
  for (int i = 0; i < kKeys; i++) REQUIRE(c0.Cmd({"SET", Key(i), "c"}).Repr() == "+OK");
  int lost = 0;
  for (int n = 0; n < cl.size(); n++) {
    Client c = cl.Connect(n);
    for (int i = 0; i < kKeys; i++) {
      if (c.Cmd({"GET", Key(i)}).Str() != "c") ++lost;
    }
  }
  CHECK(lost == 0);
  for (int n = 0; n < cl.size(); n++) {
    Client c = cl.Connect(n);
    CHECK(InfoField(c, "cluster_dot_conflicts") == 0);
  }
}

TEST_CASE("a SET with an expiry in the past deletes the key on every node", "[cluster]") {
  TestCluster cl(3);
  Client c0 = cl.Connect(0);
  const std::vector<std::vector<std::string>> past = {
      {"SET", "k", "v2", "PXAT", "1"},
      {"SET", "k", "v2", "EXAT", "1"},
      {"SET", "k", "v2", "GET", "PXAT", "1"},
      {"GETEX", "k", "PXAT", "1"},
      {"EXPIRE", "k", "0"},
      {"PEXPIREAT", "k", "1"},
  };
  for (const auto& cmd : past) {
    INFO(cmd[0] << " " << cmd.back());
    REQUIRE(c0.Cmd({"SET", "k", "v1"}).Repr() == "+OK");
    Client c1 = cl.Connect(1);
    REQUIRE(c1.Cmd({"GET", "k"}).Str() == "v1");
    REQUIRE_FALSE(c0.Cmd(cmd).IsError());
    for (int n = 0; n < cl.size(); n++) {
      Client c = cl.Connect(n);
      CHECK(c.Cmd({"GET", "k"}).IsNil());
      CHECK(c.Cmd({"EXISTS", "k"}).Int() == 0);
    }
    // Each replica's own record: a tombstone, nothing live (DYNIS LOCALCTX).
    for (int n = 0; n < cl.size(); n++) CHECK(cl.LocalValues(n, "k").empty());
  }
}
