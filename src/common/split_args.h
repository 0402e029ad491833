// SplitArgs: Redis's sdssplitargs, shared by the inline-command parser and the config file.
//
// Blanks separate arguments; "double quotes" take \n \r \t \b \a \xHH and \<any> escapes;
// 'single quotes' take \' only; a closing quote must be followed by a blank or the end, and an
// unterminated quote fails. For each argument `begin()` returns the (empty) std::string to fill
// and `end(arg)` is called once it is complete. Returns false on unbalanced quotes.
// Header-only so the parser's hot path inlines it.
#pragma once

#include <cstddef>
#include <string>

namespace dynis {

namespace split_args_internal {

// C-locale isspace(), which sdssplitargs uses to skip blanks and to validate closing quotes.
inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
// Characters that end an unquoted run inside a token (note: not \v or \f, as in Redis).
inline bool EndsUnquotedRun(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\'';
}
inline bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace split_args_internal

template <class Begin, class End>
bool SplitArgs(const char* p, const char* e, Begin&& begin, End&& end) {
  using namespace split_args_internal;
  for (;;) {
    while (p < e && IsSpace(*p)) ++p;
    if (p == e) return true;
    std::string& cur = begin();
    bool in_dq = false;
    bool in_sq = false;
    for (bool done = false; !done;) {
      if (in_dq) {
        if (p == e) return false;  // unterminated quotes
        if (*p == '\\' && e - p >= 4 && p[1] == 'x' && IsHexDigit(p[2]) && IsHexDigit(p[3])) {
          cur.push_back(static_cast<char>(HexValue(p[2]) * 16 + HexValue(p[3])));
          p += 3;
        } else if (*p == '\\' && e - p >= 2) {
          ++p;
          char c;
          switch (*p) {
            case 'n':
              c = '\n';
              break;
            case 'r':
              c = '\r';
              break;
            case 't':
              c = '\t';
              break;
            case 'b':
              c = '\b';
              break;
            case 'a':
              c = '\a';
              break;
            default:
              c = *p;
              break;
          }
          cur.push_back(c);
        } else if (*p == '"') {
          // A closing quote must be followed by a space or nothing at all.
          if (p + 1 < e && !IsSpace(p[1])) return false;
          done = true;
        } else {
          cur.push_back(*p);
        }
      } else if (in_sq) {
        if (p == e) return false;
        if (*p == '\\' && e - p >= 2 && p[1] == '\'') {
          ++p;
          cur.push_back('\'');
        } else if (*p == '\'') {
          if (p + 1 < e && !IsSpace(p[1])) return false;
          done = true;
        } else {
          cur.push_back(*p);
        }
      } else {
        if (p == e) break;
        switch (*p) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
            done = true;
            break;
          case '"':
            in_dq = true;
            break;
          case '\'':
            in_sq = true;
            break;
          default: {
            // Copy the whole unquoted run at once instead of byte by byte.
            const char* run = p;
            while (p + 1 < e && !EndsUnquotedRun(p[1])) ++p;
            cur.append(run, static_cast<size_t>(p - run) + 1);
            break;
          }
        }
      }
      if (p < e) ++p;
    }
    end(cur);
  }
}

}  // namespace dynis
