// The replica's side of the replication protocol (replication/replica.h over kv/vnode.h): a
// coordinator's request served by the vnode of the key's partition, on a real Keyspace over an
// in-memory store. "Stores" means the turn's batch holds a new record for the key.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "fixtures.h"
#include "kv/keyspace.h"
#include "kv/vnode.h"
#include "replication/engine.h"
#include "replication/replica.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::replication {
namespace {

using version::Actor;
using version::DVVSet;
using version::Sibling;
using Type = Message::Type;

using test::Records;
using test::Val;
using test::ValuesOf;

// One replica: a keyspace over an in-memory store holding `local` for "k" (committed).
struct Replica {
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;

  explicit Replica(const std::optional<std::string>& local, bool lww = false) {
    store = test::InMemoryStore("replica-test");
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = Actor{3, 1};
    shared.lww_merge = lww;
    ks = std::make_unique<kv::Keyspace>(&shared);
    if (local) {
      ks->StoreRecord("k", *local);
      REQUIRE(ks->Commit().ok());
    }
  }
  Message Serve(const Message& req) { return ServeReplica(ks->VnodeOf(req.key), req); }
  // The record this turn stores for "k", if it stores one.
  std::optional<std::string> Stored() {
    if (!ks->HasPending()) return std::nullopt;
    std::optional<std::string> r;
    REQUIRE(ks->LoadRecord("k", &r).ok());
    return r;
  }
};

TEST_CASE("replica answers a get from its local record", "[replica]") {
  const Records r;
  Message req;
  req.type = Type::kGetReq;
  req.from = 1;
  req.to = 2;
  req.op = 7;
  req.key = "k";

  Replica holds(r.a);
  Message found = holds.Serve(req);
  CHECK(found.type == Type::kGetResp);
  CHECK(found.from == 2);
  CHECK(found.to == 1);
  CHECK(found.op == 7);
  CHECK(found.key == "k");
  CHECK(found.ok);
  CHECK(found.found);
  CHECK(found.record == r.a);
  CHECK_FALSE(holds.Stored().has_value());

  Replica empty(std::nullopt);
  Message absent = empty.Serve(req);
  CHECK(absent.ok);
  CHECK_FALSE(absent.found);
  CHECK(absent.record.empty());
  CHECK_FALSE(empty.Stored().has_value());
}

TEST_CASE("replica merges a put and stores only when its record changed", "[replica]") {
  const Records r;
  Message req;
  req.type = Type::kPutReq;
  req.from = 1;
  req.to = 3;
  req.op = 9;
  req.key = "k";
  req.record = r.b;

  SECTION("absent: stores the record") {
    Replica x(std::nullopt);
    Message s = x.Serve(req);
    CHECK(s.type == Type::kPutResp);
    CHECK(s.ok);
    CHECK(s.from == 3);
    CHECK(s.to == 1);
    CHECK(s.op == 9);
    CHECK(s.key == "k");
    CHECK(x.Stored() == r.b);
  }
  SECTION("older local: stores the newer") {
    Replica x(r.a);
    CHECK(x.Serve(req).ok);
    CHECK(x.Stored() == r.b);
  }
  SECTION("same or newer local: nothing to store, still ok (duplicates are harmless)") {
    Replica same(r.b);
    CHECK(same.Serve(req).ok);
    CHECK_FALSE(same.Stored().has_value());
    req.record = r.a;
    Replica newer(r.b);
    CHECK(newer.Serve(req).ok);
    CHECK_FALSE(newer.Stored().has_value());
  }
  SECTION("concurrent local: stores both as siblings") {
    req.record = r.a;
    Replica x(r.c);
    CHECK(x.Serve(req).ok);
    REQUIRE(x.Stored().has_value());
    CHECK(ValuesOf(*x.Stored()) == std::vector<std::string>{"a", "c"});
  }
  SECTION("a record that does not decode fails without storing") {
    req.record = "\x01garbage";
    Replica x(r.a);
    Message s = x.Serve(req);
    CHECK(s.type == Type::kPutResp);
    CHECK_FALSE(s.ok);
    CHECK_FALSE(x.Stored().has_value());
  }
  SECTION("a local record that does not decode is not overwritten") {
    Replica x(std::string("junk"));
    Message s = x.Serve(req);
    CHECK_FALSE(s.ok);
    CHECK(s.error == "ERR the replica's record of this key does not decode");
    CHECK_FALSE(x.Stored().has_value());
  }
  SECTION("lww replica keeps one sibling") {
    req.record = r.a;
    Replica x(r.c, /*lww=*/true);
    CHECK(x.Serve(req).ok);
    REQUIRE(x.Stored().has_value());
    CHECK(ValuesOf(*x.Stored()) == std::vector<std::string>{"c"});
  }
  SECTION("repair flag is echoed") {
    req.repair = true;
    Replica x(std::nullopt);
    CHECK(x.Serve(req).repair);
  }
  SECTION("a reused dot fails the put, stores the merge and is counted") {
    // The replica holds a under actor 1's first dot; the put carries another value for that
    // same dot (a node minted it twice).
    DVVSet other;
    other.Update({}, Val("z", 99, 1), Actor{1, 0});
    req.record = other.Encode();
    Replica x(r.a);
    Message s = x.Serve(req);
    CHECK_FALSE(s.ok);
    CHECK(s.error.rfind("ERR dot conflict", 0) == 0);
    CHECK(x.shared.dot_conflicts.load() == 1);
  }
}

TEST_CASE("replica refuses a message that is not a request", "[replica]") {
  Message resp;
  resp.type = Type::kPutResp;
  resp.key = "k";
  Replica x(std::nullopt);
  Message s = x.Serve(resp);
  CHECK(s.type == Type::kPutResp);
  CHECK_FALSE(s.ok);
}

}  // namespace
}  // namespace dynis::replication
