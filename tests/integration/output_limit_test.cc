// client-output-buffer-limit for normal clients: a client that sends commands but does not
// read their replies is closed once its pending output passes the hard limit, or stays above
// the soft limit for the soft seconds, instead of growing the server's memory without bound.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "harness.h"

using namespace dynis::test;

namespace {

long long Stat(Client& c, const std::string& field) {
  std::string info = c.Cmd({"INFO", "stats"}).Str();
  size_t at = info.find(field + ":");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + field.size() + 1));
}

// Sends `n` GETs of a 200 KB value, reads nothing for `idle_s` seconds, then reads what arrives
// until the server closes (or the deadline). Returns the bytes received; *closed tells whether
// the server closed the connection.
size_t FloodWithoutReading(TestServer& srv, int n, double idle_s, bool* closed) {
  Client admin = srv.Connect();
  REQUIRE(admin.Cmd({"SET", "big", std::string(200 * 1000, 'x')}).Repr() == "+OK");
  RawConn raw = srv.ConnectRaw();
  std::string gets;
  for (int i = 0; i < n; i++) gets += "GET big\r\n";
  raw.Send(gets);
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
  return raw.ReadUntilClose(20, closed).size();
}

}  // namespace

TEST_CASE("A client over the hard output limit is closed", "[limits][output-buffer]") {
  TestServer srv({"--io-threads", "1", "--client-output-buffer-limit", "normal 1mb 0 0"});
  bool closed = false;
  const int n = 300;  // 60 MB of replies: far beyond what socket buffers absorb
  size_t got = FloodWithoutReading(srv, n, 0, &closed);
  CHECK(closed);
  CHECK(got < static_cast<size_t>(n) * 200 * 1000);
  Client c = srv.Connect();
  CHECK(Stat(c, "client_output_buffer_limit_disconnections") >= 1);
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");  // the server itself is fine
}

TEST_CASE("A client above the soft output limit for too long is closed",
          "[limits][output-buffer]") {
  TestServer srv({"--io-threads", "1", "--client-output-buffer-limit", "normal 0 512kb 1"});
  bool closed = false;
  const int n = 300;
  size_t got = FloodWithoutReading(srv, n, 3, &closed);  // soft seconds is 1
  CHECK(closed);
  CHECK(got < static_cast<size_t>(n) * 200 * 1000);
  Client c = srv.Connect();
  CHECK(Stat(c, "client_output_buffer_limit_disconnections") >= 1);
}

TEST_CASE("Without output limits a slow reader gets every reply", "[limits][output-buffer]") {
  TestServer srv({"--io-threads", "1", "--client-output-buffer-limit", "normal 0 0 0"});
  bool closed = false;
  Client admin = srv.Connect();
  REQUIRE(admin.Cmd({"SET", "big", std::string(200 * 1000, 'x')}).Repr() == "+OK");
  RawConn raw = srv.ConnectRaw();
  std::string gets;
  const int n = 50;
  for (int i = 0; i < n; i++) gets += "GET big\r\n";
  gets += "QUIT\r\n";
  raw.Send(gets);
  std::string got = raw.ReadUntilClose(20, &closed);
  CHECK(closed);  // by QUIT, after every reply
  CHECK(got.size() == static_cast<size_t>(n) * (9 + 200 * 1000 + 2) + 5);  // $200000\r\n…\r\n, +OK
}
