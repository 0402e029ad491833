// Connection limits: maxclients and the idle timeout.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

int ConnectedClients(Client& c) {
  std::string info = c.Cmd({"INFO", "clients"}).Str();
  const std::string key = "connected_clients:";
  size_t p = info.find(key);
  if (p == std::string::npos) return -1;
  return std::atoi(info.c_str() + p + key.size());
}

}  // namespace

TEST_CASE("maxclients: a connection beyond the limit gets an error and is closed",
          "[limits][maxclients]") {
  TestServer srv({"--maxclients", "2"});
  Client c1 = srv.Connect();
  // The harness's readiness probe may still be counted for a moment.
  REQUIRE(WaitFor([&] { return ConnectedClients(c1) == 1; }, kReplyTimeoutS));
  Client c2 = srv.Connect();
  REQUIRE(c2.Cmd({"PING"}).Repr() == "+PONG");

  bool closed = false;
  std::string got = SendRawReadAll(srv.port(), "PING\r\n", kReplyTimeoutS, &closed);
  CHECK(got == "-ERR max number of clients reached\r\n");
  CHECK(closed);

  // The two admitted clients are unaffected, and the refused one is not counted.
  CHECK(c1.Cmd({"PING"}).Repr() == "+PONG");
  CHECK(c2.Cmd({"PING"}).Repr() == "+PONG");
  CHECK(WaitFor([&] { return ConnectedClients(c1) == 2; }, kReplyTimeoutS));
  std::string info = c1.Cmd({"INFO", "stats"}).Str();
  CHECK(info.find("rejected_connections:1\r\n") != std::string::npos);

  // A slot frees up when a client leaves.
  c2 = Client();
  REQUIRE(WaitFor([&] { return ConnectedClients(c1) == 1; }, kReplyTimeoutS));
  Client c3 = srv.Connect();
  CHECK(c3.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("timeout: an idle connection is closed, an active one is not", "[limits][timeout]") {
  TestServer srv({"--timeout", "1"});
  RawConn idle = srv.ConnectRaw();
  RawConn busy = srv.ConnectRaw();
  REQUIRE(idle.Send("PING\r\n"));
  REQUIRE(idle.ReadAtLeast(7, kReplyTimeoutS) == "+PONG\r\n");
  auto start = std::chrono::steady_clock::now();
  // Keep `busy` active every 200 ms while waiting for `idle` to be closed.
  bool idle_closed = false;
  bool busy_ok = true;
  while (!idle_closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(8)) {
    busy_ok = busy_ok && busy.Send("PING\r\n") && busy.ReadAtLeast(7, 5) == "+PONG\r\n";
    bool closed = false;
    std::string got = idle.ReadUntilClose(0.2, &closed);
    CHECK(got == "");
    idle_closed = closed;
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(idle_closed);
  CHECK(elapsed >= 0.9);
  CHECK(elapsed <= 4.0);  // within ~3 s of going idle, plus slack for a slow (ASan) server
  CHECK(busy_ok);
  CHECK((busy.Send("PING\r\n") && busy.ReadAtLeast(7, 5) == "+PONG\r\n"));
}

TEST_CASE("timeout 0 never closes idle connections", "[limits][timeout]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  bool closed = false;
  c.ReadUntilClose(1.5, &closed);
  CHECK_FALSE(closed);
  REQUIRE(c.Send("PING\r\n"));
  CHECK(c.ReadAtLeast(7, kReplyTimeoutS) == "+PONG\r\n");
}
