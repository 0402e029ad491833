// Specification of version::DVVSet and the causal-context codec.
//
// Part 1 states each operation's behaviour on small hand-built histories. Part 2 checks the
// implementation against a reference model over thousands of seeded random histories: the model
// is the set of all writes, each with the set of writes its context saw; a replica's live writes
// are those it received and no received write superseded (or it removed).
#include "version/dvvset.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace dynis::version {
namespace {

const Actor kA{1, 0};
const Actor kB{2, 0};
const Actor kC{3, 0};

Sibling Val(std::string v, uint64_t hlc = 0, uint64_t writer = 0) {
  Sibling s;
  s.value = std::move(v);
  s.hlc = hlc;
  s.writer = writer;
  return s;
}

// Sorted value bytes: the observable content of a set, independent of sibling order.
std::vector<std::string> ValuesOf(const DVVSet& s) {
  std::vector<std::string> out;
  for (const Sibling* v : s.Values()) out.push_back(v->value);
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

DVVSet Synced(DVVSet a, const DVVSet& b) {
  a.Sync(b);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Part 1: operations
// ---------------------------------------------------------------------------------------------

TEST_CASE("a new set is empty and has seen nothing", "[dvvset]") {
  DVVSet s;
  CHECK(s.Empty());
  CHECK(s.ValueCount() == 0);
  CHECK(s.Join().empty());
  CHECK(s.LwwWinner() == nullptr);
  CHECK(s.Values().empty());
}

TEST_CASE("the first write gets dot (coordinator, 1)", "[dvvset]") {
  DVVSet s;
  CHECK(s.Update({}, Val("x"), kA) == 1);
  CHECK_FALSE(s.Empty());
  CHECK(ValuesOf(s) == Strings{"x"});
  CHECK(s.Join() == VersionVector{{kA, 1}});
}

TEST_CASE("a write with the context it read supersedes what it read", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("v1"), kA);
  s.Update(s.Join(), Val("v2"), kA);
  CHECK(ValuesOf(s) == Strings{"v2"});
  CHECK(s.Join() == VersionVector{{kA, 2}});
  // The coordinator does not matter for supersession.
  s.Update(s.Join(), Val("v3"), kB);
  CHECK(ValuesOf(s) == Strings{"v3"});
  CHECK(s.Join() == VersionVector{{kA, 2}, {kB, 1}});
}

TEST_CASE("two writes with the same context become two siblings", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("base"), kA);
  const VersionVector ctx = s.Join();
  SECTION("same coordinator") {
    s.Update(ctx, Val("left"), kA);
    s.Update(ctx, Val("right"), kA);
    CHECK(ValuesOf(s) == Strings{"left", "right"});
    CHECK(s.Join() == VersionVector{{kA, 3}});
  }
  SECTION("different coordinators") {
    s.Update(ctx, Val("left"), kA);
    s.Update(ctx, Val("right"), kB);
    CHECK(ValuesOf(s) == Strings{"left", "right"});
  }
}

TEST_CASE("a write with the merged context resolves siblings to one value", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("left"), kA);
  s.Update({}, Val("right"), kB);
  REQUIRE(s.ValueCount() == 2);
  s.Update(s.Join(), Val("resolved"), kC);
  CHECK(ValuesOf(s) == Strings{"resolved"});
}

TEST_CASE("a blind write (empty context) keeps existing values as siblings", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("old"), kA);
  s.Update({}, Val("blind"), kA);
  CHECK(ValuesOf(s) == Strings{"blind", "old"});
}

TEST_CASE("a write supersedes only what its context covers", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("a1"), kA);
  const VersionVector seen_a1 = s.Join();
  s.Update({}, Val("a2"), kA);  // concurrent with a1, not seen by the reader of seen_a1
  s.Update(seen_a1, Val("w"), kB);
  CHECK(ValuesOf(s) == Strings{"a2", "w"});
}

TEST_CASE("the new dot is one past the larger of the local and the context counter", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("x"), kA);                     // A:1
  CHECK(s.Update({{kA, 7}}, Val("y"), kA) == 8);  // context knows more of A than we do
  CHECK(s.Join() == VersionVector{{kA, 8}});
  CHECK(s.Update({{kA, 3}}, Val("z"), kA) == 9);  // a stale context never rewinds the counter
  CHECK(ValuesOf(s) == Strings{"y", "z"});
}

