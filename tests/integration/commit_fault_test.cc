// No reply leaves before the write it acknowledges is durable, on one node and in a cluster.
// DEBUG COMMIT-FAULT (enabled with --enable-debug-command) makes the next write batches slow
// (DELAY: the batch is not in the write-ahead log meanwhile) or fail like an I/O error (FAIL).
//
// The single-node cases build the race in which a reply used to leave early: a client whose
// large earlier reply is still being written sends a write, and the loop sees the write arrive
// and the socket become writable in the same poll. The reply of the write must still wait for
// the commit of its batch.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.h"

using namespace dynis::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const char kDebugYes[] = "yes";

std::string Bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// The omem CLIENT LIST reports for the connection named `name`, -1 when it is not listed.
long long Omem(Client& admin, const std::string& name) {
  std::string list = admin.Cmd({"CLIENT", "LIST"}).Str();
  size_t at = list.find(" name=" + name + " ");
  if (at == std::string::npos) return -1;
  size_t om = list.find(" omem=", at);
  if (om == std::string::npos) return -1;
  return std::stoll(list.substr(om + 6));
}

// A connection named `name` that asked for `key` and reads nothing, so that the server holds
// the part of the reply the socket buffers could not take in a write still in flight. Returns
// that part's size (0 when the whole reply fit).
long long StalledReader(TestServer& srv, Client& admin, const std::string& name,
                        const std::string& key, RawConn* conn) {
  *conn = srv.ConnectRaw();
  REQUIRE(conn->Send("CLIENT SETNAME " + name + "\r\n"));
  REQUIRE(conn->ReadUntil("+OK\r\n", kReplyTimeoutS) == "+OK\r\n");
  REQUIRE(conn->Send("GET " + key + "\r\n"));
  // The reply is written once at the end of the loop's turn (a CLIENT LIST of the same turn
  // still sees all of it); what that write left over then stays constant while nobody reads.
  WaitFor([&] { return Omem(admin, name) > 0; }, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return Omem(admin, name);
}

struct Race {
  std::string reply;    // the GET reply the racer asked for before its write
  size_t drained = 0;   // bytes of it the racer read while the loop was blocked
  long long left = 0;   // bytes of it the server still had to write then
  std::string after;    // what the racer read after the loop went on
  bool closed = false;  // the server closed the racer's connection
};

// Sets up the race on a one-loop server: `racer` has a large GET reply partly written; a
// blocker's SET takes the first queued commit fault (a delay) so that the loop is stuck; the
// racer then sends `SET acked v` and empties its socket. When the loop goes on it sees the
// racer's SET and a writable socket at once, and may complete the pending write in the same
// poll. The second queued fault applies to the racer's SET's batch. `after_s` bounds how long
// the racer reads after the blocker's commit returned.
Race RunRace(TestServer& srv, const std::vector<std::string>& second_fault, double after_s) {
  Client admin = srv.Connect();
  // Measure what one connection's socket buffers take on this machine, then size the GET
  // reply so that a little more than that is left for the server to write.
  REQUIRE(admin.Cmd({"SET", "probe", std::string(8 << 20, 'p')}).Repr() == "+OK");
  RawConn probe;
  long long probe_left = StalledReader(srv, admin, "probe", "probe", &probe);
  REQUIRE(probe_left > 0);
  long long capacity = static_cast<long long>(Bulk(std::string(8 << 20, 'p')).size()) - probe_left;
  probe = RawConn();
  const std::string value(static_cast<size_t>(capacity) + 64 * 1024, 'v');
  REQUIRE(admin.Cmd({"SET", "big", value}).Repr() == "+OK");

  Race race;
  race.reply = Bulk(value);
  RawConn racer;
  race.left = StalledReader(srv, admin, "racer", "big", &racer);
  INFO("socket buffers take " << capacity << " bytes; the server still holds " << race.left);
  REQUIRE(race.left > 0);
  REQUIRE(race.left < capacity / 2);  // once the racer empties its socket, the rest fits

  REQUIRE(admin.Cmd({"DEBUG", "COMMIT-FAULT", "DELAY", "2000"}).Repr() == "+OK");
  std::vector<std::string> fault = {"DEBUG", "COMMIT-FAULT"};
  fault.insert(fault.end(), second_fault.begin(), second_fault.end());
  REQUIRE(admin.Cmd(fault).Repr() == "+OK");
  RawConn blocker = srv.ConnectRaw();
  REQUIRE(blocker.Send("SET blocker b\r\n"));
  // The loop reads the blocker's SET at once and then sleeps in its commit for 2 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(racer.Send("SET acked v\r\n"));
  std::string drained =
      racer.ReadAtLeast(race.reply.size() - static_cast<size_t>(race.left), kReplyTimeoutS);
  race.drained = drained.size();
  // Nothing beyond what the buffers held can arrive while the loop is stuck.
  REQUIRE(race.drained == race.reply.size() - static_cast<size_t>(race.left));
  REQUIRE(blocker.ReadUntil("\r\n", kReplyTimeoutS) == "+OK\r\n");
  // The blocker's commit returned; the loop now reads the racer's SET, finishes the GET reply,
  // and commits the SET's batch with the second fault.
  race.after = racer.ReadAtLeast(static_cast<size_t>(race.left) + 5, after_s);
  if (second_fault[0] == "FAIL") {
    race.after += racer.ReadUntilClose(kReplyTimeoutS, &race.closed);
  }
  return race;
}

// Sends `bytes` from a socket bound to `source` (a loopback address) to 127.0.0.1:port and
// returns the first line of the answer.
std::string SendFrom(const char* source, int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  struct timeval tv = {static_cast<time_t>(kReplyTimeoutS), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, source, &a.sin_addr);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ok = ok && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ok = ok &&
       send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  std::string got;
  char buf[4096];
  while (ok && got.find("\r\n") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  REQUIRE(ok);
  return got.substr(0, got.find("\r\n"));
}

const char kNotAllowed[] =
    "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you "
    "can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.";

}  // namespace

TEST_CASE("DEBUG is refused unless enable-debug-command allows the connection",
          "[commit-fault][debug]") {
  SECTION("no, the default: refused with Redis's text, whatever the subcommand") {
    TestServer srv;
    Client c = srv.Connect();
    CHECK(c.Cmd({"CONFIG", "GET", "enable-debug-command"}).Repr() ==
          "[ \"enable-debug-command\", \"no\" ]");
    CHECK(c.Cmd({"DEBUG", "HELP"}).Repr() == kNotAllowed);
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL"}).Repr() == kNotAllowed);
    CHECK(c.Cmd({"DEBUG", "nonsense"}).Repr() == kNotAllowed);
    CHECK(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");  // nothing was queued
    // Like Redis, only the configuration file (or a startup flag) changes it.
    CHECK(c.Cmd({"CONFIG", "SET", "enable-debug-command", "yes"})
              .Repr()
              .rfind("-ERR CONFIG SET failed", 0) == 0);
    // Documented like every command.
    CHECK(c.Cmd({"COMMAND", "INFO", "debug"})[0][0].Str() == "debug");
    CHECK(MapField(c.Cmd({"COMMAND", "DOCS", "debug"})[1], "summary").Str() ==
          "A container for debugging commands");
  }
  SECTION("local: from 127.0.0.1 only") {
    TestServer srv({"--enable-debug-command", "local"});
    CHECK(SendFrom("127.0.0.1", srv.port(), "DEBUG HELP\r\n").rfind("*", 0) == 0);
    CHECK(SendFrom("127.0.0.2", srv.port(), "DEBUG HELP\r\n") == kNotAllowed);
  }
  SECTION("yes: the subcommands and their errors") {
    TestServer srv({"--enable-debug-command", "yes"});
    Client c = srv.Connect();
    CHECK(c.Cmd({"DEBUG", "HELP"}).Size() > 4);
    CHECK(c.Cmd({"DEBUG", "nonsense"}).Repr() ==
          "-ERR unknown subcommand or wrong number of arguments for 'nonsense'. Try DEBUG HELP.");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT"}).Repr() ==
          "-ERR unknown subcommand or wrong number of arguments for 'COMMIT-FAULT'. Try DEBUG "
          "HELP.");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "DELAY", "x"}).Repr() ==
          "-ERR value is not an integer or out of range");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "DELAY", "60001"}).Repr() ==
          "-ERR value is not an integer or out of range");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "DELAY", "10", "0"}).Repr() ==
          "-ERR value is not an integer or out of range");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL", "2"}).Repr() == "-ERR syntax error");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "EXPLODE"}).Repr() == "-ERR syntax error");
    // A queued failure that is reset never happens.
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL"}).Repr() == "+OK");
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "RESET"}).Repr() == "+OK");
    CHECK(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
    // A delay holds the write's reply back for as long as its batch is held back.
    CHECK(c.Cmd({"DEBUG", "COMMIT-FAULT", "DELAY", "300"}).Repr() == "+OK");
    auto start = std::chrono::steady_clock::now();
    CHECK(c.Cmd({"SET", "k", "w"}).Repr() == "+OK");
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
    CHECK(c.Cmd({"GET", "k"}).Str() == "w");
  }
}

