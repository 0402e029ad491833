// ParseInt64: Redis's string2ll, the one integer syntax of the protocol, config and commands.
#include "common/strings.h"

#include <catch2/catch.hpp>
#include <climits>

using dynis::ParseInt64;

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