TEST_CASE("values a client saw elsewhere stay dead when they arrive later", "[dvvset]") {
  DVVSet at_a, at_b;
  at_b.Update({}, Val("from-b"), kB);
  // The client read at B, writes at A: A has never received from-b.
  at_a.Update(at_b.Join(), Val("new"), kA);
  CHECK(at_a.Join() == VersionVector{{kA, 1}, {kB, 1}});
  at_a.Sync(at_b);
  CHECK(ValuesOf(at_a) == Strings{"new"});
  at_b.Sync(at_a);
  CHECK(ValuesOf(at_b) == Strings{"new"});
}

TEST_CASE("Sync of concurrent sets keeps both sides' values", "[dvvset]") {
  DVVSet a, b;
  a.Update({}, Val("a"), kA);
  b.Update({}, Val("b"), kB);
  const DVVSet ab = Synced(a, b);
  CHECK(ValuesOf(ab) == Strings{"a", "b"});
  CHECK(ab.Join() == VersionVector{{kA, 1}, {kB, 1}});
  CHECK(ab == Synced(b, a));
  // Concurrent writes through the same coordinator's dots, diverged replicas.
  DVVSet base;
  base.Update({}, Val("base"), kA);
  DVVSet r1 = base, r2 = base;
  r1.Update(base.Join(), Val("r1"), kA);
  r2.Update(base.Join(), Val("r2"), kB);
  CHECK(ValuesOf(Synced(r1, r2)) == Strings{"r1", "r2"});
}

TEST_CASE("Sync with a descendant keeps only the descendant", "[dvvset]") {
  DVVSet old_set;
  old_set.Update({}, Val("v1"), kA);
  old_set.Update({}, Val("v1'"), kB);
  DVVSet newer = old_set;
  newer.Update(newer.Join(), Val("v2"), kC);
  CHECK(ValuesOf(Synced(old_set, newer)) == Strings{"v2"});
  CHECK(ValuesOf(Synced(newer, old_set)) == Strings{"v2"});
  CHECK(Synced(old_set, newer) == newer);
  CHECK(Synced(newer, old_set) == newer);
}

TEST_CASE("Sync with itself or a copy changes nothing", "[dvvset]") {
  DVVSet s;
  s.Update({}, Val("x"), kA);
  s.Update({}, Val("y"), kB);
  const DVVSet before = s;
  s.Sync(s);
  CHECK(s == before);
  s.Sync(before);
  CHECK(s == before);
  s.Sync(DVVSet());
  CHECK(s == before);
  CHECK(Synced(DVVSet(), before) == before);
}

TEST_CASE("LWW winner: highest hlc, then writer, then value bytes; same on every node",
          "[dvvset]") {
  auto winner_of = [](std::vector<Sibling> writes) {
    // Build the same concurrent set two ways (different coordinators and insertion order).
    DVVSet x, y;
    for (size_t i = 0; i < writes.size(); ++i) {
      x.Update({}, writes[i], Actor{i + 1, 0});
    }
    for (size_t i = writes.size(); i-- > 0;) {
      DVVSet one;
      one.Update({}, writes[i], Actor{100 + i, 0});
      y.Sync(one);
    }
    REQUIRE(x.LwwWinner() != nullptr);
    REQUIRE(y.LwwWinner() != nullptr);
    REQUIRE(*x.LwwWinner() == *y.LwwWinner());
    return x.LwwWinner()->value;
  };
  CHECK(winner_of({Val("old", 10, 9), Val("new", 20, 1), Val("mid", 15, 5)}) == "new");
  CHECK(winner_of({Val("n1", 20, 1), Val("n3", 20, 3), Val("n2", 20, 2)}) == "n3");
  CHECK(winner_of({Val("aaa", 20, 1), Val("b", 20, 1), Val("ab", 20, 1)}) == "b");
  CHECK(winner_of({Val(std::string("a\0b", 3), 5, 5), Val(std::string("a\0a", 3), 5, 5)}) ==
        std::string("a\0b", 3));
  // A delete and a value with identical (hlc, writer, bytes): the delete wins everywhere.
  Sibling del;
  del.tombstone = true;
  del.hlc = 7;
  del.writer = 1;
  DVVSet s;
  s.Update({}, Val("", 7, 1), kA);
  s.Update({}, del, kB);
  REQUIRE(s.LwwWinner() != nullptr);
  CHECK(s.LwwWinner()->tombstone);
}

