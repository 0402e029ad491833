// Incremental parser for server replies (RESP2 and RESP3), used by the peer transport to read
// what another node answers. It delimits one complete reply at a time, so the raw bytes of a
// reply can also be relayed unchanged to a client (forwarded commands).
//
// Never allocates for a length before the bytes are there; rejects malformed input, bulk
// lengths above 512 MB, aggregates deeper than 64 levels or with more than 2^32 elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynis::proto {

struct Reply {
  enum class Type : uint8_t {
    kStatus,     // +OK
    kError,      // -ERR ...
    kInteger,    // :1
    kBulk,       // $3 foo, also RESP3 verbatim (=) with its "txt:" prefix kept in str
    kNil,        // $-1, *-1, _
    kArray,      // * (also RESP3 set ~ and push >)
    kMap,        // % (elements: key, value, key, value...)
    kDouble,     // , (str holds the text)
    kBool,       // # (integer 1 or 0)
    kBigNumber,  // ( (str holds the digits)
  };
  Type type = Type::kNil;
  std::string str;  // status, error (without the '-'), bulk, double, big number
  int64_t integer = 0;
  std::vector<Reply> elements;
};

class ReplyParser {
 public:
  enum class State { kNeedMore, kReply, kError };

  // Tries to parse one reply at data[0, len). kReply: *consumed bytes form the reply (the raw
  // bytes are data[0, *consumed)), available from reply() until the next call. kNeedMore:
  // nothing consumed; call again with the same bytes plus more (the parser remembers how many
  // bytes it needs, so a large bulk arriving in pieces is not rescanned each time). kError:
  // the stream is corrupt (error() says why); the connection should be dropped.
  State Parse(const char* data, size_t len, size_t* consumed);

  const Reply& reply() const { return reply_; }
  Reply& mutable_reply() { return reply_; }
  const std::string& error() const { return error_; }

 private:
  // An aggregate still receiving elements; agg points into reply_'s tree. Only the deepest
  // frame's element vector grows, so pointers held by the frames below it stay valid.
  struct Frame {
    Reply* agg;
    uint64_t left;  // elements not yet started
  };
  enum class Line { kComplete, kIncomplete, kBad, kTooLong };

  // What parsing one value ended with: nullopt when it was parsed (or its aggregate opened)
  // and parsing goes on at pos_; otherwise the State for Parse to return.
  using Outcome = std::optional<State>;

  // The value at pos_: its header line, then the helper for its type byte.
  Outcome ParseValue(const char* data, size_t len);
  // The header line at pos_ into *text (without type byte and CRLF), bounded for `type`.
  Outcome ReadLine(const char* data, size_t len, char type, std::string_view* text);
  // Per type; line_end is the first byte after the header's CRLF.
  Outcome ParseStatus(char type, std::string_view text, size_t line_end);      // + -
  Outcome ParseInteger(std::string_view text, size_t line_end);                // :
  Outcome ParseNumberText(char type, std::string_view text, size_t line_end);  // , (
  Outcome ParseBool(std::string_view text, size_t line_end);                   // #
  Outcome ParseNull(std::string_view text, size_t line_end);                   // _
  Outcome ParseBulk(const char* data, size_t len, char type, std::string_view text,
                    size_t line_end);  // $ = !
  Outcome ParseAggregate(size_t len, char type, std::string_view text,
                         size_t line_end);  // * ~ > %
  // A value ends at `next`: move there and close the aggregates it completes.
  Outcome Done(size_t next);

  Line FindLine(const char* data, size_t len, size_t max_line, std::string_view* text);
  Reply& NextSlot();
  void ValueDone();
  void ResetPartial();
  State Fail(std::string why);

  Reply reply_;
  std::string error_;
  size_t need_ = 0;  // bytes known to be needed before a reply can complete
  // Progress through the reply being parsed, valid while partial_ (offsets from data[0], which
  // stays the reply's first byte because kNeedMore consumes nothing).
  std::vector<Frame> stack_;
  size_t pos_ = 0;   // start of the next value to parse
  size_t scan_ = 0;  // where the search for the '\r' of the line at pos_ resumes
  bool partial_ = false;
  bool failed_ = false;  // kError is final: the stream has no recoverable boundary
};

}  // namespace dynis::proto
