// Store: the in-memory option the simulator runs, and CompactAll running the compaction filter.
#include "storage/store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

using namespace dynis;

namespace {

using Compact = std::function<storage::CompactDecision(std::string_view, std::string*)>;

std::unique_ptr<storage::Store> OpenInMemory(const std::string& dir, Compact compact = {}) {
  storage::StoreOptions o;
  o.dir = dir;
  o.in_memory = true;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  o.compact = std::move(compact);
  auto s = storage::Store::Open(o);
  REQUIRE(s.ok());
  return std::move(s).value();
}

Status Put(storage::Store* store, const std::string& key, const std::string& value) {
  return store->Write([&](const storage::Store::WriteVisitor& put) { put(key, &value); });
}

}  // namespace

TEST_CASE("an in-memory store keeps its data in its own memory, nowhere else", "[store]") {
  const std::string dir = "/tmp/dynis-store-test-in-memory-never-created";
  auto a = OpenInMemory(dir);
  auto b = OpenInMemory(dir);  // same name, separate memory
  REQUIRE(Put(a.get(), storage::DataKey(1, "k"), "va").ok());
  REQUIRE(a->PutMetaDurably("epoch", "7").ok());
  std::string v;
  REQUIRE(a->Get(storage::DataKey(1, "k"), &v).ok());
  CHECK(v == "va");
  REQUIRE(a->GetMeta("epoch", &v).ok());
  CHECK(v == "7");
  CHECK(b->Get(storage::DataKey(1, "k"), &v).IsNotFound());
  CHECK(b->GetMeta("epoch", &v).IsNotFound());
  struct stat st;
  CHECK(stat(dir.c_str(), &st) != 0);  // nothing on disk
  a.reset();
  auto again = OpenInMemory(dir);  // a new store starts empty: the memory went with the old one
  CHECK(again->Get(storage::DataKey(1, "k"), &v).IsNotFound());
}

TEST_CASE("CompactAll runs the compaction filter over every record, memtable included", "[store]") {
  auto store = OpenInMemory("/sim/compact", [](std::string_view value, std::string* rewrite) {
    if (value == "junk") return storage::CompactDecision::kDrop;
    if (value != "long value") return storage::CompactDecision::kKeep;
    *rewrite = "short";
    return storage::CompactDecision::kRewrite;
  });
  REQUIRE(Put(store.get(), storage::DataKey(0, "keep"), "value").ok());
  REQUIRE(Put(store.get(), storage::DataKey(2, "shrink"), "long value").ok());
  REQUIRE(Put(store.get(), storage::DataKey(0, "drop"), "junk").ok());
  REQUIRE(Put(store.get(), storage::DataKey(3, "drop2"), "junk").ok());
  std::string v;
  REQUIRE(store->Get(storage::DataKey(0, "drop"), &v).ok());  // only compaction drops it
  REQUIRE(store->CompactAll().ok());
  CHECK(store->Get(storage::DataKey(0, "drop"), &v).IsNotFound());
  CHECK(store->Get(storage::DataKey(3, "drop2"), &v).IsNotFound());
  REQUIRE(store->Get(storage::DataKey(0, "keep"), &v).ok());
  CHECK(v == "value");
  REQUIRE(store->Get(storage::DataKey(2, "shrink"), &v).ok());
  CHECK(v == "short");
  // A record rewritten after a compaction is filtered by the next one.
  REQUIRE(Put(store.get(), storage::DataKey(0, "keep"), "junk").ok());
  REQUIRE(store->CompactAll().ok());
  CHECK(store->Get(storage::DataKey(0, "keep"), &v).IsNotFound());
}
