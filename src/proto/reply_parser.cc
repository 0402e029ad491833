// Incremental reply parser; see reply_parser.h for the contract.
//
// The parser is resumable: a reply that is still incomplete keeps what has been parsed so far
// (the partial Reply tree, a stack of open aggregates and the offset where parsing resumes),
// because the caller presents the same bytes again plus more. Every byte is therefore looked
// at about once no matter how the stream is split: a huge bulk is skipped by its length (need_),
// a huge array resumes at its next element, and a long line resumes its search for '\r' where
// the previous call stopped.
#include "proto/reply_parser.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "common/strings.h"

namespace dynis::proto {
namespace {

constexpr int64_t kMaxBulkLen = 512LL * 1024 * 1024;
constexpr int64_t kMaxAggregateLen = 1LL << 32;
constexpr size_t kMaxDepth = 64;
// Longest number line: "-9223372036854775808" is 20 characters; one more can only be garbage.
constexpr size_t kMaxNumberLine = 21;
// Text lines (status, error, double, big number) are bounded like bulks.
constexpr size_t kMaxTextLine = static_cast<size_t>(kMaxBulkLen);
// The smallest element ("_\r\n", "+\r\n") takes 3 bytes: reserving one slot per 3 bytes that
// have arrived never reserves for elements that are only claimed.
constexpr size_t kMinElementBytes = 3;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RESP3 double: "inf", "-inf", "nan", or [-+]digits[.digits][e[-+]digits].
bool ValidDouble(std::string_view s) {
  if (s == "inf" || s == "-inf" || s == "+inf" || s == "nan" || s == "-nan") return true;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) i++;
  size_t digits = 0;
  while (i < s.size() && IsDigit(s[i])) i++, digits++;
  if (i < s.size() && s[i] == '.') {
    i++;
    while (i < s.size() && IsDigit(s[i])) i++, digits++;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) i++;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) i++, exp_digits++;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool ValidBigNumber(std::string_view s) {
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); i++) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

}  // namespace

void ReplyParser::ResetPartial() {
  stack_.clear();
  pos_ = 0;
  scan_ = 0;
  need_ = 0;
  partial_ = false;
}

ReplyParser::State ReplyParser::Fail(std::string why) {
  error_ = std::move(why);
  failed_ = true;
  ResetPartial();
  return State::kError;
}

Reply& ReplyParser::NextSlot() {
  if (stack_.empty()) return reply_;
  Frame& top = stack_.back();
  top.left--;
  return top.agg->elements.emplace_back();
}

// A value has been completed at the deepest level: close every aggregate whose last element
// that was.
void ReplyParser::ValueDone() {
  while (!stack_.empty() && stack_.back().left == 0) stack_.pop_back();
}

ReplyParser::Line ReplyParser::FindLine(const char* data, size_t len, size_t max_line,
                                        std::string_view* text) {
  const size_t start = pos_ + 1;  // after the type byte
  // Resume the search where the previous call stopped on this same line.
  size_t from = std::max(scan_, start);
  const size_t window_end = std::min(len, start + max_line + 1);
  if (from < window_end) {
    const void* cr = std::memchr(data + from, '\r', window_end - from);
    if (cr != nullptr) {
      const size_t at = static_cast<size_t>(static_cast<const char*>(cr) - data);
      if (at + 1 >= len) {  // the byte after '\r' has not arrived
        scan_ = at;
        need_ = at + 2;
        return Line::kIncomplete;
      }
      if (data[at + 1] != '\n') return Line::kBad;
      *text = std::string_view(data + start, at - start);
      scan_ = 0;
      return Line::kComplete;
    }
    from = window_end;
  }
  if (len - start > max_line) return Line::kTooLong;
  scan_ = from;
  need_ = len + 1;
  return Line::kIncomplete;
}

ReplyParser::State ReplyParser::Parse(const char* data, size_t len, size_t* consumed) {
  *consumed = 0;
  if (failed_) return State::kError;
  if (len < need_) return State::kNeedMore;  // known: the reply cannot complete yet
  if (!partial_) {
    reply_ = Reply();
    ResetPartial();
    partial_ = true;
  }
  need_ = 0;

  while (pos_ < len) {
    if (Outcome stop = ParseValue(data, len)) return *stop;
    if (stack_.empty()) {
      *consumed = pos_;
      ResetPartial();
      return State::kReply;
    }
  }
  need_ = len + 1;
  return State::kNeedMore;
}

