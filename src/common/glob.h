// GlobMatch: Redis's glob-style matcher (util.c stringmatchlen), used by KEYS, SCAN MATCH,
// CONFIG GET, PSUBSCRIBE and friends.
//
// Contract:
//   - `*` matches any run of bytes, `?` any one byte, `[abc]` a set, `[^abc]` its complement,
//     `[a-z]` a range (ends may be given in either order), `\x` the byte x literally (also
//     inside a set). Matching is over whole strings (anchored at both ends) and binary safe:
//     NUL and any other byte are ordinary characters in both the pattern and the string.
//   - Quirks kept on purpose so results agree with Redis bit for bit: an unterminated `[`
//     set runs to the end of the pattern; `[a-]` is the range 'a'..']' (so the set goes on
//     after the `]`); a trailing lone `\` matches a literal backslash; the empty string is
//     matched only by the empty pattern (so "*" does NOT match "" -- callers that want KEYS
//     semantics special-case the pattern "*" like Redis does).
//   - nocase folds ASCII letters only (like Redis in the C locale); an escaped byte inside a
//     set is compared case-sensitively, as in Redis.
//   - Pathological patterns are cut short like Redis 7: once the rest of a pattern after a
//     `*` failed at every position, earlier stars do not retry longer prefixes (so the cost
//     is polynomial, not exponential), and more than 1000 nested stars give "no match".
//   - One deviation: set/range bytes are compared as unsigned char (Redis compares plain,
//     usually signed, char), so ranges over bytes >= 0x80 mean what they say.
//
// Thread rules: pure function, no state; safe from any thread.
#pragma once

#include <string_view>

namespace dynis {

// Returns true when `str` matches the glob `pattern` (see above).
bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase = false);

}  // namespace dynis
