// Specification of hinted handoff's replaying side (replication/handoff.h): a fallback sends
// the hints it holds to their primary once it is held up, deletes each only after an ack of
// exactly what it sent, backs off a target that does not answer, skips a refused hint, and
// keeps to its rate. Over a real Keyspace on an in-memory store; health is a fake.
#include "replication/handoff.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "fixtures.h"
#include "kv/hints.h"
#include "kv/keyspace.h"

namespace dynis::replication {
namespace {

using test::Records;
using Type = Message::Type;

constexpr NodeId kSelf = 1;
constexpr NodeId kTarget = 3;
constexpr int64_t kT0 = 10'000;

struct FakeHealth : PeerHealth {
  std::set<NodeId> down;
  std::vector<NodeId> answered;
  std::vector<NodeId> failed;
  bool Up(NodeId node) const override { return down.count(node) == 0; }
  void Answered(int64_t, NodeId node) override { answered.push_back(node); }
  void Failed(int64_t, NodeId node, const char*) override { failed.push_back(node); }
};

struct Fixture {
  std::unique_ptr<storage::Store> store;
  HybridClock clock;
  kv::HintLedger ledger{256};
  kv::KeyspaceShared shared;
  std::unique_ptr<kv::Keyspace> ks;
  FakeHealth health;
  std::unique_ptr<HintReplay> replay;