// ParseValue and the steps of the common replies (status, error, integer, bulk) run for every
// reply a peer sends: forced inline, so the split into steps costs nothing at run time.
[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::ParseValue(const char* data,
                                                                           size_t len) {
  const char type = data[pos_];
  if (std::strchr("+-:$*%~>,#(_=!", type) == nullptr || type == '\0') {
    return Fail("Protocol error: unexpected reply type byte");
  }
  std::string_view text;
  if (Outcome stop = ReadLine(data, len, type, &text)) return stop;
  const size_t line_end = pos_ + 1 + text.size() + 2;  // first byte after the CRLF

  switch (type) {
    case '+':
    case '-':
      return ParseStatus(type, text, line_end);
    case ':':
      return ParseInteger(text, line_end);
    case ',':
    case '(':
      return ParseNumberText(type, text, line_end);
    case '#':
      return ParseBool(text, line_end);
    case '_':
      return ParseNull(text, line_end);
    case '$':
    case '=':
    case '!':
      return ParseBulk(data, len, type, text, line_end);
    case '*':
    case '~':
    case '>':
    case '%':
      return ParseAggregate(len, type, text, line_end);
    default:
      return Fail("Protocol error: unexpected reply type byte");
  }
}

[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::ReadLine(const char* data,
                                                                         size_t len, char type,
                                                                         std::string_view* text) {
  size_t max_line = kMaxNumberLine;
  if (type == '+' || type == '-' || type == ',' || type == '(') max_line = kMaxTextLine;
  switch (FindLine(data, len, max_line, text)) {
    case Line::kIncomplete:
      return State::kNeedMore;
    case Line::kBad:
      return Fail("Protocol error: expected CRLF after line");
    case Line::kTooLong:
      return Fail("Protocol error: line too long");
    case Line::kComplete:
      break;
  }
  return std::nullopt;
}

[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::Done(size_t next) {
  pos_ = next;
  ValueDone();
  return std::nullopt;
}

[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::ParseStatus(char type,
                                                                            std::string_view text,
                                                                            size_t line_end) {
  Reply& r = NextSlot();
  r.type = type == '+' ? Reply::Type::kStatus : Reply::Type::kError;
  r.str.assign(text.data(), text.size());
  return Done(line_end);
}

[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::ParseInteger(std::string_view text,
                                                                             size_t line_end) {
  int64_t v;
  if (!ParseInt64(text, &v)) return Fail("Protocol error: invalid integer");
  Reply& r = NextSlot();
  r.type = Reply::Type::kInteger;
  r.integer = v;
  return Done(line_end);
}

ReplyParser::Outcome ReplyParser::ParseNumberText(char type, std::string_view text,
                                                  size_t line_end) {
  if (type == ',' ? !ValidDouble(text) : !ValidBigNumber(text)) {
    return Fail(type == ',' ? "Protocol error: invalid double"
                            : "Protocol error: invalid big number");
  }
  Reply& r = NextSlot();
  r.type = type == ',' ? Reply::Type::kDouble : Reply::Type::kBigNumber;
  r.str.assign(text.data(), text.size());
  return Done(line_end);
}

ReplyParser::Outcome ReplyParser::ParseBool(std::string_view text, size_t line_end) {
  if (text != "t" && text != "f") return Fail("Protocol error: invalid boolean");
  Reply& r = NextSlot();
  r.type = Reply::Type::kBool;
  r.integer = text == "t" ? 1 : 0;
  return Done(line_end);
}

ReplyParser::Outcome ReplyParser::ParseNull(std::string_view text, size_t line_end) {
  if (!text.empty()) return Fail("Protocol error: invalid null");
  NextSlot().type = Reply::Type::kNil;
  return Done(line_end);
}

[[gnu::always_inline]] inline ReplyParser::Outcome ReplyParser::ParseBulk(const char* data,
                                                                          size_t len, char type,
                                                                          std::string_view text,
                                                                          size_t line_end) {
  int64_t blen;
  if (!ParseInt64(text, &blen) || blen < -1 || blen > kMaxBulkLen || (blen == -1 && type != '$')) {
    return Fail("Protocol error: invalid bulk length");
  }
  if (blen == -1) {
    NextSlot().type = Reply::Type::kNil;
    return Done(line_end);
  }
  const size_t end = line_end + static_cast<size_t>(blen) + 2;
  if (len < end) {
    // pos_ stays at the header: it is short and parsed again once everything is here.
    need_ = end;
    return State::kNeedMore;
  }
  if (data[end - 2] != '\r' || data[end - 1] != '\n') {
    return Fail("Protocol error: expected CRLF after bulk");
  }
  const char* payload = data + line_end;
  if (type == '=' && (blen < 4 || payload[3] != ':')) {
    return Fail("Protocol error: invalid verbatim string");
  }
  Reply& r = NextSlot();
  r.type = type == '!' ? Reply::Type::kError : Reply::Type::kBulk;
  r.str.assign(payload, static_cast<size_t>(blen));
  return Done(end);
}

ReplyParser::Outcome ReplyParser::ParseAggregate(size_t len, char type, std::string_view text,
                                                 size_t line_end) {
  int64_t count;
  if (!ParseInt64(text, &count) || count < -1 || count > kMaxAggregateLen ||
      (count == -1 && type != '*')) {
    return Fail("Protocol error: invalid aggregate length");
  }
  if (count == -1) {
    NextSlot().type = Reply::Type::kNil;
    return Done(line_end);
  }
  if (stack_.size() >= kMaxDepth) {
    return Fail("Protocol error: aggregates nested too deep");
  }
  const uint64_t elements = static_cast<uint64_t>(count) * (type == '%' ? 2 : 1);
  Reply& r = NextSlot();
  r.type = type == '%' ? Reply::Type::kMap : Reply::Type::kArray;
  if (elements == 0) return Done(line_end);
  pos_ = line_end;
  const size_t arrived = (len - pos_) / kMinElementBytes;
  r.elements.reserve(static_cast<size_t>(std::min<uint64_t>(elements, arrived)));
  stack_.push_back(Frame{&r, elements});
  return std::nullopt;
}

}  // namespace dynis::proto
