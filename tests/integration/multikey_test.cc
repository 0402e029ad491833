// Multi-key commands when the keys live on different io-threads (the server runs two):
// replies are assembled in key order and counts add up.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "harness.h"

using namespace dynis::test;

namespace {

std::vector<std::string> Keys(const std::string& prefix, int n) {
  std::vector<std::string> k;
  for (int i = 0; i < n; i++) k.push_back(prefix + std::to_string(i));
  return k;
}

}  // namespace

TEST_CASE("The keys used here are spread over both io-threads", "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  std::set<int> threads;
  for (const auto& k : Keys("key:", 20)) threads.insert(IoThreadOf(c, k));
  CHECK(threads == std::set<int>{0, 1});
}

TEST_CASE("MSET of 100 keys, then MGET returns them in order", "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  std::vector<std::string> keys = Keys("key:", 100);
  std::vector<std::string> mset = {"MSET"};
  for (const auto& k : keys) {
    mset.push_back(k);
    mset.push_back("val-" + k);
  }
  REQUIRE(c.Cmd(mset).Repr() == "+OK");
  std::vector<std::string> mget = {"MGET"};
  std::vector<std::string> want;
  for (const auto& k : keys) {
    mget.push_back(k);
    want.push_back("val-" + k);
  }
  mget.push_back("missing");  // a missing key in the middle of others gives a nil in place
  mget.push_back(keys[0]);
  want.push_back("");
  want.push_back("val-" + keys[0]);
  Reply r = c.Cmd(mget);
  REQUIRE(r.Size() == 102);
  CHECK(r.Strings() == want);
  CHECK(r[100].IsNil());
  // The last write of a key wins within one MSET.
  REQUIRE(c.Cmd({"MSET", "dup", "1", "dup", "2"}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", "dup"}).Repr() == "\"2\"");
}

TEST_CASE("DEL of 100 keys returns how many existed", "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  std::vector<std::string> keys = Keys("key:", 100);
  std::vector<std::string> mset = {"MSET"};
  for (const auto& k : keys) {
    mset.push_back(k);
    mset.push_back("x");
  }
  REQUIRE(c.Cmd(mset).Repr() == "+OK");
  std::vector<std::string> del = {"DEL"};
  del.insert(del.end(), keys.begin(), keys.end());
  for (int i = 0; i < 10; i++) del.push_back("absent:" + std::to_string(i));
  CHECK(c.Cmd(del).Repr() == ":100");
  CHECK(c.Cmd(del).Repr() == ":0");
  CHECK(c.Cmd({"DBSIZE"}).Repr() == ":0");
  REQUIRE(c.Cmd({"MSET", "u1", "1", "u2", "2"}).Repr() == "+OK");
  CHECK(c.Cmd({"UNLINK", "u1", "u2", "u3"}).Repr() == ":2");
}

TEST_CASE("EXISTS counts duplicates", "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  std::string k0 = KeysOnThread(c, "e", 0, 1).at(0);
  std::string k1 = KeysOnThread(c, "e", 1, 1).at(0);
  REQUIRE(c.Cmd({"MSET", k0, "a", k1, "b"}).Repr() == "+OK");
  CHECK(c.Cmd({"EXISTS", k0, k0, k1, "missing", k1, k0}).Repr() == ":5");
  CHECK(c.Cmd({"EXISTS", "missing"}).Repr() == ":0");
  CHECK(c.Cmd({"TOUCH", k0, k1, "missing"}).Repr() == ":2");
}

TEST_CASE("RENAME and COPY work between keys of the same and of different io-threads",
          "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  const int from_thread = GENERATE(0, 1);
  const int to_thread = GENERATE(0, 1);
  std::string src = KeysOnThread(c, "src", from_thread, 1).at(0);
  std::vector<std::string> dsts = KeysOnThread(c, "dst", to_thread, 3);
  INFO(src << " (thread " << from_thread << ") -> thread " << to_thread);

  REQUIRE(c.Cmd({"SET", src, "payload", "EX", "1000"}).Repr() == "+OK");
  CHECK(c.Cmd({"RENAME", src, dsts[0]}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", src}).Repr() == "(nil)");
  CHECK(c.Cmd({"GET", dsts[0]}).Repr() == "\"payload\"");
  CHECK(c.Cmd({"TTL", dsts[0]}).Int() > 990);  // the expiry moves with the value
  CHECK(c.Cmd({"RENAME", src, dsts[1]}).Repr() == "-ERR no such key");

  CHECK(c.Cmd({"COPY", dsts[0], src}).Repr() == ":1");
  CHECK(c.Cmd({"GET", src}).Repr() == "\"payload\"");
  CHECK(c.Cmd({"COPY", dsts[0], src}).Repr() == ":0");  // exists, no REPLACE
  REQUIRE(c.Cmd({"SET", dsts[0], "changed"}).Repr() == "+OK");
  CHECK(c.Cmd({"COPY", dsts[0], src, "REPLACE"}).Repr() == ":1");
  CHECK(c.Cmd({"GET", src}).Repr() == "\"changed\"");
  CHECK(c.Cmd({"COPY", "missing", src}).Repr() == ":0");
  CHECK(c.Cmd({"COPY", src, src}).Repr() == "-ERR source and destination objects are the same");

  CHECK(c.Cmd({"RENAMENX", src, dsts[0]}).Repr() == ":0");
  CHECK(c.Cmd({"RENAMENX", src, dsts[2]}).Repr() == ":1");
  CHECK(c.Cmd({"MGET", src, dsts[0], dsts[2]}).Repr() == "[ (nil), \"changed\", \"changed\" ]");
}

TEST_CASE("KEYS, SCAN and DBSIZE see writes pipelined just before them", "[multikey][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  const int n = 300;
  for (int i = 0; i < n; i++) c.Append({"SET", "p:" + std::to_string(i), "v"});
  c.Append({"DBSIZE"});
  c.Append({"KEYS", "p:*"});
  c.Append({"SCAN", "0", "COUNT", "100000"});
  c.Append({"DEL", "p:0", "p:1"});
  c.Append({"DBSIZE"});
  c.Append({"KEYS", "p:1*"});
  for (int i = 0; i < n; i++) REQUIRE(c.GetReply().Repr() == "+OK");
  CHECK(c.GetReply().Repr() == ":" + std::to_string(n));
  Reply keys = c.GetReply();
  CHECK(keys.Size() == static_cast<size_t>(n));
  Reply scan = c.GetReply();
  CHECK(scan[0].Str() == "0");
  CHECK(scan[1].Size() == static_cast<size_t>(n));
  CHECK(c.GetReply().Repr() == ":2");
  CHECK(c.GetReply().Repr() == ":" + std::to_string(n - 2));
  // p:1* matches p:1x and p:1xx (without p:1 itself): 10 + 100.
  CHECK(c.GetReply().Size() == 110u);
}

TEST_CASE("SCAN iterates every key exactly once", "[multikey][scan]") {
  TestServer srv;
  Client c = srv.Connect();
  const int n = 1000;
  for (int i = 0; i < n; i++) c.Append({"SET", "scan:" + std::to_string(i), "v"});
  for (int i = 0; i < n; i++) REQUIRE(c.GetReply().Repr() == "+OK");
  REQUIRE(c.Cmd({"SET", "other", "v"}).Repr() == "+OK");

  auto scan_all = [&](std::vector<std::string> extra) {
    std::multiset<std::string> seen;
    std::string cursor = "0";
    int calls = 0;
    do {
      std::vector<std::string> cmd = {"SCAN", cursor};
      cmd.insert(cmd.end(), extra.begin(), extra.end());
      Reply r = c.Cmd(cmd);
      REQUIRE(r.Size() == 2);
      cursor = r[0].Str();
      for (const auto& k : r[1].Strings()) seen.insert(k);
      REQUIRE(++calls < 10000);
    } while (cursor != "0");
    return seen;
  };
  SECTION("default COUNT") {
    std::multiset<std::string> seen = scan_all({});
    CHECK(seen.size() == static_cast<size_t>(n + 1));
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
    CHECK(seen.count("other") == 1);
    CHECK(seen.count("scan:999") == 1);
  }
  SECTION("COUNT 3 with MATCH") {
    std::multiset<std::string> seen = scan_all({"COUNT", "3", "MATCH", "scan:*"});
    CHECK(seen.size() == static_cast<size_t>(n));
    CHECK(seen.count("other") == 0);
  }
  SECTION("TYPE string and TYPE list") {
    CHECK(scan_all({"TYPE", "string", "COUNT", "50"}).size() == static_cast<size_t>(n + 1));
    CHECK(scan_all({"TYPE", "list"}).empty());
  }
  CHECK(c.Cmd({"SCAN", "abc"}).Repr() == "-ERR invalid cursor");
  CHECK(c.Cmd({"SCAN", "0", "COUNT", "0"}).Repr() == "-ERR syntax error");
}
