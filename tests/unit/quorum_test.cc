// Specification of the pure quorum decisions (replication/quorum.h), as tables.
#include "replication/quorum.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dynis::replication {
namespace {

using Kind = MemberAnswer::Kind;

TEST_CASE("required count is R or W capped at the preference list, at least one", "[quorum]") {
  struct Row {
    int n, wanted, required;
  };
  const std::vector<Row> rows = {
      {3, 2, 2}, {3, 3, 3}, {3, 1, 1},  {3, 5, 3}, {2, 3, 2}, {1, 2, 1},
      {5, 3, 3}, {3, 0, 1}, {3, -4, 1}, {0, 2, 0}, {0, 0, 0}, {-1, 1, 0},
  };
  for (const Row& r : rows) {
    INFO("n=" << r.n << " wanted=" << r.wanted);
    CHECK(QuorumRequired(r.n, r.wanted) == r.required);
  }
}

TEST_CASE("quorum decision from successes and failures", "[quorum]") {
  constexpr auto W = QuorumState::kWait;
  constexpr auto R = QuorumState::kReached;
  constexpr auto I = QuorumState::kImpossible;
  struct Row {
    int n, required, successes, failures;
    QuorumState want;
  };
  const std::vector<Row> rows = {
      // N=3, R=2 (the default)
      {3, 2, 0, 0, W},
      {3, 2, 1, 0, W},
      {3, 2, 1, 1, W},  // the last member can still make it
      {3, 2, 2, 0, R},
      {3, 2, 2, 1, R},
      {3, 2, 3, 0, R},
      {3, 2, 0, 1, W},
      {3, 2, 0, 2, I},  // one member left, two needed
      {3, 2, 1, 2, I},
      {3, 2, 0, 3, I},
      // N=3, R=1
      {3, 1, 0, 0, W},
      {3, 1, 1, 0, R},
      {3, 1, 0, 2, W},
      {3, 1, 0, 3, I},
      {3, 1, 1, 2, R},
      // N=3, R=3: any failure is fatal
      {3, 3, 2, 0, W},
      {3, 3, 3, 0, R},
      {3, 3, 2, 1, I},
      {3, 3, 0, 1, I},
      // small and large lists
      {1, 1, 0, 0, W},
      {1, 1, 1, 0, R},
      {1, 1, 0, 1, I},
      {5, 3, 2, 2, W},
      {5, 3, 2, 3, I},
      {5, 3, 3, 2, R},
      // success is checked before impossibility: reached stays reached after later failures
      {2, 1, 1, 1, R},
      // nothing to ask can never succeed
      {0, 0, 0, 0, I},
      {3, 0, 0, 0, I},
  };
  for (const Row& r : rows) {
    INFO("n=" << r.n << " required=" << r.required << " successes=" << r.successes
              << " failures=" << r.failures);
    CHECK(DecideQuorum(r.n, r.required, r.successes, r.failures) == r.want);
  }
}

TEST_CASE("read repair targets stale, absent, failed and silent members, never self", "[quorum]") {
  const std::string merged = "M";
  struct Row {
    const char* name;
    std::vector<MemberAnswer> answers;
    std::optional<std::string> merged;
    std::vector<NodeId> want;
  };
  const std::vector<Row> rows = {
      {"everyone current",
       {{1, Kind::kRecord, "M"}, {2, Kind::kRecord, "M"}, {3, Kind::kRecord, "M"}},
       merged,
       {}},
      {"one older",
       {{1, Kind::kRecord, "M"}, {2, Kind::kRecord, "old"}, {3, Kind::kRecord, "M"}},
       merged,
       {2}},
      {"absent while found elsewhere",
       {{1, Kind::kRecord, "M"}, {2, Kind::kAbsent, ""}, {3, Kind::kRecord, "M"}},
       merged,
       {2}},
      {"failed and silent",
       {{1, Kind::kRecord, "M"}, {2, Kind::kFailed, ""}, {3, Kind::kNone, ""}},
       merged,
       {2, 3}},
      {"the coordinator is never a target (it stores locally)",
       {{1, Kind::kRecord, "old"}, {2, Kind::kAbsent, ""}, {3, Kind::kRecord, "M"}},
       merged,
       {2}},
      {"the coordinator absent is not a target either",
       {{2, Kind::kRecord, "old"}, {1, Kind::kAbsent, ""}, {3, Kind::kNone, ""}},
       merged,
       {2, 3}},
      {"nothing found anywhere: nothing to send",
       {{1, Kind::kAbsent, ""}, {2, Kind::kAbsent, ""}, {3, Kind::kNone, ""}},
       std::nullopt,
       {}},
      {"coordinator outside the list",
       {{4, Kind::kRecord, "old"}, {5, Kind::kRecord, "M"}, {6, Kind::kNone, ""}},
       merged,
       {4, 6}},
      {"a member listed twice is sent once",
       {{2, Kind::kRecord, "old"}, {2, Kind::kNone, ""}, {3, Kind::kRecord, "M"}},
       merged,
       {2}},
      {"empty list", {}, merged, {}},
      {"a fallback is never repaired, stale, absent or silent",
       {{1, Kind::kRecord, "M"},
        {2, Kind::kAbsent, "", true, 0},
        {4, Kind::kAbsent, "", false, 3},
        {5, Kind::kNone, "", false, 6}},
       merged,
       {2}},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(RepairTargets(1, r.answers, r.merged) == r.want);
  }
}

TEST_CASE("sloppy tally: R/W over all answers and PR/PW over primaries", "[quorum]") {
  constexpr auto W = QuorumState::kWait;
  constexpr auto R = QuorumState::kReached;
  constexpr auto I = QuorumState::kImpossible;
  struct Row {
    const char* name;
    QuorumTally t;  // replicas, required, successes, failures,
                    // primaries, primary_required, primary_successes, primary_failures
    QuorumState want;
  };
  const std::vector<Row> rows = {
      // primary_required 0: exactly DecideQuorum, primaries ignored.
      {"no PR: waiting", {3, 2, 1, 0, 3, 0, 0, 0}, W},
      {"no PR: reached by fallbacks alone", {3, 2, 2, 0, 0, 0, 0, 0}, R},
      {"no PR: impossible", {3, 2, 0, 2, 3, 0, 0, 0}, I},
      {"no PR: primary failures do not matter", {3, 2, 2, 1, 3, 0, 0, 3}, R},
      // Both needed.
      {"R met, PR not yet", {3, 2, 2, 0, 2, 2, 1, 0}, W},
      {"PR met, R not yet", {3, 3, 2, 0, 2, 1, 1, 0}, W},
      {"both met", {3, 2, 2, 0, 2, 2, 2, 0}, R},
      {"both met by primaries and a fallback", {3, 3, 3, 0, 2, 2, 2, 0}, R},
      // Either impossible is impossible.
      {"R met, PR impossible", {3, 2, 2, 1, 2, 2, 1, 1}, I},
      {"PR met, R impossible", {3, 3, 1, 1, 2, 1, 1, 0}, I},
      {"PR above the primaries", {3, 2, 0, 0, 1, 2, 0, 0}, I},
      {"PR with no primaries", {3, 1, 1, 0, 0, 1, 0, 0}, I},
      {"PR with no primaries, nothing answered", {2, 1, 0, 0, 0, 1, 0, 0}, I},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(DecideTally(r.t) == r.want);
    if (r.t.primary_required == 0) {
      CHECK(DecideTally(r.t) ==
            DecideQuorum(r.t.replicas, r.t.required, r.t.successes, r.t.failures));
    }
  }
}

}  // namespace
}  // namespace dynis::replication
