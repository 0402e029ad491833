// Always writable, with real processes: local failure detection (DYNIS NODES health), sloppy
// quorum (fallbacks count toward W; PR/PW ask for primaries; sloppy-quorum no restores the
// strict quorum) and hinted handoff (a fallback keeps hints, durably, and replays them to the
// primary once it is back; hints-max-bytes bounds them).
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cluster_harness.h"

using namespace dynis::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using Clock = std::chrono::steady_clock;

std::string Key(int i) { return "hk:" + std::to_string(i); }
std::string Val(int i) { return "v" + std::to_string(i); }

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string Addr(TestCluster& cl, int i) { return "127.0.0.1:" + std::to_string(cl.node(i).port()); }

// Node `to`'s health as node `from` judges it (DYNIS NODES), "" when absent or on error.
std::string Health(Client& from, TestCluster& cl, int to) {
  Reply nodes = from.Cmd({"DYNIS", "NODES"});
  for (size_t i = 0; i < nodes.Size(); i++) {
    if (MapField(nodes[i], "addr").Str() == Addr(cl, to)) return MapField(nodes[i], "health").Str();
  }
  return "";
}

// Every running node holds every other running node up, and every stopped one down.
bool HealthSettled(TestCluster& cl) {
  for (int i = 0; i < cl.size(); i++) {
    if (!cl.node(i).running()) continue;
    Client c = cl.Connect(i, 5);
    for (int j = 0; j < cl.size(); j++) {
      if (i == j) continue;
      if (Health(c, cl, j) != (cl.node(j).running() ? "up" : "down")) return false;
    }
  }
  return true;
}

// The key's preference list as node `via` uses it: (node index, role).
std::vector<std::pair<int, std::string>> Roles(Client& via, TestCluster& cl,
                                               const std::string& key) {
  Reply pl = via.Cmd({"DYNIS", "PREFLIST", key});
  std::vector<std::pair<int, std::string>> out;
  for (size_t i = 0; i < pl.Size(); i++) {
    std::string addr = MapField(pl[i], "addr").Str();
    for (int j = 0; j < cl.size(); j++) {
      if (addr == Addr(cl, j)) out.emplace_back(j, MapField(pl[i], "role").Str());
    }
  }
  return out;
}

// The sum of an INFO dynis field over the running nodes.
long long SumInfo(TestCluster& cl, const std::string& field) {
  long long sum = 0;
  for (int i = 0; i < cl.size(); i++) {
    if (!cl.node(i).running()) continue;
    Client c = cl.Connect(i, 5);
    sum += InfoField(c, field);
  }
  return sum;
}

// Pending hints (DYNIS HINTS) kept by node i, summed over its targets.
long long HintsListed(TestCluster& cl, int i) {
  Client c = cl.Connect(i, 5);
  Reply h = c.Cmd({"DYNIS", "HINTS"});
  long long n = 0;
  for (size_t t = 0; t < h.Size(); t++) n += MapField(h[t], "hints").Int();
  return n;
}

// Waits until every (node, key) pair's replica holds exactly value Val(key index), reading
// with DYNIS LOCALCTX only (no client read that could repair). Returns the pairs still missing.
std::vector<std::pair<int, int>> WaitHeld(TestCluster& cl, std::vector<std::pair<int, int>> want,
                                          double timeout_s) {
  std::map<int, Client> conns;
  WaitFor(
      [&] {
        std::vector<std::pair<int, int>> left;
        for (const auto& [node, i] : want) {
          auto it = conns.find(node);
          if (it == conns.end() || !it->second.connected()) {
            it = conns.insert_or_assign(node, cl.Connect(node, 5)).first;
          }
          Reply r = it->second.Cmd({"DYNIS", "LOCALCTX", Key(i)});
          if (r[1].Strings() != std::vector<std::string>{Val(i)}) left.emplace_back(node, i);
        }
        want = std::move(left);
        return want.empty();
      },
      timeout_s);
  return want;
}

// Every (primary, key) pair for keys [0, n), the primaries as node `via` lists them.
std::vector<std::pair<int, int>> PrimaryPairs(TestCluster& cl, int via, int n) {
  Client c = cl.Connect(via);
  std::vector<std::pair<int, int>> out;
  for (int i = 0; i < n; i++) {
    for (const auto& [node, role] : Roles(c, cl, Key(i))) {
      if (role == "primary") out.emplace_back(node, i);
    }
  }
  return out;
}

