// MULTI/EXEC/DISCARD/WATCH with Redis 7's replies (Redis's test names where they match).
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cluster_harness.h"

using namespace dynis::test;

namespace {

// Stores `key` with a 1 ms time to live and returns once it has expired, without reading it
// (a read removes an expired record): a probe key set after it with the same time to live
// has expired, so `key` has too.
void StoreExpired(Client& c, const std::string& key) {
  REQUIRE(c.Cmd({"SET", key, "stale", "PX", "1"}).Repr() == "+OK");
  REQUIRE(c.Cmd({"SET", "expiry-probe", "1", "PX", "1"}).Repr() == "+OK");
  REQUIRE(WaitFor([&] { return c.Cmd({"PTTL", "expiry-probe"}).Int() == -2; }, 5));
}

// WATCHes `key` while it is live with a short time to live, then returns once it has expired,
// without reading it (as above). Retried when the machine is so slow that the key had already
// expired when WATCH ran.
void WatchUntilExpired(Client& c, const std::string& key) {
  bool live_at_watch = false;
  for (int attempt = 0; attempt < 10 && !live_at_watch; attempt++) {
    REQUIRE(c.Cmd({"SET", key, "1", "PX", "200"}).Repr() == "+OK");
    REQUIRE(c.Cmd({"SET", "expiry-probe", "1", "PX", "200"}).Repr() == "+OK");
    REQUIRE(c.Cmd({"WATCH", key}).Repr() == "+OK");
    live_at_watch = c.Cmd({"PTTL", "expiry-probe"}).Int() > 0;  // the probe expires last
    if (!live_at_watch) REQUIRE(c.Cmd({"UNWATCH"}).Repr() == "+OK");
  }
  REQUIRE(live_at_watch);
  REQUIRE(WaitFor([&] { return c.Cmd({"PTTL", "expiry-probe"}).Int() == -2; }, 5));
}

}  // namespace

TEST_CASE("MULTI / EXEC basics", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "a", "1"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"INCR", "a"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"GET", "a"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"DEL", "a"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXISTS", "a"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +OK, :2, \"2\", :1, :0 ]");
  CHECK(c.Cmd({"EXEC"}).Repr() == "-ERR EXEC without MULTI");
}

TEST_CASE("MULTI / EXEC across keys of both io-threads", "[multi][io-threads]") {
  TestServer srv;
  Client c = srv.Connect();
  std::string k0 = KeysOnThread(c, "t", 0, 1).at(0);
  std::string k1 = KeysOnThread(c, "t", 1, 1).at(0);
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", k0, "zero"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"SET", k1, "one"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"MGET", k0, k1}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"RENAME", k0, k1 + "x"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"DBSIZE"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +OK, +OK, [ \"zero\", \"one\" ], +OK, :2 ]");
  CHECK(c.Cmd({"MGET", k0, k1, k1 + "x"}).Repr() == "[ (nil), \"one\", \"zero\" ]");
}

TEST_CASE("EXEC fails if there are errors while queueing commands", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  SECTION("unknown command") {
    CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "x", "1"}).Repr() == "+QUEUED");
    CHECK(c.Cmd({"NOSUCHCOMMAND"}).Repr() ==
          "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ");
    CHECK(c.Cmd({"SET", "y", "1"}).Repr() == "+QUEUED");
    CHECK(c.Cmd({"EXEC"}).Repr() == "-EXECABORT Transaction discarded because of previous errors.");
  }
  SECTION("wrong number of arguments") {
    CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "x", "1"}).Repr() == "+QUEUED");
    CHECK(c.Cmd({"GET"}).Repr() == "-ERR wrong number of arguments for 'get' command");
    CHECK(c.Cmd({"EXEC"}).Repr() == "-EXECABORT Transaction discarded because of previous errors.");
  }
  CHECK(c.Cmd({"EXISTS", "x", "y"}).Repr() == ":0");
  // The connection is out of MULTI afterwards.
  CHECK(c.Cmd({"SET", "x", "2"}).Repr() == "+OK");
}

TEST_CASE("EXEC with a runtime error runs the other commands", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "s", "abc"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "a", "1"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"INCR", "s"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"SET", "b", "2"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +OK, -ERR value is not an integer or out of range, +OK ]");
  CHECK(c.Cmd({"MGET", "a", "b"}).Repr() == "[ \"1\", \"2\" ]");
}

