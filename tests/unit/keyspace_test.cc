// Keyspace: Dynamo's write rules over versioned records, the turn buffer and the storage layout.
#include "kv/keyspace.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/hash.h"
#include "storage/store.h"

using namespace dynis;

namespace {

struct Fixture {
  std::string dir;
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;

  Fixture() {
    char tmpl[] = "/tmp/dynis-ks-XXXXXX";
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
    shared.actor = version::Actor{42, 7};
    shared.partitions = 256;
    ks = std::make_unique<kv::Keyspace>(&shared);
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
  std::optional<kv::LiveValue> Get(const std::string& k) {
    std::optional<kv::LiveValue> v;
    REQUIRE(ks->GetLive(k, &v).ok());
    return v;
  }
  std::vector<std::string> Siblings(const std::string& k, std::string* ctx = nullptr) {
    std::vector<version::Sibling> vals;
    std::string c;
    REQUIRE(ks->GetSiblings(k, &vals, &c).ok());
    if (ctx) *ctx = c;
    std::vector<std::string> out;
    for (auto& s : vals) out.push_back(s.value);
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_CASE("a plain SET is readable before and after its turn is committed", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v1", 0).ok());
  REQUIRE(f.ks->HasPending());
  REQUIRE(f.Get("k")->value == "v1");
  REQUIRE(f.ks->Commit().ok());
  REQUIRE_FALSE(f.ks->HasPending());
  REQUIRE(f.Get("k")->value == "v1");
  f.Reopen();
  REQUIRE(f.Get("k")->value == "v1");
}

TEST_CASE("data keys are prefixed by their big-endian partition", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("user:1", "x", 0).ok());
  REQUIRE(f.ks->Commit().ok());
  uint32_t p = KeyPartition("user:1", 256);
  std::string raw;
  REQUIRE(f.store->Get(storage::DataKey(p, "user:1"), &raw).ok());
  std::string dk = storage::DataKey(p, "user:1");
  REQUIRE(storage::PartitionOfDataKey(dk) == p);
  REQUIRE(storage::UserKeyOf(dk) == "user:1");
  REQUIRE(static_cast<uint8_t>(dk[0]) == (p >> 8));
  REQUIRE(static_cast<uint8_t>(dk[1]) == (p & 0xff));
}

TEST_CASE("two writes with the same context become siblings; the merged context resolves them",
          "[keyspace][siblings]") {
  Fixture f;
  REQUIRE(f.ks->Put("cart", "base", 0).ok());
  std::string ctx;
  REQUIRE(f.Siblings("cart", &ctx) == std::vector<std::string>{"base"});
  REQUIRE(f.ks->PutWithContext("cart", ctx, "apples", false).ok());
  REQUIRE(f.ks->PutWithContext("cart", ctx, "pears", false).ok());
  std::string ctx2;
  REQUIRE(f.Siblings("cart", &ctx2) == std::vector<std::string>{"apples", "pears"});
  // GET sees one of them, the same one every time (LWW).
  std::string winner = f.Get("cart")->value;
  REQUIRE((winner == "apples" || winner == "pears"));
  REQUIRE(f.Get("cart")->value == winner);
  REQUIRE(f.ks->PutWithContext("cart", ctx2, "apples,pears", false).ok());
  REQUIRE(f.Siblings("cart") == std::vector<std::string>{"apples,pears"});
}

TEST_CASE("a plain SET supersedes every sibling", "[keyspace][siblings]") {
  Fixture f;
  REQUIRE(f.ks->PutWithContext("k", "", "a", false).ok());
  REQUIRE(f.ks->PutWithContext("k", "", "b", false).ok());
  REQUIRE(f.Siblings("k").size() == 2);
  REQUIRE(f.ks->Put("k", "c", 0).ok());
  REQUIRE(f.Siblings("k") == std::vector<std::string>{"c"});
}

TEST_CASE("DEL leaves a tombstone that hides the key and reports whether it existed",
          "[keyspace]") {
  Fixture f;
  bool existed = false;
  REQUIRE(f.ks->Delete("k", &existed).ok());
  REQUIRE_FALSE(existed);
  REQUIRE(f.ks->Put("k", "v", 0).ok());
  REQUIRE(f.ks->Delete("k", &existed).ok());
  REQUIRE(existed);
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.Siblings("k").empty());
  REQUIRE(f.ks->Commit().ok());
  std::string raw;
  REQUIRE(f.store->Get(storage::DataKey(f.ks->PartitionOf("k"), "k"), &raw).ok());
  REQUIRE_FALSE(kv::RecordIsLive(raw, NowMs()));
  // Garbage only after the grace period.
  REQUIRE_FALSE(kv::Keyspace::IsGarbage(raw, NowMs(), 60000));
  REQUIRE(kv::Keyspace::IsGarbage(raw, NowMs() + 61000, 60000));
}

TEST_CASE("DELCTX with a stale context keeps the concurrent value", "[keyspace][siblings]") {
  Fixture f;
  std::string ctx;
  REQUIRE(f.ks->Put("k", "v1", 0).ok());
  f.Siblings("k", &ctx);
  REQUIRE(f.ks->Put("k", "v2", 0).ok());  // not seen by ctx
  REQUIRE(f.ks->PutWithContext("k", ctx, "", true).ok());
  REQUIRE(f.Siblings("k") == std::vector<std::string>{"v2"});
}

TEST_CASE("expired values are invisible at once and not kept by the next write", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v", NowMs() - 1).ok());
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.ks->Put("t", "v", NowMs() + 100000).ok());
  REQUIRE(f.Get("t")->expire_at_ms > NowMs());
  REQUIRE(f.ks->Commit().ok());
  std::string raw;
  // A write whose only value is already expired leaves nothing behind.
  REQUIRE(f.store->Get(storage::DataKey(f.ks->PartitionOf("k"), "k"), &raw).IsNotFound());
}

TEST_CASE("contexts are validated and limits enforced", "[keyspace]") {
  Fixture f;
  Status s = f.ks->PutWithContext("k", "garbage-context", "v", false);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR invalid context", 0) == 0);

  f.shared.max_object_size = 10;
  s = f.ks->Put("k", std::string(11, 'x'), 0);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR value exceeds max-object-size", 0) == 0);
  REQUIRE(f.ks->Put("k", std::string(10, 'x'), 0).ok());

  f.shared.sibling_max = 3;
  for (int i = 0; i < 2; i++) REQUIRE(f.ks->PutWithContext("k", "", "s", false).ok());
  REQUIRE(f.Siblings("k").size() == 3);
  s = f.ks->PutWithContext("k", "", "s", false);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.message().rfind("ERR too many siblings", 0) == 0);
  REQUIRE(f.Siblings("k").size() == 3);
}

