// AUTH and requirepass: Redis 7's default-user semantics and its pre-authentication limits.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {
const char kNoAuth[] = "-NOAUTH Authentication required.";
const char kWrongPass[] = "-WRONGPASS invalid username-password pair or user is disabled.";
}  // namespace

TEST_CASE("With requirepass, commands before AUTH are refused with NOAUTH", "[auth]") {
  TestServer srv({"--requirepass", "secret"});
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "k"}).Repr() == kNoAuth);
  CHECK(c.Cmd({"SET", "k", "v"}).Repr() == kNoAuth);
  CHECK(c.Cmd({"PING"}).Repr() == kNoAuth);
  // The refused SET did not run.
  CHECK(c.Cmd({"AUTH", "secret"}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", "k"}).Repr() == "(nil)");
}

TEST_CASE("AUTH fails with a wrong password", "[auth]") {
  TestServer srv({"--requirepass", "secret"});
  Client c = srv.Connect();
  CHECK(c.Cmd({"AUTH", "wrong"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"AUTH", "default", "wrong"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"AUTH", "someone", "secret"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"AUTH", "secre"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"AUTH", "secrets"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"GET", "k"}).Repr() == kNoAuth);
}

TEST_CASE("AUTH succeeds with the right password, with or without the default user", "[auth]") {
  TestServer srv({"--requirepass", "secret"});
  SECTION("AUTH secret") {
    Client c = srv.Connect();
    CHECK(c.Cmd({"AUTH", "secret"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
    CHECK(c.Cmd({"GET", "k"}).Repr() == "\"v\"");
  }
  SECTION("AUTH default secret") {
    Client c = srv.Connect();
    CHECK(c.Cmd({"AUTH", "default", "secret"}).Repr() == "+OK");
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  }
  SECTION("a failed AUTH after a good one keeps the connection authenticated") {
    Client c = srv.Connect();
    CHECK(c.Cmd({"AUTH", "secret"}).Repr() == "+OK");
    CHECK(c.Cmd({"AUTH", "wrong"}).Repr() == kWrongPass);
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  }
}

TEST_CASE("HELLO 3 AUTH default secret authenticates and switches to RESP3", "[auth][resp3]") {
  TestServer srv({"--requirepass", "secret"});
  SECTION("without AUTH, HELLO is refused") {
    RawConn c = srv.ConnectRaw();
    REQUIRE(c.Send("HELLO 3\r\n"));
    CHECK(c.ReadUntil("\r\n", kReplyTimeoutS) ==
          "-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
          "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
          "select the RESP protocol version at the same time\r\n");
  }
  SECTION("with a wrong password") {
    RawConn c = srv.ConnectRaw();
    REQUIRE(c.Send("HELLO 3 AUTH default nope\r\nPING\r\n"));
    std::string want = std::string(kWrongPass) + "\r\n" + kNoAuth + "\r\n";
    CHECK(c.ReadAtLeast(want.size(), kReplyTimeoutS) == want);
  }
  SECTION("with the password") {
    RawConn c = srv.ConnectRaw();
    REQUIRE(c.Send("HELLO 3 AUTH default secret\r\n"));
    std::string hello = c.ReadUntil("$7\r\nmodules\r\n*0\r\n", kReplyTimeoutS);
    CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
    CHECK(hello.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
    REQUIRE(c.Send("PING\r\nGET missing\r\n"));
    CHECK(c.ReadAtLeast(10, kReplyTimeoutS) == "+PONG\r\n_\r\n");
  }
}

TEST_CASE("Unauthenticated clients cannot send big multibulk counts", "[auth][protocol]") {
  TestServer srv({"--requirepass", "secret"});
  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), "*100\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "-ERR Protocol error: unauthenticated multibulk length\r\n");
  CHECK(closed);
}

TEST_CASE("Unauthenticated clients cannot send big bulk lengths", "[auth][protocol]") {
  TestServer srv({"--requirepass", "secret"});
  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), "*1\r\n$100000\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "-ERR Protocol error: unauthenticated bulk length\r\n");
  CHECK(closed);
}

TEST_CASE("Authenticated clients may send big multibulk counts and bulks", "[auth][protocol]") {
  TestServer srv({"--requirepass", "secret"});
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"AUTH", "secret"}).Repr() == "+OK");
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 60; i++) {
    mset.push_back("k" + std::to_string(i));
    mset.push_back(std::to_string(i));
  }
  CHECK(c.Cmd(mset).Repr() == "+OK");
  std::string big(100000, 'x');
  CHECK(c.Cmd({"SET", "big", big}).Repr() == "+OK");
  CHECK(c.Cmd({"STRLEN", "big"}).Repr() == ":100000");
}

TEST_CASE("AUTH without requirepass: Redis's error for AUTH <password>", "[auth]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"AUTH", "foo"}).Repr() ==
        "-ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?");
  // The default user has no password: any password is accepted for it, not for others.
  CHECK(c.Cmd({"AUTH", "default", "anything"}).Repr() == "+OK");
  CHECK(c.Cmd({"AUTH", "alice", "anything"}).Repr() == kWrongPass);
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("CONFIG SET requirepass applies to new connections", "[auth][config]") {
  TestServer srv;
  Client admin = srv.Connect();
  REQUIRE(admin.Cmd({"CONFIG", "SET", "requirepass", "newpass"}).Repr() == "+OK");
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "k"}).Repr() == kNoAuth);
  CHECK(c.Cmd({"AUTH", "newpass"}).Repr() == "+OK");
  CHECK(c.Cmd({"GET", "k"}).Repr() == "(nil)");
  // Removing the password lets everyone in again.
  REQUIRE(c.Cmd({"CONFIG", "SET", "requirepass", ""}).Repr() == "+OK");
  Client d = srv.Connect();
  CHECK(d.Cmd({"PING"}).Repr() == "+PONG");
}
