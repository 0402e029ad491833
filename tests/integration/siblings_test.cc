// Siblings: concurrent writes with the same causal context are both kept, exposed by GETCTX
// and resolved by a SETCTX carrying the context that saw them. Plain GET picks one (LWW).
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

struct Ctx {
  std::string context;
  std::vector<std::string> values;  // sorted
};

Ctx GetCtx(Client& c, const std::string& key) {
  Reply r = c.Cmd({"GETCTX", key});
  INFO("GETCTX " << key << " -> " << r.Repr());
  REQUIRE(r.IsArray());
  REQUIRE(r.Size() == 2);
  REQUIRE(r[0].type() == REDIS_REPLY_STRING);
  REQUIRE(r[1].IsArray());
  Ctx ctx{r[0].Str(), r[1].Strings()};
  std::sort(ctx.values.begin(), ctx.values.end());
  return ctx;
}

}  // namespace

TEST_CASE("Two writers with the same context create two siblings; a SETCTX resolves them",
          "[siblings][context]") {
  TestServer srv;
  Client a = srv.Connect();
  Client b = srv.Connect();
  // Once with a key of each io-thread.
  const int thread = GENERATE(0, 1);
  const std::string key = KeysOnThread(a, "cart:", thread, 1).at(0);
  INFO("key " << key << " on io-thread " << thread);

  REQUIRE(a.Cmd({"SET", key, "base"}).Repr() == "+OK");
  Ctx seen_a = GetCtx(a, key);
  Ctx seen_b = GetCtx(b, key);
  REQUIRE(seen_a.values == std::vector<std::string>{"base"});
  REQUIRE(seen_a.context == seen_b.context);

  REQUIRE(a.Cmd({"SETCTX", key, seen_a.context, "from-a"}).Repr() == "+OK");
  REQUIRE(b.Cmd({"SETCTX", key, seen_b.context, "from-b"}).Repr() == "+OK");

  Ctx both = GetCtx(a, key);
  CHECK(both.values == std::vector<std::string>({"from-a", "from-b"}));
  CHECK(GetCtx(b, key).values == both.values);

  // Plain GET returns one of them, the same one every time and on every connection.
  std::string winner = a.Cmd({"GET", key}).Str();
  CHECK((winner == "from-a" || winner == "from-b"));
  for (int i = 0; i < 5; i++) {
    CHECK(a.Cmd({"GET", key}).Str() == winner);
    CHECK(b.Cmd({"GET", key}).Str() == winner);
  }
  CHECK(a.Cmd({"STRLEN", key}).Repr() == ":6");

  // Resolving with the context that saw both leaves exactly one value.
  REQUIRE(a.Cmd({"SETCTX", key, both.context, "merged"}).Repr() == "+OK");
  Ctx merged = GetCtx(b, key);
  CHECK(merged.values == std::vector<std::string>{"merged"});
  CHECK(b.Cmd({"GET", key}).Repr() == "\"merged\"");

  // DELCTX with the current context deletes the key.
  REQUIRE(b.Cmd({"DELCTX", key, merged.context}).Repr() == "+OK");
  CHECK(a.Cmd({"GET", key}).Repr() == "(nil)");
  CHECK(a.Cmd({"EXISTS", key}).Repr() == ":0");
  CHECK(GetCtx(a, key).values.empty());
}

TEST_CASE("GETCTX of a missing key returns a context and no values", "[siblings][context]") {
  TestServer srv;
  Client c = srv.Connect();
  Ctx ctx = GetCtx(c, "nothing");
  CHECK(ctx.values.empty());
  // Writing with that context creates the key.
  REQUIRE(c.Cmd({"SETCTX", "nothing", ctx.context, "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", "nothing"}).Repr() == "\"v\"");
  CHECK(GetCtx(c, "nothing").values == std::vector<std::string>{"v"});
}

