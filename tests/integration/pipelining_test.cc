// Pipelining: many commands in flight on one connection, replies in request order, and the
// inline and multibulk request forms mixed in one write.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

TEST_CASE("A 10,000-command pipeline of SET/GET/INCR is answered in order", "[pipelining]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.connected());
  const int n = 10000;
  for (int i = 0; i < n; i++) {
    switch (i % 3) {
      case 0:
        c.Append({"SET", "pipe:" + std::to_string(i), "v" + std::to_string(i)});
        break;
      case 1:  // reads the key the previous command wrote (it may live on another io-thread)
        c.Append({"GET", "pipe:" + std::to_string(i - 1)});
        break;
      default:
        c.Append({"INCR", "pipe:counter"});
        break;
    }
  }
  int mismatches = 0;
  std::string first_bad;
  for (int i = 0; i < n; i++) {
    Reply r = c.GetReply();
    REQUIRE(r.ok());
    std::string want;
    switch (i % 3) {
      case 0:
        want = "+OK";
        break;
      case 1:
        want = "\"v" + std::to_string(i - 1) + "\"";
        break;
      default:
        want = ":" + std::to_string(i / 3 + 1);
        break;
    }
    if (r.Repr() != want) {
      if (mismatches++ == 0) first_bad = "#" + std::to_string(i) + ": " + r.Repr() + " != " + want;
    }
  }
  INFO(first_bad);
  CHECK(mismatches == 0);
  CHECK(c.Cmd({"GET", "pipe:counter"}).Repr() == "\"3333\"");
  CHECK(c.Cmd({"GET", "pipe:9999"}).Repr() == "\"v9999\"");
}

TEST_CASE("Inline and multibulk requests mixed in one write, with LF and CRLF",
          "[pipelining][protocol]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.connected());
  const std::string req =
      "PING\r\n"
      "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n"
      "GET a\n"                 // inline, LF only
      "ECHO \"two words\"\r\n"  // inline with quotes, CRLF
      "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
      "SET b 'single quoted'\n"
      "\r\n"  // an empty inline line is ignored
      "GET b\r\n";
  const std::string want =
      "+PONG\r\n"
      "+OK\r\n"
      "$5\r\nhello\r\n"
      "$9\r\ntwo words\r\n"
      "$5\r\nhello\r\n"
      "+OK\r\n"
      "$13\r\nsingle quoted\r\n";
  REQUIRE(c.Send(req));
  CHECK(c.ReadAtLeast(want.size(), kReplyTimeoutS) == want);
}

TEST_CASE("A pipeline sent one byte per write is parsed the same", "[pipelining][protocol]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.connected());
  const std::string req =
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$6\r\nva\r\nue\r\n"  // a CRLF inside a bulk is data
      "INCR n\r\n"
      "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
  const std::string want = "+OK\r\n:1\r\n$6\r\nva\r\nue\r\n";
  for (char ch : req) REQUIRE(c.Send(std::string(1, ch)));
  CHECK(c.ReadAtLeast(want.size(), kReplyTimeoutS) == want);
}
