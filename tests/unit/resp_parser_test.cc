// Specification of dynis::proto::RequestParser: Redis 7.0 request parsing (processMultibulkBuffer,
// processInlineBuffer, sdssplitargs), byte for byte, fed incrementally.
//
// Most cases are rows of {input, limits, auth, expected commands, expected final state/error}.
// CheckSpec() feeds every row whole, then split in two at every byte position, then one byte
// at a time, and requires all three to agree with the row: the parser's result must depend on
// the byte stream only, never on how reads happened to split it.
#include "proto/resp_parser.h"

#include <catch2/catch.hpp>
#include <ostream>
#include <string>
#include <vector>

using namespace std::string_literals;  // "...\0..."s keeps embedded NULs
using dynis::proto::ParserLimits;
using dynis::proto::ParseState;
using dynis::proto::RequestParser;

namespace {

using Command = std::vector<std::string>;
using Commands = std::vector<Command>;

const char* StateName(ParseState s) {
  switch (s) {
    case ParseState::kCommand:
      return "kCommand";
    case ParseState::kNeedMore:
      return "kNeedMore";
    case ParseState::kProtocolError:
      return "kProtocolError";
    case ParseState::kQueryBufferLimit:
      return "kQueryBufferLimit";
  }
  return "?";
}

// Everything observable from feeding a stream to the parser.
struct Outcome {
  Commands commands;
  std::vector<bool> inline_flags;
  ParseState final_state = ParseState::kNeedMore;
  std::string error;
  std::string leftover;  // bytes the caller still holds (only compared when kNeedMore)

