// RESP3 after HELLO 3, checked byte for byte on a plain socket (hiredis 0.14 speaks RESP2).
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

// Sends `cmd` and returns the next `n` bytes.
std::string Exchange(RawConn& c, const std::string& cmd, size_t n) {
  REQUIRE(c.Send(cmd));
  return c.ReadAtLeast(n, kReplyTimeoutS);
}

// Reads one verbatim (=) or bulk ($) reply: the header line, then the announced length + 2.
std::string ReadLengthPrefixed(RawConn& c, std::string* body) {
  std::string got = c.ReadUntil("\r\n", kReplyTimeoutS);
  size_t eol = got.find("\r\n");
  REQUIRE(eol != std::string::npos);
  size_t len = std::stoul(got.substr(1, eol - 1));
  size_t total = eol + 2 + len + 2;
  if (got.size() < total) got += c.ReadAtLeast(total - got.size(), kReplyTimeoutS);
  REQUIRE(got.size() == total);
  CHECK(got.substr(total - 2) == "\r\n");
  *body = got.substr(eol + 2, len);
  return got.substr(0, 1);
}

void Hello3(RawConn& c) {
  REQUIRE(c.Send("HELLO 3\r\n"));
  std::string hello = c.ReadUntil("$7\r\nmodules\r\n*0\r\n", kReplyTimeoutS);
  REQUIRE(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n", 0) == 0);
  CHECK(hello.find("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:") != std::string::npos);
  CHECK(hello.find("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n") !=
        std::string::npos);
}

}  // namespace

TEST_CASE("HELLO 3 switches the connection to RESP3, HELLO 2 back", "[resp3]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  Hello3(c);
  CHECK(Exchange(c, "GET missing\r\n", 3) == "_\r\n");
  REQUIRE(c.Send("HELLO 2\r\n"));
  std::string hello = c.ReadUntil("$7\r\nmodules\r\n*0\r\n", kReplyTimeoutS);
  CHECK(hello.rfind("*14\r\n$6\r\nserver\r\n", 0) == 0);
  CHECK(hello.find("$5\r\nproto\r\n:2\r\n") != std::string::npos);
  CHECK(Exchange(c, "GET missing\r\n", 5) == "$-1\r\n");
}

TEST_CASE("RESP3: CONFIG GET returns a map", "[resp3][config]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  // RESP2 first: a flat array.
  std::string want2 = "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";
  CHECK(Exchange(c, "CONFIG GET maxclients\r\n", want2.size()) == want2);
  Hello3(c);
  std::string want3 = "%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n";
  CHECK(Exchange(c, "CONFIG GET maxclients\r\n", want3.size()) == want3);
  CHECK(Exchange(c, "CONFIG GET no-such-option\r\n", 4) == "%0\r\n");
}

TEST_CASE("RESP3: a missing key is the null type", "[resp3]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  Hello3(c);
  CHECK(Exchange(c, "GET missing\r\n", 3) == "_\r\n");
  CHECK(Exchange(c, "SET k v\r\nGET k\r\n", 12) == "+OK\r\n$1\r\nv\r\n");
  CHECK(Exchange(c, "MGET k missing\r\n", 14) == "*2\r\n$1\r\nv\r\n_\r\n");
  CHECK(Exchange(c, "CLIENT GETNAME\r\n", 3) == "_\r\n");
}

TEST_CASE("RESP3: a failed WATCH makes EXEC reply the null type", "[resp3][multi]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  Hello3(c);
  CHECK(Exchange(c, "WATCH x\r\n", 5) == "+OK\r\n");
  Client other = srv.Connect();
  REQUIRE(other.Cmd({"SET", "x", "1"}).Repr() == "+OK");
  CHECK(Exchange(c, "MULTI\r\nPING\r\nEXEC\r\n", 17) == "+OK\r\n+QUEUED\r\n_\r\n");
}

TEST_CASE("RESP3: INFO is a verbatim string, RESP2 a bulk string", "[resp3]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("INFO server\r\n"));
  std::string body;
  CHECK(ReadLengthPrefixed(c, &body) == "$");
  CHECK(body.rfind("# Server\r\n", 0) == 0);
  CHECK(body.find("redis_version:") != std::string::npos);
  Hello3(c);
  REQUIRE(c.Send("INFO server\r\n"));
  CHECK(ReadLengthPrefixed(c, &body) == "=");
  CHECK(body.rfind("txt:# Server\r\n", 0) == 0);
  CHECK(body.find("redis_version:") != std::string::npos);
  // Still in sync afterwards.
  CHECK(Exchange(c, "PING\r\n", 7) == "+PONG\r\n");
}

TEST_CASE("RESP3: errors and integers are unchanged", "[resp3]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  Hello3(c);
  CHECK(Exchange(c, "INCR n\r\n", 4) == ":1\r\n");
  std::string err = "-ERR wrong number of arguments for 'get' command\r\n";
  CHECK(Exchange(c, "GET\r\n", err.size()) == err);
}
