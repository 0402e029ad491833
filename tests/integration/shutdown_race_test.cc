// SHUTDOWN while other connections keep running commands that pause every io-thread (EXEC,
// FLUSHALL, CLIENT LIST): the server still exits cleanly and promptly, never waiting for an
// io-thread that already stopped.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "harness.h"

using namespace dynis::test;

TEST_CASE("SHUTDOWN during all-thread commands exits cleanly", "[shutdown]") {
  for (int round = 0; round < 5; round++) {
    INFO("round " << round);
    TestServer srv({"--io-threads", "2"});
    std::atomic<bool> stop{false};
    std::vector<std::thread> load;
    for (int t = 0; t < 3; t++) {
      load.emplace_back([&srv, &stop, t] {
        Client c = srv.Connect();
        while (!stop.load()) {
          Reply r = t == 0   ? c.Cmd({"FLUSHALL"})
                    : t == 1 ? c.Cmd({"CLIENT", "LIST"})
                             : c.Cmd({"RENAME", "nosuchkey", "other"});
          if (!r.ok()) break;  // the server went away
          if (t == 1) c.Cmd({"SET", "k", "v"});
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Client admin = srv.Connect();
    admin.Cmd({"SHUTDOWN"});
    int status = srv.WaitExit(20);
    stop = true;
    for (auto& th : load) th.join();
    REQUIRE(status == 0);
  }
}