TEST_CASE("SETCTX with an empty context adds a sibling next to the existing value",
          "[siblings][context]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "old"}).Repr() == "+OK");
  REQUIRE(c.Cmd({"SETCTX", "k", "", "new"}).Repr() == "+OK");
  Ctx ctx = GetCtx(c, "k");
  CHECK(ctx.values == std::vector<std::string>({"new", "old"}));
  // A plain SET supersedes every sibling.
  REQUIRE(c.Cmd({"SET", "k", "plain"}).Repr() == "+OK");
  CHECK(GetCtx(c, "k").values == std::vector<std::string>{"plain"});
}

TEST_CASE("DELCTX with a stale context leaves the concurrent value as a sibling",
          "[siblings][context]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v1"}).Repr() == "+OK");
  Ctx stale = GetCtx(c, "k");
  REQUIRE(c.Cmd({"SETCTX", "k", stale.context, "v2"}).Repr() == "+OK");
  // Deleting what `stale` saw (v1, already superseded) does not supersede v2: the delete and
  // v2 are concurrent. GETCTX still shows v2; plain GET resolves by LWW, tombstones included
  // (the newer delete wins, see src/kv/keyspace.cc Winner()).
  REQUIRE(c.Cmd({"DELCTX", "k", stale.context}).Repr() == "+OK");
  Ctx now = GetCtx(c, "k");
  CHECK(now.values == std::vector<std::string>{"v2"});
  CHECK(c.Cmd({"GET", "k"}).Repr() == "(nil)");
  CHECK(c.Cmd({"EXISTS", "k"}).Repr() == ":0");
  // Writing with the context that saw both resolves to one value.
  REQUIRE(c.Cmd({"SETCTX", "k", now.context, "v3"}).Repr() == "+OK");
  CHECK(GetCtx(c, "k").values == std::vector<std::string>{"v3"});
  CHECK(c.Cmd({"GET", "k"}).Repr() == "\"v3\"");
}

TEST_CASE("An invalid context is refused", "[siblings][context][errors]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  for (const std::string& bad :
       {std::string("garbage"), std::string("\xff\xff\xff\xff", 4), std::string(1000, 'z')}) {
    Reply r = c.Cmd({"SETCTX", "k", bad, "x"});
    INFO(r.Repr());
    CHECK(r.IsError());
    CHECK(r.Str().rfind("ERR invalid context", 0) == 0);
    r = c.Cmd({"DELCTX", "k", bad});
    CHECK(r.Str().rfind("ERR invalid context", 0) == 0);
  }
  CHECK(c.Cmd({"GET", "k"}).Repr() == "\"v\"");
}

TEST_CASE("GETCTX/SETCTX option errors", "[siblings][context][errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"GETCTX", "k", "R", "2"}).Repr().rfind("[ ", 0) == 0);
  CHECK(c.Cmd({"GETCTX", "k", "R", "0"}).Repr() == "-ERR R must be a positive integer");
  CHECK(c.Cmd({"GETCTX", "k", "X", "1"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"SETCTX", "k", "", "v", "W", "x"}).Repr() == "-ERR W must be a positive integer");
  CHECK(c.Cmd({"SETCTX", "k", ""}).Repr() == "-ERR wrong number of arguments for 'setctx' command");
  CHECK(c.Cmd({"SETCTX", "k", "", "v", "W", "1"}).Repr() == "+OK");
}

TEST_CASE("Siblings survive a kill -9 and restart", "[siblings][durability]") {
  TestServer srv;
  {
    Client c = srv.Connect();
    REQUIRE(c.Cmd({"SETCTX", "k", "", "one"}).Repr() == "+OK");
    REQUIRE(c.Cmd({"SETCTX", "k", "", "two"}).Repr() == "+OK");
  }
  srv.Kill9();
  srv.Restart();
  Client c = srv.Connect();
  Ctx ctx = GetCtx(c, "k");
  CHECK(ctx.values == std::vector<std::string>({"one", "two"}));
  // The context from before the restart still resolves them.
  REQUIRE(c.Cmd({"SETCTX", "k", ctx.context, "three"}).Repr() == "+OK");
  CHECK(GetCtx(c, "k").values == std::vector<std::string>{"three"});
}
