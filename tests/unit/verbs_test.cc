// The peer verbs (transport/verbs.h): what a coordinator sends is what a replica's handler
// reads, what the replica answers is what the coordinator decodes, and MEET carries members
// and their states both ways.
#include "transport/verbs.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/reply.h"
#include "proto/reply_parser.h"

namespace dynis::transport {
namespace {

using replication::Message;
using Type = Message::Type;

// The reply `write` produces, parsed as a peer link parses it.
template <class Write>
proto::Reply RoundTrip(Write&& write) {
  std::string out;
  proto::ReplyWriter w(&out);
  write(&w);
  proto::ReplyParser parser;
  size_t used = 0;
  REQUIRE(parser.Parse(out.data(), out.size(), &used) == proto::ReplyParser::State::kReply);
  REQUIRE(used == out.size());
  return parser.reply();
}

Message Request(Type type) {
  Message m;
  m.type = type;
  m.from = 1;
  m.to = 2;
  m.op = 7;
  m.key = "k";
  if (type == Type::kPutReq) m.record = std::string("rec\0ord", 7);
  return m;
}

TEST_CASE("a replica reads the request the coordinator sent", "[verbs]") {
  for (Type t : {Type::kGetReq, Type::kPutReq}) {
    Message sent = Request(t);
    Message got;
    REQUIRE(ParseRequest(RequestArgv(sent), &got));
    CHECK(got.type == t);
    CHECK(got.key == "k");
    CHECK(got.record == sent.record);
  }
  Message none;
  CHECK_FALSE(ParseRequest({"DYNIS.MEET", "a", "b", "1", "2"}, &none));
  CHECK_FALSE(ParseRequest({"DYNIS.GETREC"}, &none));
}

TEST_CASE("the coordinator decodes what the replica answered", "[verbs]") {
  SECTION("a record found") {
    Message req = Request(Type::kGetReq);
    Message resp;
    resp.type = Type::kGetResp;
    resp.found = true;
    resp.record = std::string("r\0", 2);
    Message got = ResponseOf(req, RoundTrip([&](proto::ReplyWriter* w) { WriteResponse(resp, w); }));
    CHECK(got.type == Type::kGetResp);
    CHECK(got.ok);
    CHECK(got.found);
    CHECK(got.record == resp.record);
    // Identity comes from the request: the reply is matched to it by the link.
    CHECK(got.from == 2);
    CHECK(got.to == 1);
    CHECK(got.op == 7);
    CHECK(got.key == "k");
  }
  SECTION("absent") {
    Message resp;
    resp.type = Type::kGetResp;
    Message got = ResponseOf(Request(Type::kGetReq),
                             RoundTrip([&](proto::ReplyWriter* w) { WriteResponse(resp, w); }));
    CHECK(got.ok);
    CHECK_FALSE(got.found);
  }
  SECTION("a put stored, or refused with its reason") {
    Message ok;
    ok.type = Type::kPutResp;
    Message got = ResponseOf(Request(Type::kPutReq),
                             RoundTrip([&](proto::ReplyWriter* w) { WriteResponse(ok, w); }));
    CHECK(got.type == Type::kPutResp);
    CHECK(got.ok);
    Message refused = ok;
    refused.ok = false;
    refused.error = "ERR dot conflict: 1 value(s) reuse a version";
    got = ResponseOf(Request(Type::kPutReq),
                     RoundTrip([&](proto::ReplyWriter* w) { WriteResponse(refused, w); }));
    CHECK_FALSE(got.ok);
    CHECK(got.error == refused.error);
  }
  SECTION("a failure without a reason gets the replica's generic text") {
    Message failed;
    failed.type = Type::kGetResp;
    failed.ok = false;
    proto::Reply r = RoundTrip([&](proto::ReplyWriter* w) { WriteResponse(failed, w); });
    CHECK(r.type == proto::Reply::Type::kError);
    CHECK(r.str == "ERR the replica could not read its record");
  }
}

cluster::ClusterView View(bool sealed) {
  cluster::ClusterView v;
  v.sealed = sealed;
  cluster::Member a;
  a.name = "a";
  a.id = 11;
  a.host = "127.0.0.1";
  a.cport = 17001;
  a.port = 7001;
  cluster::Member b = a;
  b.name = "b";
  b.id = 12;
  b.cport = 17002;
  b.port = 7002;
  b.state = cluster::MemberState::kJoining;
  v.members = {a, b};
  return v;
}

TEST_CASE("MEET carries a node's identity and its answer the members", "[verbs]") {
  cluster::Member self = View(false).members[0];
  cluster::Member got;
  REQUIRE(ParseMeet(MeetArgv(self), &got));
  CHECK(got.name == "a");
  CHECK(got.host == "127.0.0.1");
  CHECK(got.cport == 17001);
  CHECK(got.port == 7001);
  CHECK_FALSE(ParseMeet({"DYNIS.MEET", "a", "h", "0", "1"}, &got));      // cluster port 0
  CHECK_FALSE(ParseMeet({"DYNIS.MEET", "", "h", "17001", "1"}, &got));   // no name
  CHECK_FALSE(ParseMeet({"DYNIS.MEET", "a", "h", "x", "1"}, &got));      // not a number

  for (bool sealed : {false, true}) {
    cluster::ClusterView v = View(sealed);
    cluster::Membership heard =
        ParseMembers(RoundTrip([&](proto::ReplyWriter* w) { WriteMembers(v, w); }));
    CHECK(heard.sealed == sealed);
    REQUIRE(heard.members.size() == 2);
    CHECK(heard.members[1].name == "b");
    CHECK(heard.members[1].cport == 17002);
    // States travel only once sealed; an open answer says nothing about them.
    CHECK(heard.members[1].joining() == sealed);
  }
}

TEST_CASE("a malformed MEET entry drops the states of the whole answer", "[verbs]") {
  cluster::ClusterView v = View(true);
  proto::Reply r = RoundTrip([&](proto::ReplyWriter* w) {
    w->Array(3);
    w->Array(5);
    w->Bulk("a");
    w->Bulk("127.0.0.1");
    w->Bulk("17001");
    w->Bulk("7001");
    w->Bulk("member");
    w->Array(5);
    w->Bulk("b");
    w->Bulk("127.0.0.1");
    w->Bulk("17002");
    w->Bulk("7002");
    w->Bulk("joining");
    w->Array(2);
    w->Bulk("c");
    w->Bulk("broken");
  });
  cluster::Membership heard = ParseMembers(r);
  CHECK_FALSE(heard.sealed);  // a founding set missing a member would demote it
  CHECK(heard.members.size() == 2);
}

TEST_CASE("DYNIS.PUTREC HINT names the primary a fallback stands in for", "[verbs]") {
  Message sent = Request(Type::kPutReq);
  sent.hint_for = 42;
  const std::vector<std::string> argv = RequestArgv(sent);
  CHECK(argv == std::vector<std::string>{"DYNIS.PUTREC", "k", sent.record, "HINT", "42"});
  Message got;
  REQUIRE(ParseRequest(argv, &got));
  CHECK(got.type == Type::kPutReq);
  CHECK(got.key == "k");
  CHECK(got.record == sent.record);
  CHECK(got.hint_for == 42);
  // Case-insensitive, like every verb word.
  Message lower;
  REQUIRE(ParseRequest({"dynis.putrec", "k", "r", "hint", "18446744073709551615"}, &lower));
  CHECK(lower.hint_for == 18446744073709551615ull);
  // A put to a primary has no HINT and parses with hint_for 0.
  Message plain;
  REQUIRE(ParseRequest(RequestArgv(Request(Type::kPutReq)), &plain));
  CHECK(RequestArgv(Request(Type::kPutReq)).size() == 3);
  CHECK(plain.hint_for == 0);

  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"DYNIS.PUTREC", "k", "r", "HINT", "0"},
           {"DYNIS.PUTREC", "k", "r", "HINT", "x"},
           {"DYNIS.PUTREC", "k", "r", "HINT", "-1"},
           {"DYNIS.PUTREC", "k", "r", "HINT", ""},
           {"DYNIS.PUTREC", "k", "r", "FOR", "2"},
           {"DYNIS.PUTREC", "k", "r", "HINT"},
           {"DYNIS.PUTREC", "k", "r", "HINT", "2", "x"},
       }) {
    INFO(bad.size() << " " << bad.back());
    Message m;
    CHECK_FALSE(ParseRequest(bad, &m));
  }
}

