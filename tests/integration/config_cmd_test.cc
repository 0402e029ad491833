// CONFIG GET/SET at run time: mutable options take effect at once, immutable ones are refused.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

TEST_CASE("CONFIG SET maxclients takes effect for new connections", "[config][maxclients]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"CONFIG", "SET", "maxclients", "1"}).Repr() == "+OK");
  CHECK(c.Cmd({"CONFIG", "GET", "maxclients"}).Repr() == "[ \"maxclients\", \"1\" ]");
  // The probe connection of the harness may still be counted for a moment: either way this
  // second client is over the limit.
  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), "PING\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "-ERR max number of clients reached\r\n");
  CHECK(closed);
  REQUIRE(c.Cmd({"CONFIG", "SET", "maxclients", "100"}).Repr() == "+OK");
  Client d = srv.Connect();
  CHECK(d.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("CONFIG SET max-object-size: larger values are refused", "[config][limits]") {
  TestServer srv;
  Client c = srv.Connect();
  SECTION("the default is 1mb") {
    CHECK(c.Cmd({"CONFIG", "GET", "max-object-size"}).Repr() ==
          "[ \"max-object-size\", \"1048576\" ]");
    CHECK(c.Cmd({"SET", "k", std::string(1024 * 1024, 'x')}).Repr() == "+OK");
    Reply r = c.Cmd({"SET", "k2", std::string(1024 * 1024 + 1, 'x')});
    CHECK(r.Str().rfind("ERR value exceeds max-object-size", 0) == 0);
  }
  SECTION("lowered at run time") {
    REQUIRE(c.Cmd({"CONFIG", "SET", "max-object-size", "1000"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "small", std::string(1000, 's')}).Repr() == "+OK");
    Reply r = c.Cmd({"SET", "big", std::string(1001, 'b')});
    INFO(r.Repr());
    CHECK(r.IsError());
    CHECK(r.Str().rfind("ERR value exceeds max-object-size", 0) == 0);
    CHECK(c.Cmd({"EXISTS", "big"}).Repr() == ":0");
    // Every write path checks it.
    CHECK(c.Cmd({"APPEND", "small", "x"}).Str().rfind("ERR value exceeds max-object-size", 0) == 0);
    CHECK(c.Cmd({"SETCTX", "ctx", "", std::string(2000, 'c')})
              .Str()
              .rfind("ERR value exceeds max-object-size", 0) == 0);
    CHECK(c.Cmd({"MSET", "m1", "1", "m2", std::string(2000, 'm')})
              .Str()
              .rfind("ERR value exceeds max-object-size", 0) == 0);
    CHECK(c.Cmd({"GET", "small"}).Str().size() == 1000u);
    REQUIRE(c.Cmd({"CONFIG", "SET", "max-object-size", "2mb"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "big", std::string(1500 * 1024, 'b')}).Repr() == "+OK");
  }
}

TEST_CASE("CONFIG SET of an immutable option is refused", "[config]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"CONFIG", "SET", "port", "1234"}).Repr() ==
        "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
        "config");
  CHECK(c.Cmd({"CONFIG", "SET", "dir", "/tmp"}).Repr() ==
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set immutable "
        "config");
  CHECK(c.Cmd({"CONFIG", "GET", "port"}).Repr() ==
        "[ \"port\", \"" + std::to_string(srv.port()) + "\" ]");
}

TEST_CASE("CONFIG SET errors", "[config][errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"CONFIG", "SET", "no-such-option", "1"}).Repr() ==
        "-ERR Unknown option or number of arguments for CONFIG SET - 'no-such-option'");
  CHECK(c.Cmd({"CONFIG", "SET", "maxclients"}).Repr() ==
        "-ERR wrong number of arguments for 'config|set' command");
  CHECK(c.Cmd({"CONFIG", "SET", "maxclients", "10", "timeout"}).Repr() ==
        "-ERR wrong number of arguments for 'config|set' command");
  CHECK(c.Cmd({"CONFIG", "SET", "timeout", "1", "timeout", "2"}).Repr() ==
        "-ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter");
  // Nothing is applied when one of several options is refused.
  CHECK(c.Cmd({"CONFIG", "SET", "timeout", "7", "port", "1"}).IsError());
  CHECK(c.Cmd({"CONFIG", "GET", "timeout"}).Repr() == "[ \"timeout\", \"0\" ]");
}

TEST_CASE("CONFIG GET with a glob pattern", "[config]") {
  TestServer srv;
  Client c = srv.Connect();
  Reply r = c.Cmd({"CONFIG", "GET", "max*"});
  std::vector<std::string> flat = r.Strings();
  bool has_maxclients = false, has_max_object = false;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) {
    has_maxclients |= flat[i] == "maxclients" && flat[i + 1] == "10000";
    has_max_object |= flat[i] == "max-object-size";
    CHECK(flat[i].rfind("max", 0) == 0);
  }
  CHECK(flat.size() % 2 == 0);
  CHECK(has_maxclients);
  CHECK(has_max_object);
  CHECK(c.Cmd({"CONFIG", "GET", "appendfsync"}).Repr() == "[ \"appendfsync\", \"everysec\" ]");
}

TEST_CASE("CONFIG SET timeout takes effect on open connections", "[config][timeout]") {
  TestServer srv;
  RawConn idle = srv.ConnectRaw();
  REQUIRE(idle.Send("PING\r\n"));
  REQUIRE(idle.ReadAtLeast(7, kReplyTimeoutS) == "+PONG\r\n");
  Client admin = srv.Connect();
  REQUIRE(admin.Cmd({"CONFIG", "SET", "timeout", "1"}).Repr() == "+OK");
  CHECK(idle.WaitClosed(6));
}