  bool operator==(const Outcome& o) const {
    return commands == o.commands && inline_flags == o.inline_flags &&
           final_state == o.final_state && error == o.error &&
           (final_state != ParseState::kNeedMore || leftover == o.leftover);
  }
};

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{commands=[";
  for (const Command& c : o.commands) {
    os << "[";
    for (const std::string& a : c) os << '"' << Escape(a) << "\" ";
    os << "]";
  }
  os << "] state=" << StateName(o.final_state) << " error=\"" << Escape(o.error) << "\" leftover=\""
     << Escape(o.leftover) << "\"}";
  return os;
}

// Drives a parser the way a connection handler does: keeps the unconsumed tail, appends each
// newly read chunk, parses commands until kNeedMore, stops for good on an error.
class Connection {
 public:
  Connection(ParserLimits limits, bool authenticated)
      : parser_(limits), authenticated_(authenticated) {}

  void Feed(const std::string& chunk) {
    if (out_.final_state != ParseState::kNeedMore) return;  // connection is being closed
    pending_ += chunk;
    size_t off = 0;
    for (;;) {
      size_t consumed = 0;
      ParseState st =
          parser_.Parse(pending_.data() + off, pending_.size() - off, &consumed, authenticated_);
      REQUIRE(consumed <= pending_.size() - off);
      off += consumed;
      if (st == ParseState::kCommand) {
        REQUIRE(!parser_.argv().empty());
        out_.commands.push_back(parser_.argv());
        out_.inline_flags.push_back(parser_.last_was_inline());
        continue;
      }
      out_.final_state = st;
      out_.error = parser_.error();
      break;
    }
    pending_.erase(0, off);  // once per read, not per command: pipelines stay linear
    out_.leftover = pending_;
  }

  const Outcome& outcome() const { return out_; }
  RequestParser& parser() { return parser_; }

 private:
  RequestParser parser_;
  bool authenticated_;
  std::string pending_;
  Outcome out_;
};

Outcome FeedChunks(const std::string& input, const std::vector<size_t>& cuts,
                   const ParserLimits& limits, bool auth) {
  Connection conn(limits, auth);
  size_t prev = 0;
  for (size_t cut : cuts) {
    conn.Feed(input.substr(prev, cut - prev));
    prev = cut;
  }
  conn.Feed(input.substr(prev));
  return conn.outcome();
}

Outcome FeedWhole(const std::string& input, const ParserLimits& limits = {}, bool auth = true) {
  return FeedChunks(input, {}, limits, auth);
}

Outcome FeedInChunksOf(const std::string& input, size_t n, const ParserLimits& limits = {},
                       bool auth = true) {
  std::vector<size_t> cuts;
  for (size_t i = n; i < input.size(); i += n) cuts.push_back(i);
  return FeedChunks(input, cuts, limits, auth);
}

// One row of the specification.
struct Spec {
  std::string input;
  Commands commands;
  ParseState final_state = ParseState::kNeedMore;
  std::string error;  // exact reply text for kProtocolError
  ParserLimits limits = {};
  bool auth = true;
};

Spec Ok(std::string input, Commands cmds) {
  return Spec{std::move(input), std::move(cmds), ParseState::kNeedMore, "", {}, true};
}
Spec Err(std::string input, Commands cmds, std::string error) {
  return Spec{
      std::move(input), std::move(cmds), ParseState::kProtocolError, std::move(error), {}, true};
}
Spec With(Spec s, ParserLimits limits, bool auth = true) {
  s.limits = limits;
  s.auth = auth;
  return s;
}
Spec Unauth(Spec s) { return With(std::move(s), {}, false); }
Spec QueryLimit(std::string input, Commands cmds, int64_t limit) {
  Spec s{std::move(input), std::move(cmds), ParseState::kQueryBufferLimit, "", {}, true};
  s.limits.query_buffer_limit = limit;
  return s;
}

// The expected result whole, and the same result at every split.
void CheckSpec(const Spec& spec) {
  CAPTURE(Escape(spec.input));
  const Outcome whole = FeedWhole(spec.input, spec.limits, spec.auth);
  CHECK(whole.commands == spec.commands);
  CHECK(StateName(whole.final_state) == std::string(StateName(spec.final_state)));
  CHECK(whole.error == spec.error);

  for (size_t cut = 0; cut <= spec.input.size(); ++cut) {
    const Outcome split = FeedChunks(spec.input, {cut}, spec.limits, spec.auth);
    if (!(split == whole)) {
      CAPTURE(cut);
      CHECK(split == whole);
    }
  }
  CHECK(FeedInChunksOf(spec.input, 1, spec.limits, spec.auth) == whole);
}

void CheckAll(const std::vector<Spec>& specs) {
  for (const Spec& s : specs) CheckSpec(s);
}

ParserLimits SmallInlineMax(int64_t n) {
  ParserLimits l;
  l.inline_max_size = n;
  return l;
}

}  // namespace

TEST_CASE("multibulk requests", "[resp_parser]") {
  CheckAll({
      Ok("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", {{"SET", "key", "value"}}),
      Ok("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", {{"PING"}, {"ECHO", "hi"}}),
      // Zero-length bulk.
      Ok("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", {{"ECHO", ""}}),
      // Payloads are binary safe: CR, LF and NUL inside are data.
      Ok("*2\r\n$4\r\nECHO\r\n$7\r\n\r\n\0\x01\r\n\n\r\n"s, {{"ECHO", "\r\n\0\x01\r\n\n"s}}),
      // The 2 bytes after a payload and the byte after a header's '\r' are skipped unchecked.
      Ok("*1\r\n$4\r\nPINGxy", {{"PING"}}),
      Ok("*1\rZ$4\rZPING\r\n", {{"PING"}}),
      // Counts <= 0 are consumed and yield nothing; parsing goes on.
      Ok("*0\r\n", {}),
      Ok("*-1\r\n*-5\r\n*0\r\n*1\r\n$4\r\nPING\r\n", {{"PING"}}),
      // Counts up to INT_MAX are accepted (and wait for their arguments).
      Ok("*2147483647\r\n$4\r\nPING\r\n", {}),
  });
}

TEST_CASE("incomplete input waits, consuming only whole header lines", "[resp_parser]") {
  struct Row {
    std::string input;
    std::string leftover;
  };
  const std::vector<Row> rows = {
      {"*", "*"},
      {"*1", "*1"},
      {"*1\r", "*1\r"},  // the byte after '\r' is needed too
      {"*1\r\n", ""},
      {"*1\r\n$", "$"},
      {"*1\r\n$4\r", "$4\r"},
      {"*1\r\n$4\r\n", ""},
      {"*1\r\n$4\r\nPI", ""},  // payload bytes are taken as they come
      {"*1\r\n$4\r\nPING\r", ""},
      {"PING", "PING"},
      {"PING\r", "PING\r"},
  };
  for (const Row& row : rows) {
    CAPTURE(Escape(row.input));
    const Outcome o = FeedWhole(row.input);
    CHECK(o.commands.empty());
    CHECK(o.final_state == ParseState::kNeedMore);
    CHECK(o.leftover == row.leftover);
    CheckSpec(Ok(row.input, {}));
  }

  SECTION("a partial payload completes with the next chunk") {
    RequestParser p;
    size_t consumed = 0;
    const std::string head = "*2\r\n$3\r\nGET\r\n$10\r\nabc";
    REQUIRE(p.Parse(head.data(), head.size(), &consumed) == ParseState::kNeedMore);
    CHECK(consumed == head.size());
    const std::string rest = "defghij\r\n";
    REQUIRE(p.Parse(rest.data(), rest.size(), &consumed) == ParseState::kCommand);
    CHECK(consumed == rest.size());
    CHECK(p.argv() == Command{"GET", "abcdefghij"});
    CHECK_FALSE(p.last_was_inline());
  }
}

TEST_CASE("multibulk count errors", "[resp_parser]") {
  const std::string kInvalid = "Protocol error: invalid multibulk length";
  CheckAll({
      // string2ll rules: digits only, optional '-', no '+', no leading zeros, no "-0".
      Err("*x\r\n", {}, kInvalid),
      Err("*\r\n", {}, kInvalid),
      Err("*+1\r\n", {}, kInvalid),
      Err("*01\r\n", {}, kInvalid),
      Err("*-0\r\n", {}, kInvalid),
      Err("*-\r\n", {}, kInvalid),
      Err("* 1\r\n", {}, kInvalid),
      Err("*1 \r\n", {}, kInvalid),
      Err("*1\n\r\n", {}, kInvalid),  // only '\r' ends the line; "1\n" is not a number
      Err("*9223372036854775808\r\n", {}, kInvalid),
      Err("*2147483648\r\n", {}, kInvalid),  // > INT_MAX
      // Earlier commands are still delivered.
      Err("PING\r\n*1\r\n$4\r\nPING\r\n*q\r\n", {{"PING"}, {"PING"}}, kInvalid),
      // Before AUTH: at most 10 arguments.
      Unauth(Ok("*10\r\n", {})),
      Unauth(Err("*11\r\n", {}, "Protocol error: unauthenticated multibulk length")),
      // An invalid count is reported as invalid even when unauthenticated.
      Unauth(Err("*2147483648\r\n", {}, kInvalid)),
  });
}

TEST_CASE("bulk header errors", "[resp_parser]") {
  const std::string kInvalid = "Protocol error: invalid bulk length";
  ParserLimits max5;
  max5.proto_max_bulk_len = 5;
  CheckAll({
      Err("*1\r\nPING\r\n", {}, "Protocol error: expected '$', got 'P'"),
      Err("*2\r\n$1\r\na\r\n:1\r\n", {}, "Protocol error: expected '$', got ':'"),
      // CR/LF in the reply are turned into spaces, as Redis's addReplyErrorFormat does.
      Err("*1\r\n\r\n", {}, "Protocol error: expected '$', got ' '"),
      Err("*1\r\n\n\r\n", {}, "Protocol error: expected '$', got ' '"),
      Err("*1\r\n$x\r\n", {}, kInvalid),
      Err("*1\r\n$\r\n", {}, kInvalid),
      Err("*1\r\n$-1\r\n", {}, kInvalid),
      Err("*1\r\n$+1\r\n", {}, kInvalid),
      Err("*1\r\n$01\r\n", {}, kInvalid),
      Err("*1\r\n$99999999999999999999\r\n", {}, kInvalid),
      // proto-max-bulk-len bounds each argument.
      With(Ok("*1\r\n$5\r\nabcde\r\n", {{"abcde"}}), max5),
      With(Err("*1\r\n$6\r\nabcdef\r\n", {}, kInvalid), max5),
      // Before AUTH: at most 16384 bytes per argument.
      Unauth(Ok("*1\r\n$16384\r\n", {})),
      Unauth(Err("*1\r\n$16385\r\n", {}, "Protocol error: unauthenticated bulk length")),
  });
}

TEST_CASE("64 KiB line limit (PROTO_INLINE_MAX_SIZE)", "[resp_parser]") {
  const size_t kMax = 64 * 1024;
  SECTION("mbulk count line") {
    CHECK(FeedWhole("*" + std::string(kMax - 1, '1')).final_state == ParseState::kNeedMore);
    const Outcome o = FeedWhole("*" + std::string(kMax, '1'));
    CHECK(o.final_state == ParseState::kProtocolError);
    CHECK(o.error == "Protocol error: too big mbulk count string");
  }
  SECTION("bulk header line") {
    const std::string head = "*1\r\n$";
    CHECK(FeedWhole(head + std::string(kMax - 1, '1')).final_state == ParseState::kNeedMore);
    const Outcome o = FeedWhole(head + std::string(kMax, '1'));
    CHECK(o.error == "Protocol error: too big bulk count string");
  }
  SECTION("inline line") {
    // The '\n' may sit at offset 65536; one byte further is too big.
    const Outcome ok = FeedWhole(std::string(kMax, 'x') + "\n");
    REQUIRE(ok.commands.size() == 1);
    CHECK(ok.commands[0][0].size() == kMax);
    CHECK(FeedWhole(std::string(kMax, 'x')).final_state == ParseState::kNeedMore);
    const Outcome big = FeedWhole(std::string(kMax + 1, 'x'));
    CHECK(big.error == "Protocol error: too big inline request");
    // Deterministic: a terminator already buffered beyond the limit does not rescue the line
    // (a split read would have failed first).
    const std::string line = std::string(kMax + 1, 'x') + "\r\n";
    CHECK(FeedWhole(line).error == "Protocol error: too big inline request");
    CHECK(FeedInChunksOf(line, 16 * 1024).error == "Protocol error: too big inline request");
  }
  SECTION("the same rules at every split, with a small limit") {
    const ParserLimits l = SmallInlineMax(8);
    CheckAll({
        With(Ok("*1234567\r\n", {}), l),  // '\r' at offset 8
        With(Err("*12345678\r\n", {}, "Protocol error: too big mbulk count string"), l),
        With(Err("*123456789", {}, "Protocol error: too big mbulk count string"), l),
        With(Ok("*1\r\n$1234567\r\n", {}), l),
        With(Err("*1\r\n$123456789", {}, "Protocol error: too big bulk count string"), l),
        With(Ok("abcdefgh\n", {{"abcdefgh"}}), l),
        With(Ok("abcdefg\r\n", {{"abcdefg"}}), l),
        With(Err("abcdefgh\r\n", {}, "Protocol error: too big inline request"), l),
        With(Err("abcdefghi\n", {}, "Protocol error: too big inline request"), l),
        // Payloads are not lines: they may be longer.
        With(Ok("*1\r\n$20\r\n01234567890123456789\r\n", {{"01234567890123456789"}}), l),
    });
  }
}

TEST_CASE("NUL before a line terminator hides it, as Redis's strchr() does", "[resp_parser]") {
  const ParserLimits l = SmallInlineMax(8);
  CheckAll({
      Ok("*1\0\r\n"s, {}),
      Ok("PI\0NG\r\n"s, {}),
      Ok("*1\r\n$\0\r\n"s, {}),
      With(Err("*1\0\r\n$4\r\nPING\r\n"s, {}, "Protocol error: too big mbulk count string"), l),
      With(Err("PI\0NG\r\nPING\r\n"s, {}, "Protocol error: too big inline request"), l),
  });
  const Outcome o = FeedWhole("PING\r\nPI\0NG\r\n"s);
  CHECK(o.commands == Commands{{"PING"}});
  CHECK(o.leftover == "PI\0NG\r\n"s);
}

TEST_CASE("inline requests", "[resp_parser]") {
  CheckAll({
      Ok("PING\n", {{"PING"}}),
      Ok("PING\r\n", {{"PING"}}),
      Ok("SET key value\r\nGET key\n", {{"SET", "key", "value"}, {"GET", "key"}}),
      // Spaces, tabs and CRs separate arguments; leading/trailing blanks are ignored.
      Ok("  SET\tk \t v  \r\n", {{"SET", "k", "v"}}),
      Ok("a\rb\n", {{"a", "b"}}),
      Ok("a\r\r\n", {{"a"}}),  // only the last '\r' belongs to the terminator
      // \v and \f are skipped between arguments but do not end an unquoted one.
      Ok("\v\fa\vb\n", {{"a\vb"}}),
      // Empty and blank lines yield no command and are consumed.
      Ok("\n", {}),
      Ok("\r\n", {}),
      Ok(" \t \r\n\n\r\nPING\n", {{"PING"}}),
  });
}

TEST_CASE("inline quoting follows sdssplitargs", "[resp_parser]") {
  const std::string kUnbalanced = "Protocol error: unbalanced quotes in request";
  CheckAll({
      Ok("SET \"a b\" c\r\n", {{"SET", "a b", "c"}}),
      Ok("\"\\n\\r\\t\\b\\a\\\\\\\"\"\n", {{"\n\r\t\b\a\\\""}}),
      Ok("\"\\x41\\x4a\\x4A\\x00z\"\n", {{"AJJ\0z"s}}),
      Ok("\"\\x4\"\n", {{"x4"}}),  // \x needs two hex digits, else it is just 'x'
      Ok("\"\\q\"\n", {{"q"}}),    // unknown escapes drop the backslash
      Ok("'it\\'s'\n", {{"it's"}}),
      Ok("'a\\nb\"'\n", {{"a\\nb\""}}),         // single quotes: only \' is an escape
      Ok("foo\"bar\" x\n", {{"foobar", "x"}}),  // a quote may open mid-argument
      Ok("\"a\"\tb\n", {{"a", "b"}}),
      Ok("\"a\"\vb\n", {{"a", "b"}}),  // any isspace() may follow a closing quote
      Ok("\"raw\rcr\"\n", {{"raw\rcr"}}),
      // Empty arguments are dropped; a line of only empty arguments is no command.
      Ok("a \"\" '' b\n", {{"a", "b"}}),
      Ok("\"\" ''\r\n", {}),
      Err("SET \"a\r\n", {}, kUnbalanced),
      Err("SET 'a\r\n", {}, kUnbalanced),
      Err("SET \"a\\\"\n", {}, kUnbalanced),
      Err("SET \"a\"b\r\n", {}, kUnbalanced),
      Err("SET 'a'b\r\n", {}, kUnbalanced),
      Err("PING\nSET \"x\r\nPING\n", {{"PING"}}, kUnbalanced),
  });
}

TEST_CASE("inline and multibulk mix freely", "[resp_parser]") {
  const std::string input =
      "*1\r\n$4\r\nPING\r\nECHO hi\n\r\n*0\r\n*-1\r\n  \n"
      "*2\r\n$4\r\nECHO\r\n$0\r\n\r\nQUIT\r\n*1\r\n$3\r\nDEL\r\n";
  const Spec spec = Ok(input, {{"PING"}, {"ECHO", "hi"}, {"ECHO", ""}, {"QUIT"}, {"DEL"}});
  CheckSpec(spec);
  CHECK(FeedWhole(input).inline_flags == std::vector<bool>{false, true, false, true, false});
}

TEST_CASE("query buffer limit counts the pending command only", "[resp_parser]") {
  // "*1\r\n$11\r\nhello world\r\n" is 4 + 5 + 11 + 2 = 22 bytes.
  const std::string cmd22 = "*1\r\n$11\r\nhello world\r\n";
  CheckAll({
      // Complete commands pass as long as at most `limit` bytes were ever pending incomplete.
      QueryLimit(cmd22, {}, 20),
      With(Ok(cmd22, {{"hello world"}}),
           [] {
             ParserLimits l;
             l.query_buffer_limit = 21;
             return l;
           }()),
      // Pipelined commands do not add up.
      With(Ok(cmd22 + cmd22 + cmd22 + cmd22,
              {{"hello world"}, {"hello world"}, {"hello world"}, {"hello world"}}),
           [] {
             ParserLimits l;
             l.query_buffer_limit = 21;
             return l;
           }()),
      // Earlier commands are delivered, then the connection is closed.
      QueryLimit("PING\r\n" + std::string(40, 'x'), {{"PING"}}, 20),
      QueryLimit("*1\r\n$100\r\n" + std::string(50, 'v'), {}, 20),
      // Header lines count as well.
      QueryLimit("*1\r\n$" + std::string(30, '1'), {}, 20),
  });

  SECTION("a big claimed value is refused once its received bytes pass the limit") {
    ParserLimits l;
    l.query_buffer_limit = 1000;
    Connection conn(l, true);
    conn.Feed("*2\r\n$3\r\nSET\r\n$100000\r\n");
    conn.Feed(std::string(900, 'v'));
    CHECK(conn.outcome().final_state == ParseState::kNeedMore);
    conn.Feed(std::string(900, 'v'));
    CHECK(conn.outcome().final_state == ParseState::kQueryBufferLimit);
    CHECK(conn.outcome().error.empty());
  }
}

TEST_CASE("errors are sticky until Reset", "[resp_parser]") {
  RequestParser p;
  size_t consumed = 99;
  const std::string bad = "*x\r\n";
  REQUIRE(p.Parse(bad.data(), bad.size(), &consumed) == ParseState::kProtocolError);
  CHECK(p.error() == "Protocol error: invalid multibulk length");
  const std::string good = "PING\r\n";
  CHECK(p.Parse(good.data(), good.size(), &consumed) == ParseState::kProtocolError);
  CHECK(consumed == 0);
  CHECK(p.error() == "Protocol error: invalid multibulk length");

  p.Reset();
  CHECK(p.error().empty());
  REQUIRE(p.Parse(good.data(), good.size(), &consumed) == ParseState::kCommand);
  CHECK(consumed == good.size());
  CHECK(p.argv() == Command{"PING"});
  CHECK(p.last_was_inline());

  SECTION("query buffer limit is sticky too") {
    ParserLimits l;
    l.query_buffer_limit = 4;
    p.set_limits(l);
    REQUIRE(p.Parse(good.data(), good.size(), &consumed) == ParseState::kQueryBufferLimit);
    CHECK(p.Parse(good.data(), 1, &consumed) == ParseState::kQueryBufferLimit);
    CHECK(consumed == 0);
  }
}

TEST_CASE("Reset drops a partial command", "[resp_parser]") {
  RequestParser p;
  size_t consumed = 0;
  const std::string partial = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva";
  REQUIRE(p.Parse(partial.data(), partial.size(), &consumed) == ParseState::kNeedMore);
  CHECK(p.pending_command_bytes() == partial.size());
  p.Reset();
  CHECK(p.pending_command_bytes() == 0);
  const std::string ping = "PING\r\n";
  REQUIRE(p.Parse(ping.data(), ping.size(), &consumed) == ParseState::kCommand);
  CHECK(p.argv() == Command{"PING"});
}

TEST_CASE("Parse returns one command per call", "[resp_parser]") {
  RequestParser p;
  const std::string in = "\r\n*0\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n";
  size_t consumed = 0;
  REQUIRE(p.Parse(in.data(), in.size(), &consumed) == ParseState::kCommand);
  CHECK(consumed == 12);  // the empty line and *0 went with it
  CHECK(p.argv() == Command{"PING"});
  size_t off = consumed;
  REQUIRE(p.Parse(in.data() + off, in.size() - off, &consumed) == ParseState::kCommand);
  CHECK(p.argv() == Command{"QUIT"});
  off += consumed;
  CHECK(off == in.size());
  CHECK(p.Parse(in.data() + off, 0, &consumed) == ParseState::kNeedMore);
  CHECK(consumed == 0);
}

TEST_CASE("claimed lengths never allocate ahead of the bytes", "[resp_parser]") {
  SECTION("512 MB bulk claim with 3 bytes") {
    RequestParser p;
    size_t consumed = 0;
    const std::string in = "*1\r\n$536870912\r\nabc";
    REQUIRE(p.Parse(in.data(), in.size(), &consumed) == ParseState::kNeedMore);
    CHECK(consumed == in.size());
    CHECK(p.ArgvCapacityBytes() < 4096);

    // Capacity follows what arrives (at most about twice it).
    const std::string chunk(64 * 1024, 'v');
    size_t received = 3;
    for (int i = 0; i < 32; ++i) {
      REQUIRE(p.Parse(chunk.data(), chunk.size(), &consumed) == ParseState::kNeedMore);
      CHECK(consumed == chunk.size());
      received += chunk.size();
    }
    CHECK(p.ArgvCapacityBytes() <= 2 * received + 4096);
  }
  SECTION("INT_MAX argument count") {
    RequestParser p;
    size_t consumed = 0;
    const std::string in = "*2147483647\r\n$1\r\na\r\n";
    REQUIRE(p.Parse(in.data(), in.size(), &consumed) == ParseState::kNeedMore);
    CHECK(p.ArgvCapacityBytes() <= 1024 * sizeof(std::string) + 4096);
  }
  SECTION("a big value does not stay pinned in a reused slot") {
    RequestParser p;
    size_t consumed = 0;
    const std::string big = "*1\r\n$200000\r\n" + std::string(200000, 'v') + "\r\n";
    REQUIRE(p.Parse(big.data(), big.size(), &consumed) == ParseState::kCommand);
    const std::string small = "*1\r\n$1\r\nx\r\n";
    REQUIRE(p.Parse(small.data(), small.size(), &consumed) == ParseState::kCommand);
    CHECK(p.argv() == Command{"x"});
    CHECK(p.ArgvCapacityBytes() < 4096);
  }
}

TEST_CASE("argument strings are reused between commands", "[resp_parser]") {
  RequestParser p;
  size_t consumed = 0;
  const std::string a = "*2\r\n$3\r\nGET\r\n$40\r\n" + std::string(40, 'k') + "\r\n";
  REQUIRE(p.Parse(a.data(), a.size(), &consumed) == ParseState::kCommand);
  const char* buf = p.argv()[1].data();
  const std::string b = "*2\r\n$3\r\nGET\r\n$39\r\n" + std::string(39, 'j') + "\r\n";
  REQUIRE(p.Parse(b.data(), b.size(), &consumed) == ParseState::kCommand);
  CHECK(p.argv()[1] == std::string(39, 'j'));
  CHECK(p.argv()[1].data() == buf);
  // The caller may move arguments out; the parser copes.
  std::string taken = std::move(p.argv()[1]);
  REQUIRE(p.Parse(a.data(), a.size(), &consumed) == ParseState::kCommand);
  CHECK(p.argv()[1] == std::string(40, 'k'));
}

TEST_CASE("a 10,000 command pipeline", "[resp_parser]") {
  std::string input;
  Commands expected;
  for (int i = 0; i < 10000; ++i) {
    const std::string key = "key:" + std::to_string(i);
    const std::string val = std::string(static_cast<size_t>(i % 50), 'v') + "\r\n\0"s;
    if (i % 3 == 0) {
      input += "GET " + key + "\r\n";
      expected.push_back({"GET", key});
    } else {
      input += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
               std::to_string(val.size()) + "\r\n" + val + "\r\n";
      expected.push_back({"SET", key, val});
    }
  }
  const Outcome whole = FeedWhole(input);
  REQUIRE(whole.commands.size() == 10000);
  CHECK(whole.commands == expected);
  CHECK(whole.final_state == ParseState::kNeedMore);
  CHECK(whole.leftover.empty());
  for (size_t n : {1, 7, 4096, 16 * 1024}) {
    CAPTURE(n);
    CHECK(FeedInChunksOf(input, n) == whole);
  }
}