  explicit Fixture(int64_t rate_per_s = 0, uint32_t workers = 1) {
    store = test::InMemoryStore("handoff-test");
    shared.store = store.get();
    shared.clock = &clock;
    shared.actor = version::Actor{kSelf, 1};
    shared.partitions = 256;
    shared.keep_clocks = true;
    shared.hints = &ledger;
    shared.workers = workers;
    ks = std::make_unique<kv::Keyspace>(&shared, 0);
    HandoffOptions o;
    o.self = kSelf;
    o.rate_per_s = rate_per_s;
    o.timeout_ms = 3000;
    o.backoff_min_ms = 500;
    o.backoff_max_ms = 4000;
    replay = std::make_unique<HintReplay>(o, ks.get());
  }
  void Hint(const std::string& key, const std::string& record, NodeId target = kTarget,
            kv::Keyspace* on = nullptr) {
    kv::Keyspace* k = on != nullptr ? on : ks.get();
    REQUIRE(k->VnodeOf(key).PutHint(target, key, record).ok);
    REQUIRE(k->Commit().ok());
  }
  std::optional<std::string> Stored(const std::string& key, NodeId target = kTarget) {
    std::optional<std::string> v;
    REQUIRE(ks->LoadHint(target, key, &v).ok());
    return v;
  }
  std::vector<Message> Tick(int64_t now) {
    std::vector<Message> sends;
    replay->OnTick(now, &health, &sends);
    return sends;
  }
  void Respond(int64_t now, const Message& m, bool ok = true) {
    Message r;
    r.type = Type::kPutResp;
    r.from = m.to;
    r.to = m.from;
    r.op = m.op;
    r.key = m.key;
    r.ok = ok;
    r.handoff = true;
    replay->OnResponse(now, r, &health);
    REQUIRE(ks->Commit().ok());
  }
};

std::vector<std::string> Keys(const std::vector<Message>& msgs) {
  std::vector<std::string> out;
  for (const Message& m : msgs) out.push_back(m.key);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("hints wait while their target is held down, then go to it", "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  f.health.down.insert(kTarget);
  CHECK(f.Tick(kT0).empty());
  CHECK(f.Tick(kT0 + 1000).empty());
  CHECK(f.replay->inflight() == 0);

  f.health.down.clear();
  const std::vector<Message> sends = f.Tick(kT0 + 2000);
  REQUIRE(sends.size() == 1);
  const Message& m = sends[0];
  CHECK(m.type == Type::kPutReq);
  CHECK(m.handoff);
  CHECK(m.hint_for == 0);  // a plain store at the primary, not a hint there
  CHECK_FALSE(m.repair);
  CHECK(m.to == kTarget);
  CHECK(m.from == kSelf);
  CHECK(m.key == "k");
  kv::HintValue v;
  REQUIRE(kv::DecodeHintValue(*f.Stored("k"), &v));
  CHECK(m.record == v.record);
  CHECK(f.replay->inflight() == 1);
  // One batch in flight per target: nothing more until it is answered.
  CHECK(f.Tick(kT0 + 2100).empty());
}

TEST_CASE("an acknowledged hint is deleted and counted", "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  f.Hint("j", r.c);
  const std::vector<Message> sends = f.Tick(kT0);
  REQUIRE(Keys(sends) == std::vector<std::string>{"j", "k"});
  for (const Message& m : sends) f.Respond(kT0 + 10, m);
  CHECK_FALSE(f.Stored("k").has_value());
  CHECK_FALSE(f.Stored("j").has_value());
  CHECK(f.ledger.replayed == 2);
  CHECK_FALSE(f.ledger.Any());
  CHECK(f.replay->inflight() == 0);
  CHECK(f.health.answered == std::vector<NodeId>{kTarget, kTarget});
  CHECK(f.Tick(kT0 + 1000).empty());
}

TEST_CASE("a response from another node or for an unknown op deletes nothing", "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  std::vector<Message> sends = f.Tick(kT0);
  REQUIRE(sends.size() == 1);
  Message stray = sends[0];
  stray.to = 4;  // answered "from" node 4
  f.Respond(kT0 + 1, stray);
  Message unknown = sends[0];
  unknown.op += 100;
  f.Respond(kT0 + 1, unknown);
  CHECK(f.Stored("k").has_value());
  CHECK(f.replay->inflight() == 1);
  CHECK(f.ledger.replayed == 0);
}

TEST_CASE("a hint that grew after it was sent is kept and sent again", "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  std::vector<Message> sends = f.Tick(kT0);
  REQUIRE(sends.size() == 1);
  f.Hint("k", r.c);  // a hinted write merged in meanwhile
  f.Respond(kT0 + 10, sends[0]);
  REQUIRE(f.Stored("k").has_value());
  CHECK(f.ledger.replayed == 0);
  CHECK(f.ledger.Totals(kTarget).count == 1);

  sends = f.Tick(kT0 + 100);
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].key == "k");
  CHECK(test::ValuesOf(sends[0].record) == std::vector<std::string>{"a", "c"});
  f.Respond(kT0 + 110, sends[0]);
  CHECK_FALSE(f.Stored("k").has_value());
  CHECK(f.ledger.replayed == 1);
}

TEST_CASE("a refused hint is skipped for its backoff; the others go on after a pause",
          "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  f.Hint("j", r.c);
  std::vector<Message> sends = f.Tick(kT0);
  REQUIRE(sends.size() == 2);
  for (const Message& m : sends) f.Respond(kT0 + 10, m, /*ok=*/m.key != "k");
  CHECK(f.Stored("k").has_value());  // refused: kept
  CHECK_FALSE(f.Stored("j").has_value());
  CHECK(f.ledger.replay_failures == 1);
  CHECK(f.health.failed.empty());  // a refusal is an answer: the target is not backed off

  f.Hint("m", r.b);
  // The target pauses backoff_min_ms (500) after a refusal: a primary refusing everything
  // (an I/O error) is not sent the whole rate meanwhile.
  CHECK(f.Tick(kT0 + 100).empty());
  sends = f.Tick(kT0 + 10 + 500);
  CHECK(Keys(sends) == std::vector<std::string>({"k", "m"}));
  for (const Message& m : sends) f.Respond(kT0 + 520, m, /*ok=*/m.key != "k");
  CHECK(f.Stored("k").has_value());
  CHECK_FALSE(f.Stored("m").has_value());
  // k refused twice: skipped 1000 ms now; the others go on once the target's pause is over.
  f.Hint("n", r.b);
  sends = f.Tick(kT0 + 520 + 500);
  CHECK(Keys(sends) == std::vector<std::string>{"n"});
  for (const Message& m : sends) f.Respond(kT0 + 1030, m);
  CHECK(f.Tick(kT0 + 1400).empty());
  sends = f.Tick(kT0 + 520 + 1000);
  CHECK(Keys(sends) == std::vector<std::string>{"k"});
}

TEST_CASE("an unreachable target backs off and is reported failed", "[handoff]") {
  Fixture f;
  const Records r;
  f.Hint("k", r.a);
  std::vector<Message> sends = f.Tick(kT0);
  REQUIRE(sends.size() == 1);

  SECTION("a failed send") {
    f.replay->OnSendFailed(kT0 + 10, sends[0].op, &f.health);
    CHECK(f.health.failed == std::vector<NodeId>{kTarget});
    CHECK(f.replay->inflight() == 0);
    CHECK(f.Tick(kT0 + 100).empty());
    CHECK(f.Tick(kT0 + 509).empty());
    sends = f.Tick(kT0 + 510);  // retry_at = failure + backoff_min
    REQUIRE(sends.size() == 1);
    // Failing again doubles the backoff.
    f.replay->OnSendFailed(kT0 + 600, sends[0].op, &f.health);
    CHECK(f.Tick(kT0 + 1599).empty());
    CHECK(f.Tick(kT0 + 1600).size() == 1);
  }
  SECTION("no answer within the timeout") {
    CHECK(f.Tick(kT0 + 2999).empty());
    CHECK(f.health.failed.empty());
    CHECK(f.Tick(kT0 + 3000).empty());  // timed out now: backing off
    CHECK(f.health.failed == std::vector<NodeId>{kTarget});
    CHECK(f.replay->inflight() == 0);
    CHECK(f.ledger.replay_failures == 1);
    // A late answer to the timed-out replay deletes nothing.
    f.Respond(kT0 + 3100, sends[0]);
    CHECK(f.Stored("k").has_value());
    CHECK(f.Tick(kT0 + 3499).empty());
    CHECK(f.Tick(kT0 + 3500).size() == 1);
  }
  CHECK(f.Stored("k").has_value());  // nothing is ever dropped
}

TEST_CASE("replay keeps to its rate", "[handoff]") {
  Fixture f(/*rate_per_s=*/10);
  const Records r;
  for (int i = 0; i < 40; i++) f.Hint("key" + std::to_string(i), r.a);
  size_t total = 0;
  for (int tick = 1; tick <= 20; tick++) {
    const int64_t now = kT0 + 100 * tick;
    const std::vector<Message> sends = f.Tick(now);
    INFO("tick " << tick);
    CHECK(sends.size() <= 1);
    total += sends.size();
    for (const Message& m : sends) f.Respond(now + 1, m);
  }
  // 2 s at 10 keys/s; the first tick only starts the clock.
  CHECK(total >= 18);
  CHECK(total <= 20);
  CHECK(f.ledger.replayed == total);
}

TEST_CASE("a loop replays only the hints of the partitions it owns", "[handoff]") {
  Fixture f(/*rate_per_s=*/0, /*workers=*/2);
  const Records r;
  kv::Keyspace other(&f.shared, 1);
  std::vector<std::string> mine, theirs;
  for (int i = 0; mine.size() < 3 || theirs.size() < 3; i++) {
    const std::string key = "key" + std::to_string(i);
    if (f.ks->Owns(key)) {
      if (mine.size() < 3) {
        mine.push_back(key);
        f.Hint(key, r.a);
      }
    } else if (theirs.size() < 3) {
      theirs.push_back(key);
      f.Hint(key, r.a, kTarget, &other);
    }
  }
  std::sort(mine.begin(), mine.end());
  CHECK(f.ledger.Totals(kTarget).count == 6);
  const std::vector<Message> sends = f.Tick(kT0);
  CHECK(Keys(sends) == mine);
}

}  // namespace
}  // namespace dynis::replication