TEST_CASE("RemoveValuesIf drops values but keeps their causal history", "[dvvset]") {
  DVVSet s;
  Sibling expiring = Val("expiring");
  expiring.expire_at_ms = 1000;
  s.Update({}, Val("keep1"), kA);
  s.Update({}, expiring, kA);  // the middle dot of A's three
  s.Update({}, Val("keep2"), kA);
  const DVVSet replica_copy = s;
  CHECK(s.RemoveValuesIf(
            [](const Sibling& v) { return v.expire_at_ms != 0 && v.expire_at_ms <= 2000; }) == 1);
  CHECK(ValuesOf(s) == Strings{"keep1", "keep2"});
  CHECK(s.Join() == VersionVector{{kA, 3}});
  // A replica that still holds the expired value cannot bring it back.
  CHECK(ValuesOf(Synced(s, replica_copy)) == Strings{"keep1", "keep2"});
  CHECK(ValuesOf(Synced(replica_copy, s)) == Strings{"keep1", "keep2"});
  // Removing everything leaves an empty set that still remembers what it saw.
  s.RemoveValuesIf([](const Sibling&) { return true; });
  CHECK(s.Empty());
  CHECK(s.Join() == VersionVector{{kA, 3}});
  CHECK(Synced(s, replica_copy).Empty());
}

TEST_CASE("Prune drops value-less history, oldest first, and never a value", "[dvvset]") {
  DVVSet s;
  // Five actors; only C and E end up holding values.
  s.Update({}, Val("a", 10), Actor{1, 0});
  s.Update({}, Val("b", 30), Actor{2, 0});
  s.Update({}, Val("d", 20), Actor{4, 0});
  s.Update(s.Join(), Val("c", 40), Actor{3, 0});  // supersedes a, b, d
  s.Update({}, Val("e", 5), Actor{5, 0});
  REQUIRE(s.Join().size() == 5);
  const Strings values = ValuesOf(s);

  DVVSet roomy = s;
  CHECK(roomy.Prune(5) == 0);
  CHECK(roomy == s);

  DVVSet p = s;
  CHECK(p.Prune(3) == 2);  // drops A (hlc 10) and D (hlc 20), keeps B (hlc 30)
  CHECK(ValuesOf(p) == values);
  CHECK(p.Join() == VersionVector{{Actor{2, 0}, 1}, {Actor{3, 0}, 1}, {Actor{5, 0}, 1}});

  DVVSet tight = s;
  CHECK(tight.Prune(0) == 3);  // every value-less entry goes; the value holders stay
  CHECK(ValuesOf(tight) == values);
  CHECK(tight.Join().size() == 2);
}

TEST_CASE("Actor orders by node then epoch", "[dvvset]") {
  CHECK(Actor{1, 5} < Actor{2, 0});
  CHECK(Actor{1, 0} < Actor{1, 1});
  CHECK_FALSE(Actor{1, 1} < Actor{1, 1});
  CHECK(Actor{7, 3}.ToString() == "7.3");
  // A reborn node (new epoch) mints dots that are distinct from its old ones.
  DVVSet s;
  s.Update({}, Val("before-loss"), Actor{1, 0});
  DVVSet reborn;
  reborn.Update({}, Val("after-loss"), Actor{1, 1});
  CHECK(ValuesOf(Synced(s, reborn)) == Strings{"after-loss", "before-loss"});
}

TEST_CASE("Descends and MergeVV", "[dvvset]") {
  const VersionVector a{{kA, 2}, {kB, 1}};
  const VersionVector b{{kA, 1}};
  CHECK(Descends(a, b));
  CHECK_FALSE(Descends(b, a));
  CHECK(Descends(a, a));
  CHECK(Descends(a, {}));
  CHECK(Descends({}, {}));
  CHECK_FALSE(Descends({}, b));
  CHECK_FALSE(Descends({{kA, 5}}, {{kB, 1}}));
  CHECK_FALSE(Descends({{kA, 1}, {kB, 9}}, {{kA, 2}}));  // one counter behind is enough
  CHECK(MergeVV({{kA, 1}, {kC, 4}}, {{kA, 3}, {kB, 2}}) ==
        VersionVector{{kA, 3}, {kB, 2}, {kC, 4}});
  // Unsorted, duplicated and zero entries are normalised.
  CHECK(MergeVV({{kC, 1}, {kA, 2}, {kA, 5}, {kB, 0}}, {}) == VersionVector{{kA, 5}, {kC, 1}});
  CHECK(Descends({{kB, 1}, {kA, 2}}, {{kA, 2}, {kB, 0}}));
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

DVVSet RichSet() {
  DVVSet s;
  Sibling binary = Val(std::string("\0bin\0\xff\x80 ary\0", 13), 0xFFFFFFFFFFFFull, 9);
  binary.expire_at_ms = 1700000000000;
  Sibling negative_expiry = Val("neg", 3, 2);
  negative_expiry.expire_at_ms = -5;
  Sibling del;
  del.tombstone = true;
  del.hlc = 77;
  s.Update({}, binary, kA);
  s.Update({}, Val("gone"), kA);
  s.Update({{Actor{~uint64_t{0}, ~uint32_t{0}}, 12345}}, del, kB);
  s.Update({}, negative_expiry, kA);
  s.Update({}, Val(std::string(300, 'x'), ~uint64_t{0}, ~uint64_t{0}), Actor{1, 7});
  s.RemoveValuesIf([](const Sibling& v) { return v.value == "gone"; });  // a hole in A's dots
  return s;
}

TEST_CASE("encode/decode round-trips, binary values included", "[dvvset][encoding]") {
  for (const DVVSet& s : {DVVSet(), RichSet()}) {
    const std::string bytes = s.Encode();
    CHECK(static_cast<uint8_t>(bytes[0]) == DVVSet::kFormatV1);
    auto decoded = DVVSet::Decode(bytes);
    REQUIRE(decoded.ok());
    CHECK(*decoded == s);
    CHECK(decoded->Encode() == bytes);
  }
  auto decoded = DVVSet::Decode(RichSet().Encode());
  REQUIRE(decoded.ok());
  CHECK(ValuesOf(*decoded) == ValuesOf(RichSet()));
  CHECK(decoded->Join() == RichSet().Join());
}

TEST_CASE("decode rejects every truncation and any trailing byte", "[dvvset][encoding]") {
  const std::string bytes = RichSet().Encode();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DVVSet::Decode(std::string_view(bytes).substr(0, n));
    INFO("prefix length " << n);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kCorruption);
  }
  CHECK_FALSE(DVVSet::Decode(bytes + '\0').ok());
  CHECK_FALSE(DVVSet::Decode(std::string(1, '\x02') + bytes.substr(1)).ok());  // unknown format
}

