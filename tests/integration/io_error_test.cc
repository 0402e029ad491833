// An I/O error from storage makes the node refuse writes with a clear error instead of
// acknowledging them, while reads keep working. The data dir is a small tmpfs that fills up.
// Needs root (mount); without it the test warns and does not pretend to pass.
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "harness.h"

using namespace dynis::test;

namespace {

class SmallTmpfs {
 public:
  explicit SmallTmpfs(const char* size) {
    char tmpl[] = "/tmp/dynis-full-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string opts = std::string("size=") + size;
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

}  // namespace

TEST_CASE("A full disk makes the node refuse writes and keep serving reads", "[storage][io]") {
  SmallTmpfs fs("24m");
  if (!fs.mounted()) {
    WARN("cannot mount a tmpfs (needs root): the I/O error path is not exercised");
    SUCCEED();
    return;
  }
  TestServer srv({"--dir", fs.dir() + "/data", "--fsync", "always", "--rocksdb-write-buffer-size",
                  "4mb", "--rocksdb-block-cache-size", "1mb"});
  const std::string value(200 * 1000, 'v');
  std::vector<std::string> acked;
  std::string refusal;
  {
    Client c = srv.Connect();
    for (int i = 0; i < 400 && refusal.empty(); i++) {
      std::string key = "k" + std::to_string(i);
      Reply r = c.Cmd({"SET", key, value});
      if (r.Repr() == "+OK") {
        acked.push_back(key);
      } else {
        refusal = r.ok() ? r.Repr() : "(connection closed)";
      }
    }
  }
  INFO("first refusal: " << refusal << "\n" << srv.LogTail());
  REQUIRE_FALSE(refusal.empty());  // 400 x 200 KB cannot fit in 24 MB
  REQUIRE(acked.size() > 5);
  // The write that failed was not acknowledged: it got an error or its connection closed.
  CHECK((refusal.rfind("-IOERR", 0) == 0 || refusal == "(connection closed)" ||
         refusal.rfind("-ERR", 0) == 0));

  // From now on every write is refused with the storage error, never acknowledged.
  Client c = srv.Connect();
  Reply w = c.Cmd({"SET", "after", "x"});
  CHECK(w.Repr().rfind("-IOERR", 0) == 0);
  CHECK(w.Repr().find("refuses writes") != std::string::npos);
  CHECK(c.Cmd({"INCR", "counter"}).Repr().rfind("-IOERR", 0) == 0);
  CHECK(c.Cmd({"DEL", acked[0]}).Repr().rfind("-IOERR", 0) == 0);
  // Reads still answer, with the acknowledged data.
  CHECK(c.Cmd({"PING"}).Repr() == "+PONG");
  CHECK(c.Cmd({"GET", acked.front()}).Str() == value);
  CHECK(c.Cmd({"EXISTS", acked.back()}).Repr() == ":1");
  srv.Kill9();
}