TEST_CASE("A failed commit never answers +OK, even when an earlier reply was still being written",
          "[storage][durability][commit-fault]") {
  TestServer srv(
      {"--io-threads", "1", "--max-object-size", "64mb", "--enable-debug-command", kDebugYes});
  Race race = RunRace(srv, {"FAIL"}, kReplyTimeoutS);
  INFO(srv.LogTail());
  // The rest of the GET reply arrives, then the connection closes: the SET's batch failed, so
  // it gets no reply at all (its write was never stored).
  REQUIRE(race.after.size() >= static_cast<size_t>(race.left));
  CHECK(race.after.substr(static_cast<size_t>(race.left)) == "");
  CHECK(race.closed);
  Client c = srv.Connect();
  CHECK(c.Cmd({"GET", "acked"}).IsNil());
  CHECK(c.Cmd({"GET", "blocker"}).Str() == "b");
  // The fault behaves as an I/O error: the node refuses writes from now on.
  CHECK(c.Cmd({"SET", "later", "x"}).Repr().rfind("-IOERR", 0) == 0);
}

TEST_CASE("No reply byte of a write reaches the socket while its commit is running",
          "[storage][durability][commit-fault]") {
  TestServer srv(
      {"--io-threads", "1", "--max-object-size", "64mb", "--enable-debug-command", kDebugYes});
  // The racer's SET's batch takes 2 s to reach the log; the racer reads for 1 s of it, then
  // the node is killed with the write still not durable.
  Race race = RunRace(srv, {"DELAY", "2000"}, 1.0);
  bool acknowledged = race.after.find("+OK\r\n") != std::string::npos;
  srv.Kill9();
  srv.Restart();
  Client c = srv.Connect();
  std::string stored = c.Cmd({"GET", "acked"}).Repr();
  INFO("the racer read " << race.after.size() << " bytes after the blocker's commit; acked is "
                         << stored);
  CHECK(race.after.size() == static_cast<size_t>(race.left));
  CHECK_FALSE(acknowledged);
  if (acknowledged) CHECK(stored == "\"v\"");  // an acknowledged write survives kill -9
  CHECK(c.Cmd({"GET", "blocker"}).Str() == "b");
}

