// Specification of how a command is coordinated in a cluster (commands/coordination.h), read
// from the real command table: whether it quorum-reads before running, its R and W, and the
// keys it reads. One table of cases.
#include "commands/coordination.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands/command.h"
#include "common/errors.h"
#include "common/status.h"

namespace dynis {
namespace {

// Defaults that differ from each other, so a mix-up of R and W shows.
constexpr int kDefaultR = 2;
constexpr int kDefaultW = 1;
constexpr int kReplicas = 3;

std::string Join(const std::vector<std::string>& argv) {
  std::ostringstream out;
  for (size_t i = 0; i < argv.size(); i++) out << (i ? " " : "") << argv[i];
  return out.str();
}

TEST_CASE("commands that read, or write from the current value, read first", "[coordination]") {
  struct Row {
    std::vector<std::string> argv;
    bool table_reads;  // CommandReadsFirst: the table's answer, before the quorum option
    bool read_first;   // the plan: no read when the quorum option is malformed
    int r, w;
    std::vector<std::string> keys;  // the keys read (for plans that read first)
  };
  const int R = kDefaultR;
  const int W = kDefaultW;
  const std::vector<Row> rows = {
      // Reads.
      {{"GET", "k"}, true, true, R, W, {"k"}},
      {{"get", "k"}, true, true, R, W, {"k"}},
      {{"MGET", "a", "b", "a"}, true, true, R, W, {"a", "b"}},
      {{"EXISTS", "b", "a", "b"}, true, true, R, W, {"b", "a"}},
      // SET is a blind write unless an option makes it depend on the current value.
      {{"SET", "k", "v"}, false, false, R, W, {}},
      {{"SET", "k", "v", "EX", "10"}, false, false, R, W, {}},
      {{"SET", "k", "v", "PX", "100"}, false, false, R, W, {}},
      {{"SET", "k", "v", "NX"}, true, true, R, W, {"k"}},
      {{"SET", "k", "v", "xx"}, true, true, R, W, {"k"}},
      {{"SET", "k", "v", "Get"}, true, true, R, W, {"k"}},
      {{"SET", "k", "v", "keepttl"}, true, true, R, W, {"k"}},
      {{"SET", "k", "v", "EX", "10", "NX"}, true, true, R, W, {"k"}},
      {{"SET", "k", "nx"}, false, false, R, W, {}},  // "nx" is the value, not an option
      {{"SET", "nx", "v"}, false, false, R, W, {}},  // nor the key
      {{"SETEX", "k", "10", "v"}, false, false, R, W, {}},
      {{"MSET", "k", "v"}, false, false, R, W, {}},  // one key's part of an MSET
      {{"MSET", "a", "nx", "b", "xx"}, false, false, R, W, {}},
      // Writes that depend on the current value.
      {{"SETNX", "k", "v"}, true, true, R, W, {"k"}},
      {{"DEL", "k"}, true, true, R, W, {"k"}},
      {{"DEL", "a", "b", "a"}, true, true, R, W, {"a", "b"}},
      {{"INCR", "k"}, true, true, R, W, {"k"}},
      {{"APPEND", "k", "v"}, true, true, R, W, {"k"}},
      // GETCTX reads with its own R; SETCTX / DELCTX write blind with their own W.
      {{"GETCTX", "k"}, true, true, R, W, {"k"}},
      {{"GETCTX", "k", "R", "3"}, true, true, 3, 3, {"k"}},
      {{"GETCTX", "k", "r", "1"}, true, true, 1, 1, {"k"}},
      {{"SETCTX", "k", "ctx", "v"}, false, false, R, W, {}},
      {{"SETCTX", "k", "ctx", "v", "W", "3"}, false, false, 3, 3, {}},
      {{"DELCTX", "k", "ctx"}, false, false, R, W, {}},
      {{"DELCTX", "k", "ctx", "w", "2"}, false, false, 2, 2, {}},
      // A malformed quorum option plans no read: the handler replies its error.
      {{"GETCTX", "k", "R", "0"}, true, false, R, W, {}},
      {{"GETCTX", "k", "R", "x"}, true, false, R, W, {}},
      {{"GETCTX", "k", "R", "4"}, true, false, R, W, {}},  // more than the replicas
      {{"GETCTX", "k", "W", "2"}, true, false, R, W, {}},  // the wrong letter
      {{"GETCTX", "k", "R"}, true, false, R, W, {}},
      {{"SETCTX", "k", "ctx", "v", "W", "0"}, false, false, R, W, {}},
  };
  for (const Row& row : rows) {
    INFO(Join(row.argv));
    const CommandSpec* spec = LookupCommand(row.argv[0]);
    REQUIRE(spec != nullptr);
    CHECK(CommandReadsFirst(*spec, row.argv) == row.table_reads);
    const replication::CommandPlan plan =
        PlanCommand(*spec, row.argv, kDefaultR, kDefaultW, kReplicas);
    CHECK(plan.read_first == row.read_first);
    CHECK(plan.r == row.r);
    CHECK(plan.w == row.w);
    if (row.read_first) CHECK(plan.keys == row.keys);
  }
}

TEST_CASE("PR and PW: in any order with R and W, each at most once", "[coordination]") {
  struct Row {
    std::vector<std::string> argv;
    std::string error;  // "" when the option is well-formed
    int q, pq;          // CommandQuorumOption's answer
    bool read_first;
    int r, w, pr, pw;  // the plan
  };
  const int R = kDefaultR;
  const int W = kDefaultW;
  const std::vector<Row> rows = {
      {{"GETCTX", "k", "R", "2", "PR", "1"}, "", 2, 1, true, 2, 2, 1, 0},
      {{"GETCTX", "k", "PR", "1", "R", "2"}, "", 2, 1, true, 2, 2, 1, 0},
      {{"GETCTX", "k", "pr", "3"}, "", 0, 3, true, R, W, 3, 0},
      {{"GETCTX", "k", "PR", "1", "PR", "1"}, "ERR syntax error", 0, 0, false, R, W, 0, 0},
      {{"GETCTX", "k", "R", "1", "R", "2"}, "ERR syntax error", 0, 0, false, R, W, 0, 0},
      {{"GETCTX", "k", "PR", "0"}, "ERR PR must be a positive integer", 0, 0, false, R, W, 0, 0},
      {{"GETCTX", "k", "PR", "x"}, "ERR PR must be a positive integer", 0, 0, false, R, W, 0, 0},
      {{"GETCTX", "k", "PR", "4"}, "ERR PR (4) is more than replicas (3)", 0, 0, false, R, W, 0,
       0},
      {{"GETCTX", "k", "PW", "1"}, "ERR syntax error", 0, 0, false, R, W, 0, 0},
      {{"GETCTX", "k", "PR", "1", "R"}, "ERR syntax error", 0, 0, false, R, W, 0, 0},
      {{"SETCTX", "k", "ctx", "v", "PW", "2"}, "", 0, 2, false, R, W, 0, 2},
      {{"SETCTX", "k", "ctx", "v", "W", "3", "PW", "2"}, "", 3, 2, false, 3, 3, 0, 2},
      {{"DELCTX", "k", "ctx", "pw", "1", "w", "2"}, "", 2, 1, false, 2, 2, 0, 1},
      {{"SETCTX", "k", "ctx", "v", "PW", "0"}, "ERR PW must be a positive integer", 0, 0, false,
       R, W, 0, 0},
      {{"SETCTX", "k", "ctx", "v", "PR", "1"}, "ERR syntax error", 0, 0, false, R, W, 0, 0},
      {{"SETCTX", "k", "ctx", "v", "PW", "5"}, "ERR PW (5) is more than replicas (3)", 0, 0,
       false, R, W, 0, 0},
  };
  for (const Row& row : rows) {
    INFO(Join(row.argv));
    const CommandSpec* spec = LookupCommand(row.argv[0]);
    REQUIRE(spec != nullptr);
    StatusOr<QuorumOption> q = CommandQuorumOption(*spec, row.argv, kReplicas);
    if (row.error.empty()) {
      REQUIRE(q.ok());
      CHECK(q->q == row.q);
      CHECK(q->pq == row.pq);
    } else {
      REQUIRE_FALSE(q.ok());
      CHECK(q.status().message() == row.error);
    }
    const replication::CommandPlan plan =
        PlanCommand(*spec, row.argv, kDefaultR, kDefaultW, kReplicas);
    CHECK(plan.read_first == row.read_first);
    CHECK(plan.r == row.r);
    CHECK(plan.w == row.w);
    CHECK(plan.pr == row.pr);
    CHECK(plan.pw == row.pw);
  }
  CHECK(err::QuorumAboveReplicas("PR", 4, 3) == "ERR PR (4) is more than replicas (3)");
}

}  // namespace
}  // namespace dynis
