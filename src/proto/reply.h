// ReplyWriter: appends RESP2 or RESP3 replies to a connection's output buffer.
//
// Handlers describe replies by shape (map, set, double, null...) and the writer renders the
// wire form of the client's protocol version, as Redis's addReply* family does: a RESP3 map is
// a flat array of 2n elements in RESP2, a double a bulk string, a null `$-1` or `*-1`.
// Not thread-safe; owned by one connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynis::proto {

class ReplyWriter {
 public:
  explicit ReplyWriter(std::string* out) : out_(out) {}

  void set_resp(int version) { resp_ = version; }
  int resp() const { return resp_; }
  std::string* buffer() { return out_; }

  void Simple(std::string_view s);  // +OK
  void Ok() { out_->append("+OK\r\n", 5); }
  // `msg` without the leading '-'; a message without an upper-case prefix word gets "ERR ".
  void Error(std::string_view msg);
  void Integer(int64_t v);
  void Bulk(std::string_view s);
  void NullBulk();   // RESP2 $-1, RESP3 _
  void NullArray();  // RESP2 *-1, RESP3 _
  void Array(size_t n);
  void Map(size_t n);  // n key/value pairs
  void Set(size_t n);
  void Double(double d);  // RESP3 ",", RESP2 bulk string
  void Bool(bool b);      // RESP3 "#t", RESP2 :1/:0
  void Verbatim(std::string_view s, std::string_view format = "txt");  // RESP3 "=", RESP2 bulk
  void EmptyArray() { Array(0); }
  void Raw(std::string_view s) { out_->append(s.data(), s.size()); }

 private:
  void Header(char type, int64_t n);
  std::string* out_;
  int resp_ = 2;
};

// Formats a double like Redis's humanfriendly long double output (INCRBYFLOAT): no exponent,
// trailing zeros removed.
std::string FormatHumanDouble(long double d);
// Formats a double like Redis's RESP double (%.17g, "inf", "-inf", "nan").
std::string FormatDouble(double d);

}  // namespace dynis::proto