TEST_CASE("decode rejects lying lengths without allocating for them", "[dvvset][encoding]") {
  // format 1, 2^63 entries
  CHECK_FALSE(DVVSet::Decode(std::string("\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10)).ok());
  // one entry (node 1, epoch 0, counter 5, hlc 0) claiming 2^62 values
  CHECK_FALSE(DVVSet::Decode(
                  std::string("\x01\x01\x01\x00\x05\x00\xff\xff\xff\xff\xff\xff\xff\xff\x3f", 15))
                  .ok());
  // one value whose length is 2^40
  CHECK_FALSE(
      DVVSet::Decode(
          std::string("\x01\x01\x01\x00\x01\x00\x01\x00\x00\x00\x00\x80\x80\x80\x80\x80\x20", 17))
          .ok());
  // a dot below 1 (gap 1 under counter 1), zero counter, unsorted entries, overlong varint
  CHECK_FALSE(
      DVVSet::Decode(std::string("\x01\x01\x01\x00\x01\x00\x01\x01\x00\x00\x00\x00", 12)).ok());
  CHECK(DVVSet::Decode(std::string("\x01\x01\x01\x00\x01\x00\x01\x00\x00\x00\x00\x00", 12)).ok());
  CHECK_FALSE(DVVSet::Decode(std::string("\x01\x01\x01\x00\x00\x00\x00", 7)).ok());
  CHECK(DVVSet::Decode(std::string("\x01\x02\x01\x00\x01\x00\x00\x02\x00\x01\x00\x00", 12)).ok());
  CHECK_FALSE(
      DVVSet::Decode(std::string("\x01\x02\x02\x00\x01\x00\x00\x01\x00\x01\x00\x00", 12)).ok());
  CHECK_FALSE(DVVSet::Decode(std::string("\x01\x81\x00", 3)).ok());
  // a tombstone (flag 1) must carry no bytes; unknown flags are rejected
  CHECK(DVVSet::Decode(std::string("\x01\x01\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00", 12)).ok());
  CHECK_FALSE(
      DVVSet::Decode(std::string("\x01\x01\x01\x00\x01\x00\x01\x00\x01\x00\x00\x01z", 13)).ok());
  CHECK_FALSE(
      DVVSet::Decode(std::string("\x01\x01\x01\x00\x01\x00\x01\x00\x04\x00\x00\x00", 12)).ok());
}

TEST_CASE("decode of random and mutated bytes fails cleanly or round-trips", "[dvvset][encoding]") {
  std::mt19937_64 rng(12345);
  const std::string valid = RichSet().Encode();
  size_t accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes;
    if (iter % 2 == 0) {
      bytes.resize(rng() % 64);
      for (char& c : bytes) c = static_cast<char>(rng());
      if (!bytes.empty() && rng() % 2) bytes[0] = '\x01';  // get past the format byte
    } else {
      bytes = valid;
      for (int k = 1 + rng() % 3; k > 0; --k) bytes[rng() % bytes.size()] ^= 1 << (rng() % 8);
    }
    auto r = DVVSet::Decode(bytes);
    if (r.ok()) {
      ++accepted;
      // Whatever is accepted is canonical: it encodes back to the same bytes.
      REQUIRE(r->Encode() == bytes);
    } else {
      REQUIRE(r.status().code() == Status::Code::kCorruption);
    }
  }
  CHECK(accepted > 0);  // mutations of payload bytes (e.g. value contents) are legitimately valid
}

TEST_CASE("context round-trips; empty context is the empty string", "[dvvset][context]") {
  CHECK(EncodeContext({}).empty());
  auto blind = DecodeContext("");
  REQUIRE(blind.ok());
  CHECK(blind->empty());
  const VersionVector vv{
      {kA, 1}, {Actor{1, 9}, 300}, {Actor{~uint64_t{0}, ~uint32_t{0}}, kMaxCounter}};
  const std::string ctx = EncodeContext(vv);
  auto decoded = DecodeContext(ctx);
  REQUIRE(decoded.ok());
  CHECK(*decoded == vv);
  // Unsorted input is encoded in canonical form.
  CHECK(EncodeContext({vv[2], vv[0], vv[1]}) == ctx);
}

TEST_CASE("context decode rejects garbage as an invalid-context error", "[dvvset][context]") {
  const std::string ctx = EncodeContext({{kA, 3}, {kB, 1}});
  auto expect_rejected = [](std::string_view bytes) {
    auto r = DecodeContext(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidArgument);
    CHECK(r.status().message() == "ERR invalid context");
  };
  for (size_t n = 1; n < ctx.size(); ++n) expect_rejected(std::string_view(ctx).substr(0, n));
  expect_rejected(ctx + "x");
  for (size_t i = 0; i < ctx.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = ctx;
      flipped[i] ^= static_cast<char>(1 << bit);
      expect_rejected(flipped);
    }
  }
  expect_rejected("hello world");
  expect_rejected(std::string(64, '\0'));
  // A stored set's encoding is not a context.
  expect_rejected(RichSet().Encode());
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string bytes(1 + rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    expect_rejected(bytes);  // a random 4-byte CRC match is a 2^-32 event: fixed seed, no flake
  }
}

// An independent (bitwise) CRC32C, to forge contexts whose checksum is right but whose contents
// are not.
std::string WithCrc(std::string body) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : body) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  c = ~c;
  for (int k = 0; k < 4; ++k) body.push_back(static_cast<char>((c >> (8 * k)) & 0xff));
  return body;
}

