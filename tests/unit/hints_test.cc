// Specification of hints (kv/hints.h) and a vnode's hinted stores and reads (kv/vnode.h): one
// record per (target, key) merged by DVVSet sync, the ledger's tally, the bounds
// (hints-max-bytes, hint-window), reads that see hints, and replay's conditional delete. Over a
// real Keyspace on a store in a temporary directory (reopened to rebuild the ledger).
#include "kv/hints.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/errors.h"
#include "fixtures.h"
#include "kv/keyspace.h"
#include "kv/vnode.h"
#include "storage/store.h"

namespace dynis::kv {
namespace {

using test::Records;
using test::ValuesOf;

constexpr uint64_t kTarget = 3;
constexpr int64_t kNow = 1'700'000'000'000;

struct Fixture {
  std::string dir;
  std::unique_ptr<storage::Store> store;
  HybridClock clock{[] { return kNow; }};
  HintLedger ledger{256};
  KeyspaceShared shared;
  std::unique_ptr<Keyspace> ks;

  Fixture() {
    char tmpl[] = "/tmp/dynis-hints-XXXXXX";
    dir = mkdtemp(tmpl);
    Open();
  }
  void Open() {
    storage::StoreOptions o;
    o.dir = dir;
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = storage::Store::Open(o);
    REQUIRE(s.ok());
    store = std::move(s).value();
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = version::Actor{1, 1};
    shared.partitions = 256;
    shared.keep_clocks = true;
    shared.hints = &ledger;
    ks = std::make_unique<Keyspace>(&shared);
  }
  void Reopen() {
    ks.reset();
    store.reset();
    Open();
  }
  ~Fixture() {
    ks.reset();
    store.reset();
    std::string cmd = "rm -rf " + dir;
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  ReplicaPut PutHint(const std::string& key, const std::string& record,
                     uint64_t target = kTarget) {
    ReplicaPut p = ks->VnodeOf(key).PutHint(target, key, record);
    REQUIRE(ks->Commit().ok());
    return p;
  }
  std::optional<HintValue> Hint(const std::string& key, uint64_t target = kTarget) {
    std::optional<std::string> stored;
    REQUIRE(ks->LoadHint(target, key, &stored).ok());
    if (!stored) return std::nullopt;
    HintValue v;
    REQUIRE(DecodeHintValue(*stored, &v));
    return v;
  }
  std::optional<std::string> Data(const std::string& key) {
    std::optional<std::string> r;
    REQUIRE(ks->LoadRecord(key, &r).ok());
    return r;
  }
  uint64_t CfBytes(uint64_t target) {
    uint64_t bytes = 0;
    auto it = store->NewRangeIterator(storage::Cf::kHints, storage::HintTargetStart(target),
                                      storage::HintTargetEnd(target));
    for (; it->Valid(); it->Next()) bytes += it->key().size() + it->value().size();
    return bytes;
  }
};

TEST_CASE("a hint value is its first-stored time and the record", "[hints]") {
  const std::string enc = EncodeHintValue(kNow, std::string("r\0c", 3));
  CHECK(enc.size() == 11);
  HintValue v;
  REQUIRE(DecodeHintValue(enc, &v));
  CHECK(v.stored_ms == kNow);
  CHECK(v.record == std::string("r\0c", 3));
  HintValue empty;
  REQUIRE(DecodeHintValue(EncodeHintValue(0, ""), &empty));
  CHECK(empty.stored_ms == 0);
  CHECK(empty.record.empty());
  // Big-endian: the first byte is the most significant.
  CHECK(EncodeHintValue(0x0102030405060708, "").substr(0, 2) == std::string("\x01\x02", 2));
  HintValue bad;
  CHECK_FALSE(DecodeHintValue("", &bad));
  CHECK_FALSE(DecodeHintValue("1234567", &bad));
}

TEST_CASE("a hinted store keeps one merged record per target and key", "[hints]") {
  Fixture f;
  const Records r;
  REQUIRE(f.PutHint("k", r.a).ok);
  std::optional<HintValue> h = f.Hint("k");
  REQUIRE(h);
  CHECK(h->stored_ms == kNow);
  CHECK(ValuesOf(h->record) == std::vector<std::string>{"a"});
  CHECK(f.ledger.Totals(kTarget).count == 1);
  CHECK(f.ledger.Totals(kTarget).bytes == f.CfBytes(kTarget));
  CHECK(f.ledger.stored == 1);
  CHECK(f.ledger.PartitionHasHints(f.ks->PartitionOf("k")));
  CHECK(f.ledger.Targets() == std::vector<uint64_t>{kTarget});
  CHECK_FALSE(f.Data("k").has_value());  // the data column family is not touched

  // A concurrent write merges into the same hint: both siblings kept.
  REQUIRE(f.PutHint("k", r.c).ok);
  h = f.Hint("k");
  REQUIRE(h);
  CHECK(ValuesOf(h->record) == std::vector<std::string>{"a", "c"});
  CHECK(f.ledger.Totals(kTarget).count == 1);
  CHECK(f.ledger.Totals(kTarget).bytes == f.CfBytes(kTarget));
  CHECK(f.ledger.stored == 2);

  // Another key, another target: separate records.
  REQUIRE(f.PutHint("other", r.b).ok);
  REQUIRE(f.PutHint("k", r.b, 9).ok);
  CHECK(f.ledger.Totals(kTarget).count == 2);
  CHECK(f.ledger.Totals(9).count == 1);
  CHECK(f.ledger.Totals(kTarget).bytes == f.CfBytes(kTarget));
  CHECK(f.ledger.Totals(9).bytes == f.CfBytes(9));
  CHECK(f.ledger.Targets() == std::vector<uint64_t>{kTarget, 9});
  CHECK(ValuesOf(f.Hint("k", 9)->record) == std::vector<std::string>{"b"});
  CHECK(f.ledger.dropped == 0);
}

TEST_CASE("hints over hints-max-bytes are refused", "[hints]") {
  Fixture f;
  const Records r;
  REQUIRE(f.PutHint("k", r.a).ok);
  const uint64_t used = f.ledger.Totals(kTarget).bytes;
  f.shared.hints_max_bytes = used + 5;  // room for nothing more
  const ReplicaPut p = f.PutHint("k2", r.c);
  CHECK_FALSE(p.ok);
  CHECK(p.error == err::kHintsFull);
  CHECK(f.ledger.dropped == 1);
  CHECK(f.ledger.stored == 1);
  CHECK_FALSE(f.Hint("k2").has_value());
  CHECK_FALSE(f.Data("k2").has_value());
  CHECK(f.ledger.Totals(kTarget).count == 1);
  CHECK(f.ledger.Totals(kTarget).bytes == used);
  // The bound is per target: another has room.
  CHECK(f.PutHint("k2", r.c, 9).ok);
  // Without a bound it is accepted.
  f.shared.hints_max_bytes = 0;
  CHECK(f.PutHint("k2", r.c).ok);
  CHECK(f.ledger.Totals(kTarget).count == 2);
}

TEST_CASE("hints for a target past hint-window are refused", "[hints]") {
  Fixture f;
  const Records r;
  f.shared.hint_window_open = [](uint64_t target) { return target != kTarget; };
  const ReplicaPut p = f.PutHint("k", r.a);
  CHECK_FALSE(p.ok);
  CHECK(p.error == err::kHintWindowPassed);
  CHECK(f.ledger.dropped == 1);
  CHECK_FALSE(f.Hint("k").has_value());
  CHECK_FALSE(f.Data("k").has_value());
  CHECK_FALSE(f.ledger.Any());
  CHECK(f.PutHint("k", r.a, 9).ok);
  CHECK(f.ledger.dropped == 1);
}

TEST_CASE("a hint for this node itself is refused: it could never be replayed", "[hints]") {
  Fixture f;
  const Records r;
  const ReplicaPut p = f.PutHint("k", r.a, f.shared.actor.node_id);
  CHECK_FALSE(p.ok);
  CHECK(p.error == err::kHintRefused);
  CHECK_FALSE(f.ledger.Any());
}

TEST_CASE("a fallback's reads see the hints it holds", "[hints]") {
  Fixture f;
  const Records r;
  std::optional<std::string> got;
  bool with_hints = true;
  SECTION("no hints in the partition: the data record alone") {
    REQUIRE(f.ks->VnodeOf("k").Put("k", r.a).ok);
    REQUIRE(f.ks->Commit().ok());
    REQUIRE(f.PutHint("elsewhere", r.c).ok);  // another key, another partition
    REQUIRE(f.ks->PartitionOf("elsewhere") != f.ks->PartitionOf("k"));
    REQUIRE(f.ks->VnodeOf("k").Get("k", &got, &with_hints).ok());
    REQUIRE(got);
    CHECK(*got == *f.Data("k"));
    CHECK(ValuesOf(*got) == std::vector<std::string>{"a"});
    CHECK_FALSE(with_hints);
  }
  SECTION("a hint and no data record") {
    REQUIRE(f.PutHint("k", r.c).ok);
    REQUIRE(f.ks->VnodeOf("k").Get("k", &got, &with_hints).ok());
    REQUIRE(got);
    CHECK(ValuesOf(*got) == std::vector<std::string>{"c"});
    CHECK(with_hints);
    CHECK_FALSE(f.Data("k").has_value());
  }
  SECTION("a data record and a concurrent hint: merged") {
    REQUIRE(f.ks->VnodeOf("k").Put("k", r.a).ok);
    REQUIRE(f.ks->Commit().ok());
    REQUIRE(f.PutHint("k", r.c).ok);
    REQUIRE(f.PutHint("k", r.a, 9).ok);
    REQUIRE(f.ks->VnodeOf("k").Get("k", &got, &with_hints).ok());
    REQUIRE(got);
    CHECK(ValuesOf(*got) == std::vector<std::string>{"a", "c"});
    CHECK(with_hints);
    CHECK(ValuesOf(*f.Data("k")) == std::vector<std::string>{"a"});  // data unchanged
  }
  SECTION("a hint the data record already descends adds nothing") {
    REQUIRE(f.ks->VnodeOf("k").Put("k", r.b).ok);
    REQUIRE(f.ks->Commit().ok());
    REQUIRE(f.PutHint("k", r.a).ok);
    REQUIRE(f.ks->VnodeOf("k").Get("k", &got, &with_hints).ok());
    REQUIRE(got);
    CHECK(*got == *f.Data("k"));
    CHECK_FALSE(with_hints);
  }
  SECTION("neither") {
    REQUIRE(f.PutHint("elsewhere", r.c).ok);
    REQUIRE(f.ks->VnodeOf("k").Get("k", &got, &with_hints).ok());
    CHECK_FALSE(got.has_value());
    CHECK_FALSE(with_hints);
  }
}

TEST_CASE("replay deletes a hint only while it holds what was sent", "[hints]") {
  Fixture f;
  const Records r;
  REQUIRE(f.PutHint("k", r.a).ok);
  std::optional<std::string> sent;
  REQUIRE(f.ks->LoadHint(kTarget, "k", &sent).ok());
  REQUIRE(sent);
  Vnode& v = f.ks->VnodeOf("k");

  SECTION("unchanged: deleted, counted, untallied") {
    CHECK_FALSE(v.TakeHintIfUnchanged(9, "k", *sent));  // another target holds none
    CHECK_FALSE(v.TakeHintIfUnchanged(kTarget, "k", *sent + "x"));
    CHECK(v.TakeHintIfUnchanged(kTarget, "k", *sent));
    REQUIRE(f.ks->Commit().ok());
    CHECK_FALSE(f.Hint("k").has_value());
    CHECK(f.ledger.replayed == 1);
    CHECK(f.ledger.Totals(kTarget).count == 0);
    CHECK(f.ledger.Totals(kTarget).bytes == 0);
    CHECK_FALSE(f.ledger.Any());
    CHECK_FALSE(f.ledger.PartitionHasHints(f.ks->PartitionOf("k")));
    CHECK_FALSE(v.TakeHintIfUnchanged(kTarget, "k", *sent));  // gone already
  }
  SECTION("grew meanwhile: kept") {
    REQUIRE(f.PutHint("k", r.c).ok);
    CHECK_FALSE(v.TakeHintIfUnchanged(kTarget, "k", *sent));
    REQUIRE(f.ks->Commit().ok());
    REQUIRE(f.Hint("k"));
    CHECK(ValuesOf(f.Hint("k")->record) == std::vector<std::string>{"a", "c"});
    CHECK(f.ledger.replayed == 0);
    CHECK(f.ledger.Totals(kTarget).count == 1);
  }
}

TEST_CASE("the ledger rebuilt from the store has the same totals", "[hints]") {
  Fixture f;
  const Records r;
  REQUIRE(f.PutHint("k", r.a).ok);
  REQUIRE(f.PutHint("k", r.c).ok);
  REQUIRE(f.PutHint("x", r.b).ok);
  REQUIRE(f.PutHint("y", r.c, 9).ok);
  const std::map<uint64_t, HintTotals> before = f.ledger.All();
  REQUIRE(before.size() == 2);
  const uint32_t pk = f.ks->PartitionOf("k");
  const uint32_t py = f.ks->PartitionOf("y");
  f.Reopen();
  HintLedger fresh(256);
  REQUIRE(fresh.Rebuild(f.store.get()).ok());
  const std::map<uint64_t, HintTotals> after = fresh.All();
  REQUIRE(after.size() == before.size());
  for (const auto& [t, totals] : before) {
    INFO(t);
    CHECK(after.at(t).count == totals.count);
    CHECK(after.at(t).bytes == totals.bytes);
  }
  CHECK(fresh.PartitionHasHints(pk));
  CHECK(fresh.PartitionHasHints(py));
  CHECK(fresh.Any());
  // Rebuilding the live ledger forgets what it counted and keeps its counters.
  const uint64_t stored = f.ledger.stored;
  REQUIRE(f.ledger.Rebuild(f.store.get()).ok());
  CHECK(f.ledger.Totals(kTarget).count == before.at(kTarget).count);
  CHECK(f.ledger.Totals(kTarget).bytes == before.at(kTarget).bytes);
  CHECK(f.ledger.stored == stored);
}

}  // namespace
}  // namespace dynis::kv
