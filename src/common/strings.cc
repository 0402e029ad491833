#include "common/strings.h"

namespace dynis {

bool ParseUint64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    const uint64_t d = static_cast<uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool ParseInt64(std::string_view str, int64_t* value) {
  const char* s = str.data();
  const size_t slen = str.size();
  if (slen == 0 || slen >= 21) return false;
  if (slen == 1 && s[0] == '0') {
    *value = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    if (++i == slen) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = static_cast<uint64_t>(s[i++] - '0');
  for (; i < slen; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > UINT64_MAX / 10) return false;
    v *= 10;
    if (v > UINT64_MAX - d) return false;
    v += d;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *value = static_cast<int64_t>(0 - v);  // two's complement; v == 2^63 gives INT64_MIN
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *value = static_cast<int64_t>(v);
  }
  return true;
}

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The shape of an IPv6 address, optionally with a zone ("fe80::1%eth0"); whether it is a valid
// address is left to the resolver, as for host names.
bool LooksLikeIPv6(std::string_view s) {
  const size_t percent = s.find('%');
  std::string_view addr = s.substr(0, percent);
  if (addr.find(':') == std::string_view::npos) return false;
  for (char c : addr) {
    if (!IsHexDigit(c) && c != ':' && c != '.') return false;
  }
  if (percent == std::string_view::npos) return true;
  std::string_view zone = s.substr(percent + 1);
  if (zone.empty()) return false;
  for (char c : zone) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

}  // namespace

Status ParseHostPort(std::string_view text, std::string* host, int* port) {
  std::string_view h;
  std::string_view port_text;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("the '[' has no matching ']'");
    }
    h = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (h.empty()) return Status::InvalidArgument("the host is empty");
    if (rest.empty() || rest[0] != ':') return Status::InvalidArgument("the ':port' is missing");
    if (!LooksLikeIPv6(h)) {
      return Status::InvalidArgument("only an IPv6 address goes in brackets");
    }
    port_text = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return Status::InvalidArgument("the ':port' is missing");
    h = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (h.empty()) return Status::InvalidArgument("the host is empty");
    if (h.find(':') != std::string_view::npos) {
      return Status::InvalidArgument("an IPv6 address goes in brackets, as in [::1]:17001");
    }
    for (char c : h) {
      if (!IsNameChar(c)) {
        return Status::InvalidArgument(
            "the host has a character other than letters, digits, '.', '-' and '_'");
      }
    }
  }
  int64_t p = 0;
  if (!ParseInt64(port_text, &p) || p < 1 || p > 65535) {
    return Status::InvalidArgument("the port must be a number from 1 to 65535");
  }
  host->assign(h.data(), h.size());
  *port = static_cast<int>(p);
  return Status::OK();
}

}  // namespace dynis