TEST_CASE("context format: version, count, (node, epoch, counter) varints, CRC32C",
          "[dvvset][context]") {
  // The standard CRC32C check value, so the trailer is the well-known checksum.
  CHECK(WithCrc("123456789").substr(9) == std::string("\x83\x92\x06\xe3", 4));
  // version 1, two actors, (1, 0, 3), (2, 1, 300 = varint ac 02)
  const std::string body("\x01\x02\x01\x00\x03\x02\x01\xac\x02", 9);
  CHECK(EncodeContext({{kA, 3}, {Actor{2, 1}, 300}}) == WithCrc(body));
}

TEST_CASE("context decode rejects well-checksummed but invalid contents", "[dvvset][context]") {
  auto rejected = [](const std::string& body) {
    auto r = DecodeContext(WithCrc(body));
    return !r.ok() && r.status().message() == "ERR invalid context";
  };
  REQUIRE_FALSE(rejected(std::string("\x01\x02\x01\x00\x03\x02\x00\x01", 8)));  // the control
  CHECK(rejected(std::string("\x02\x02\x01\x00\x03\x02\x00\x01", 8)));          // unknown version
  CHECK(rejected(std::string("\x01\x02\x02\x00\x03\x01\x00\x01", 8)));          // unsorted actors
  CHECK(rejected(std::string("\x01\x02\x01\x00\x03\x01\x00\x01", 8)));          // duplicate actor
  CHECK(rejected(std::string("\x01\x02\x01\x00\x03\x02\x00\x00", 8)));          // zero counter
  CHECK(rejected(std::string("\x01\x03\x01\x00\x03\x02\x00\x01", 8)));          // count too high
  CHECK(rejected(std::string("\x01\x01\x01\x00\x03\x02\x00\x01", 8)));          // trailing triple
  // Epochs are 64-bit (a node leases its epoch from the clock, in microseconds).
  CHECK_FALSE(rejected(std::string("\x01\x01\x01\x80\x80\x80\x80\x10\x01", 9)));  // epoch 2^32
  CHECK(
      rejected(std::string("\x01\x01\x01\x00\x81\x80\x80\x80\x80\x80\x80\x80\x40", 13)));  // 2^62+1
  CHECK_FALSE(rejected(std::string("\x01\x01\x01\x00\x80\x80\x80\x80\x80\x80\x80\x80\x40", 13)));
  CHECK(rejected(std::string("\x01\xff\xff\xff\xff\x0f", 6)));  // lying count
}

