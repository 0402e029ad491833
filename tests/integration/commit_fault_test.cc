// No reply leaves before the write it acknowledges is durable, on one node and in a cluster.
// DEBUG COMMIT-FAULT (enabled with --enable-debug-command) makes the next write batches slow
// (DELAY: the batch is not in the write-ahead log meanwhile) or fail like an I/O error (FAIL).
//
// The single-node cases build the race in which a reply used to leave early: a client whose
// large earlier reply is still being written sends a write, and the loop sees the write arrive
// and the socket become writable in the same poll. The reply of the write must still wait for
// the commit of its batch.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.h"

using namespace dynis::test;

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

}  // namespace

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