TEST_CASE("A cluster write counts only committed copies toward W", "[cluster][commit-fault]") {
  // One loop per node (DYNIS NODES then shows the one link), a short quorum deadline.
  TestCluster cl(3, {"--io-threads", "1", "--cluster-request-timeout", "300",
                     "--enable-debug-command", kDebugYes});
  Client c0 = cl.Connect(0);
  Client c1 = cl.Connect(1);
  REQUIRE(c0.Cmd({"SET", "k", "before"}).Repr() == "+OK");
  for (int n = 0; n < 3; n++) {
    REQUIRE(
        WaitFor([&] { return cl.LocalValues(n, "k") == std::vector<std::string>{"before"}; }, 10));
  }
  cl.node(2).Pause();  // W=2 of N=3 now needs both nodes 0 and 1

  // The coordinator's own commit fails: node 1's copy is the only committed one.
  REQUIRE(c0.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL"}).Repr() == "+OK");
  std::string w = c0.Cmd({"SET", "k", "coordinator-failed"}).Repr();
  INFO(cl.Logs());
  CHECK_THAT(w, StartsWith("-IOERR storage write failed"));
  CHECK_THAT(w, Contains("1 of 2 required replicas stored it (W=2, N=3)"));

  // A replica whose commit fails is not counted. Node 0 comes back with a whole store and
  // fails its next commit, the merge of node 1's write.
  cl.node(0).Restart();
  REQUIRE(WaitFor([&] { return cl.LinkState(1, 0) == "connected"; }, 15));
  c0 = cl.Connect(0);
  REQUIRE(c0.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL"}).Repr() == "+OK");
  w = c1.Cmd({"SET", "k", "replica-failed"}).Repr();
  // Node 2 is held down by now, so the list is nodes 0 and 1 (N stays 3): node 0's refusal
  // makes W impossible, and it may arrive before node 1's own commit is counted (0 or 1 of 2).
  CHECK_THAT(w, StartsWith("-NOQUORUM write: "));
  CHECK_THAT(w, Contains(" of 2 required replicas stored it (W=2, N=3): "));
  CHECK_THAT(w, !Contains("2 of 2"));
  // That merge is the batch that failed: node 0 refuses writes now.
  CHECK(c0.Cmd({"SET", "other", "x"}).Repr().rfind("-IOERR", 0) == 0);

  // W=1: a failed local commit is no copy either, and nobody else stores it (node 0 refuses,
  // node 2 is paused).
  REQUIRE(c1.Cmd({"DEBUG", "COMMIT-FAULT", "FAIL"}).Repr() == "+OK");
  w = c1.Cmd({"SETCTX", "k", "", "w1", "W", "1"}).Repr();
  CHECK_THAT(w, StartsWith("-IOERR storage write failed"));
  // N is the key's replica count (3), not the shorter sloppy list without the paused node.
  CHECK_THAT(w, Contains("0 of 1 required replicas stored it (W=1, N=3): 0 primaries, 0 "
                         "fallbacks"));
  cl.node(2).Resume();
}