TEST_CASE("a dot minted twice is told apart from a superseded one", "[dvvset][kv679]") {
  // The replica's history of actor A: a@1 (t=10), b@2 (t=20); b is still held.
  DVVSet replica;
  replica.Update({}, Val("a", 10), kA);
  replica.Update(replica.Join(), Val("b", 20), kA);
  REQUIRE(replica.Join() == VersionVector{{kA, 2}});

  struct Case {
    const char* what;
    DVVSet incoming;
    size_t reused;
  };
  auto one = [](uint64_t reset_to, Sibling v) {
    // A coordinator that forgot its counter and restarted it from reset_to.
    DVVSet s;
    for (uint64_t i = 0; i < reset_to; i++) s.Update(s.Join(), Val("old"), kA);
    s.RemoveValuesIf([](const Sibling&) { return true; });
    s.Update(s.Join(), std::move(v), kA);
    return s;
  };
  std::vector<Case> cases;
  cases.push_back({"the same write again (duplicate, repair)", replica, 0});
  cases.push_back({"a's write arriving late: superseded by b, which is newer", one(0, Val("a", 10)), 0});
  cases.push_back({"a new write under dot 1 (counter forgotten): newer than all A's history",
                   one(0, Val("c", 30)), 1});
  cases.push_back({"a new write under dot 2, held here for b", one(1, Val("c", 30)), 1});
  cases.push_back({"a new write under dot 3: not seen here", one(2, Val("c", 30)), 0});
  DVVSet other;
  other.Update({}, Val("x", 5), kB);
  cases.push_back({"another actor's write", other, 0});
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(replica.CountReusedDots(c.incoming) == c.reused);
  }

  // b superseded by B's write whose context saw it: A's newest dot is still known (t=20).
  DVVSet superseded = replica;
  superseded.Update(superseded.Join(), Val("y", 25), kB);
  CHECK(superseded.CountReusedDots(replica) == 0);                 // b itself, late
  CHECK(superseded.CountReusedDots(one(1, Val("c", 30))) == 1);   // dot 2 again, for c
  // A counter learnt from a client's context alone says nothing about when its dots were
  // written (a lagging clock at the writer must not make a late original look reused).
  DVVSet from_context;
  from_context.Update(VersionVector{{kA, 2}}, Val("z", 1), kB);
  CHECK(from_context.entries()[0].last_hlc == 0);
  CHECK(from_context.CountReusedDots(replica) == 0);
  CHECK(from_context.CountReusedDots(one(0, Val("c", 30))) == 0);
  // Syncing the writer's record in restores the time of A's newest dot.
  from_context.Sync(replica);
  CHECK(from_context.entries()[0].last_hlc == 20);
  CHECK(from_context.CountReusedDots(one(0, Val("c", 30))) == 1);
}

// ---------------------------------------------------------------------------------------------
// Part 2: property tests against a reference model
// ---------------------------------------------------------------------------------------------

// The model knows nothing of dots or counters: a write is an id, its context the set of write
// ids the client's context had seen. A history makes fewer than 64 writes, so a set of write ids
// is a bit mask (bit w = write w): cheap enough for thousands of histories under ASan.
using Ids = uint64_t;
constexpr int kMaxWrites = 64;
constexpr Ids Bit(int w) { return Ids{1} << w; }

struct ModelWrite {
  int client = 0;
  Actor actor;  // coordinator; with `counter` only used to translate Join() to write ids
  uint64_t counter = 0;
  Ids saw = 0;  // the writes this one supersedes
};

struct ModelReplica {
  Ids received = 0;  // writes this replica holds or held
  Ids known = 0;     // received plus everything they saw: what a context read here covers
  Ids removed = 0;   // dropped by RemoveValuesIf here or at a replica synced from
};

struct History {
  std::vector<ModelWrite> writes;
  std::vector<ModelReplica> model;
  std::vector<DVVSet> replicas;
  std::vector<Actor> actors;
  std::unordered_map<std::string, int> id_of_value;
  std::string log;  // the operations so far, printed when a property fails, with the seed