TEST_CASE("a probe is a PING answered by a probe response", "[verbs]") {
  Message probe = Request(Type::kProbeReq);
  CHECK(RequestArgv(probe) == std::vector<std::string>{"PING"});
  proto::Reply pong;
  pong.type = proto::Reply::Type::kStatus;
  pong.str = "PONG";
  Message resp = ResponseOf(probe, pong);
  CHECK(resp.type == Type::kProbeResp);
  CHECK(resp.ok);
  CHECK(resp.from == 2);
  CHECK(resp.to == 1);
  CHECK(resp.op == 7);
  proto::Reply err;
  err.type = proto::Reply::Type::kError;
  err.str = "ERR nope";
  Message failed = ResponseOf(probe, err);
  CHECK(failed.type == Type::kProbeResp);
  CHECK_FALSE(failed.ok);
  CHECK(failed.error == "ERR nope");
}

TEST_CASE("a hint replay's response keeps its handoff flag", "[verbs]") {
  Message replay = Request(Type::kPutReq);
  replay.handoff = true;
  proto::Reply ok;
  ok.type = proto::Reply::Type::kStatus;
  ok.str = "OK";
  Message resp = ResponseOf(replay, ok);
  CHECK(resp.type == Type::kPutResp);
  CHECK(resp.handoff);
  CHECK(resp.ok);
  CHECK_FALSE(ResponseOf(Request(Type::kPutReq), ok).handoff);
}

