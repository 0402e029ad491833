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

// The character a backslash escape inside double quotes stands for (\<any> is itself).
inline char Unescape(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return c;
  }
}

// The helpers below read from p (inside [p, e)) into *cur and return where reading stopped,
// or nullptr when the quotes are unbalanced.

// After an opening '"': the quoted text up to and including its closing quote.
inline const char* ReadDoubleQuoted(const char* p, const char* e, std::string* cur) {
  for (;;) {
    if (p == e) return nullptr;  // unterminated quotes
    if (*p == '\\' && e - p >= 4 && p[1] == 'x' && IsHexDigit(p[2]) && IsHexDigit(p[3])) {
      cur->push_back(static_cast<char>(HexValue(p[2]) * 16 + HexValue(p[3])));
      p += 4;
    } else if (*p == '\\' && e - p >= 2) {
      cur->push_back(Unescape(p[1]));
      p += 2;
    } else if (*p == '"') {
      // A closing quote must be followed by a space or nothing at all.
      if (p + 1 < e && !IsSpace(p[1])) return nullptr;
      return p + 1;
    } else {
      cur->push_back(*p++);
    }
  }
}

// After an opening '\'': the quoted text up to and including its closing quote.
inline const char* ReadSingleQuoted(const char* p, const char* e, std::string* cur) {
  for (;;) {
    if (p == e) return nullptr;
    if (*p == '\\' && e - p >= 2 && p[1] == '\'') {
      cur->push_back('\'');
      p += 2;
    } else if (*p == '\'') {
      if (p + 1 < e && !IsSpace(p[1])) return nullptr;
      return p + 1;
    } else {
      cur->push_back(*p++);
    }
  }
}

// At the first character of an argument (not a blank): the whole argument, and the blank
// that ends it if any.
inline const char* ReadArg(const char* p, const char* e, std::string* cur) {
  while (p != e) {
    switch (*p) {
      case ' ':
      case '\n':
      case '\r':
      case '\t':
        return p + 1;
      case '"':
        return ReadDoubleQuoted(p + 1, e, cur);
      case '\'':
        return ReadSingleQuoted(p + 1, e, cur);
      default: {
        // Copy the whole unquoted run at once instead of byte by byte.
        const char* run = p;
        while (p + 1 < e && !EndsUnquotedRun(p[1])) ++p;
        cur->append(run, static_cast<size_t>(p - run) + 1);
        ++p;
        break;
      }
    }
  }
  return p;
}

}  // namespace split_args_internal

template <class Begin, class End>
bool SplitArgs(const char* p, const char* e, Begin&& begin, End&& end) {
  using namespace split_args_internal;
  for (;;) {
    while (p < e && IsSpace(*p)) ++p;
    if (p == e) return true;
    std::string& cur = begin();
    p = ReadArg(p, e, &cur);
    if (p == nullptr) return false;
    end(cur);
  }
}

}  // namespace dynis
