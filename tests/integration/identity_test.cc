// Node identity: the node id and actor epoch live in the data dir. A clean restart keeps both;
// a crash (kill -9: the unsynced WAL tail may be gone), FLUSHALL or a lost data dir (empty dir
// under the same node id) leases a new, later epoch so the node never mints a dot it used
// before (Riak's kv679 lesson).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "harness.h"

using namespace dynis::test;

namespace {

struct Identity {
  std::string node_id;
  long long epoch = 0;
};

Identity Read(TestServer& srv) {
  Client c = srv.Connect();
  Reply r = c.Cmd({"DYNIS", "NODE"});
  REQUIRE(r.IsArray());
  Identity id;
  for (size_t i = 0; i + 1 < r.Size(); i += 2) {
    if (r[i].Str() == "node-id") id.node_id = r[i + 1].Str();
    if (r[i].Str() == "epoch") id.epoch = r[i + 1].Int();
  }
  return id;
}

}  // namespace

TEST_CASE("The node id survives restarts; the epoch survives only a clean one",
          "[identity]") {
  TestServer srv({"--node-id", "node-a"});
  Identity first = Read(srv);
  CHECK(first.node_id == "node-a");
  CHECK(first.epoch > 0);
  {
    Client c = srv.Connect();
    CHECK(c.Cmd({"CONFIG", "GET", "node-id"})[1].Str() == "node-a");
  }

  REQUIRE(srv.Stop() == 0);
  srv.Restart();
  Identity again = Read(srv);
  CHECK(again.node_id == "node-a");
  CHECK(again.epoch == first.epoch);

  // kill -9 may have lost the unsynced WAL tail (fsync everysec), and with it counters peers
  // have seen: the next run mints under a new epoch (kv679).
  srv.Kill9();
  srv.Restart();
  Identity crashed = Read(srv);
  CHECK(crashed.node_id == "node-a");
  CHECK(crashed.epoch > again.epoch);

  // FLUSHALL forgets every key's counter: a new epoch before anything is minted again.
  {
    Client c = srv.Connect();
    CHECK(c.Cmd({"FLUSHALL"}).Str() == "OK");
  }
  Identity flushed = Read(srv);
  CHECK(flushed.epoch > crashed.epoch);
  // ... and it is the one a clean restart keeps.
  REQUIRE(srv.Stop() == 0);
  srv.Restart();
  CHECK(Read(srv).epoch == flushed.epoch);

  srv.Kill9();
  std::string wipe = "rm -rf '" + srv.dir() + "/data'";
  REQUIRE(std::system(wipe.c_str()) == 0);
  srv.Restart();
  Identity reborn = Read(srv);
  CHECK(reborn.node_id == "node-a");
  CHECK(reborn.epoch > flushed.epoch);
}

TEST_CASE("A generated node id is kept by the data dir", "[identity]") {
  TestServer srv;
  Identity first = Read(srv);
  CHECK(first.node_id.size() == 40);
  REQUIRE(srv.Stop() == 0);
  srv.Restart();
  CHECK(Read(srv).node_id == first.node_id);
}

TEST_CASE("A data dir refuses to start under another node id", "[identity]") {
  TestServer srv({"--node-id", "node-a"});
  REQUIRE(srv.Stop() == 0);
  const char* env = std::getenv("DYNIS_SERVER");
  std::string bin = env != nullptr && *env ? env : "build/release/dynis-server";
  std::string cmd = "timeout 60 '" + bin + "' --port " + std::to_string(FreePort()) + " --dir '" +
                    srv.dir() + "/data' --node-id node-b > '" + srv.dir() + "/other.log' 2>&1";
  int rc = std::system(cmd.c_str());
  CHECK(rc != 0);
  std::string grep = "grep -q 'belongs to node node-a' '" + srv.dir() + "/other.log'";
  CHECK(std::system(grep.c_str()) == 0);
}
