// Incremental request parser; see resp_parser.h for the contract and the Redis quirks it keeps.
#include "proto/resp_parser.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "common/split_args.h"
#include "common/strings.h"

namespace dynis::proto {
namespace {

// Redis allocates argv for min(count, 1024) and grows; a claimed count costs nothing more.
constexpr size_t kMaxArgvReserve = 1024;
// An argument slot whose buffer grew past this is released rather than reused, so one big
// value does not pin memory for the connection's lifetime.
constexpr size_t kMaxRetainedArgCapacity = 64 * 1024;

// Finds the terminator of the line starting at p the way Redis's strchr() on its NUL-terminated
// query buffer does: a NUL before the terminator hides it. Only the first max_line+1 bytes are
// searched; a terminator further away is "too big" no matter what (see the header).
const char* FindLineEnd(const char* p, size_t avail, char term, size_t max_line) {
  const size_t window = std::min(avail, max_line + 1);
  const char* t = static_cast<const char*>(std::memchr(p, term, window));
  if (t != nullptr && std::memchr(p, '\0', static_cast<size_t>(t - p)) != nullptr) return nullptr;
  return t;
}

size_t ClampToSize(int64_t v) { return v <= 0 ? 0 : static_cast<size_t>(v); }

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

void RequestParser::Reset() {
  phase_ = Phase::kIdle;
  sticky_ = ParseState::kNeedMore;
  error_.clear();
  argc_ = 0;
  args_left_ = 0;
  bulk_left_ = 0;
  crlf_left_ = 0;
  cmd_bytes_ = 0;
}

size_t RequestParser::ArgvCapacityBytes() const {
  size_t total = argv_.capacity() * sizeof(std::string);
  for (const std::string& s : argv_) total += s.capacity();
  return total;
}

RequestParser::Step RequestParser::Fail(std::string text) {
  error_ = std::move(text);
  sticky_ = ParseState::kProtocolError;
  return Step::kError;
}

std::string& RequestParser::NextArgSlot() {
  if (argc_ < argv_.size()) {
    std::string& s = argv_[argc_];
    if (s.capacity() > kMaxRetainedArgCapacity) {
      std::string().swap(s);
    } else {
      s.clear();
    }
    return s;
  }
  return argv_.emplace_back();
}

ParseState RequestParser::Parse(const char* data, size_t len, size_t* consumed,
                                bool authenticated) {
  *consumed = 0;
  if (sticky_ != ParseState::kNeedMore) return sticky_;
  size_t pos = 0;
  for (;;) {
    if (pos == len) {  // nothing (left) to look at; a partial command just waits
      *consumed = pos;
      return ParseState::kNeedMore;
    }
    if (phase_ == Phase::kIdle) {
      cmd_bytes_ = 0;
      argc_ = 0;
    }
    // The parser never looks at more than limit+1 bytes of one command. Feeding everything at
    // once then ends exactly where byte-by-byte feeding would: at the first moment an
    // incomplete command holds more than `limit` bytes.
    const uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(limits_.query_buffer_limit, 0));
    const uint64_t budget = cmd_bytes_ > limit ? 0 : limit + 1 - cmd_bytes_;
    const size_t end = pos + static_cast<size_t>(std::min<uint64_t>(len - pos, budget));

    Step step;
    if (phase_ != Phase::kIdle) {
      step = ParseBulks(data, &pos, end, authenticated);
    } else if (data[pos] == '*') {
      step = ParseMultibulk(data, &pos, end, authenticated);
    } else {
      step = ParseInline(data, &pos, end);
    }

    switch (step) {
      case Step::kDone:
        phase_ = Phase::kIdle;
        cmd_bytes_ = 0;
        *consumed = pos;
        return ParseState::kCommand;
      case Step::kNoCommand:
        phase_ = Phase::kIdle;
        continue;
      case Step::kIncomplete:
        if (end < len || cmd_bytes_ + (len - pos) > limit) {
          sticky_ = ParseState::kQueryBufferLimit;
          error_.clear();
        }
        *consumed = pos;
        return sticky_;
      case Step::kError:
        *consumed = pos;
        return sticky_;
    }
  }
}

RequestParser::Step RequestParser::ParseInline(const char* data, size_t* pos, size_t end) {
  const char* start = data + *pos;
  const size_t avail = end - *pos;
  const size_t max_line = ClampToSize(limits_.inline_max_size);
  const char* nl = FindLineEnd(start, avail, '\n', max_line);
  if (nl == nullptr) {
    if (avail > max_line) return Fail("Protocol error: too big inline request");
    return Step::kIncomplete;
  }
  const size_t line_len = static_cast<size_t>(nl - start);
  const size_t text_len = (line_len > 0 && start[line_len - 1] == '\r') ? line_len - 1 : line_len;
  argc_ = 0;
  if (!SplitArgs(start, start + text_len)) {
    return Fail("Protocol error: unbalanced quotes in request");
  }
  *pos += line_len + 1;
  cmd_bytes_ += line_len + 1;
  if (argc_ == 0) return Step::kNoCommand;
  argv_.resize(argc_);
  last_was_inline_ = true;
  return Step::kDone;
}

// sdssplitargs over [p, e) (the line holds no NUL, so e plays the role of the terminator),
// writing straight into argv_ slots. Empty arguments are dropped, as processInlineBuffer does.
bool RequestParser::SplitArgs(const char* p, const char* e) {
  return dynis::SplitArgs(
      p, e, [this]() -> std::string& { return NextArgSlot(); },
      [this](const std::string& arg) {
        if (!arg.empty()) ++argc_;
      });
}

RequestParser::Step RequestParser::ParseMultibulk(const char* data, size_t* pos, size_t end,
                                                  bool authenticated) {
  const char* start = data + *pos;
  const size_t avail = end - *pos;
  const size_t max_line = ClampToSize(limits_.inline_max_size);
  const char* cr = FindLineEnd(start, avail, '\r', max_line);
  if (cr == nullptr) {
    if (avail > max_line) return Fail("Protocol error: too big mbulk count string");
    return Step::kIncomplete;
  }
  const size_t k = static_cast<size_t>(cr - start);
  if (k + 1 >= avail) return Step::kIncomplete;  // the byte after '\r' has not arrived
  int64_t count;
  if (!ParseInt64(std::string_view(start + 1, k - 1), &count) || count > INT_MAX) {
    return Fail("Protocol error: invalid multibulk length");
  }
  if (count > kUnauthMaxMultibulkLen && !authenticated) {
    return Fail("Protocol error: unauthenticated multibulk length");
  }
  *pos += k + 2;
  cmd_bytes_ += k + 2;
  if (count <= 0) return Step::kNoCommand;
  args_left_ = count;
  argc_ = 0;
  const size_t want = std::min(static_cast<size_t>(count), kMaxArgvReserve);
  if (argv_.capacity() < want) argv_.reserve(want);
  phase_ = Phase::kBulkHeader;
  return ParseBulks(data, pos, end, authenticated);
}

RequestParser::Step RequestParser::ParseBulks(const char* data, size_t* pos, size_t end,
                                              bool authenticated) {
  while (args_left_ > 0) {
    if (phase_ == Phase::kBulkHeader) {
      int64_t blen;
      const Step step = ReadBulkHeader(data, pos, end, authenticated, &blen);
      if (step != Step::kDone) return step;
      if (StartBulk(data, pos, end, blen)) continue;  // the whole payload was buffered
    }
    if (!ReadBulkPayload(data, pos, end)) return Step::kIncomplete;
  }
  argv_.resize(argc_);
  last_was_inline_ = false;
  return Step::kDone;
}

// Consumes one complete "$<len>\r\n" header and stores <len> in *blen (kDone), or consumes
// nothing (kIncomplete / kError). This and StartBulk run once per argument of every request:
// forced inline, the split into steps costs nothing (outlined, callgrind counted about 100
// more instructions per GET).
[[gnu::always_inline]] inline RequestParser::Step RequestParser::ReadBulkHeader(
    const char* data, size_t* pos, size_t end, bool authenticated, int64_t* blen) {
  const char* start = data + *pos;
  const size_t avail = end - *pos;
  const size_t max_line = ClampToSize(limits_.inline_max_size);
  const char* cr = FindLineEnd(start, avail, '\r', max_line);
  if (cr == nullptr) {
    if (avail > max_line) return Fail("Protocol error: too big bulk count string");
    return Step::kIncomplete;
  }
  const size_t k = static_cast<size_t>(cr - start);
  if (k + 1 >= avail) return Step::kIncomplete;  // the byte after '\r' has not arrived
  if (start[0] != '$') {
    // Redis's addReplyErrorFormat turns CR/LF into spaces to keep the reply well-formed.
    const char got = (start[0] == '\r' || start[0] == '\n') ? ' ' : start[0];
    std::string text = "Protocol error: expected '$', got '";
    text.push_back(got);
    text.push_back('\'');
    return Fail(std::move(text));
  }
  if (!ParseInt64(std::string_view(start + 1, k - 1), blen) || *blen < 0 ||
      *blen > limits_.proto_max_bulk_len) {
    return Fail("Protocol error: invalid bulk length");
  }
  if (*blen > kUnauthMaxBulkLen && !authenticated) {
    return Fail("Protocol error: unauthenticated bulk length");
  }
  *pos += k + 2;
  cmd_bytes_ += k + 2;
  return Step::kDone;
}

// Begins the argument whose header announced blen bytes. Returns true when its payload and
// trailing 2 bytes were all buffered and have been taken in one exact-size copy; otherwise
// switches to kBulkPayload with nothing of the payload consumed yet.
[[gnu::always_inline]] inline bool RequestParser::StartBulk(const char* data, size_t* pos,
                                                            size_t end, int64_t blen) {
  bulk_left_ = blen;
  crlf_left_ = 2;
  std::string& arg = NextArgSlot();
  if (end - *pos >= static_cast<size_t>(blen) + 2) {
    arg.assign(data + *pos, static_cast<size_t>(blen));
    *pos += static_cast<size_t>(blen) + 2;
    cmd_bytes_ += static_cast<uint64_t>(blen) + 2;
    bulk_left_ = 0;
    crlf_left_ = 0;
    ++argc_;
    --args_left_;
    return true;
  }
  phase_ = Phase::kBulkPayload;
  return false;
}

// Partial payload: copies what has arrived, then skips what has arrived of the trailing 2
// bytes. Capacity follows received bytes (doubling, capped at the final size), never the
// claimed length. Returns true once the argument is complete (back to kBulkHeader).
inline bool RequestParser::ReadBulkPayload(const char* data, size_t* pos, size_t end) {
  std::string& arg = argv_[argc_];
  size_t avail = end - *pos;
  if (bulk_left_ > 0 && avail > 0) {
    const size_t take = std::min(avail, static_cast<size_t>(bulk_left_));
    const size_t final_size = arg.size() + static_cast<size_t>(bulk_left_);
    const size_t needed = arg.size() + take;
    if (needed > arg.capacity()) {
      arg.reserve(std::min(final_size, std::max(needed, arg.capacity() * 2)));
    }
    arg.append(data + *pos, take);
    *pos += take;
    cmd_bytes_ += take;
    bulk_left_ -= static_cast<int64_t>(take);
    avail -= take;
  }
  if (bulk_left_ == 0 && crlf_left_ > 0 && avail > 0) {
    const size_t skip = std::min(avail, static_cast<size_t>(crlf_left_));
    *pos += skip;
    cmd_bytes_ += skip;
    crlf_left_ -= static_cast<int>(skip);
  }
  if (bulk_left_ > 0 || crlf_left_ > 0) return false;
  ++argc_;
  --args_left_;
  phase_ = Phase::kBulkHeader;
  return true;
}

}  // namespace dynis::proto