TEST_CASE("reading a key whose every version expired removes its record", "[keyspace]") {
  Fixture f;
  REQUIRE(f.ks->Put("k", "v", NowMs() + 30).ok());
  REQUIRE(f.ks->Commit().ok());
  std::string raw;
  std::string dk = storage::DataKey(f.ks->PartitionOf("k"), "k");
  REQUIRE(f.store->Get(dk, &raw).ok());
  int64_t deadline = NowMs() + 5000;
  while (f.Get("k").has_value() && NowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE_FALSE(f.Get("k").has_value());
  REQUIRE(f.ks->Commit().ok());
  REQUIRE(f.store->Get(dk, &raw).IsNotFound());
}

TEST_CASE("Mutate shows the live value and applies the decision as a plain write", "[keyspace]") {
  Fixture f;
  using M = kv::Keyspace::Mutation;
  bool saw_absent = false;
  REQUIRE(f.ks->Mutate("k",
                       [&](const std::optional<kv::LiveValue>& v) {
                         saw_absent = !v.has_value();
                         return M::Keep();
                       })
              .ok());
  REQUIRE(saw_absent);
  REQUIRE_FALSE(f.ks->HasPending());  // keeping writes nothing

  REQUIRE(
      f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Put("1", 0); }).ok());
  REQUIRE(f.ks->PutWithContext("k", "", "sibling", false).ok());
  REQUIRE(f.Siblings("k").size() == 2);
  std::string seen;
  REQUIRE(f.ks->Mutate("k",
                       [&](const std::optional<kv::LiveValue>& v) {
                         seen = v->value;
                         return M::Put(v->value + "+", 0);
                       })
              .ok());
  REQUIRE((seen == "1" || seen == "sibling"));                       // the LWW winner
  REQUIRE(f.Siblings("k") == std::vector<std::string>{seen + "+"});  // supersedes both

  REQUIRE(f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Delete(); }).ok());
  REQUIRE_FALSE(f.Get("k").has_value());

  f.shared.max_object_size = 4;
  Status s =
      f.ks->Mutate("k", [](const std::optional<kv::LiveValue>&) { return M::Put("too long", 0); });
  REQUIRE(s.message().rfind("ERR value exceeds max-object-size", 0) == 0);
}
