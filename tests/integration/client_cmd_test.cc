// CLIENT SETNAME/GETNAME/ID/LIST/KILL.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> r;
  size_t start = 0;
  for (size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1) {
    r.push_back(s.substr(start, nl - start));
  }
  if (start < s.size()) r.push_back(s.substr(start));
  return r;
}

}  // namespace

TEST_CASE("CLIENT SETNAME and GETNAME", "[client]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"CLIENT", "GETNAME"}).Repr() == "(nil)");
  CHECK(c.Cmd({"CLIENT", "SETNAME", "myname"}).Repr() == "+OK");
  CHECK(c.Cmd({"CLIENT", "GETNAME"}).Repr() == "\"myname\"");
  CHECK(c.Cmd({"CLIENT", "SETNAME", "my name"}).Repr() ==
        "-ERR Client names cannot contain spaces, newlines or special characters.");
  CHECK(c.Cmd({"CLIENT", "GETNAME"}).Repr() == "\"myname\"");
  CHECK(c.Cmd({"CLIENT", "SETNAME", ""}).Repr() == "+OK");  // clears it
  CHECK(c.Cmd({"CLIENT", "GETNAME"}).Repr() == "(nil)");
}

TEST_CASE("CLIENT ID is unique per connection and stable", "[client]") {
  TestServer srv;
  // Connections are accepted by two io-threads, so ids follow accept order, not connect order.
  Client a = srv.Connect();
  Client b = srv.Connect();
  long long ia = a.Cmd({"CLIENT", "ID"}).Int();
  long long ib = b.Cmd({"CLIENT", "ID"}).Int();
  CHECK(ia > 0);
  CHECK(ib > 0);
  CHECK(ia != ib);
  CHECK(a.Cmd({"CLIENT", "ID"}).Int() == ia);
  // A later connection gets a larger id than both.
  Client c = srv.Connect();
  CHECK(c.Cmd({"CLIENT", "ID"}).Int() > std::max(ia, ib));
}

TEST_CASE("CLIENT LIST shows one line per connection", "[client]") {
  TestServer srv;
  std::vector<Client> clients;
  std::vector<long long> ids;
  for (int i = 0; i < 4; i++) {
    clients.push_back(srv.Connect());
    REQUIRE(clients.back().Cmd({"CLIENT", "SETNAME", "c" + std::to_string(i)}).Repr() == "+OK");
    ids.push_back(clients.back().Cmd({"CLIENT", "ID"}).Int());
  }
  Client& me = clients[0];
  // The harness's readiness probe may linger for a moment: wait for exactly our four.
  std::vector<std::string> lines;
  REQUIRE(WaitFor(
      [&] {
        lines = Lines(me.Cmd({"CLIENT", "LIST"}).Str());
        return lines.size() == 4;
      },
      kReplyTimeoutS));
  for (int i = 0; i < 4; i++) {
    const std::string id = "id=" + std::to_string(ids[i]) + " ";
    bool found = false;
    for (const auto& l : lines) {
      if (l.rfind(id, 0) != 0) continue;
      found = true;
      CHECK(l.find(" name=c" + std::to_string(i) + " ") != std::string::npos);
      CHECK(l.find(" addr=127.0.0.1:") != std::string::npos);
      CHECK(l.find(" cmd=client") != std::string::npos);
    }
    CHECK(found);
  }
  Reply one = me.Cmd({"CLIENT", "LIST", "ID", std::to_string(ids[2])});
  CHECK(Lines(one.Str()).size() == 1);
  CHECK(one.Str().rfind("id=" + std::to_string(ids[2]) + " ", 0) == 0);
  CHECK(me.Cmd({"CLIENT", "LIST", "ID", "abc"}).Repr() == "-ERR Invalid client ID");
}

TEST_CASE("CLIENT KILL ID closes another connection", "[client]") {
  TestServer srv;
  Client killer = srv.Connect();
  // Several victims, so some live on the other io-thread than the killer.
  std::vector<RawConn> victims;
  std::vector<long long> ids;
  for (int i = 0; i < 4; i++) {
    victims.push_back(srv.ConnectRaw());
    REQUIRE(victims.back().Send("CLIENT ID\r\n"));
    std::string r = victims.back().ReadUntil("\r\n", kReplyTimeoutS);
    REQUIRE(r.size() > 3);
    ids.push_back(std::stoll(r.substr(1)));
  }
  for (size_t i = 0; i < victims.size(); i++) {
    CHECK(killer.Cmd({"CLIENT", "KILL", "ID", std::to_string(ids[i])}).Repr() == ":1");
    // As in Redis the kill is done when the reply arrives: the victim runs nothing more.
    victims[i].Send("PING\r\n");
    bool closed = false;
    std::string got = victims[i].ReadUntilClose(kReplyTimeoutS, &closed);
    CHECK(got == "");
    CHECK(closed);
  }
  CHECK(killer.Cmd({"CLIENT", "KILL", "ID", std::to_string(ids[0])}).Repr() == ":0");
  CHECK(killer.Cmd({"CLIENT", "KILL", "ID", "0"}).Repr() ==
        "-ERR client-id should be greater than 0");
  CHECK(killer.Cmd({"PING"}).Repr() == "+PONG");
}

TEST_CASE("CLIENT KILL ip:port closes that connection", "[client]") {
  TestServer srv;
  Client killer = srv.Connect();
  Client victim = srv.Connect();
  std::string list = victim.Cmd({"CLIENT", "INFO"}).Str();
  size_t p = list.find(" addr=");
  REQUIRE(p != std::string::npos);
  std::string addr = list.substr(p + 6, list.find(' ', p + 6) - (p + 6));
  CHECK(killer.Cmd({"CLIENT", "KILL", addr}).Repr() == "+OK");
  CHECK_FALSE(victim.Cmd({"PING"}).ok());
  CHECK(killer.Cmd({"CLIENT", "KILL", addr}).Repr() == "-ERR No such client");
  CHECK(killer.Cmd({"CLIENT", "KILL", "1.2.3.4:5"}).Repr() == "-ERR No such client");
}

TEST_CASE("CLIENT KILL of the calling connection closes it after the reply", "[client]") {
  TestServer srv;
  RawConn c = srv.ConnectRaw();
  REQUIRE(c.Send("CLIENT ID\r\n"));
  std::string r = c.ReadUntil("\r\n", kReplyTimeoutS);
  REQUIRE(r.size() > 3);
  std::string id = r.substr(1, r.size() - 3);
  REQUIRE(c.Send("CLIENT KILL ID " + id + " SKIPME no\r\nPING\r\n"));
  bool closed = false;
  CHECK(c.ReadUntilClose(kReplyTimeoutS, &closed) == ":1\r\n");
  CHECK(closed);
}
