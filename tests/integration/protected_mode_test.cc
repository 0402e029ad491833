// Protected mode: without a password, only loopback clients are served.
//
// A non-loopback client comes from a network namespace this test creates: a veth pair whose
// host end (10.231.N.1) the server also binds, and whose other end (10.231.N.2) lives in the
// namespace. Connections are opened from a thread that entered the namespace, so the server
// sees a non-loopback peer while no traffic leaves the pair of interfaces the test made.
// Needs root (ip netns); without it the test warns and does not pretend to pass.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <thread>

#include "harness.h"

using namespace dynis::test;

namespace {

class NetnsPeer {
 public:
  NetnsPeer() {
    static int counter = 0;
    int n = (getpid() + counter++) % 200 + 20;
    name_ = "dynis-pm-" + std::to_string(getpid()) + "-" + std::to_string(n);
    host_if_ = "dyh" + std::to_string(getpid() % 100000) + "x" + std::to_string(n % 10);
    peer_if_ = "dyp" + std::to_string(getpid() % 100000) + "x" + std::to_string(n % 10);
    host_ip_ = "10.231." + std::to_string(n) + ".1";
    std::string peer_ip = "10.231." + std::to_string(n) + ".2";
    std::string cmds = "ip netns add " + name_ + " && ip link add " + host_if_ +
                       " type veth peer name " + peer_if_ + " && ip link set " + peer_if_ +
                       " netns " + name_ + " && ip addr add " + host_ip_ + "/30 dev " + host_if_ +
                       " && ip link set " + host_if_ + " up && ip netns exec " + name_ +
                       " ip addr add " + peer_ip + "/30 dev " + peer_if_ + " && ip netns exec " +
                       name_ + " ip link set " + peer_if_ + " up";
    ok_ = std::system(("(" + cmds + ") >/dev/null 2>&1").c_str()) == 0;
  }
  ~NetnsPeer() {
    std::string cmd = "(ip link del " + host_if_ + "; ip netns del " + name_ + ") >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) WARN("could not remove netns " << name_);
  }
  bool ok() const { return ok_; }
  const std::string& host_ip() const { return host_ip_; }

  // Runs fn on a thread inside the namespace: sockets it creates belong there for good.
  template <class Fn>
  void Inside(Fn fn) const {
    std::string path = "/var/run/netns/" + name_;
    std::thread t([&] {
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0 && setns(fd, CLONE_NEWNET) == 0) fn();
      if (fd >= 0) close(fd);
    });
    t.join();
  }

 private:
  std::string name_, host_if_, peer_if_, host_ip_;
  bool ok_ = false;
};

RawConn RawFromNamespace(const NetnsPeer& ns, const TestServer& srv) {
  RawConn c;
  ns.Inside([&] { c = RawConn(ns.host_ip(), srv.port()); });
  return c;
}

Client ClientFromNamespace(const NetnsPeer& ns, const TestServer& srv) {
  Client c;
  ns.Inside([&] { c = Client(ns.host_ip(), srv.port()); });
  return c;
}

}  // namespace

TEST_CASE("Protected mode denies non-loopback clients when no password is set",
          "[protected-mode][security]") {
  NetnsPeer ns;
  if (!ns.ok()) {
    WARN(
        "cannot create a network namespace (needs root and iproute2): protected mode from a "
        "non-loopback peer not exercised");
    SUCCEED();
    return;
  }
  std::string bind = "127.0.0.1 " + ns.host_ip();
  SECTION("protected-mode yes (the default)") {
    TestServer srv({"--bind", bind});
    RawConn c = RawFromNamespace(ns, srv);
    REQUIRE(c.connected());
    c.Send("PING\r\n");
    bool closed = false;
    std::string got = c.ReadUntilClose(kReplyTimeoutS, &closed);
    CHECK(got.rfind("-DENIED ", 0) == 0);
    CHECK(got.find("protected mode") != std::string::npos);
    CHECK(got.find("\r\n") == got.size() - 2);  // one error line, nothing else
    CHECK(closed);
    // Loopback clients are served.
    Client local = srv.Connect();
    CHECK(local.Cmd({"PING"}).Repr() == "+PONG");
  }
  SECTION("protected-mode no") {
    TestServer srv({"--bind", bind, "--protected-mode", "no"});
    Client c = ClientFromNamespace(ns, srv);
    REQUIRE(c.connected());
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  }
  SECTION("a password is set") {
    TestServer srv({"--bind", bind, "--requirepass", "secret"});
    Client c = ClientFromNamespace(ns, srv);
    REQUIRE(c.connected());
    CHECK(c.Cmd({"PING"}).Repr() == "-NOAUTH Authentication required.");
    CHECK(c.Cmd({"AUTH", "secret"}).Repr() == "+OK");
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  }
  SECTION("CONFIG SET protected-mode no from loopback lets remote clients in") {
    TestServer srv({"--bind", bind});
    Client local = srv.Connect();
    REQUIRE(local.Cmd({"CONFIG", "SET", "protected-mode", "no"}).Repr() == "+OK");
    Client c = ClientFromNamespace(ns, srv);
    REQUIRE(c.connected());
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  }
}