  std::string Dump() const {
    std::string out = log;
    for (size_t r = 0; r < replicas.size(); ++r) {
      out += "replica " + std::to_string(r) + ": " + replicas[r].DebugString() + "\n";
    }
    return out;
  }
  // Received, not superseded by anything received, not removed.
  Ids Live(size_t r) const {
    const ModelReplica& m = model[r];
    Ids dead = m.removed;
    for (int w = 0; w < static_cast<int>(writes.size()); ++w) {
      if (m.received & Bit(w)) dead |= writes[w].saw;
    }
    return m.received & ~dead;
  }
  Ids ValueIds(const DVVSet& s) const {
    Ids ids = 0;
    for (const Sibling* v : s.Values()) ids |= Bit(id_of_value.at(v->value));
    return ids;
  }
  // The writes a version vector covers, via the dots the implementation assigned.
  Ids Covered(const VersionVector& vv) const {
    Ids ids = 0;
    for (int w = 0; w < static_cast<int>(writes.size()); ++w) {
      for (const auto& [actor, n] : vv) {
        if (actor == writes[w].actor && writes[w].counter <= n) ids |= Bit(w);
      }
    }
    return ids;
  }
};

int Count(Ids ids) { return __builtin_popcountll(ids); }

#define PROP_REQUIRE(cond)                                 \
  do {                                                     \
    if (!(cond)) {                                         \
      INFO("seed " << seed << "\nhistory:\n" << h.Dump()); \
      REQUIRE(cond);                                       \
    }                                                      \
  } while (0)

// Sync algebra on three states, compared both structurally and by what a client observes.
void CheckSyncAlgebra(const DVVSet& a, const DVVSet& b, const DVVSet& c, uint64_t seed,
                      const History& h) {
  const DVVSet ab = Synced(a, b);
  const DVVSet ba = Synced(b, a);
  PROP_REQUIRE(ab == ba);
  PROP_REQUIRE(ValuesOf(ab) == ValuesOf(ba));
  PROP_REQUIRE(ab.Join() == ba.Join());
  const DVVSet left = Synced(ab, c);
  const DVVSet right = Synced(a, Synced(b, c));
  PROP_REQUIRE(left == right);
  PROP_REQUIRE((ValuesOf(left) == ValuesOf(right) && left.Join() == right.Join()));
  PROP_REQUIRE(Synced(a, a) == a);
  PROP_REQUIRE(Synced(ab, b) == ab);
  PROP_REQUIRE((Descends(ab.Join(), a.Join()) && Descends(ab.Join(), b.Join())));
  PROP_REQUIRE(ab.Join() == MergeVV(a.Join(), b.Join()));
}

