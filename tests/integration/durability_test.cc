// Durability: every acknowledged write survives a kill -9 of the process, whatever the fsync
// policy (the write-ahead log reaches the kernel before the reply is sent).
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

// With the record cache as configured by default (every record cached) and with one so small
// that it evicts all the time: the cache holds copies, durability is the store's.
void WriteKillRestartCheck(const std::string& fsync) {
  const std::string cache = GENERATE(std::string("1gb"), std::string("32kb"));
  INFO("cache-max-bytes " << cache);
  TestServer srv({"--fsync", fsync, "--cache-max-bytes", cache});
  const int n = 2000;
  {
    Client c = srv.Connect();
    for (int i = 0; i < n; i++) {
      c.Append({"SET", "dur:" + std::to_string(i), "value-" + std::to_string(i * 7)});
    }
    int acked = 0;
    for (int i = 0; i < n; i++) acked += c.GetReply().Repr() == "+OK";
    REQUIRE(acked == n);
    // Overwrites and deletes are acknowledged writes too.
    REQUIRE(c.Cmd({"SET", "dur:0", "overwritten"}).Repr() == "+OK");
    REQUIRE(c.Cmd({"DEL", "dur:1"}).Repr() == ":1");
    REQUIRE(c.Cmd({"INCRBY", "dur:counter", "41"}).Repr() == ":41");
  }
  srv.Kill9();
  srv.Restart();
  Client c = srv.Connect();
  for (int i = 0; i < n; i++) c.Append({"GET", "dur:" + std::to_string(i)});
  int missing = 0;
  std::string first_bad;
  for (int i = 0; i < n; i++) {
    std::string want = i == 0   ? "\"overwritten\""
                       : i == 1 ? "(nil)"
                                : "\"value-" + std::to_string(i * 7) + "\"";
    std::string got = c.GetReply().Repr();
    if (got != want && missing++ == 0) first_bad = "dur:" + std::to_string(i) + " = " + got;
  }
  INFO("fsync " << fsync << ", first bad key: " << first_bad);
  CHECK(missing == 0);
  CHECK(c.Cmd({"GET", "dur:counter"}).Repr() == "\"41\"");
  CHECK(c.Cmd({"DBSIZE"}).Repr() == ":" + std::to_string(n));
}

}  // namespace

TEST_CASE("Acknowledged writes survive kill -9 with fsync everysec", "[durability][slow]") {
  WriteKillRestartCheck("everysec");
}

TEST_CASE("Acknowledged writes survive kill -9 with fsync no", "[durability][slow]") {
  WriteKillRestartCheck("no");
}

TEST_CASE("Acknowledged writes survive kill -9 with fsync always", "[durability][slow]") {
  WriteKillRestartCheck("always");
}

TEST_CASE("Writes from many connections survive kill -9", "[durability]") {
  TestServer srv;
  {
    std::vector<Client> clients;
    for (int i = 0; i < 8; i++) clients.push_back(srv.Connect());
    for (int round = 0; round < 50; round++) {
      for (size_t i = 0; i < clients.size(); i++) {
        clients[i].Append(
            {"SET", "c" + std::to_string(i) + ":" + std::to_string(round), std::to_string(round)});
      }
    }
    int acked = 0;
    for (int round = 0; round < 50; round++) {
      for (auto& c : clients) acked += c.GetReply().Repr() == "+OK";
    }
    REQUIRE(acked == 400);
  }
  srv.Kill9();
  srv.Restart();
  Client c = srv.Connect();
  CHECK(c.Cmd({"DBSIZE"}).Repr() == ":400");
  CHECK(c.Cmd({"GET", "c7:49"}).Repr() == "\"49\"");
}