// ---- anti-entropy (DYNIS.AAE) ------------------------------------------------------------------

using replication::AaeRequest;
using replication::AaeResponse;
using AaeType = AaeRequest::Type;

constexpr AaeType kAaeTypes[] = {AaeType::kRoot,    AaeType::kBranches, AaeType::kSegments,
                                 AaeType::kKeys,    AaeType::kHints,    AaeType::kReapCheck,
                                 AaeType::kReapDrop};

AaeRequest AaeReq(AaeType t) {
  AaeRequest r;
  r.type = t;
  r.from = 1;
  r.to = 2;
  r.op = 9;
  r.partition = 255;
  if (t == AaeType::kSegments) r.items = {0, 7, 31};
  if (t == AaeType::kKeys) {
    r.items = {0, 1, 256, 1023, 65535};
    r.after = std::string("page\0start", 10);  // the key a listing's page starts after
  }
  if (t == AaeType::kReapCheck || t == AaeType::kReapDrop) {
    r.keys = {{"a", 0}, {std::string("b\0c", 3), 0x0102030405060708ULL}, {"", ~0ULL}};
  }
  return r;
}

AaeResponse AaeResp(AaeType t) {
  AaeResponse r;
  r.type = t;
  r.from = 2;
  r.op = 9;
  switch (t) {
    case AaeType::kRoot:
      r.hashes = {0xdeadbeef00112233ULL};
      break;
    case AaeType::kBranches:
    case AaeType::kSegments:
      for (uint64_t i = 0; i < 64; i++) r.hashes.push_back(i * 0x9e3779b97f4a7c15ULL);
      break;
    case AaeType::kKeys:
      r.keys = {{"k1", 1}, {std::string("k\0\r\n", 4), ~0ULL}, {"", 0}};
      r.truncated = true;
      break;
    case AaeType::kHints:
      r.count = 12345678901ULL;
      break;
    case AaeType::kReapCheck:
    case AaeType::kReapDrop:
      r.held = {1, 0, 1};
      break;
  }
  return r;
}

TEST_CASE("an anti-entropy request reads back as sent, for every type", "[verbs][aae]") {
  for (AaeType t : kAaeTypes) {
    INFO("type " << static_cast<int>(t));
    const AaeRequest sent = AaeReq(t);
    AaeRequest got;
    REQUIRE(ParseAae(AaeArgv(sent), &got));
    CHECK(got.type == t);
    CHECK(got.partition == sent.partition);
    CHECK(got.items == sent.items);
    CHECK(got.keys == sent.keys);
    CHECK(got.after == sent.after);
  }
  // Empty lists are fine too.
  for (AaeType t : {AaeType::kSegments, AaeType::kKeys, AaeType::kReapCheck}) {
    AaeRequest sent;
    sent.type = t;
    sent.partition = 0;
    AaeRequest got;
    REQUIRE(ParseAae(AaeArgv(sent), &got));
    CHECK(got.type == t);
    CHECK(got.items.empty());
    CHECK(got.keys.empty());
  }
  // Verb names are case-insensitive, like every command.
  AaeRequest got;
  CHECK(ParseAae({"dynis.aae", "3", "root"}, &got));
  CHECK(got.type == AaeType::kRoot);
  CHECK(got.partition == 3);
}

TEST_CASE("a malformed anti-entropy request is refused", "[verbs][aae]") {
  const std::string hash(8, 'h');
  const std::vector<std::vector<std::string>> bad = {
      {"DYNIS.AAE"},
      {"DYNIS.AAE", "1"},
      {"DYNIS.GETREC", "1", "ROOT"},
      {"DYNIS.AAE", "x", "ROOT"},
      {"DYNIS.AAE", "-1", "ROOT"},
      {"DYNIS.AAE", "65536", "ROOT"},
      {"DYNIS.AAE", "1", "TRUNK"},
      {"DYNIS.AAE", "1", "ROOT", "extra"},
      {"DYNIS.AAE", "1", "BRANCHES", "extra"},
      {"DYNIS.AAE", "1", "HINTS", "extra"},
      {"DYNIS.AAE", "1", "SEGMENTS"},
      {"DYNIS.AAE", "1", "KEYS", "abc"},  // an odd length
      {"DYNIS.AAE", "1", "SEGMENTS", "ab", "cd"},
      {"DYNIS.AAE", "1", "KEYS", "ab", "after", "more"},
      {"DYNIS.AAE", "1", "REAPCHECK", "k"},
      {"DYNIS.AAE", "1", "REAPCHECK", "k", "short"},
      {"DYNIS.AAE", "1", "REAPDROP", "k", hash, "k2"},
      {"DYNIS.AAE", "1", "REAPDROP", "k", hash + "x"},
  };
  for (const auto& argv : bad) {
    std::string joined;
    for (const auto& a : argv) joined += a + " ";
    INFO(joined);
    AaeRequest req;
    CHECK_FALSE(ParseAae(argv, &req));
  }
}

