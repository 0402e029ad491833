// libFuzzer target for dynis::proto::RequestParser.
//
// Input layout: byte 0 picks a split position, byte 1 picks limits (small ones, so the 64 KiB
// line limit, proto-max-bulk-len, the query buffer limit and the pre-auth limits are all
// reachable with short inputs); the rest is the client byte stream. The stream is fed whole,
// split in two at the chosen position, and (when short) one byte at a time, driven like a
// connection handler drives it. Any disagreement, or a broken API invariant, aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/resp_parser.h"

namespace {

using dynis::proto::ParserLimits;
using dynis::proto::ParseState;
using dynis::proto::RequestParser;

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  std::vector<bool> inline_flags;
  ParseState state = ParseState::kNeedMore;
  std::string error;
  std::string leftover;

  bool operator==(const Outcome& o) const {
    return commands == o.commands && inline_flags == o.inline_flags && state == o.state &&
           error == o.error && (state != ParseState::kNeedMore || leftover == o.leftover);
  }
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resp_parser_fuzz: %s\n", what);
    std::abort();
  }
}

Outcome Run(const char* data, size_t size, const std::vector<size_t>& cuts,
            const ParserLimits& limits, bool auth) {
  RequestParser parser(limits);
  Outcome out;
  std::string pending;
  size_t prev = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(size);
  for (size_t cut : ends) {
    pending.append(data + prev, cut - prev);
    prev = cut;
    size_t off = 0;
    for (;;) {
      size_t consumed = 0;
      const ParseState st =
          parser.Parse(pending.data() + off, pending.size() - off, &consumed, auth);
      Check(consumed <= pending.size() - off, "consumed more than given");
      off += consumed;
      if (st == ParseState::kCommand) {
        Check(!parser.argv().empty(), "empty argv on kCommand");
        out.commands.push_back(parser.argv());
        out.inline_flags.push_back(parser.last_was_inline());
        continue;
      }
      Check((st == ParseState::kProtocolError) == !parser.error().empty(),
            "error() set iff kProtocolError");
      out.state = st;
      out.error = parser.error();
      break;
    }
    pending.erase(0, off);
    if (out.state != ParseState::kNeedMore) {
      // Sticky: a further call changes nothing.
      size_t consumed = 1;
      Check(parser.Parse("PING\r\n", 6, &consumed, auth) == out.state && consumed == 0,
            "error not sticky");
      break;
    }
    // The parser holds at most limit+1 bytes of an incomplete command.
    Check(parser.pending_command_bytes() <= static_cast<uint64_t>(limits.query_buffer_limit) + 1,
          "pending command over the limit");
  }
  out.leftover = pending;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* raw, size_t size) {
  if (size < 2) return 0;
  const uint8_t split_byte = raw[0];
  const uint8_t cfg = raw[1];
  const char* data = reinterpret_cast<const char*>(raw + 2);
  size -= 2;

  static const int64_t kInlineMax[] = {4, 12, 64, 64 * 1024};
  static const int64_t kQueryLimit[] = {8, 40, 300, 1LL << 30};
  static const int64_t kMaxBulk[] = {0, 5, 100, 512LL * 1024 * 1024};
  ParserLimits limits;
  const bool auth = (cfg & 1) != 0;
  limits.inline_max_size = kInlineMax[(cfg >> 1) & 3];
  limits.query_buffer_limit = kQueryLimit[(cfg >> 3) & 3];
  limits.proto_max_bulk_len = kMaxBulk[(cfg >> 5) & 3];

  const size_t split = size * split_byte / 255;
  const Outcome whole = Run(data, size, {}, limits, auth);
  const Outcome two = Run(data, size, {split}, limits, auth);
  Check(two == whole, "split feed disagrees with whole feed");
  if (size <= 512) {
    std::vector<size_t> every;
    for (size_t i = 1; i < size; ++i) every.push_back(i);
    Check(Run(data, size, every, limits, auth) == whole,
          "byte-at-a-time feed disagrees with whole feed");
  }
  return 0;
}
