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

inline bool SameByte(unsigned char a, unsigned char b, bool nocase) {
  return nocase ? Lower(a) == Lower(b) : a == b;
}

// Whether c lies in the range lo-hi of a set. The ends may come in either order; they are
// ordered before folding, as Redis does.
inline bool InRange(unsigned char lo, unsigned char hi, unsigned char c, bool nocase) {
  int start = lo;
  int end = hi;
  int ci = c;
  if (start > end) {
    const int t = start;
    start = end;
    end = t;
  }
  if (nocase) {
    start = Lower(static_cast<unsigned char>(start));
    end = Lower(static_cast<unsigned char>(end));
    ci = Lower(static_cast<unsigned char>(ci));
  }
  return ci >= start && ci <= end;
}

// Matches the byte c against the set whose body starts at *pp (just past its '['). Leaves
// *pp on the set's last pattern byte -- its ']', or the pattern's last byte when the set is
// unterminated -- so the caller's one-byte advance steps past the set.
inline bool MatchSet(const unsigned char** pp, size_t* pplen, unsigned char c, bool nocase) {
  const unsigned char* p = *pp;
  size_t plen = *pplen;
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
      if (p[0] == c) match = true;  // Escaped bytes compare case-sensitively, as in Redis.
    } else if (plen == 0) {
      // Unterminated set: step back so the caller's advance lands on the end.
      --p;
      ++plen;
      break;
    } else if (p[0] == ']') {
      break;
    } else if (plen >= 3 && p[1] == '-') {
      if (InRange(p[0], p[2], c, nocase)) match = true;
      p += 2;
      plen -= 2;
    } else if (SameByte(p[0], c, nocase)) {
      match = true;
    }
    ++p;
    --plen;
  }
  *pp = p;
  *pplen = plen;
  return negate ? !match : match;
}

bool MatchImpl(const unsigned char* p, size_t plen, const unsigned char* s, size_t slen,
               bool nocase, bool* skip_longer_matches, int nesting);

// The pattern at p starts with '*' and the string is not empty: tries the rest of the
// pattern at every suffix of the string.
bool MatchStar(const unsigned char* p, size_t plen, const unsigned char* s, size_t slen,
               bool nocase, bool* skip_longer_matches, int nesting) {
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

bool MatchImpl(const unsigned char* p, size_t plen, const unsigned char* s, size_t slen,
               bool nocase, bool* skip_longer_matches, int nesting) {
  if (nesting > kMaxNesting) return false;

  while (plen > 0 && slen > 0) {
    switch (p[0]) {
      case '*':
        return MatchStar(p, plen, s, slen, nocase, skip_longer_matches, nesting);
      case '?':
        break;
      case '[':
        ++p;
        --plen;
        if (!MatchSet(&p, &plen, s[0], nocase)) return false;
        break;
      case '\\':
        if (plen >= 2) {
          ++p;
          --plen;
        }
        [[fallthrough]];
      default:
        if (!SameByte(p[0], s[0], nocase)) return false;
        break;
    }
    // Every case that gets here consumed one string byte and one pattern byte.
    ++s;
    --slen;
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
