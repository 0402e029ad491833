// Clean shutdown (SIGTERM, SIGINT, SHUTDOWN) exits 0 with the data on disk; SIGSTOP/SIGCONT
// only delays service.
#include <signal.h>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

void WriteSome(TestServer& srv) {
  Client c = srv.Connect();
  for (int i = 0; i < 200; i++) c.Append({"SET", "s:" + std::to_string(i), std::to_string(i)});
  int ok = 0;
  for (int i = 0; i < 200; i++) ok += c.GetReply().Repr() == "+OK";
  REQUIRE(ok == 200);
}

void CheckSome(TestServer& srv) {
  Client c = srv.Connect();
  CHECK(c.Cmd({"DBSIZE"}).Repr() == ":200");
  CHECK(c.Cmd({"GET", "s:0"}).Repr() == "\"0\"");
  CHECK(c.Cmd({"GET", "s:199"}).Repr() == "\"199\"");
}

}  // namespace

TEST_CASE("SIGTERM: the server exits 0 and the data is there after a restart", "[shutdown]") {
  TestServer srv;
  WriteSome(srv);
  Client idle = srv.Connect();  // an open connection does not block the shutdown
  REQUIRE(idle.Cmd({"PING"}).Repr() == "+PONG");
  CHECK(srv.Stop() == 0);
  srv.Restart();
  CheckSome(srv);
}

TEST_CASE("SIGINT: the server exits 0", "[shutdown]") {
  TestServer srv;
  WriteSome(srv);
  kill(srv.pid(), SIGINT);
  CHECK(srv.WaitExit() == 0);
  srv.Restart();
  CheckSome(srv);
}

TEST_CASE("SHUTDOWN: the connection closes without a reply and the server exits 0", "[shutdown]") {
  TestServer srv;
  WriteSome(srv);
  SECTION("SHUTDOWN") {
    bool closed = false;
    std::string got = SendRawReadAll(srv.port(), "SHUTDOWN\r\n", kReplyTimeoutS, &closed);
    CHECK(got == "");
    CHECK(closed);
  }
  SECTION("SHUTDOWN NOSAVE") {
    bool closed = false;
    std::string got = SendRawReadAll(srv.port(), "SHUTDOWN NOSAVE\r\n", kReplyTimeoutS, &closed);
    CHECK(got == "");
    CHECK(closed);
  }
  CHECK(srv.WaitExit() == 0);
  srv.Restart();
  CheckSome(srv);
}

TEST_CASE("A crash (a failed assertion's SIGABRT) leaves the signal and the stack in the log",
          "[shutdown][crash]") {
  TestServer srv;
  REQUIRE(srv.Connect().Cmd({"PING"}).Repr() == "+PONG");
  kill(srv.pid(), SIGABRT);
  CHECK(srv.WaitExit() != 0);
  const std::string log = srv.LogTail(80);
  INFO(log);
  CHECK(log.find("dynis crashed: signal 6 (ABRT)") != std::string::npos);
  CHECK(log.find("libc.so") != std::string::npos);  // frames, down to the library it died in
  CHECK(log.find("end of the crash report") != std::string::npos);
}

TEST_CASE("SHUTDOWN ABORT without a shutdown in progress is an error", "[shutdown]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"SHUTDOWN", "ABORT"}).Repr() == "-ERR No shutdown in progress.");
  CHECK(c.Cmd({"SHUTDOWN", "BOGUS"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("A stopped (SIGSTOP) server answers queued requests after SIGCONT", "[shutdown][pause]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("PING\r\n"));
  REQUIRE(c.ReadAtLeast(7, kReplyTimeoutS) == "+PONG\r\n");
  srv.Pause();
  REQUIRE(c.Send("SET paused 1\r\nGET paused\r\n"));
  CHECK(c.ReadAtLeast(1, 0.5) == "");
  srv.Resume();
  CHECK(c.ReadAtLeast(12, kReplyTimeoutS) == "+OK\r\n$1\r\n1\r\n");
  // A paused server can still be stopped cleanly.
  srv.Pause();
  CHECK(srv.Stop() == 0);
}
