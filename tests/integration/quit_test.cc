// QUIT: the server answers +OK and closes; nothing pipelined after it runs.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

TEST_CASE("QUIT replies +OK and closes the connection", "[quit]") {
  TestServer srv;
  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), "QUIT\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "+OK\r\n");
  CHECK(closed);
}

TEST_CASE("Pipelined commands after QUIT are not executed", "[quit][pipelining]") {
  TestServer srv;
  SECTION("inline") {
    bool closed = false;
    std::string got = SendRawReadAll(srv.port(), "SET before 1\r\nQUIT\r\nSET after 1\r\nPING\r\n",
                                     kReplyTimeoutS, &closed);
    CHECK(got == "+OK\r\n+OK\r\n");
    CHECK(closed);
  }
  SECTION("multibulk") {
    bool closed = false;
    std::string got = SendRawReadAll(srv.port(),
                                     "*3\r\n$3\r\nSET\r\n$6\r\nbefore\r\n$1\r\n1\r\n"
                                     "*1\r\n$4\r\nQUIT\r\n"
                                     "*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n1\r\n",
                                     kReplyTimeoutS, &closed);
    CHECK(got == "+OK\r\n+OK\r\n");
    CHECK(closed);
  }
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "before"}).Repr() == "\"1\"");
  CHECK(c.Cmd({"GET", "after"}).Repr() == "(nil)");
  CHECK(c.Cmd({"EXISTS", "after"}).Repr() == ":0");
}

TEST_CASE("QUIT inside MULTI closes without queueing", "[quit][multi]") {
  TestServer srv;
  bool closed = false;
  std::string got =
      SendRawReadAll(srv.port(), "MULTI\r\nSET k 1\r\nQUIT\r\nEXEC\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "+OK\r\n+QUEUED\r\n+OK\r\n");
  CHECK(closed);
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "k"}).Repr() == "(nil)");
}