// What every running node says about its hints, for failure messages.
std::string HintsReport(TestCluster& cl) {
  std::string out;
  for (int i = 0; i < cl.size(); i++) {
    if (!cl.node(i).running()) continue;
    Client c = cl.Connect(i, 5);
    out += "node " + std::to_string(i) + ": hints_pending " +
           std::to_string(InfoField(c, "hints_pending")) + ", hints_replayed " +
           std::to_string(InfoField(c, "hints_replayed")) + ", hints_replay_failures " +
           std::to_string(InfoField(c, "hints_replay_failures")) + ", DYNIS HINTS " +
           c.Cmd({"DYNIS", "HINTS"}).Repr() + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("five nodes, two killed: every write succeeds, and hints bring the primaries up to date",
          "[handoff][cluster]") {
  TestCluster cl(5, {"--replicas", "3", "--read-quorum", "2", "--write-quorum", "2"});
  constexpr int kKeys = 2000;
  cl.node(3).Kill9();
  cl.node(4).Kill9();
  Client c0 = cl.Connect(0);
  int ok = 0;
  std::string first_error;
  for (int i = 0; i < kKeys; i++) {
    Reply r = c0.Cmd({"SET", Key(i), Val(i)});
    if (r.Repr() == "+OK") {
      ++ok;
    } else if (first_error.empty()) {
      first_error = Key(i) + ": " + r.Repr();
    }
  }
  INFO(first_error);
  REQUIRE(ok == kKeys);
  REQUIRE(SumInfo(cl, "hints_stored") > 0);

  cl.node(3).Restart();
  cl.node(4).Restart();
  auto restarted = Clock::now();
  REQUIRE(cl.WaitFormed());
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  // Every primary of every key, as listed once all are up (only primaries then).
  std::vector<std::pair<int, int>> pairs = PrimaryPairs(cl, 0, kKeys);
  REQUIRE(pairs.size() == 3 * kKeys);
  std::vector<std::pair<int, int>> missing = WaitHeld(cl, pairs, 30 - Since(restarted));
  INFO("missing " << missing.size() << " of " << pairs.size() << ", first: node "
                  << (missing.empty() ? -1 : missing[0].first) << " "
                  << (missing.empty() ? "" : Key(missing[0].second)) << "\n"
                  << cl.Logs());
  CHECK(missing.empty());
  CHECK(SumInfo(cl, "hints_replayed") > 0);
  CHECK(WaitFor([&] { return SumInfo(cl, "hints_pending") == 0; }, 15));
}

TEST_CASE("hinted handoff, three nodes (Cassandra dtest): a node back gets the writes it missed",
          "[handoff][cluster]") {
  // With 3 nodes and N=3 every node is a primary of every key, so no fallback exists to keep a
  // hint for the stopped node: the coordinator keeps it itself (as Cassandra's do).
  TestCluster cl(3, {"--replicas", "3"});
  constexpr int kKeys = 1000;
  const int a = 0, b = 1, c = 2;
  REQUIRE(cl.node(b).Stop() == 0);
  Client ca = cl.Connect(a);
  for (int i = 0; i < kKeys; i++) {
    REQUIRE(ca.Cmd({"SETCTX", Key(i), "", Val(i), "W", "2"}).Repr() == "+OK");
  }
  cl.node(b).Restart();
  REQUIRE(cl.WaitFormed());
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  REQUIRE(WaitFor(
      [&] {
        Client x = cl.Connect(a, 5), y = cl.Connect(c, 5);
        return InfoField(x, "hints_pending") == 0 && InfoField(y, "hints_pending") == 0;
      },
      30));
  REQUIRE(cl.node(a).Stop() == 0);
  REQUIRE(cl.node(c).Stop() == 0);
  Client cb = cl.Connect(b);
  int found = 0;
  for (int i = 0; i < kKeys; i++) {
    Reply r = cb.Cmd({"GETCTX", Key(i), "R", "1"});
    if (r.IsArray() && r[1].Strings() == std::vector<std::string>{Val(i)}) ++found;
  }
  CHECK(found == kKeys);
}

TEST_CASE("hinted handoff, four nodes: a node back holds, alone, every key it is a primary of",
          "[handoff][cluster]") {
  // The dtest's intent where a fallback exists: B stopped (SIGTERM), 1,000 writes with W=2
  // through A, B started, hints replayed, every other node stopped: B answers R=1 alone.
  TestCluster cl(4, {"--replicas", "3"});
  constexpr int kKeys = 1000;
  const int a = 0, b = 1;
  REQUIRE(cl.node(b).Stop() == 0);
  Client ca = cl.Connect(a);
  for (int i = 0; i < kKeys; i++) {
    REQUIRE(ca.Cmd({"SETCTX", Key(i), "", Val(i), "W", "2"}).Repr() == "+OK");
  }
  cl.node(b).Restart();
  REQUIRE(cl.WaitFormed());
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  bool drained = WaitFor([&] { return SumInfo(cl, "hints_pending") == 0; }, 30);
  INFO(HintsReport(cl) << cl.Logs(25));
  REQUIRE(drained);
  std::vector<int> mine;
  {
    Client cb = cl.Connect(b);
    for (int i = 0; i < kKeys; i++) {
      for (const auto& [node, role] : Roles(cb, cl, Key(i))) {
        if (node == b && role == "primary") mine.push_back(i);
      }
    }
  }
  REQUIRE(mine.size() > kKeys / 2);  // 3 of 4 nodes hold each key: about 3/4 of them
  for (int i = 0; i < cl.size(); i++) {
    if (i != b) REQUIRE(cl.node(i).Stop() == 0);
  }
  Client cb = cl.Connect(b);
  int found = 0;
  std::string first_miss;
  for (int i : mine) {
    Reply r = cb.Cmd({"GETCTX", Key(i), "R", "1"});
    if (r.IsArray() && r[1].Strings() == std::vector<std::string>{Val(i)}) {
      ++found;
    } else if (first_miss.empty()) {
      first_miss = Key(i) + ": " + r.Repr();
    }
  }
  INFO(first_miss);
  CHECK(found == static_cast<int>(mine.size()));
}

TEST_CASE("hints survive a restart of the fallback and are replayed once the primary is back",
          "[handoff][cluster]") {
  TestCluster cl(5, {"--replicas", "3"});
  constexpr int kKeys = 300;
  const int p = 4;
  cl.node(p).Kill9();
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  Client c0 = cl.Connect(0);
  for (int i = 0; i < kKeys; i++) REQUIRE(c0.Cmd({"SET", Key(i), Val(i)}).Repr() == "+OK");
  int fallback = -1;
  long long listed = 0;
  for (int i = 0; i < p; i++) {
    if ((listed = HintsListed(cl, i)) > 0) {
      fallback = i;
      break;
    }
  }
  REQUIRE(fallback >= 0);
  // The fallback crashes and comes back while P is still down: its hints are durable.
  cl.node(fallback).Kill9();
  cl.node(fallback).Restart();
  REQUIRE(cl.WaitFormed());
  CHECK(HintsListed(cl, fallback) == listed);
  {
    Client f = cl.Connect(fallback);
    Reply h = f.Cmd({"DYNIS", "HINTS"});
    REQUIRE(h.Size() >= 1);
    CHECK(MapField(h[0], "health").Str() == "down");
    CHECK(MapField(h[0], "oldest").Int() > 0);
    CHECK(MapField(h[0], "bytes").Int() > 0);
  }

  cl.node(p).Restart();
  REQUIRE(cl.WaitFormed());
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  CHECK(WaitFor([&] { return SumInfo(cl, "hints_pending") == 0; }, 30));
  CHECK(HintsListed(cl, fallback) == 0);
  std::vector<std::pair<int, int>> on_p;
  for (const auto& [node, i] : PrimaryPairs(cl, 0, kKeys)) {
    if (node == p) on_p.emplace_back(node, i);
  }
  REQUIRE(!on_p.empty());
  std::vector<std::pair<int, int>> missing = WaitHeld(cl, on_p, 15);
  INFO("P misses " << missing.size() << " of " << on_p.size() << "\n" << cl.Logs());
  CHECK(missing.empty());
}

TEST_CASE("a full hints budget drops hints and nothing else", "[handoff][cluster]") {
  constexpr long long kBudget = 2000;
  TestCluster cl(5, {"--replicas", "3", "--hints-max-bytes", std::to_string(kBudget)});
  constexpr int kKeys = 500;
  cl.node(3).Kill9();
  cl.node(4).Kill9();
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  Client c0 = cl.Connect(0);
  int refused = 0;
  std::string first_error;
  for (int i = 0; i < kKeys; i++) {
    Reply r = c0.Cmd({"SET", Key(i), Val(i)});
    if (r.Repr() == "+OK") continue;
    ++refused;
    if (first_error.empty()) first_error = r.Repr();
    // Only a NOQUORUM (the counted copies) or the fallback's HINTSFULL, never the connection.
    REQUIRE(r.IsError());
  }
  INFO("refused " << refused << ", first: " << first_error);
  CHECK(SumInfo(cl, "hints_dropped") > 0);
  for (int i = 0; i < 3; i++) {
    Client c = cl.Connect(i);
    CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
    Reply h = c.Cmd({"DYNIS", "HINTS"});
    for (size_t t = 0; t < h.Size(); t++) {
      INFO("node " << i << " target " << MapField(h[t], "node-id").Str());
      CHECK(MapField(h[t], "bytes").Int() <= kBudget + 256);  // one record's slack
    }
  }
  // Keys whose preference list is healthy (three primaries up) are written as always.
  int healthy = 0;
  for (int i = kKeys; i < kKeys + 200; i++) {
    auto roles = Roles(c0, cl, Key(i));
    bool all_primaries = roles.size() == 3;
    for (const auto& [node, role] : roles) all_primaries = all_primaries && role == "primary";
    if (!all_primaries) continue;
    ++healthy;
    INFO(Key(i));
    CHECK(c0.Cmd({"SET", Key(i), Val(i)}).Repr() == "+OK");
  }
  CHECK(healthy > 0);
  for (int i = 0; i < 3; i++) CHECK(cl.node(i).running());
}

TEST_CASE("failure detection: a paused or killed peer is judged down within twice the request "
          "timeout, and up again soon after it answers",
          "[handoff][cluster][health]") {
  constexpr double kTimeoutS = 0.5;
  constexpr double kSlackS = 0.5;  // polling, and an ASan build on two busy cores
  TestCluster cl(3, {"--cluster-request-timeout", "500"});
  Client c0 = cl.Connect(0);
  REQUIRE(Health(c0, cl, 2) == "up");
  REQUIRE(Health(c0, cl, 0) == "self");
  const long long transitions = InfoField(c0, "peer_health_transitions");

  cl.node(2).Pause();
  auto paused = Clock::now();
  REQUIRE(WaitFor([&] { return Health(c0, cl, 2) == "down"; }, 10));
  const double down_after = Since(paused);
  CHECK(down_after <= 2 * kTimeoutS + kSlackS);
  CHECK(InfoField(c0, "peers_down") == 1);
  {
    // health-since is the transition's unix ms.
    Reply nodes = c0.Cmd({"DYNIS", "NODES"});
    for (size_t i = 0; i < nodes.Size(); i++) {
      if (MapField(nodes[i], "addr").Str() == Addr(cl, 2)) {
        long long since = MapField(nodes[i], "health-since").Int();
        long long now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
        CHECK(since > now_ms - 10000);
        CHECK(since <= now_ms);
      }
    }
  }

  cl.node(2).Resume();
  auto resumed = Clock::now();
  REQUIRE(WaitFor([&] { return Health(c0, cl, 2) == "up"; }, 10));
  const double up_after = Since(resumed);
  CHECK(up_after <= 1.0 + kSlackS);
  CHECK(InfoField(c0, "peers_down") == 0);

  cl.node(1).Kill9();
  auto killed = Clock::now();
  REQUIRE(WaitFor([&] { return Health(c0, cl, 1) == "down"; }, 10));
  const double killed_after = Since(killed);
  CHECK(killed_after <= 1.0 + kSlackS);
  CHECK(InfoField(c0, "peer_health_transitions") >= transitions + 3);
  INFO("down after pause " << down_after << " s, up after resume " << up_after
                           << " s, down after kill " << killed_after << " s");
  SUCCEED();
}

TEST_CASE("failure detection: a replica coordinating forwarded writes while it waits for a paused "
          "peer is not judged down, and the writes it stores meanwhile succeed",
          "[handoff][cluster][health]") {
  // Node 0 is no replica of the keys `far` ([x, y]), so it forwards their writes to node x,
  // whose answer waits for node y (paused) until the request timeout: node x working, not node
  // x silent. Node 0 coordinates the keys `near` (node 0 and x) itself and sends node x their
  // puts meanwhile. Those must not queue behind the forwarded writes' answers: node 0 keeps
  // node x up and W=2 is met. (A chaos run's partitioned minority judged its one reachable partner
  // down this way and refused writes.)
  constexpr int kRounds = 150;
  constexpr int kRoundMs = 10;
  constexpr int kTimeoutMs = 500;
  TestCluster cl(4, {"--replicas", "2", "--cluster-request-timeout", std::to_string(kTimeoutMs)});
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  Client c0 = cl.Connect(0);
  // Keys by preference list; the ring's order decides which pairs exist.
  std::map<std::vector<int>, std::vector<std::string>> by_list;
  for (int i = 0; i < 2000; i++) {
    std::vector<int> nodes;
    for (const auto& [node, role] : Roles(c0, cl, Key(i))) nodes.push_back(node);
    by_list[nodes].push_back(Key(i));
  }
  // far: [x, y], neither node 0; near: node 0 and x.
  int x = -1, y = -1;
  std::vector<std::string> far, near;
  for (const auto& [list, keys] : by_list) {
    if (list.size() != 2 || list[0] == 0 || list[1] == 0) continue;
    for (const auto& [list2, keys2] : by_list) {
      if (list2.size() == 2 && std::count(list2.begin(), list2.end(), 0) == 1 &&
          std::count(list2.begin(), list2.end(), list[0]) == 1) {
        x = list[0];
        y = list[1];
        far.assign(keys.begin(), keys.begin() + std::min<size_t>(20, keys.size()));
        near.assign(keys2.begin(), keys2.begin() + std::min<size_t>(20, keys2.size()));
      }
    }
  }
  REQUIRE(x > 0);
  REQUIRE(far.size() == 20);
  REQUIRE(near.size() == 20);
  auto since_of_x = [&] {
    Reply nodes = c0.Cmd({"DYNIS", "NODES"});
    for (size_t i = 0; i < nodes.Size(); i++) {
      if (MapField(nodes[i], "addr").Str() == Addr(cl, x)) {
        return MapField(nodes[i], "health-since").Int();
      }
    }
    return -1LL;
  };
  const long long since_before = since_of_x();
  REQUIRE(since_before >= 0);

  cl.node(y).Pause();
  // A forwarded write, then a coordinated one, every 10 ms for 1.5 s (three request
  // timeouts), pipelined on one connection: the forwards start while node x still waits for
  // node y, and go on after it judged node y down.
  bool sent = true;
  for (int i = 0; i < kRounds; i++) {
    c0.Append({"SET", far[i % far.size()], Val(i)});
    c0.Append({"SET", near[i % near.size()], Val(i)});
    int done = 0;  // on the wire now, not when the replies are read
    while (!done && redisBufferWrite(c0.get(), &done) == REDIS_OK) {
    }
    sent = sent && done;
    std::this_thread::sleep_for(std::chrono::milliseconds(kRoundMs));
  }
  REQUIRE(sent);
  std::map<std::string, int> far_replies, near_replies;
  int late_far_ok = 0;  // forwarded writes sent two timeouts after the pause or later
  const int late = 2 * kTimeoutMs / kRoundMs;
  for (int i = 0; i < kRounds; i++) {
    std::string r = c0.GetReply().Repr();
    if (i >= late && r == "+OK") late_far_ok++;
    far_replies[r]++;
    near_replies[c0.GetReply().Repr()]++;
  }
  auto show = [](const std::map<std::string, int>& m) {
    std::string out;
    for (const auto& [r, n] : m) out += "  " + std::to_string(n) + " x " + r + "\n";
    return out;
  };
  INFO("forwarded writes:\n" << show(far_replies) << "coordinated writes:\n" << show(near_replies)
                              << cl.Logs(20));
  CHECK(Health(c0, cl, x) == "up");
  CHECK(since_of_x() == since_before);  // never judged down meanwhile
  CHECK(near_replies["+OK"] == kRounds);  // both replicas reachable all along
  // The forwarded writes of the first timeout wait for node y and miss W (as they would
  // without forwarding); node x holds node y down after that, and fallbacks take its place.
  CHECK(late_far_ok == kRounds - late);
  cl.node(y).Resume();
}

TEST_CASE("PR and PW ask for primaries", "[handoff][cluster]") {
  TestCluster cl(3, {"--replicas", "3", "--cluster-request-timeout", "500"});
  Client c0 = cl.Connect(0);
  REQUIRE(c0.Cmd({"SET", "k", "v"}).Repr() == "+OK");

  // A primary paused but not yet judged down: W=2 is met, PW=3 is missed at the deadline.
  cl.node(2).Pause();
  std::string w = c0.Cmd({"SETCTX", "k", "", "v1", "W", "2", "PW", "3"}).Repr();
  CHECK(w == "-NOQUORUM write: 2 of 3 required primaries stored it (PW=3, W=2, N=3): 2 "
             "primaries, 0 fallbacks; it may still be applied");
  cl.node(2).Resume();
  REQUIRE(WaitFor([&] { return Health(c0, cl, 2) == "up"; }, 10));

  // Killed and judged down: the list holds two primaries, PW=3 cannot be met at all (it is
  // refused at once, with the W counts); PW=2 is.
  cl.node(2).Kill9();
  REQUIRE(WaitFor([&] { return Health(c0, cl, 2) == "down"; }, 10));
  w = c0.Cmd({"SETCTX", "k", "", "v2", "W", "2", "PW", "3"}).Repr();
  INFO(w);
  CHECK_THAT(w, StartsWith("-NOQUORUM write: "));
  CHECK_THAT(w, Contains("(PW=3, W=2, N=3): "));
  CHECK(c0.Cmd({"SETCTX", "k", "", "v3", "W", "2", "PW", "2"}).Repr() == "+OK");
  std::string r = c0.Cmd({"GETCTX", "k", "PR", "3"}).Repr();
  INFO(r);
  CHECK_THAT(r, StartsWith("-NOQUORUM read: "));
  CHECK_THAT(r, Contains("(PR=3, R=2, N=3): "));
  Reply ok = c0.Cmd({"GETCTX", "k", "PR", "2"});
  REQUIRE(ok.IsArray());
  CHECK_THAT(ok[1].Strings()[0], StartsWith("v"));
  CHECK(c0.Cmd({"GETCTX", "k", "PR", "0"}).Repr() == "-ERR PR must be a positive integer");
  CHECK(c0.Cmd({"GETCTX", "k", "PR", "1", "PR", "1"}).Repr() == "-ERR syntax error");
}

TEST_CASE("sloppy-quorum no refuses writes without W primaries; yes takes fallbacks",
          "[handoff][cluster]") {
  TestCluster cl(5, {"--replicas", "3", "--sloppy-quorum", "no"});
  constexpr int kKeys = 200;
  cl.node(3).Kill9();
  cl.node(4).Kill9();
  REQUIRE(WaitFor([&] { return HealthSettled(cl); }, 15));
  Client c0 = cl.Connect(0);
  int refused = 0;
  for (int i = 0; i < kKeys; i++) {
    // Strict list: the three primaries, up or down.
    std::vector<int> pl = cl.Preflist(Key(i));
    const bool two_down = std::count(pl.begin(), pl.end(), 3) + std::count(pl.begin(), pl.end(), 4) == 2;
    std::string r = c0.Cmd({"SET", Key(i), Val(i)}).Repr();
    INFO(Key(i) << " " << r);
    if (two_down) {
      // Both down primaries fail at once, before the live one's commit is counted.
      CHECK_THAT(r, StartsWith("-NOQUORUM write: "));
      CHECK_THAT(r, Contains(" of 2 required replicas stored it (W=2, N=3): "));
      ++refused;
    } else {
      CHECK(r == "+OK");
    }
  }
  CHECK(refused > 0);
  CHECK(SumInfo(cl, "hints_stored") == 0);
  for (int i = 0; i < 3; i++) {
    Client c = cl.Connect(i);
    REQUIRE(c.Cmd({"CONFIG", "SET", "sloppy-quorum", "yes"}).Repr() == "+OK");
  }
  for (int i = 0; i < kKeys; i++) {
    INFO(Key(i));
    CHECK(c0.Cmd({"SET", Key(i), Val(i)}).Repr() == "+OK");
  }
  CHECK(SumInfo(cl, "hints_stored") > 0);
}
