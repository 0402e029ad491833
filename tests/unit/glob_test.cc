// Unit tests for GlobMatch (src/common/glob.h): Redis stringmatchlen semantics.
#include "common/glob.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

using dynis::GlobMatch;
using namespace std::string_literals;

TEST_CASE("glob: literals and anchoring", "[glob]") {
  CHECK(GlobMatch("", ""));
  CHECK(GlobMatch("hello", "hello"));
  CHECK_FALSE(GlobMatch("hello", "hell"));
  CHECK_FALSE(GlobMatch("hell", "hello"));
  CHECK_FALSE(GlobMatch("", "a"));
  CHECK_FALSE(GlobMatch("a", ""));
  CHECK_FALSE(GlobMatch("Hello", "hello"));
  CHECK(GlobMatch("Hello", "hello", /*nocase=*/true));
  CHECK(GlobMatch("hello", "HELLO", true));
}

TEST_CASE("glob: star", "[glob]") {
  CHECK(GlobMatch("*", "anything"));
  CHECK(GlobMatch("*", "x"));
  // Redis quirk: the empty string is only matched by the empty pattern.
  CHECK_FALSE(GlobMatch("*", ""));
  CHECK_FALSE(GlobMatch("**", ""));
  CHECK(GlobMatch("h*o", "hello"));
  CHECK(GlobMatch("h*o", "ho"));
  CHECK_FALSE(GlobMatch("h*o", "hell"));
  CHECK(GlobMatch("*llo", "hello"));
  CHECK(GlobMatch("he*", "he"));  // trailing stars eat nothing
  CHECK(GlobMatch("he**", "he"));
  CHECK(GlobMatch("a*b*c", "aXXbYYc"));
  CHECK(GlobMatch("a*b*c", "abc"));
  CHECK_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  CHECK(GlobMatch("max*", "maxclients"));
  CHECK(GlobMatch("*a*", "banana"));
  CHECK(GlobMatch("*ana", "banana"));  // needs backtracking to the last "ana"
}

TEST_CASE("glob: question mark", "[glob]") {
  CHECK(GlobMatch("h?llo", "hello"));
  CHECK(GlobMatch("h?llo", "hallo"));
  CHECK_FALSE(GlobMatch("h?llo", "hllo"));
  CHECK(GlobMatch("???", "abc"));
  CHECK_FALSE(GlobMatch("???", "ab"));
  CHECK(GlobMatch("?*", "a"));
  CHECK_FALSE(GlobMatch("?*", ""));
}

TEST_CASE("glob: sets and ranges", "[glob]") {
  CHECK(GlobMatch("h[ae]llo", "hello"));
  CHECK(GlobMatch("h[ae]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[ae]llo", "hillo"));
  CHECK(GlobMatch("h[^e]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[^e]llo", "hello"));
  CHECK(GlobMatch("h[a-b]llo", "hbllo"));
  CHECK_FALSE(GlobMatch("h[a-b]llo", "hcllo"));
  CHECK(GlobMatch("[z-a]", "m"));  // reversed range
  CHECK(GlobMatch("[0-9][0-9]", "42"));
  CHECK_FALSE(GlobMatch("[^0-9]", "5"));
  CHECK_FALSE(GlobMatch("[A-Z]", "m"));
  CHECK(GlobMatch("[A-Z]", "m", true));
  CHECK(GlobMatch("[a-z]", "M", true));
  CHECK(GlobMatch("[M]", "m", true));
  CHECK_FALSE(GlobMatch("[M]", "m"));
  CHECK(GlobMatch("[\\]]", "]"));  // escaped ']' inside a set
  CHECK(GlobMatch("[\\-]", "-"));
  CHECK_FALSE(GlobMatch("[abc]", ""));  // a set needs one byte
}

