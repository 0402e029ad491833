// ParseInt64: Redis's string2ll, the one integer syntax of the protocol, config and commands;
// ParseHostPort: a cluster seed's host:port.
#include "common/strings.h"

#include <catch2/catch.hpp>
#include <climits>
#include <string>

using dynis::ParseInt64;
using dynis::Status;

TEST_CASE("ParseInt64 accepts canonical decimal int64 values", "[strings]") {
  int64_t v = 1;
  REQUIRE(ParseInt64("0", &v));
  CHECK(v == 0);
  REQUIRE(ParseInt64("42", &v));
  CHECK(v == 42);
  REQUIRE(ParseInt64("-17", &v));
  CHECK(v == -17);
  REQUIRE(ParseInt64("9223372036854775807", &v));
  CHECK(v == INT64_MAX);
  REQUIRE(ParseInt64("-9223372036854775808", &v));
  CHECK(v == INT64_MIN);
}

TEST_CASE("ParseInt64 rejects what string2ll rejects", "[strings]") {
  int64_t v = 7;
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1a", "0x10", "1.0",
                          "9223372036854775808", "-9223372036854775809", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(ParseInt64(bad, &v));
  }
  CHECK(v == 7);  // untouched on failure
}

TEST_CASE("ParseHostPort splits host:port, IPv6 in brackets", "[strings]") {
  struct Row {
    const char* text;
    const char* host;
    int port;
  };
  for (const Row& row :
       {Row{"127.0.0.1:17001", "127.0.0.1", 17001}, Row{"a:1", "a", 1},
        Row{"node-2.example_x:65535", "node-2.example_x", 65535}, Row{"[::1]:17001", "::1", 17001},
        Row{"[fe80::1%eth0]:7000", "fe80::1%eth0", 7000},
        Row{"[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80}}) {
    INFO(row.text);
    std::string host;
    int port = 0;
    REQUIRE(dynis::ParseHostPort(row.text, &host, &port).ok());
    CHECK(host == row.host);
    CHECK(port == row.port);
  }
  std::string host = "untouched";
  int port = 7;
  for (const char* bad : {"", "h", ":1", "h:", "h:0", "h:65536", "h:01", "h: 1", " h:1", "h:1:2",
                          "[::1]", "[::1", "[]:1", "[h]:1", "[::1]1", "[::1%]:1", "h?:1"}) {
    INFO(bad);
    Status s = dynis::ParseHostPort(bad, &host, &port);
    CHECK_FALSE(s.ok());
    CHECK_FALSE(s.message().empty());
  }
  CHECK(host == "untouched");
  CHECK(port == 7);
}
