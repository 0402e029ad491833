// Implementation of GlobMatch: a faithful, bounds-checked port of Redis 7's
// stringmatchlen_impl(). Where Redis reads the NUL terminator just past the pattern, this
// code tests the remaining length instead, which gives the same result on any input.
#include "common/glob.h"

#include <cstddef>

namespace dynis {
namespace {

constexpr int kMaxNesting = 1000;  // Redis: "Protection against abusive patterns."

inline unsigned char Lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

bool MatchImpl(const unsigned char* p, size_t plen, const unsigned char* s, size_t slen,
               bool nocase, bool* skip_longer_matches, int nesting) {
  if (nesting > kMaxNesting) return false;

  while (plen > 0 && slen > 0) {
    switch (p[0]) {
      case '*': {
        while (plen >= 2 && p[1] == '*') {  // Collapse runs of stars.
          ++p;
          --plen;
        }
        if (plen == 1) return true;  // A trailing star matches the rest.
        while (slen > 0) {
          if (MatchImpl(p + 1, plen - 1, s, slen, nocase, skip_longer_matches, nesting + 1)) {
            return true;
          }
          if (*skip_longer_matches) return false;
          ++s;
          --slen;
        }
        // The rest of the pattern matched nowhere in the rest of the string; an earlier star
        // trying a longer prefix would need it to match even later, so give up entirely.
        *skip_longer_matches = true;
        return false;
      }
      case '?':
        ++s;
        --slen;
        break;
      case '[': {
        ++p;
        --plen;
        const bool negate = plen > 0 && p[0] == '^';
        if (negate) {
          ++p;
          --plen;
        }
        bool match = false;
        while (true) {
          if (plen >= 2 && p[0] == '\\') {
            ++p;
            --plen;
            if (p[0] == s[0]) match = true;
          } else if (plen == 0) {
            // Unterminated set: step back so the shared advance below lands on the end.
            --p;
            ++plen;
            break;
          } else if (p[0] == ']') {
            break;
          } else if (plen >= 3 && p[1] == '-') {
            int start = p[0];
            int end = p[2];
            int c = s[0];
            if (start > end) {
              const int t = start;
              start = end;
              end = t;
            }
            if (nocase) {
              start = Lower(static_cast<unsigned char>(start));
              end = Lower(static_cast<unsigned char>(end));
              c = Lower(static_cast<unsigned char>(c));
            }
            p += 2;
            plen -= 2;
            if (c >= start && c <= end) match = true;
          } else if (!nocase) {
            if (p[0] == s[0]) match = true;
          } else {
            if (Lower(p[0]) == Lower(s[0])) match = true;
          }
          ++p;
          --plen;
        }
        if (negate) match = !match;
        if (!match) return false;
        ++s;
        --slen;
        break;
      }
      case '\\':
        if (plen >= 2) {
          ++p;
          --plen;
        }
        [[fallthrough]];
      default:
        if (!nocase) {
          if (p[0] != s[0]) return false;
        } else {
          if (Lower(p[0]) != Lower(s[0])) return false;
        }
        ++s;
        --slen;
        break;
    }
    ++p;
    --plen;
    if (slen == 0) {
      while (plen > 0 && p[0] == '*') {
        ++p;
        --plen;
      }
      break;
    }
  }
  return plen == 0 && slen == 0;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase) {
  bool skip_longer_matches = false;
  return MatchImpl(reinterpret_cast<const unsigned char*>(pattern.data()), pattern.size(),
                   reinterpret_cast<const unsigned char*>(str.data()), str.size(), nocase,
                   &skip_longer_matches, 0);
}

}  // namespace dynis