TEST_CASE("glob: Redis quirks in malformed sets", "[glob]") {
  // Unterminated set runs to the end of the pattern.
  CHECK(GlobMatch("[abc", "b"));
  CHECK_FALSE(GlobMatch("[abc", "d"));
  CHECK_FALSE(GlobMatch("[", "a"));
  CHECK(GlobMatch("[^", "a"));  // empty negated set matches any byte
  // "[a-]" is the range ']'..'a', and the set continues after the ']'.
  CHECK(GlobMatch("[a-]", "_"));
  CHECK(GlobMatch("[a-]", "a"));
  CHECK_FALSE(GlobMatch("[a-]", "-"));
  CHECK(GlobMatch("[a-]b]", "b"));  // 'b' is a set member, the final ']' closes it
  // Trailing lone backslash matches a backslash.
  CHECK(GlobMatch("a\\", "a\\"));
  // Escape is case-sensitive inside a set even with nocase, as in Redis.
  CHECK_FALSE(GlobMatch("[\\A]", "a", true));
  CHECK(GlobMatch("[\\a]", "a", true));
}

TEST_CASE("glob: escapes", "[glob]") {
  CHECK(GlobMatch("a\\*b", "a*b"));
  CHECK_FALSE(GlobMatch("a\\*b", "aXb"));
  CHECK(GlobMatch("\\?", "?"));
  CHECK_FALSE(GlobMatch("\\?", "x"));
  CHECK(GlobMatch("\\[a]", "[a]"));
  CHECK(GlobMatch("\\\\", "\\"));
  CHECK(GlobMatch("\\a", "a"));
}

TEST_CASE("glob: binary safe", "[glob]") {
  CHECK(GlobMatch("a\0b"s, "a\0b"s));
  CHECK_FALSE(GlobMatch("a\0b"s, "a\0c"s));
  CHECK_FALSE(GlobMatch("a"s, "a\0"s));
  CHECK(GlobMatch("a?b"s, "a\0b"s));
  CHECK(GlobMatch("*\0*"s, "xx\0yy"s));
  CHECK(GlobMatch("[\0]"s, "\0"s));
  CHECK(GlobMatch("*"s, "\xff\xfe"s));
  CHECK(GlobMatch("[\x80-\xff]"s, "\xc3"s));
  CHECK_FALSE(GlobMatch("[\x80-\xff]"s, "a"s));
  // A pattern that is a prefix of a longer buffer must not read past its end.
  std::string buf = "ab*";
  CHECK_FALSE(GlobMatch(std::string_view(buf.data(), 2), "abc"));
  CHECK(GlobMatch(std::string_view(buf.data(), 2), "ab"));
  std::string set = "[ab]";
  CHECK(GlobMatch(std::string_view(set.data(), 3), "a"));  // "[ab" unterminated
}

TEST_CASE("glob: pathological patterns finish fast", "[glob]") {
  auto start = std::chrono::steady_clock::now();
  // Exponential without the skip-longer-matches cut.
  std::string pattern;
  for (int i = 0; i < 30; ++i) pattern += "a*";
  pattern += "b";
  std::string str(200, 'a');
  CHECK_FALSE(GlobMatch(pattern, str));

  // Redis 7 regression test (keyspace.tcl): "*" followed by 50000 "*?" is too deep.
  std::string deep = "*";
  for (int i = 0; i < 50000; ++i) deep += "*?";
  CHECK_FALSE(GlobMatch(deep, std::string(60000, 'x')));

  // Nesting cap: more than 1000 stars separated by literals give "no match" even though
  // the plain definition would match.
  std::string many;
  std::string target;
  for (int i = 0; i < 1100; ++i) {
    many += "*a";
    target += "a";
  }
  CHECK_FALSE(GlobMatch(many, target));
  // ...while a shallower one still matches.
  std::string some;
  std::string some_target;
  for (int i = 0; i < 500; ++i) {
    some += "*a";
    some_target += "a";
  }
  CHECK(GlobMatch(some, some_target));
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < std::chrono::seconds(5));
}
