// RequestParser: incremental parser of client requests (RESP multibulk and inline commands).
//
// Contract: behaves like Redis 7.0's processInputBuffer / processMultibulkBuffer /
// processInlineBuffer (networking.c) and sdssplitargs (sds.c), with the same error texts:
//   * A request starting with '*' is multibulk, anything else is an inline line.
//   * Multibulk: "*<count>\r\n" then <count> times "$<len>\r\n<len bytes><2 bytes>". The two bytes
//     after a header's '\r' and after a payload are skipped without looking at them, as Redis
//     does. Counts <= 0 produce no command. Integers follow Redis's string2ll (no '+', no leading
//     zeros, no "-0", at most 20 characters, fits in int64).
//   * Inline: one line ended by "\n" or "\r\n", split like sdssplitargs; empty arguments (from
//     "" or '') are dropped and a line without arguments produces no command.
//   * Like Redis (which searches its NUL-terminated query buffer with strchr), a NUL byte before
//     a header's '\r' or an inline line's '\n' hides that terminator: the parser waits for more
//     bytes until the "too big" limit fires. NULs inside bulk payloads are of course fine.
//
// Deliberate differences from Redis, all to make the result a function of the byte stream only
// (Redis's outcome depends on how reads happened to split the stream):
//   * "too big ... string" / "too big inline request" fire as soon as more than
//     PROTO_INLINE_MAX_SIZE (64 KiB) bytes precede a line's terminator, even if the terminator
//     is already buffered (Redis would accept such a line if it arrived in one read).
//   * The query buffer limit counts the raw bytes of the current command only (headers,
//     payloads, CRLFs). kQueryBufferLimit is returned once more than query_buffer_limit bytes
//     of a command have arrived and the command is still incomplete; a complete command of
//     limit+1 bytes is still accepted. Pipelined complete commands never count.
//   * Nothing is allocated for a claimed length before the bytes arrive (Redis pre-sizes its
//     buffer for big bulks); argv reservations are capped at 1024 slots.
//
// Feeding the same bytes split at any positions yields the same commands and the same error
// as feeding them at once. Not thread-safe; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dynis::proto {

// PROTO_INLINE_MAX_SIZE: longest header / inline line Redis waits for.
inline constexpr int64_t kProtoInlineMaxSize = 64 * 1024;
// Before AUTH, Redis rejects bigger requests to bound memory used by strangers.
inline constexpr int64_t kUnauthMaxMultibulkLen = 10;
inline constexpr int64_t kUnauthMaxBulkLen = 16384;

struct ParserLimits {
  int64_t proto_max_bulk_len = 512LL * 1024 * 1024;  // config proto-max-bulk-len
  int64_t query_buffer_limit = 1LL << 30;            // config client-query-buffer-limit
  // PROTO_INLINE_MAX_SIZE. A compile-time constant in Redis; only tests and fuzzers change it.
  int64_t inline_max_size = kProtoInlineMaxSize;
};

enum class ParseState {
  kCommand,           // one complete command is in argv() (never empty)
  kNeedMore,          // all complete input consumed; feed more bytes
  kProtocolError,     // error() holds the exact reply text; caller replies -<text> and closes
  kQueryBufferLimit,  // the pending command exceeded query_buffer_limit; close without reply
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // New limits apply from the next Parse call, also to a command already in progress.
  void set_limits(const ParserLimits& l) { limits_ = l; }
  const ParserLimits& limits() const { return limits_; }

  // Parses at most one command from [data, data+len). Sets *consumed to the number of bytes
  // taken; the caller drops those bytes and must present the unconsumed rest again, followed by
  // newly read bytes, on the next call (like Redis's querybuf). Whole header lines are consumed
  // only when complete; bulk payloads may be consumed partially (copied into the argument being
  // built) so a 500 MB value never needs the caller to buffer it. Empty inline lines and
  // multibulk counts <= 0 are consumed silently on the way to the next command.
  // `authenticated` false applies Redis's pre-auth limits (multibulk count > 10 ->
  // "Protocol error: unauthenticated multibulk length"; bulk length > 16384 ->
  // "Protocol error: unauthenticated bulk length").
  // After kProtocolError / kQueryBufferLimit every call returns the same state with
  // *consumed = 0 until Reset().
  ParseState Parse(const char* data, size_t len, size_t* consumed, bool authenticated = true);

  // Valid after kCommand until the next Parse. The caller may move strings out; the parser
  // reuses whatever capacity is left for the next command.
  std::vector<std::string>& argv() { return argv_; }
  // Reply text (without '-') after kProtocolError; empty otherwise.
  const std::string& error() const { return error_; }
  // Whether the last kCommand came from an inline line.
  bool last_was_inline() const { return last_was_inline_; }
  // Drops any partial command and clears a sticky error.
  void Reset();

  // Heap bytes held by argument storage (argv slots and their strings). Grows with bytes
  // received, never with lengths merely claimed by the client.
  size_t ArgvCapacityBytes() const;
  // Raw bytes of the current incomplete command consumed so far (0 between commands).
  uint64_t pending_command_bytes() const { return cmd_bytes_; }

 private:
  enum class Phase : uint8_t {
    kIdle,         // between commands: the next byte starts a new request
    kBulkHeader,   // expecting "$<len>\r\n"
    kBulkPayload,  // copying payload bytes, then skipping the 2 trailing bytes
  };
  enum class Step : uint8_t { kDone, kNoCommand, kIncomplete, kError };

  Step ParseInline(const char* data, size_t* pos, size_t end);
  Step ParseMultibulk(const char* data, size_t* pos, size_t end, bool authenticated);
  Step ParseBulks(const char* data, size_t* pos, size_t end, bool authenticated);
  Step ReadBulkHeader(const char* data, size_t* pos, size_t end, bool authenticated, int64_t* blen);
  bool StartBulk(const char* data, size_t* pos, size_t end, int64_t blen);
  bool ReadBulkPayload(const char* data, size_t* pos, size_t end);
  bool SplitArgs(const char* p, const char* e);
  std::string& NextArgSlot();
  Step Fail(std::string text);

  ParserLimits limits_;
  Phase phase_ = Phase::kIdle;
  ParseState sticky_ = ParseState::kNeedMore;  // kNeedMore means "no sticky error"
  std::string error_;
  std::vector<std::string> argv_;
  size_t argc_ = 0;         // arguments completed for the command being built
  int64_t args_left_ = 0;   // multibulk arguments still expected
  int64_t bulk_left_ = 0;   // payload bytes still expected for argv_[argc_]
  int crlf_left_ = 0;       // trailing bytes after the payload still to skip
  uint64_t cmd_bytes_ = 0;  // raw bytes of the current command consumed so far
  bool last_was_inline_ = false;
};

}  // namespace dynis::proto