TEST_CASE("an anti-entropy answer reads back as served, for every type", "[verbs][aae]") {
  for (AaeType t : kAaeTypes) {
    INFO("type " << static_cast<int>(t));
    const AaeRequest req = AaeReq(t);
    const AaeResponse sent = AaeResp(t);
    const AaeResponse got =
        AaeResponseOf(req, RoundTrip([&](proto::ReplyWriter* w) { WriteAaeResponse(sent, w); }));
    CHECK(got.ok);
    CHECK(got.type == t);
    CHECK(got.op == req.op);
    CHECK(got.from == req.to);
    CHECK(got.hashes == sent.hashes);
    CHECK(got.keys == sent.keys);
    CHECK(got.truncated == sent.truncated);
    CHECK(got.held == sent.held);
    CHECK(got.count == sent.count);
  }
  // A listing that was not cut short, and an empty one.
  AaeResponse keys = AaeResp(AaeType::kKeys);
  keys.truncated = false;
  AaeResponse got = AaeResponseOf(
      AaeReq(AaeType::kKeys), RoundTrip([&](proto::ReplyWriter* w) { WriteAaeResponse(keys, w); }));
  CHECK(got.ok);
  CHECK_FALSE(got.truncated);
  CHECK(got.keys == keys.keys);
  keys.keys.clear();
  got = AaeResponseOf(AaeReq(AaeType::kKeys),
                      RoundTrip([&](proto::ReplyWriter* w) { WriteAaeResponse(keys, w); }));
  CHECK(got.ok);
  CHECK(got.keys.empty());
  // A refusal travels as an error, for every type.
  for (AaeType t : kAaeTypes) {
    AaeResponse refused;
    refused.type = t;
    refused.ok = false;
    refused.error = "ERR no such partition";
    got = AaeResponseOf(AaeReq(t),
                        RoundTrip([&](proto::ReplyWriter* w) { WriteAaeResponse(refused, w); }));
    CHECK_FALSE(got.ok);
    CHECK(got.error == "ERR no such partition");
  }
}

TEST_CASE("a malformed anti-entropy answer is refused", "[verbs][aae]") {
  auto bulk = [](std::string s) {
    proto::Reply r;
    r.type = proto::Reply::Type::kBulk;
    r.str = std::move(s);
    return r;
  };
  auto integer = [](int64_t v) {
    proto::Reply r;
    r.type = proto::Reply::Type::kInteger;
    r.integer = v;
    return r;
  };
  auto array = [](std::vector<proto::Reply> e) {
    proto::Reply r;
    r.type = proto::Reply::Type::kArray;
    r.elements = std::move(e);
    return r;
  };
  proto::Reply nil;
  nil.type = proto::Reply::Type::kNil;
  const std::string h8(8, 'h');
  const std::vector<std::pair<AaeType, proto::Reply>> bad = {
      {AaeType::kRoot, integer(1)},
      {AaeType::kRoot, bulk("1234567")},
      {AaeType::kBranches, bulk(std::string(17, 'x'))},
      {AaeType::kSegments, nil},
      {AaeType::kKeys, bulk("x")},
      {AaeType::kKeys, array({})},
      {AaeType::kKeys, array({bulk("0")})},
      {AaeType::kKeys, array({integer(0), bulk("k")})},
      {AaeType::kKeys, array({integer(0), bulk("k"), bulk("1234567")})},
      {AaeType::kKeys, array({integer(0), integer(1), bulk(h8)})},
      {AaeType::kHints, integer(-1)},
      {AaeType::kHints, bulk("3")},
      {AaeType::kReapCheck, bulk(std::string(2, '\1'))},  // 3 keys asked
      {AaeType::kReapDrop, integer(3)},
  };
  for (const auto& [t, reply] : bad) {
    INFO("type " << static_cast<int>(t));
    const AaeResponse got = AaeResponseOf(AaeReq(t), reply);
    CHECK_FALSE(got.ok);
    CHECK_FALSE(got.error.empty());
    CHECK(got.hashes.empty());
    CHECK(got.keys.empty());
    CHECK(got.held.empty());
  }
}

}  // namespace
}  // namespace dynis::transport
