// Store: the in-memory option the simulator runs, CompactAll running the compaction filter,
// the column families, batches across them, and range iterators at snapshots.
#include "storage/store.h"

// Only to build a DB as an older dynis left it (no `hints`): Store offers no way to.
#include <rocksdb/db.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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

Status Delete(storage::Store* store, const std::string& key) {
  return store->Write([&](const storage::Store::WriteVisitor& put) { put(key, nullptr); });
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Everything a range iterator yields; its status must be OK at the end.
Pairs Drain(storage::Store::RangeIterator* it) {
  Pairs out;
  for (; it->Valid(); it->Next()) out.emplace_back(it->key(), it->value());
  CHECK(it->status().ok());
  return out;
}

Pairs Range(storage::Store* store, storage::Cf cf, const std::string& start,
            const std::string& end, const storage::Store::Snapshot* snapshot = nullptr) {
  auto it = store->NewRangeIterator(cf, start, end, snapshot);
  return Drain(it.get());
}

std::string Lookup(storage::Store* store, storage::Cf cf, const std::string& key) {
  std::string v;
  Status s = store->Get(cf, key, &v);
  if (s.IsNotFound()) return "<none>";
  REQUIRE(s.ok());
  return v;
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

TEST_CASE("the hints column family is separate from data and meta", "[store]") {
  auto store = OpenInMemory("/sim/hints");
  const std::string key = storage::DataKey(7, "k");
  REQUIRE(Put(store.get(), key, "in data").ok());
  auto batch = store->NewBatch();
  batch.Put(storage::Cf::kHints, key, "in hints");
  REQUIRE(store->Write(batch).ok());
  CHECK(Lookup(store.get(), storage::Cf::kData, key) == "in data");
  CHECK(Lookup(store.get(), storage::Cf::kHints, key) == "in hints");
  CHECK(Lookup(store.get(), storage::Cf::kMeta, key) == "<none>");
  std::string v;
  REQUIRE(store->Get(key, &v).ok());  // the data-only Get is unchanged
  CHECK(v == "in data");

  // Deleting the hint leaves the data; clearing data leaves hints.
  auto del = store->NewBatch();
  del.Delete(storage::Cf::kHints, key);
  REQUIRE(store->Write(del).ok());
  CHECK(Lookup(store.get(), storage::Cf::kHints, key) == "<none>");
  CHECK(Lookup(store.get(), storage::Cf::kData, key) == "in data");
  auto again = store->NewBatch();
  again.Put(storage::Cf::kHints, key, "hint 2");
  REQUIRE(store->Write(again).ok());
  REQUIRE(store->DeleteAllData().ok());
  CHECK(Lookup(store.get(), storage::Cf::kData, key) == "<none>");
  CHECK(Lookup(store.get(), storage::Cf::kHints, key) == "hint 2");
  // Scan reads data only.
  int scanned = 0;
  REQUIRE(store->Scan("", [&](std::string_view, std::string_view) { return ++scanned, true; }).ok());
  CHECK(scanned == 0);
}

TEST_CASE("opening a DB without the hints column family adds it and keeps the rest", "[store]") {
  char tmpl[] = "/tmp/dynis-store-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  {
    // The layout before hints: default, data, meta.
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"data", {}}, {"meta", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, dir, cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    REQUIRE(db->Put({}, handles[1], storage::DataKey(1, "old"), "value").ok());
    REQUIRE(db->Put({}, handles[2], "epoch", "3").ok());
    for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
    REQUIRE(db->Close().ok());
  }
  storage::StoreOptions o;
  o.dir = dir;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  {
    auto opened = storage::Store::Open(o);
    REQUIRE(opened.ok());
    auto store = std::move(opened).value();
    CHECK(Lookup(store.get(), storage::Cf::kData, storage::DataKey(1, "old")) == "value");
    CHECK(Lookup(store.get(), storage::Cf::kMeta, "epoch") == "3");
    CHECK(Lookup(store.get(), storage::Cf::kHints, "h") == "<none>");
    auto batch = store->NewBatch();
    batch.Put(storage::Cf::kHints, "h", "hint");
    REQUIRE(store->Write(batch).ok());
  }
  {
    auto reopened = storage::Store::Open(o);  // now with hints on disk
    REQUIRE(reopened.ok());
    CHECK(Lookup(reopened->get(), storage::Cf::kHints, "h") == "hint");
  }
  REQUIRE(rocksdb::DestroyDB(dir, rocksdb::Options()).ok());
  rmdir(dir.c_str());  // if DestroyDB left it
}

TEST_CASE("a batch across data, hints and meta commits all of it or none of it", "[store]") {
  auto store = OpenInMemory("/sim/batch");
  auto batch = store->NewBatch();
  CHECK(batch.size() == 0);
  batch.Put(storage::Cf::kData, storage::DataKey(1, "a"), "data a");
  batch.Put(storage::Cf::kHints, "hint-a", "hint a");
  batch.Put(storage::Cf::kMeta, "m", "meta");
  batch.Put(storage::Cf::kData, storage::DataKey(1, "gone"), "x");
  batch.Delete(storage::Cf::kData, storage::DataKey(1, "gone"));  // later wins in one batch
  CHECK(batch.size() == 5);
  REQUIRE(store->Write(batch).ok());
  CHECK(Lookup(store.get(), storage::Cf::kData, storage::DataKey(1, "a")) == "data a");
  CHECK(Lookup(store.get(), storage::Cf::kHints, "hint-a") == "hint a");
  CHECK(Lookup(store.get(), storage::Cf::kMeta, "m") == "meta");
  CHECK(Lookup(store.get(), storage::Cf::kData, storage::DataKey(1, "gone")) == "<none>");

  // A failed commit writes none of the batch, and latches: later writes are refused too.
  auto doomed = store->NewBatch();
  doomed.Put(storage::Cf::kData, storage::DataKey(1, "a"), "new data a");
  doomed.Put(storage::Cf::kHints, "hint-b", "hint b");
  doomed.Put(storage::Cf::kMeta, "m", "new meta");
  store->AddCommitFaults({storage::Store::CommitFault::Kind::kFail, 0}, 1);
  Status s = store->Write(doomed);
  CHECK(s.IsIOError());
  CHECK(s.message().rfind("storage write failed", 0) == 0);
  CHECK(store->queued_commit_faults() == 0);
  CHECK(store->write_failed());
  CHECK(Lookup(store.get(), storage::Cf::kData, storage::DataKey(1, "a")) == "data a");
  CHECK(Lookup(store.get(), storage::Cf::kHints, "hint-b") == "<none>");
  CHECK(Lookup(store.get(), storage::Cf::kMeta, "m") == "meta");
  CHECK(store->Write(doomed).IsIOError());
  CHECK(Put(store.get(), storage::DataKey(1, "z"), "z").IsIOError());  // same latch
  CHECK(Lookup(store.get(), storage::Cf::kHints, "hint-b") == "<none>");
  CHECK(Lookup(store.get(), storage::Cf::kData, storage::DataKey(1, "z")) == "<none>");
}

TEST_CASE("a commit fault delays a batch, then it is written", "[store]") {
  auto store = OpenInMemory("/sim/batch-delay");
  store->AddCommitFaults({storage::Store::CommitFault::Kind::kDelay, 1}, 2);
  CHECK(store->queued_commit_faults() == 2);
  auto batch = store->NewBatch();
  batch.Put(storage::Cf::kHints, "h", "v");
  REQUIRE(store->Write(batch).ok());
  CHECK(store->queued_commit_faults() == 1);  // one fault per Write, batch or visitor
  REQUIRE(Put(store.get(), storage::DataKey(0, "k"), "v").ok());
  CHECK(store->queued_commit_faults() == 0);
  CHECK(Lookup(store.get(), storage::Cf::kHints, "h") == "v");
  CHECK_FALSE(store->write_failed());
}

TEST_CASE("a batch is refused by a store that did not make it", "[store]") {
  auto a = OpenInMemory("/sim/batch-a");
  auto b = OpenInMemory("/sim/batch-b");
  auto batch = a->NewBatch();
  batch.Put(storage::Cf::kData, storage::DataKey(0, "k"), "v");
  CHECK(b->Write(batch).code() == Status::Code::kInvalidArgument);
  CHECK(Lookup(b.get(), storage::Cf::kData, storage::DataKey(0, "k")) == "<none>");
  CHECK_FALSE(b->write_failed());
}

TEST_CASE("a partition's range holds exactly its keys, in key order", "[store]") {
  CHECK(storage::PartitionStart(5) == std::string("\x00\x05", 2));
  CHECK(storage::PartitionEnd(5) == storage::PartitionStart(6));
  CHECK(storage::PartitionEnd(0x00ff) == std::string("\x01\x00", 2));  // carries into byte 0

  auto store = OpenInMemory("/sim/range");
  // Neighbours on both sides, keys written out of order, one deleted.
  for (auto [p, k] : std::vector<std::pair<uint32_t, std::string>>{
           {6, "a"}, {5, "c"}, {4, "zz"}, {5, "a"}, {5, "b"}, {5, std::string("b\0", 2)},
           {5, "\xff"}, {5, "d"}, {6, ""}, {4, "\xff\xff"}}) {
    REQUIRE(Put(store.get(), storage::DataKey(p, k), "v" + std::to_string(p) + k).ok());
  }
  REQUIRE(Delete(store.get(), storage::DataKey(5, "d")).ok());
  auto batch = store->NewBatch();
  batch.Put(storage::Cf::kHints, storage::DataKey(5, "hint"), "h");  // other CF: not seen
  REQUIRE(store->Write(batch).ok());

  const Pairs p5 = Range(store.get(), storage::Cf::kData, storage::PartitionStart(5),
                         storage::PartitionEnd(5));
  const Pairs want = {{storage::DataKey(5, "a"), "v5a"},
                      {storage::DataKey(5, "b"), "v5b"},
                      {storage::DataKey(5, std::string("b\0", 2)), "v5" + std::string("b\0", 2)},
                      {storage::DataKey(5, "c"), "v5c"},
                      {storage::DataKey(5, "\xff"), "v5\xff"}};
  CHECK(p5 == want);

  // [start, end): start included, end excluded.
  const Pairs bc =
      Range(store.get(), storage::Cf::kData, storage::DataKey(5, "b"), storage::DataKey(5, "c"));
  CHECK(bc == Pairs(want.begin() + 1, want.begin() + 3));
  CHECK(Range(store.get(), storage::Cf::kData, storage::DataKey(5, "c"), storage::DataKey(5, "c"))
            .empty());
  CHECK(Range(store.get(), storage::Cf::kData, storage::PartitionStart(9), storage::PartitionEnd(9))
            .empty());
  CHECK(Range(store.get(), storage::Cf::kHints, storage::PartitionStart(5),
              storage::PartitionEnd(5)) == Pairs{{storage::DataKey(5, "hint"), "h"}});

  // Scan, now built on the iterator: from a start to the end of data, stopped by fn.
  std::vector<std::string> keys;
  REQUIRE(store
              ->Scan(storage::PartitionStart(5),
                     [&](std::string_view k, std::string_view) {
                       keys.emplace_back(k);
                       return keys.size() < 6;
                     })
              .ok());
  CHECK(keys == std::vector<std::string>{want[0].first, want[1].first, want[2].first,
                                         want[3].first, want[4].first, storage::DataKey(6, "")});
}

TEST_CASE("a range iterator at a snapshot does not see later writes", "[store]") {
  auto store = OpenInMemory("/sim/snapshot");
  REQUIRE(Put(store.get(), storage::DataKey(3, "a"), "old").ok());
  REQUIRE(Put(store.get(), storage::DataKey(3, "c"), "doomed").ok());
  auto hint = store->NewBatch();
  hint.Put(storage::Cf::kHints, "h1", "1");
  REQUIRE(store->Write(hint).ok());

  auto snapshot = store->NewSnapshot();
  REQUIRE(Put(store.get(), storage::DataKey(3, "a"), "new").ok());
  REQUIRE(Put(store.get(), storage::DataKey(3, "b"), "added").ok());
  REQUIRE(Delete(store.get(), storage::DataKey(3, "c")).ok());
  auto hint2 = store->NewBatch();
  hint2.Put(storage::Cf::kHints, "h2", "2");
  REQUIRE(store->Write(hint2).ok());
  REQUIRE(store->CompactAll().ok());  // compaction keeps what the snapshot needs

  const std::string start = storage::PartitionStart(3), end = storage::PartitionEnd(3);
  CHECK(Range(store.get(), storage::Cf::kData, start, end, snapshot.get()) ==
        Pairs{{storage::DataKey(3, "a"), "old"}, {storage::DataKey(3, "c"), "doomed"}});
  CHECK(Range(store.get(), storage::Cf::kData, start, end) ==
        Pairs{{storage::DataKey(3, "a"), "new"}, {storage::DataKey(3, "b"), "added"}});
  // One snapshot covers every column family.
  CHECK(Range(store.get(), storage::Cf::kHints, "", "", snapshot.get()) == Pairs{{"h1", "1"}});
  CHECK(Range(store.get(), storage::Cf::kHints, "", "") == Pairs{{"h1", "1"}, {"h2", "2"}});

  // An iterator made without a snapshot is itself a point-in-time view.
  auto it = store->NewRangeIterator(storage::Cf::kData, start, end);
  REQUIRE(Put(store.get(), storage::DataKey(3, "aa"), "during").ok());
  CHECK(Drain(it.get()) ==
        Pairs{{storage::DataKey(3, "a"), "new"}, {storage::DataKey(3, "b"), "added"}});
}

TEST_CASE("the last partition's range is unbounded above", "[store]") {
  const uint32_t last = storage::kMaxPartitions - 1;
  CHECK(storage::PartitionStart(last) == std::string("\xff\xff", 2));
  CHECK(storage::PartitionEnd(last).empty());
  CHECK(storage::PartitionEnd(last - 1) == storage::PartitionStart(last));

  auto store = OpenInMemory("/sim/last-partition");
  REQUIRE(Put(store.get(), storage::DataKey(last - 1, "\xff\xff"), "before").ok());
  REQUIRE(Put(store.get(), storage::DataKey(last, "a"), "1").ok());
  REQUIRE(Put(store.get(), storage::DataKey(last, "\xff\xff\xff"), "2").ok());
  CHECK(Range(store.get(), storage::Cf::kData, storage::PartitionStart(last),
              storage::PartitionEnd(last)) ==
        Pairs{{storage::DataKey(last, "a"), "1"}, {storage::DataKey(last, "\xff\xff\xff"), "2"}});
  CHECK(Range(store.get(), storage::Cf::kData, storage::PartitionStart(last - 1),
              storage::PartitionEnd(last - 1)) ==
        Pairs{{storage::DataKey(last - 1, "\xff\xff"), "before"}});
}
TEST_CASE("hint keys name their target and data key, one range per target", "[store]") {
  for (uint64_t target : {uint64_t{1}, uint64_t{0x0102030405060708}, uint64_t{255},
                          ~uint64_t{0}}) {
    INFO(target);
    const std::string hk = storage::HintKey(target, 17, "user");
    CHECK(hk.size() >= 10);
    CHECK(storage::HintTargetOf(hk) == target);
    CHECK(storage::HintDataKeyOf(hk) == storage::DataKey(17, "user"));
    CHECK(storage::PartitionOfDataKey(storage::HintDataKeyOf(hk)) == 17);
    CHECK(storage::UserKeyOf(storage::HintDataKeyOf(hk)) == "user");
    // Inside its target's range.
    CHECK(storage::HintTargetStart(target) <= hk);
    if (target != ~uint64_t{0}) {
      CHECK(hk < storage::HintTargetEnd(target));
      // The next target's range starts where this one ends.
      CHECK(storage::HintTargetEnd(target) == storage::HintTargetStart(target + 1));
      CHECK(storage::HintKey(target + 1, 0, "") >= storage::HintTargetEnd(target));
    } else {
      CHECK(storage::HintTargetEnd(target).empty());  // unbounded
    }
  }
  // Within a target, partitions are ordered, then keys.
  CHECK(storage::HintKey(5, 1, "zzz") < storage::HintKey(5, 2, "a"));
  CHECK(storage::HintKey(5, 2, "a") < storage::HintKey(5, 2, "b"));
  // Targets order numerically (big-endian), whatever their partitions.
  CHECK(storage::HintKey(255, 65535, "z") < storage::HintKey(256, 0, "a"));
  CHECK(storage::HintKey(1, 0, "a") < storage::HintTargetStart(2));
}


TEST_CASE("RocksDB's info log goes to LOG in the data dir, the previous run's to LOG.old",
          "[store]") {
  // Written by dynis's own logger (store.cc InfoLog), not RocksDB's: the stock one aborts the
  // process on Debian's assertion build once the disk is full (io_error_test).
  char tmpl[] = "/tmp/dynis-store-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = std::string(tmpl) + "/data";  // not there yet: Open makes it
  storage::StoreOptions o;
  o.dir = dir;
  o.block_cache_bytes = 1 << 20;
  o.write_buffer_bytes = 1 << 20;
  auto file = [&](const std::string& name) {
    std::ifstream f(dir + "/" + name);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  {
    auto opened = storage::Store::Open(o);
    REQUIRE(opened.ok());
    // RocksDB logs warnings and errors only (info-log level WARN): one of ours stands in.
    std::ofstream(dir + "/LOG", std::ios::app) << "first run\n";
  }
  CHECK(file("LOG") == "first run\n");
  {
    auto reopened = storage::Store::Open(o);
    REQUIRE(reopened.ok());
    CHECK(file("LOG.old") == "first run\n");
    CHECK(file("LOG").empty());
  }
  REQUIRE(rocksdb::DestroyDB(dir, rocksdb::Options()).ok());
  unlink((dir + "/LOG.old").c_str());
  rmdir(dir.c_str());
  rmdir(tmpl);
}
