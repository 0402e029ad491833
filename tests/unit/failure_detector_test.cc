// Specification of the failure detector (cluster/failure_detector.h): a node's own judgement of
// its peers from the outcome of its requests, with explicit time.
#include "cluster/failure_detector.h"

#include <catch2/catch.hpp>
#include <vector>

namespace dynis::cluster {
namespace {

TEST_CASE("a peer never heard of is up", "[failure_detector]") {
  FailureDetector fd;
  CHECK(fd.Up(7));
  const PeerJudgement j = fd.Of(7);
  CHECK(j.health == Health::kUp);
  CHECK(j.since_ms == 0);
  CHECK(j.downs == 0);
  CHECK(j.ups == 0);
  CHECK(fd.Down().empty());
  CHECK(fd.transitions() == 0);
  // An answer from a stranger changes nothing and records nothing.
  CHECK_FALSE(fd.Answered(10, 7));
  CHECK(fd.peers().empty());
  CHECK(fd.transitions() == 0);
  CHECK(std::string(HealthName(Health::kUp)) == "up");
  CHECK(std::string(HealthName(Health::kDown)) == "down");
}

TEST_CASE("a failure holds a peer down; a second failure changes nothing", "[failure_detector]") {
  FailureDetector fd;
  CHECK(fd.Failed(100, 2, "timeout"));
  CHECK_FALSE(fd.Up(2));
  PeerJudgement j = fd.Of(2);
  CHECK(j.health == Health::kDown);
  CHECK(j.since_ms == 100);
  CHECK(j.reason == "timeout");
  CHECK(j.downs == 1);
  CHECK(j.ups == 0);
  CHECK(fd.transitions() == 1);

  CHECK_FALSE(fd.Failed(200, 2, "link lost"));
  j = fd.Of(2);
  CHECK(j.since_ms == 100);  // the first failure dates it
  CHECK(j.reason == "timeout");
  CHECK(j.downs == 1);
  CHECK(fd.transitions() == 1);
}

TEST_CASE("an answer brings a peer back up; an answer while up changes nothing",
          "[failure_detector]") {
  FailureDetector fd;
  REQUIRE(fd.Failed(100, 2, "timeout"));
  CHECK(fd.Answered(300, 2));
  CHECK(fd.Up(2));
  PeerJudgement j = fd.Of(2);
  CHECK(j.health == Health::kUp);
  CHECK(j.since_ms == 300);
  CHECK(j.downs == 1);
  CHECK(j.ups == 1);
  CHECK(fd.transitions() == 2);

  CHECK_FALSE(fd.Answered(400, 2));
  j = fd.Of(2);
  CHECK(j.since_ms == 300);
  CHECK(j.ups == 1);
  CHECK(fd.transitions() == 2);

  // Down and up again: the counts accumulate.
  CHECK(fd.Failed(500, 2, "refused"));
  CHECK(fd.Answered(600, 2));
  j = fd.Of(2);
  CHECK(j.downs == 2);
  CHECK(j.ups == 2);
  CHECK(j.reason == "refused");
  CHECK(fd.transitions() == 4);
}

TEST_CASE("probes of peers held down are due once per interval", "[failure_detector]") {
  FailureDetector fd(250);
  REQUIRE(fd.Failed(1000, 3, "x"));
  REQUIRE(fd.Failed(1100, 2, "x"));
  // The first probe waits one interval after the failure.
  CHECK(fd.TakeProbesDue(1000).empty());
  CHECK(fd.TakeProbesDue(1249).empty());
  CHECK(fd.TakeProbesDue(1250) == std::vector<NodeId>{3});
  CHECK(fd.Of(3).last_probe_ms == 1250);
  // Probed: not due again until another interval passed.
  CHECK(fd.TakeProbesDue(1350) == std::vector<NodeId>{2});
  CHECK(fd.TakeProbesDue(1400).empty());
  CHECK(fd.TakeProbesDue(1600) == std::vector<NodeId>{2, 3});
  // A peer back up is not probed.
  REQUIRE(fd.Answered(1700, 3));
  CHECK(fd.TakeProbesDue(5000) == std::vector<NodeId>{2});
}

TEST_CASE("the peers held down come out sorted", "[failure_detector]") {
  FailureDetector fd;
  for (NodeId id : {9, 4, 7, 1}) REQUIRE(fd.Failed(10, id, "x"));
  REQUIRE(fd.Answered(20, 7));
  CHECK(fd.Down() == std::vector<NodeId>{1, 4, 9});
  CHECK(fd.Up(7));
}

}  // namespace
}  // namespace dynis::cluster