TEST_CASE("EXEC fail on WATCHed key modified (1 key of 1 watched)", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  Client other = srv.Connect();
  REQUIRE(c.Cmd({"SET", "x", "30"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  REQUIRE(other.Cmd({"SET", "x", "40"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "x", "50"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "(nil)");
  CHECK(c.Cmd({"GET", "x"}).Repr() == "\"40\"");
}

TEST_CASE("EXEC fail on WATCHed key modified (1 key of 5 watched)", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  Client other = srv.Connect();
  CHECK(c.Cmd({"WATCH", "a", "b", "x", "k", "z"}).Repr() == "+OK");
  REQUIRE(other.Cmd({"SET", "x", "created"}).Repr() == "+OK");  // a missing key created
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "(nil)");
}

TEST_CASE("EXEC fail on WATCHed key deleted", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  Client other = srv.Connect();
  REQUIRE(c.Cmd({"SET", "x", "1"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  REQUIRE(other.Cmd({"DEL", "x"}).Repr() == ":1");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "y", "1"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "(nil)");
  CHECK(c.Cmd({"EXISTS", "y"}).Repr() == ":0");
}

TEST_CASE("EXEC works on WATCHed key not modified", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "x", "30"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x", "y", "z"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "k"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("After successful EXEC key is no longer watched", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  Client other = srv.Connect();
  REQUIRE(c.Cmd({"SET", "x", "30"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
  REQUIRE(other.Cmd({"SET", "x", "40"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("UNWATCH when there is nothing watched works as expected", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  Client other = srv.Connect();
  CHECK(c.Cmd({"UNWATCH"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  CHECK(c.Cmd({"UNWATCH"}).Repr() == "+OK");
  REQUIRE(other.Cmd({"SET", "x", "1"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("WATCH inside MULTI is not allowed", "[multi][watch]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "-ERR WATCH inside MULTI is not allowed");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[]");
}

TEST_CASE("DISCARD", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"DISCARD"}).Repr() == "-ERR DISCARD without MULTI");
  REQUIRE(c.Cmd({"SET", "x", "10"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "x", "20"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"DEL", "x"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"DISCARD"}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", "x"}).Repr() == "\"10\"");
  CHECK(c.Cmd({"EXEC"}).Repr() == "-ERR EXEC without MULTI");
}

TEST_CASE("Nested MULTI are not allowed", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "-ERR MULTI calls can not be nested");
  CHECK(c.Cmd({"SET", "x", "1"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +OK ]");
  CHECK(c.Cmd({"GET", "x"}).Repr() == "\"1\"");
}

TEST_CASE("MULTI with a pipelined transaction", "[multi][pipelining]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("MULTI\r\nINCR n\r\nINCR n\r\nEXEC\r\nGET n\r\n"));
  const std::string want = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n:2\r\n$1\r\n2\r\n";
  CHECK(c.ReadAtLeast(want.size(), kReplyTimeoutS) == want);
}

// SHUTDOWN queued and run by EXEC shut the server down (issue 7). Redis refuses it while
// queueing (its no-multi flag), which also makes EXEC fail.
TEST_CASE("MULTI with SHUTDOWN", "[multi][shutdown]") {
  TestServer srv;
  Client c = srv.Connect();
  for (const std::vector<std::string>& shutdown : {std::vector<std::string>{"SHUTDOWN"},
                                                   {"SHUTDOWN", "NOSAVE"},
                                                   {"shutdown", "now", "force"},
                                                   {"SHUTDOWN", "ABORT"}}) {
    INFO(shutdown[0] << " with " << shutdown.size() - 1 << " arguments");
    REQUIRE(c.Cmd({"DEL", "foo"}).ok());
    CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "foo", "bar"}).Repr() == "+QUEUED");
    CHECK(c.Cmd(shutdown).Repr() == "-ERR Command not allowed inside a transaction");
    CHECK(c.Cmd({"EXEC"}).Repr() == "-EXECABORT Transaction discarded because of previous errors.");
    CHECK(c.Cmd({"GET", "foo"}).Repr() == "(nil)");
  }
  // Still up, on this connection and on a new one.
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  CHECK(srv.Connect().Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("MULTI with SHUTDOWN, pipelined", "[multi][shutdown][pipelining]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("MULTI\r\nSET k 1\r\nSHUTDOWN\r\nEXEC\r\nEXISTS k\r\nPING\r\n"));
  const std::string want =
      "+OK\r\n+QUEUED\r\n-ERR Command not allowed inside a transaction\r\n"
      "-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n+PONG\r\n";
  CHECK(c.ReadAtLeast(want.size(), kReplyTimeoutS) == want);
}

// Redis 7 shows no_multi on the commands it refuses inside MULTI (of those dynis has:
// SHUTDOWN), not on the ones it runs at once inside MULTI (EXEC, DISCARD, MULTI, WATCH...).
TEST_CASE("COMMAND INFO shows no_multi where Redis 7 does", "[multi][command]") {
  TestServer srv;
  Client c = srv.Connect();
  auto flags = [&](const std::string& name) {
    Reply info = c.Cmd({"COMMAND", "INFO", name});
    REQUIRE(info.Size() == 1);
    return info[0][2].Strings();
  };
  auto has = [](const std::vector<std::string>& v, const std::string& f) {
    return std::find(v.begin(), v.end(), f) != v.end();
  };
  CHECK(has(flags("shutdown"), "no_multi"));
  for (const char* name : {"exec", "multi", "discard", "watch", "unwatch", "quit", "reset", "get",
                           "set", "dynis", "flushall", "client", "config"}) {
    INFO(name);
    CHECK_FALSE(has(flags(name), "no_multi"));
  }
}

TEST_CASE("RESET inside MULTI runs at once and ends the transaction", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"SET", "x", "1"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"RESET"}).Repr() == "+RESET");
  CHECK(c.Cmd({"EXEC"}).Repr() == "-ERR EXEC without MULTI");
  CHECK(c.Cmd({"EXISTS", "x"}).Repr() == ":0");
}

TEST_CASE("DYNIS admin commands are queued inside MULTI, like Redis's CLUSTER", "[multi]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"DYNIS", "PARTITION", "k"}).Repr() == "+QUEUED");
  Reply exec = c.Cmd({"EXEC"});
  REQUIRE(exec.Size() == 1);
  CHECK(MapField(exec[0], "partition").type() == REDIS_REPLY_INTEGER);
}

// A key live at WATCH that expires before EXEC changed: EXEC aborts (Redis: touched). It did
// not abort here while the expired record stayed stored unchanged (issue 7).
TEST_CASE("EXEC fail on lazy expired WATCHed key", "[multi][watch][expire]") {
  TestServer srv({"--io-threads", "1"});  // one loop: reads remove expired records at once
  Client c = srv.Connect();
  Client other = srv.Connect();
  WatchUntilExpired(c, "key");
  SECTION("the expired record is still stored") {}
  SECTION("a read removed the expired record") {
    CHECK(other.Cmd({"GET", "key"}).Repr() == "(nil)");
  }
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"INCR", "key"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "(nil)");
  CHECK(c.Cmd({"EXISTS", "key"}).Repr() == ":0");
}

// A key already expired at WATCH is absent, and an absent key that stays absent is unchanged
// however its expired record goes away.
TEST_CASE("WATCH stale keys should not fail EXEC", "[multi][watch][expire]") {
  TestServer srv({"--io-threads", "1"});
  Client c = srv.Connect();
  StoreExpired(c, "x");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("Delete WATCHed stale keys should not fail EXEC", "[multi][watch][expire]") {
  TestServer srv({"--io-threads", "1"});
  Client c = srv.Connect();
  StoreExpired(c, "x");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  CHECK(c.Cmd({"EXISTS", "x"}).Repr() == ":0");  // removes the expired record
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("FLUSHDB while watching stale keys should not fail EXEC", "[multi][watch][expire]") {
  TestServer srv({"--io-threads", "1"});
  Client c = srv.Connect();
  StoreExpired(c, "x");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  CHECK(c.Cmd({"FLUSHDB"}).Repr() == "+OK");
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "[ +PONG ]");
}

TEST_CASE("EXEC fail on a WATCHed stale key written again", "[multi][watch][expire]") {
  TestServer srv({"--io-threads", "1"});
  Client c = srv.Connect();
  Client other = srv.Connect();
  StoreExpired(c, "x");
  CHECK(c.Cmd({"WATCH", "x"}).Repr() == "+OK");
  SECTION("set again") { REQUIRE(other.Cmd({"SET", "x", "new"}).Repr() == "+OK"); }
  SECTION("set again and deleted") {
    REQUIRE(other.Cmd({"SET", "x", "new"}).Repr() == "+OK");
    REQUIRE(other.Cmd({"DEL", "x"}).Repr() == ":1");
  }
  CHECK(c.Cmd({"MULTI"}).Repr() == "+OK");
  CHECK(c.Cmd({"PING"}).Repr() == "+QUEUED");
  CHECK(c.Cmd({"EXEC"}).Repr() == "(nil)");
}
