// Command errors with Redis 7's exact texts. None of them closes the connection.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

TEST_CASE("Unknown command error lists the first arguments", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"foo", "a", "b"}).Repr() ==
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  CHECK(c.Cmd({"foo"}).Repr() == "-ERR unknown command 'foo', with args beginning with: ");
  // Case is preserved as sent.
  CHECK(c.Cmd({"FooBar", "X"}).Repr() ==
        "-ERR unknown command 'FooBar', with args beginning with: 'X' ");
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("An error reply never contains a newline", "[errors][protocol]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("*2\r\n$8\r\nfoo\r\nbar\r\n$3\r\na\nb\r\nPING\r\n"));
  std::string got = c.ReadUntil("+PONG\r\n", kReplyTimeoutS);
  REQUIRE(got.size() > 9);
  CHECK(got.substr(got.size() - 7) == "+PONG\r\n");
  std::string err = got.substr(0, got.size() - 7);
  CHECK(err.rfind("-ERR unknown command 'foo", 0) == 0);
  CHECK(err.find('\n') == err.size() - 1);
  CHECK(err.find('\r') == err.size() - 2);
}

TEST_CASE("Wrong number of arguments", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET"}).Repr() == "-ERR wrong number of arguments for 'get' command");
  CHECK(c.Cmd({"GET", "a", "b"}).Repr() == "-ERR wrong number of arguments for 'get' command");
  CHECK(c.Cmd({"set", "a"}).Repr() == "-ERR wrong number of arguments for 'set' command");
  CHECK(c.Cmd({"CONFIG", "GET"}).Repr() ==
        "-ERR wrong number of arguments for 'config|get' command");
  CHECK(c.Cmd({"CLIENT", "SETNAME"}).Repr() ==
        "-ERR wrong number of arguments for 'client|setname' command");
  CHECK(c.Cmd({"PING", "a", "b"}).Repr() == "-ERR wrong number of arguments for 'ping' command");
}

TEST_CASE("MSET with an odd number of arguments", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"MSET", "a", "1", "b"}).Repr() ==
        "-ERR wrong number of arguments for 'mset' command");
  CHECK(c.Cmd({"MSETNX", "a", "1", "b"}).Repr() ==
        "-ERR wrong number of arguments for 'msetnx' command");
  CHECK(c.Cmd({"EXISTS", "a", "b"}).Repr() == ":0");
}

TEST_CASE("Unknown subcommand", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"CONFIG", "foo"}).Repr() == "-ERR unknown subcommand 'foo'. Try CONFIG HELP.");
  CHECK(c.Cmd({"CLIENT", "bar", "x"}).Repr() == "-ERR unknown subcommand 'bar'. Try CLIENT HELP.");
  CHECK(c.Cmd({"COMMAND", "nope"}).Repr() == "-ERR unknown subcommand 'nope'. Try COMMAND HELP.");
}

TEST_CASE("SELECT other than 0 is not allowed", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"SELECT", "0"}).Repr() == "+OK");
  CHECK(c.Cmd({"SELECT", "1"}).Repr() == "-ERR SELECT is not allowed in cluster mode");
  CHECK(c.Cmd({"SELECT", "x"}).Repr() == "-ERR invalid DB index");
}

TEST_CASE("HELLO with an unsupported protocol version", "[errors][resp3]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"HELLO", "4"}).Repr() == "-NOPROTO unsupported protocol version");
  CHECK(c.Cmd({"HELLO", "1"}).Repr() == "-NOPROTO unsupported protocol version");
  CHECK(c.Cmd({"HELLO", "x"}).Repr() == "-ERR Protocol version is not an integer or out of range");
  // Still RESP2.
  CHECK(c.Cmd({"GET", "missing"}).Repr() == "(nil)");
}

TEST_CASE("INCR against a key holding a non-integer", "[errors]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "s", "foo"}).Repr() == "+OK");
  CHECK(c.Cmd({"INCR", "s"}).Repr() == "-ERR value is not an integer or out of range");
  REQUIRE(c.Cmd({"SET", "s", " 1"}).Repr() == "+OK");
  CHECK(c.Cmd({"INCR", "s"}).Repr() == "-ERR value is not an integer or out of range");
  CHECK(c.Cmd({"INCRBY", "n", "x"}).Repr() == "-ERR value is not an integer or out of range");
  REQUIRE(c.Cmd({"SET", "max", "9223372036854775807"}).Repr() == "+OK");
  CHECK(c.Cmd({"INCR", "max"}).Repr() == "-ERR increment or decrement would overflow");
  CHECK(c.Cmd({"INCRBYFLOAT", "s", "x"}).Repr() == "-ERR value is not a valid float");
  CHECK(c.Cmd({"GET", "s"}).Repr() == "\" 1\"");
}
