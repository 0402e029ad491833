// Specification of dynis::proto::ReplyParser: RESP2/RESP3 replies, parsed incrementally.
//
// Every case is checked three ways by CheckSplits(): the input fed whole, split in two at
// every byte position, and fed one byte at a time. All must give the same replies, the same
// consumed counts and the same final state: the result depends on the byte stream only.
#include "proto/reply_parser.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

using namespace std::string_literals;  // "...\0..."s keeps embedded NULs
using dynis::proto::Reply;
using dynis::proto::ReplyParser;
using Type = dynis::proto::Reply::Type;

namespace {

Reply Make(Type t, std::string s = {}, int64_t i = 0, std::vector<Reply> e = {}) {
  Reply r;
  r.type = t;
  r.str = std::move(s);
  r.integer = i;
  r.elements = std::move(e);
  return r;
}
Reply Status(std::string s) { return Make(Type::kStatus, std::move(s)); }
Reply Err(std::string s) { return Make(Type::kError, std::move(s)); }
Reply Int(int64_t v) { return Make(Type::kInteger, {}, v); }
Reply Bulk(std::string s) { return Make(Type::kBulk, std::move(s)); }
Reply Nil() { return Make(Type::kNil); }
Reply Arr(std::vector<Reply> e) { return Make(Type::kArray, {}, 0, std::move(e)); }
Reply Map(std::vector<Reply> e) { return Make(Type::kMap, {}, 0, std::move(e)); }
Reply Dbl(std::string s) { return Make(Type::kDouble, std::move(s)); }
Reply Bool(bool b) { return Make(Type::kBool, {}, b ? 1 : 0); }
Reply Big(std::string s) { return Make(Type::kBigNumber, std::move(s)); }

bool Same(const Reply& a, const Reply& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (size_t i = 0; i < a.elements.size(); i++) {
    if (!Same(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

std::string Describe(const Reply& r) {
  static const char* kNames[] = {"status", "error", "int",    "bulk", "nil",
                                 "array",  "map",   "double", "bool", "bignum"};
  std::string s = kNames[static_cast<int>(r.type)];
  switch (r.type) {
    case Type::kInteger:
    case Type::kBool:
      s += "(" + std::to_string(r.integer) + ")";
      break;
    case Type::kArray:
    case Type::kMap:
      s += "[";
      for (size_t i = 0; i < r.elements.size(); i++) {
        s += (i ? ", " : "") + Describe(r.elements[i]);
      }
      s += "]";
      break;
    case Type::kNil:
      break;
    default:
      s += "(\"" + r.str + "\")";
  }
  return s;
}

// Everything observable from feeding a stream.
struct Outcome {
  std::vector<Reply> replies;
  std::vector<size_t> consumed;
  bool error = false;
  std::string error_text;
  size_t calls = 0;
};

std::string Describe(const Outcome& o) {
  std::string s;
  for (size_t i = 0; i < o.replies.size(); i++) {
    s += Describe(o.replies[i]) + " <" + std::to_string(o.consumed[i]) + "> ";
  }
  if (o.error) s += "ERROR(" + o.error_text + ")";
  return s;
}

bool Same(const Outcome& a, const Outcome& b) {
  if (a.replies.size() != b.replies.size() || a.consumed != b.consumed || a.error != b.error ||
      a.error_text != b.error_text) {
    return false;
  }
  for (size_t i = 0; i < a.replies.size(); i++) {
    if (!Same(a.replies[i], b.replies[i])) return false;
  }
  return true;
}

// Feeds `stream` in the pieces given by `cuts` (ascending positions), keeping unconsumed bytes
// like a connection's input buffer does.
Outcome Feed(const std::string& stream, const std::vector<size_t>& cuts) {
  ReplyParser p;
  Outcome o;
  std::string buf;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    buf.append(stream, from, end - from);
    from = end;
    for (;;) {
      size_t consumed = 12345;
      o.calls++;
      ReplyParser::State st = p.Parse(buf.data(), buf.size(), &consumed);
      if (st == ReplyParser::State::kNeedMore) {
        REQUIRE(consumed == 0);
        break;
      }
      if (st == ReplyParser::State::kError) {
        o.error = true;
        o.error_text = p.error();
        // Final: asking again changes nothing.
        REQUIRE(p.Parse(buf.data(), buf.size(), &consumed) == ReplyParser::State::kError);
        return o;
      }
      REQUIRE(consumed > 0);
      REQUIRE(consumed <= buf.size());
      o.replies.push_back(p.reply());
      o.consumed.push_back(consumed);
      buf.erase(0, consumed);
    }
  }
  return o;
}

void CheckSplits(const std::string& input, const Outcome& want) {
  CAPTURE(input);
  Outcome whole = Feed(input, {});
  INFO("want:  " << Describe(want));
  INFO("whole: " << Describe(whole));
  REQUIRE(Same(whole, want));
  for (size_t cut = 0; cut <= input.size(); cut++) {
    Outcome split = Feed(input, {cut});
    INFO("split at " << cut << ": " << Describe(split));
    REQUIRE(Same(split, want));
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < input.size(); i++) bytes.push_back(i);
  Outcome bytewise = Feed(input, bytes);
  INFO("byte by byte: " << Describe(bytewise));
  REQUIRE(Same(bytewise, want));
}

// One reply that must take the whole input.
void CheckOne(const std::string& input, const Reply& want) {
  Outcome o;
  o.replies.push_back(want);
  o.consumed.push_back(input.size());
  CheckSplits(input, o);
}

// Input that must be rejected after the given complete replies (none by default).
void CheckError(const std::string& input, std::vector<std::pair<Reply, size_t>> before = {}) {
  CAPTURE(input);
  Outcome whole = Feed(input, {});
  REQUIRE(whole.error);
  REQUIRE(!whole.error_text.empty());
  REQUIRE(whole.replies.size() == before.size());
  Outcome want;
  for (auto& [r, n] : before) {
    want.replies.push_back(r);
    want.consumed.push_back(n);
  }
  want.error = true;
  want.error_text = whole.error_text;
  CheckSplits(input, want);
}

// Parses one complete reply fed at once.
ReplyParser::State ParseOnce(ReplyParser* p, const std::string& s, size_t* consumed) {
  return p->Parse(s.data(), s.size(), consumed);
}

}  // namespace

TEST_CASE("simple types", "[reply_parser]") {
  CheckOne("+OK\r\n", Status("OK"));
  CheckOne("+\r\n", Status(""));
  CheckOne("+hello world\r\n", Status("hello world"));
  CheckOne("-ERR unknown command\r\n", Err("ERR unknown command"));
  CheckOne("-\r\n", Err(""));
  CheckOne(":0\r\n", Int(0));
  CheckOne(":-42\r\n", Int(-42));
  CheckOne(":9223372036854775807\r\n", Int(INT64_MAX));
  CheckOne(":-9223372036854775808\r\n", Int(INT64_MIN));
}

TEST_CASE("bulk strings", "[reply_parser]") {
  CheckOne("$3\r\nfoo\r\n", Bulk("foo"));
  CheckOne("$0\r\n\r\n", Bulk(""));
  CheckOne("$6\r\na\r\nb\r\n\r\n", Bulk("a\r\nb\r\n"));  // CRLF inside a payload is data
  CheckOne("$3\r\n\0\0\0\r\n"s, Bulk("\0\0\0"s));
  const std::string big(70000, 'x');
  Outcome o;
  o.replies.push_back(Bulk(big));
  std::string input = "$70000\r\n" + big + "\r\n";
  o.consumed.push_back(input.size());
  REQUIRE(Same(Feed(input, {}), o));
  REQUIRE(Same(Feed(input, {5, 8, 9, 40000, 70008, 70009}), o));
}

TEST_CASE("nil forms", "[reply_parser]") {
  CheckOne("$-1\r\n", Nil());
  CheckOne("*-1\r\n", Nil());
  CheckOne("_\r\n", Nil());
  CheckOne("*3\r\n$-1\r\n*-1\r\n_\r\n", Arr({Nil(), Nil(), Nil()}));
}

TEST_CASE("arrays, nested", "[reply_parser]") {
  CheckOne("*0\r\n", Arr({}));
  CheckOne("*3\r\n:1\r\n$3\r\nfoo\r\n+OK\r\n", Arr({Int(1), Bulk("foo"), Status("OK")}));
  CheckOne("*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n$-1\r\n", Arr({Arr({Int(1), Int(2)}), Arr({Nil()})}));
  CheckOne("*2\r\n*0\r\n*1\r\n*0\r\n", Arr({Arr({}), Arr({Arr({})})}));
  CheckOne("*3\r\n*1\r\n*1\r\n:7\r\n-ERR x\r\n*0\r\n",
           Arr({Arr({Arr({Int(7)})}), Err("ERR x"), Arr({})}));
  // RESP3 set and push are arrays to the caller.
  CheckOne("~2\r\n:1\r\n:2\r\n", Arr({Int(1), Int(2)}));
  CheckOne(">2\r\n+message\r\n$2\r\nhi\r\n", Arr({Status("message"), Bulk("hi")}));
  CheckOne("~0\r\n", Arr({}));
}

TEST_CASE("maps", "[reply_parser]") {
  CheckOne("%0\r\n", Map({}));
  CheckOne("%2\r\n+a\r\n:1\r\n$1\r\nb\r\n*1\r\n:2\r\n",
           Map({Status("a"), Int(1), Bulk("b"), Arr({Int(2)})}));
  CheckOne("*2\r\n%1\r\n+k\r\n%1\r\n+k2\r\n_\r\n:5\r\n",
           Arr({Map({Status("k"), Map({Status("k2"), Nil()})}), Int(5)}));
}

TEST_CASE("RESP3 scalars", "[reply_parser]") {
  CheckOne(",1.5\r\n", Dbl("1.5"));
  CheckOne(",-0.25e-10\r\n", Dbl("-0.25e-10"));
  CheckOne(",10\r\n", Dbl("10"));
  CheckOne(",inf\r\n", Dbl("inf"));
  CheckOne(",-inf\r\n", Dbl("-inf"));
  CheckOne(",nan\r\n", Dbl("nan"));
  CheckOne("#t\r\n", Bool(true));
  CheckOne("#f\r\n", Bool(false));
  CheckOne("(3492890328409238509324850943850943825024385\r\n",
           Big("3492890328409238509324850943850943825024385"));
  CheckOne("(-1\r\n", Big("-1"));
  CheckOne("=15\r\ntxt:Some string\r\n", Bulk("txt:Some string"));
  CheckOne("=4\r\nmkd:\r\n", Bulk("mkd:"));
  CheckOne("!21\r\nSYNTAX invalid syntax\r\n", Err("SYNTAX invalid syntax"));
}

TEST_CASE("pipelined replies back to back", "[reply_parser]") {
  const std::vector<std::pair<std::string, Reply>> parts = {
      {"+OK\r\n", Status("OK")},
      {"$3\r\nfoo\r\n", Bulk("foo")},
      {":12\r\n", Int(12)},
      {"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", Arr({Bulk("a"), Arr({Int(1)})})},
      {"-ERR no\r\n", Err("ERR no")},
      {"$-1\r\n", Nil()},
      {"%1\r\n#t\r\n,2.5\r\n", Map({Bool(true), Dbl("2.5")})},
      {"*0\r\n", Arr({})},
      {"_\r\n", Nil()},
  };
  std::string input;
  Outcome want;
  for (const auto& [bytes, reply] : parts) {
    input += bytes;
    want.replies.push_back(reply);
    want.consumed.push_back(bytes.size());
  }
  CheckSplits(input, want);
}

TEST_CASE("raw bytes of a reply are the consumed prefix", "[reply_parser]") {
  ReplyParser p;
  const std::string s = "*2\r\n$3\r\nfoo\r\n:1\r\n+next\r\n";
  size_t consumed = 0;
  REQUIRE(ParseOnce(&p, s, &consumed) == ReplyParser::State::kReply);
  REQUIRE(s.substr(0, consumed) == "*2\r\n$3\r\nfoo\r\n:1\r\n");
  // The caller may move the reply out; the next reply starts clean.
  Reply taken = std::move(p.mutable_reply());
  REQUIRE(Same(taken, Arr({Bulk("foo"), Int(1)})));
  const std::string rest = s.substr(consumed);
  REQUIRE(ParseOnce(&p, rest, &consumed) == ReplyParser::State::kReply);
  REQUIRE(Same(p.reply(), Status("next")));
  REQUIRE(consumed == rest.size());
}

TEST_CASE("malformed input is an error", "[reply_parser]") {
  CheckError("X\r\n");
  CheckError("\r\n");
  CheckError("\0"s);
  CheckError(" +OK\r\n");
  CheckError("+OK\rX");        // CR not followed by LF
  CheckError("+OK\n+OK\r\r");  // the first CR is what counts
  CheckError(":12a\r\n");
  CheckError(":\r\n");
  CheckError(":+1\r\n");
  CheckError(":01\r\n");
  CheckError(":-0\r\n");
  CheckError(": 1\r\n");
  CheckError(":99999999999999999999\r\n");  // overflows int64
  CheckError("$abc\r\n");
  CheckError("$\r\n");
  CheckError("$-2\r\n");
  CheckError("$3\r\nfooXY");  // payload not followed by CRLF
  CheckError("$3\r\nfoo\rX");
  CheckError("$3\r\nfoo\n\r");
  CheckError("$0\r\nX\r\n");
  CheckError("*-2\r\n");
  CheckError("*x\r\n");
  CheckError("%-1\r\n");
  CheckError("~-1\r\n");
  CheckError(">-1\r\n");
  CheckError("=-1\r\n");
  CheckError("!-1\r\n");
  CheckError("#x\r\n");
  CheckError("#\r\n");
  CheckError("#tt\r\n");
  CheckError("_x\r\n");
  CheckError(",abc\r\n");
  CheckError(",\r\n");
  CheckError(",1e\r\n");
  CheckError(",.\r\n");
  CheckError("(12a\r\n");
  CheckError("(\r\n");
  CheckError("(-\r\n");
  CheckError("=3\r\ntxt\r\n");              // verbatim shorter than its "xxx:" prefix
  CheckError("=5\r\ntxtxx\r\n");            // no ':' after the format
  CheckError("|1\r\n+a\r\n+b\r\n+OK\r\n");  // attributes are not supported
  CheckError("*2\r\n:1\r\nX\r\n");          // bad element inside an aggregate
  // A valid reply before the garbage is still delivered.
  CheckError("+OK\r\n$3\r\nfooXX", {{Status("OK"), 5}});
  CheckError(":1\r\n:2\r\n?\r\n", {{Int(1), 4}, {Int(2), 4}});
}

TEST_CASE("number lines are bounded before their CRLF arrives", "[reply_parser]") {
  // 25 digits with no CRLF yet: no valid number line is that long, so no need to wait.
  CheckError("$" + std::string(25, '1'));
  CheckError(":" + std::string(22, '1') + "\r\n");
  CheckError("*" + std::string(30, '1'));
  // 20 characters is the longest valid number line and still waits for its CRLF.
  ReplyParser p;
  size_t consumed;
  REQUIRE(ParseOnce(&p, ":-9223372036854775808", &consumed) == ReplyParser::State::kNeedMore);
}

TEST_CASE("limits", "[reply_parser]") {
  ReplyParser p;
  size_t consumed;
  SECTION("bulk length") {
    // 512 MB is accepted and waited for (nothing is allocated for it yet); one more is not.
    REQUIRE(ParseOnce(&p, "$536870912\r\n", &consumed) == ReplyParser::State::kNeedMore);
    CheckError("$536870913\r\n");
    CheckError("=536870913\r\n");
    CheckError("$9223372036854775807\r\n");
  }
  SECTION("aggregate length") {
    // A claimed 2^32 elements reserves nothing up front (this would need hundreds of GB).
    REQUIRE(ParseOnce(&p, "*4294967296\r\n:1\r\n", &consumed) == ReplyParser::State::kNeedMore);
    REQUIRE(ParseOnce(&p, "*4294967296\r\n:1\r\n:2\r\n", &consumed) ==
            ReplyParser::State::kNeedMore);
    CheckError("*4294967297\r\n");
    CheckError("%4294967297\r\n");
    CheckError("~9223372036854775807\r\n");
  }
  SECTION("nesting depth") {
    std::string ok, deep;
    for (int i = 0; i < 64; i++) ok += "*1\r\n";
    ok += ":1\r\n";
    REQUIRE(ParseOnce(&p, ok, &consumed) == ReplyParser::State::kReply);
    REQUIRE(consumed == ok.size());
    const Reply* r = &p.reply();
    int depth = 0;
    while (r->type == Type::kArray) {
      depth++;
      r = &r->elements.at(0);
    }
    REQUIRE(depth == 64);
    for (int i = 0; i < 65; i++) deep += "*1\r\n";
    CheckError(deep + ":1\r\n");
    // An empty aggregate at depth 65 is still too deep.
    std::string empty_deep;
    for (int i = 0; i < 64; i++) empty_deep += "*1\r\n";
    CheckError(empty_deep + "*0\r\n");
  }
}

// The parser must not rescan what it has already seen: each case is fed in small pieces, the
// way a socket delivers it, and must stay close to linear time. Quadratic behaviour would take
// minutes here, so the bounds are loose enough for a sanitizer build on a busy machine.
TEST_CASE("large replies fed in pieces are parsed in linear time", "[reply_parser]") {
  using Clock = std::chrono::steady_clock;
  auto feed = [](const std::string& stream, size_t piece, size_t* calls) {
    ReplyParser p;
    std::string buf;
    *calls = 0;
    for (size_t off = 0; off < stream.size(); off += piece) {
      buf.append(stream, off, piece);
      size_t consumed = 0;
      ++*calls;
      ReplyParser::State st = p.Parse(buf.data(), buf.size(), &consumed);
      if (st == ReplyParser::State::kReply) {
        REQUIRE(consumed == stream.size());
        return Reply(std::move(p.mutable_reply()));
      }
      REQUIRE(st == ReplyParser::State::kNeedMore);
    }
    FAIL("incomplete");
    return Reply();
  };
  size_t calls = 0;

  SECTION("100 MB bulk in 64 KB pieces") {
    const size_t n = 100u << 20;
    std::string stream = "$" + std::to_string(n) + "\r\n";
    stream.append(n, 'v');
    stream += "\r\n";
    auto t0 = Clock::now();
    Reply r = feed(stream, 64 * 1024, &calls);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    REQUIRE(r.type == Type::kBulk);
    REQUIRE(r.str.size() == n);
    REQUIRE(calls == (stream.size() + 65535) / 65536);
    CHECK(ms < 5000);
  }
  SECTION("1M-element array in 4 KB pieces") {
    std::string stream = "*1000000\r\n";
    for (int i = 0; i < 1000000; i++) stream += ":7\r\n";
    auto t0 = Clock::now();
    Reply r = feed(stream, 4096, &calls);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    REQUIRE(r.type == Type::kArray);
    REQUIRE(r.elements.size() == 1000000);
    REQUIRE(r.elements.back().integer == 7);
    CHECK(ms < 5000);
  }
  SECTION("10 MB status line in 4 KB pieces") {
    std::string stream = "+" + std::string(10u << 20, 's') + "\r\n";
    auto t0 = Clock::now();
    Reply r = feed(stream, 4096, &calls);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    REQUIRE(r.type == Type::kStatus);
    REQUIRE(r.str.size() == 10u << 20);
    CHECK(ms < 5000);
  }
}