void RunHistory(uint64_t seed, bool sessions) {
  std::mt19937_64 rng(seed);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const size_t n_replicas = 2 + pick(3);
  const size_t n_clients = 1 + pick(4);
  const int steps = 10 + static_cast<int>(pick(40));

  History h;
  h.model.resize(n_replicas);
  h.replicas.resize(n_replicas);
  for (size_t r = 0; r < n_replicas; ++r) {
    // Two replicas share node 5 under different epochs: a node that was reborn.
    h.actors.push_back(r < 2 ? Actor{5, static_cast<uint32_t>(r)} : Actor{10 + r, 3});
  }
  std::vector<VersionVector> session_vv(n_clients);  // the context a client's last write returned
  std::vector<Ids> session_ids(n_clients, 0);
  uint64_t hlc = 1000;

  for (int step = 0; step < steps; ++step) {
    const size_t op = pick(10);
    if (op < 5) {
      // A client reads the context at one replica and writes at another (or the same) one.
      const size_t client = pick(n_clients);
      const size_t read_at = pick(n_replicas);
      const size_t write_at = pick(n_replicas);
      const bool blind = pick(8) == 0;
      VersionVector got = blind ? VersionVector() : h.replicas[read_at].Join();
      Ids saw = blind ? 0 : h.model[read_at].known;
      // What the replica's Join claims to have seen is exactly what the model says it knows.
      PROP_REQUIRE(h.Covered(got) == saw);
      // The context travels through the client as opaque bytes.
      auto decoded = DecodeContext(EncodeContext(got));
      PROP_REQUIRE((decoded.ok() && *decoded == got));
      VersionVector ctx = *decoded;
      if (sessions) {
        ctx = MergeVV(ctx, session_vv[client]);
        saw |= session_ids[client];
      }
      const int id = static_cast<int>(h.writes.size());
      REQUIRE(id < kMaxWrites);
      Sibling v;
      v.value = "w" + std::to_string(id) + std::string(1, '\0') + "c" + std::to_string(client);
      v.hlc = ++hlc;
      v.writer = h.actors[write_at].node_id;
      h.id_of_value[v.value] = id;

      DVVSet& replica = h.replicas[write_at];
      const Ids before = h.ValueIds(replica);
      const uint64_t counter = replica.Update(ctx, v, h.actors[write_at]);
      for (const ModelWrite& w : h.writes) {  // dots are never reused
        PROP_REQUIRE((!(w.actor == h.actors[write_at] && w.counter == counter)));
      }
      h.writes.push_back(ModelWrite{static_cast<int>(client), h.actors[write_at], counter, saw});
      ModelReplica& m = h.model[write_at];
      m.received |= Bit(id);
      m.known |= Bit(id) | saw;
      h.log += "write w" + std::to_string(id) + " client " + std::to_string(client) + " read@" +
               std::to_string(read_at) + (blind ? "(blind)" : "") + " write@" +
               std::to_string(write_at) + "\n";

      // The write supersedes exactly the previously live values its context saw.
      PROP_REQUIRE(h.ValueIds(replica) == (Bit(id) | (before & ~saw)));
      if (sessions) {
        session_vv[client] = replica.Join();
        session_ids[client] = m.known;
      }
    } else if (op < 9) {
      const size_t to = pick(n_replicas);
      const size_t from = pick(n_replicas);
      h.replicas[to].Sync(h.replicas[from]);
      ModelReplica& dst = h.model[to];
      const ModelReplica& src = h.model[from];
      dst.received |= src.received;
      dst.known |= src.known;
      dst.removed |= src.removed;
      h.log += "sync " + std::to_string(to) + " <- " + std::to_string(from) + "\n";
    } else {
      // Expire the live values of one client at one replica.
      const size_t r = pick(n_replicas);
      const int client = static_cast<int>(pick(n_clients));
      const Ids live = h.Live(r);
      for (int w = 0; w < static_cast<int>(h.writes.size()); ++w) {
        if ((live & Bit(w)) && h.writes[w].client == client) h.model[r].removed |= Bit(w);
      }
      const size_t removed = h.replicas[r].RemoveValuesIf([&h, client](const Sibling& s) {
        return h.writes[h.id_of_value.at(s.value)].client == client;
      });
      PROP_REQUIRE(Count(h.Live(r)) + removed == static_cast<size_t>(Count(live)));
      h.log += "expire client " + std::to_string(client) + " at " + std::to_string(r) + "\n";
    }

    // Every replica holds exactly the model's live writes, and they are mutually concurrent.
    for (size_t r = 0; r < n_replicas; ++r) {
      const DVVSet& s = h.replicas[r];
      const Ids live = h.Live(r);
      PROP_REQUIRE(h.ValueIds(s) == live);
      PROP_REQUIRE(s.ValueCount() == static_cast<size_t>(Count(live)));
      PROP_REQUIRE(s.Empty() == (live == 0));
      PROP_REQUIRE(h.Covered(s.Join()) == h.model[r].known);
      uint64_t writers = 0;
      for (int w = 0; w < static_cast<int>(h.writes.size()); ++w) {
        if ((live & Bit(w)) == 0) continue;
        PROP_REQUIRE((h.writes[w].saw & live) == 0);
        writers |= Bit(h.writes[w].client);
      }
      if (sessions) {
        // Clients that carry their last write's context supersede their own older writes:
        // siblings come only from distinct, concurrent writers.
        PROP_REQUIRE(Count(writers) == Count(live));
        PROP_REQUIRE(s.ValueCount() <= n_clients);
      }
    }
  }

  // Algebra, encoding and pruning on the final states.
  for (size_t i = 0; i < n_replicas; ++i) {
    const DVVSet& a = h.replicas[i];
    CheckSyncAlgebra(a, h.replicas[(i + 1) % n_replicas], h.replicas[pick(n_replicas)], seed, h);
    auto decoded = DVVSet::Decode(a.Encode());
    PROP_REQUIRE((decoded.ok() && *decoded == a));
    DVVSet pruned = a;
    pruned.Prune(pick(4));
    PROP_REQUIRE(ValuesOf(pruned) == ValuesOf(a));
    PROP_REQUIRE(Descends(a.Join(), pruned.Join()));
  }
  // Full anti-entropy converges every replica to the same state.
  DVVSet all;
  for (const DVVSet& s : h.replicas) all.Sync(s);
  for (DVVSet& s : h.replicas) {
    s.Sync(all);
    PROP_REQUIRE(s == all);
  }
}

TEST_CASE("random histories match the reference model", "[dvvset][property]") {
  for (uint64_t seed = 1; seed <= 2000; ++seed) RunHistory(seed, /*sessions=*/false);
}

TEST_CASE("random histories with session contexts bound siblings by concurrent writers",
          "[dvvset][property]") {
  for (uint64_t seed = 100001; seed <= 102000; ++seed) RunHistory(seed, /*sessions=*/true);
}

}  // namespace
}  // namespace dynis::version
