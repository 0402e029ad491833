// The NOQUORUM texts (common/errors.h) a client sees when an operation missed R/W or PR/PW.
#include "common/errors.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace dynis::err {
namespace {

TEST_CASE("NOQUORUM texts for reads and writes, with and without PR/PW", "[errors]") {
  struct Row {
    bool read;
    QuorumCounts c;  // answered, required, replicas, primaries, primary_required
    std::string want;
  };
  const std::vector<Row> rows = {
      {true, {1, 2, 3, 1, 0},
       "NOQUORUM read: 1 of 2 required replicas answered (R=2, N=3): 1 primary, 0 fallbacks"},
      {false, {1, 2, 3, 1, 0},
       "NOQUORUM write: 1 of 2 required replicas stored it (W=2, N=3): 1 primary, 0 fallbacks; "
       "it may still be applied"},
      {false, {0, 3, 3, 0, 0},
       "NOQUORUM write: 0 of 3 required replicas stored it (W=3, N=3): 0 primaries, 0 fallbacks; "
       "it may still be applied"},
      {true, {2, 3, 3, 0, 0},
       "NOQUORUM read: 2 of 3 required replicas answered (R=3, N=3): 0 primaries, 2 fallbacks"},
      // PR/PW given but R/W itself missed: the replica counts, with PR/PW shown.
      {true, {1, 2, 3, 1, 2},
       "NOQUORUM read: 1 of 2 required replicas answered (PR=2, R=2, N=3): 1 primary, "
       "0 fallbacks"},
      // R/W met, PR/PW missed: the primaries' counts.
      {false, {2, 2, 3, 1, 2},
       "NOQUORUM write: 1 of 2 required primaries stored it (PW=2, W=2, N=3): 1 primary, "
       "1 fallback; it may still be applied"},
      {true, {3, 2, 3, 1, 3},
       "NOQUORUM read: 1 of 3 required primaries answered (PR=3, R=2, N=3): 1 primary, "
       "2 fallbacks"},
      {true, {3, 3, 3, 2, 3},
       "NOQUORUM read: 2 of 3 required primaries answered (PR=3, R=3, N=3): 2 primaries, "
       "1 fallback"},
  };
  for (const Row& r : rows) {
    INFO(r.want);
    CHECK(NoQuorum(r.read, r.c) == r.want);
  }
}

TEST_CASE("a failed local commit carries the write's counts", "[errors]") {
  CHECK(LocalStoreFailed("IOERR disk", QuorumCounts{1, 2, 3, 1, 0}) ==
        "IOERR disk; 1 of 2 required replicas stored it (W=2, N=3): 1 primary, 0 fallbacks; it "
        "may still be applied");
}

}  // namespace
}  // namespace dynis::err
