// Malformed requests: Redis 7's exact error text, then the connection is closed. Commands that
// came before the bad one in the same write still run.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

// Sends `req` on a fresh connection; requires the exact reply and then a close.
void ExpectReplyThenClose(const TestServer& srv, const std::string& req, const std::string& want) {
  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), req, kReplyTimeoutS, &closed);
  CHECK(got == want);
  CHECK(closed);
}

}  // namespace

TEST_CASE("Protocol errors are answered with Redis's text and close the connection", "[protocol]") {
  TestServer srv;
  SECTION("invalid multibulk length") {
    ExpectReplyThenClose(srv, "*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
  }
  SECTION("multibulk length over INT_MAX") {
    ExpectReplyThenClose(srv, "*2147483648\r\n",
                         "-ERR Protocol error: invalid multibulk length\r\n");
  }
  SECTION("expected '$'") {
    ExpectReplyThenClose(srv, "*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n");
  }
  SECTION("negative bulk length") {
    ExpectReplyThenClose(srv, "*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n");
  }
  SECTION("non-numeric bulk length") {
    ExpectReplyThenClose(srv, "*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n");
  }
  SECTION("bulk length over proto-max-bulk-len (512mb)") {
    ExpectReplyThenClose(srv, "*1\r\n$600000000\r\n",
                         "-ERR Protocol error: invalid bulk length\r\n");
  }
  SECTION("unbalanced quotes in an inline request") {
    ExpectReplyThenClose(srv, "SET \"unbalanced\r\n",
                         "-ERR Protocol error: unbalanced quotes in request\r\n");
  }
  SECTION("a 70 KB inline request without a newline") {
    ExpectReplyThenClose(srv, std::string(70 * 1024, 'a'),
                         "-ERR Protocol error: too big inline request\r\n");
  }
  SECTION("a 70 KB multibulk count line without a newline") {
    ExpectReplyThenClose(srv, "*" + std::string(70 * 1024, '1'),
                         "-ERR Protocol error: too big mbulk count string\r\n");
  }
  SECTION("a 70 KB bulk count line without a newline") {
    ExpectReplyThenClose(srv, "*1\r\n$" + std::string(70 * 1024, '1'),
                         "-ERR Protocol error: too big bulk count string\r\n");
  }
  // The server survives all of them.
  Client c = srv.Connect();
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("Commands before a protocol error in the same write are executed", "[protocol]") {
  TestServer srv;
  ExpectReplyThenClose(srv,
                       "SET before 1\r\n"
                       "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n"
                       "*abc\r\n"
                       "SET after 1\r\n",
                       "+OK\r\n:1\r\n-ERR Protocol error: invalid multibulk length\r\n");
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "before"}).Repr() == "\"1\"");
  CHECK(c.Cmd({"GET", "counter"}).Repr() == "\"1\"");
  CHECK(c.Cmd({"GET", "after"}).Repr() == "(nil)");
}

TEST_CASE("Empty and null multibulk requests are no-ops", "[protocol]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("*0\r\n*-1\r\n*0\r\nPING\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"));
  CHECK(c.ReadAtLeast(14, kReplyTimeoutS) == "+PONG\r\n+PONG\r\n");
  // Still open and serving.
  REQUIRE(c.Send("ECHO ok\r\n"));
  CHECK(c.ReadAtLeast(8, kReplyTimeoutS) == "$2\r\nok\r\n");
}

TEST_CASE("HTTP requests close the connection without a reply (cross protocol scripting)",
          "[protocol][security]") {
  TestServer srv;
  SECTION("POST") {
    bool closed = false;
    std::string got = SendRawReadAll(
        srv.port(), "POST / HTTP/1.1\r\nHost: x\r\n\r\nSET posted 1\r\n", kReplyTimeoutS, &closed);
    CHECK(got == "");
    CHECK(closed);
  }
  SECTION("Host: line") {
    bool closed = false;
    std::string got =
        SendRawReadAll(srv.port(), "Host: x\r\nSET posted 1\r\n", kReplyTimeoutS, &closed);
    CHECK(got == "");
    CHECK(closed);
  }
  Client c = srv.Connect();
  CHECK(c.Cmd({"EXISTS", "posted"}).Repr() == ":0");
}

TEST_CASE("A client exceeding client-query-buffer-limit is disconnected", "[protocol][limits]") {
  TestServer srv({"--client-query-buffer-limit", "1mb", "--max-object-size", "4mb"});
  SECTION("a 2 MB bulk sent in pieces") {
    RawConn c = srv.ConnectRaw();
    REQUIRE(c.connected());
    const size_t size = 2 * 1024 * 1024;
    REQUIRE(c.Send("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + std::to_string(size) + "\r\n"));
    const std::string piece(64 * 1024, 'x');
    bool send_failed = false;
    for (size_t sent = 0; sent < size && !send_failed; sent += piece.size()) {
      send_failed = !c.Send(piece);
    }
    if (!send_failed) c.Send("\r\n");
    bool closed = false;
    std::string got = c.ReadUntilClose(kReplyTimeoutS, &closed);
    CHECK(closed);
    CHECK(got == "");
  }
  SECTION("a pipeline of small commands is not limited by it") {
    // 3 MB of pipelined SETs (each 1 KB): the limit is on what is buffered, not the total.
    Client c = srv.Connect();
    const std::string v(1024, 'v');
    for (int i = 0; i < 3000; i++) c.Append({"SET", "k" + std::to_string(i % 10), v});
    int ok = 0;
    for (int i = 0; i < 3000; i++) ok += c.GetReply().Repr() == "+OK";
    CHECK(ok == 3000);
  }
  SECTION("a 512 KB value is accepted") {
    Client c = srv.Connect();
    CHECK(c.Cmd({"SET", "half", std::string(512 * 1024, 'h')}).Repr() == "+OK");
    CHECK(c.Cmd({"STRLEN", "half"}).Repr() == ":524288");
  }
  Client c = srv.Connect();
  CHECK(c.Cmd({"EXISTS", "big"}).Repr() == ":0");
}
