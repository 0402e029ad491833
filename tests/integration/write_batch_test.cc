// The writes of one pipeline are stored as one RocksDB WriteBatch: the io-thread commits the
// writes of a loop turn together, before any of that turn's replies leave.
#include <catch2/catch.hpp>

#include <string>

#include "harness.h"

using namespace dynis::test;

namespace {

long long WriteBatches(Client& c) {
  std::string info = c.Cmd({"INFO", "dynis"}).Str();
  const std::string field = "write_batches:";
  size_t at = info.find(field);
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + field.size()));
}

}  // namespace

TEST_CASE("A pipeline's writes are committed as one write batch", "[pipelining][storage]") {
  TestServer srv({"--io-threads", "1"});
  Client admin = srv.Connect();
  long long before = WriteBatches(admin);

  std::string pipeline;
  const int n = 200;
  for (int i = 0; i < n; i++) {
    std::string key = "batch:" + std::to_string(i);
    pipeline += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$1\r\nv\r\n";
  }
  RawConn raw = srv.ConnectRaw();
  REQUIRE(raw.Send(pipeline));  // ~8 KB: one read on loopback
  std::string replies = raw.ReadAtLeast(5 * n, kReplyTimeoutS);
  std::string expected;
  for (int i = 0; i < n; i++) expected += "+OK\r\n";
  REQUIRE(replies == expected);

  long long batches = WriteBatches(admin) - before;
  CHECK(batches >= 1);
  CHECK(batches <= 2);  // one turn; two if the kernel split the write
  CHECK(admin.Cmd({"GET", "batch:199"}).Str() == "v");
}
