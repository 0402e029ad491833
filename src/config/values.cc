// Parsing one option's arguments into a ParsedValue, per row type, and config.h's free value
// helpers SplitConfigLine and ParseMemory.
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/split_args.h"
#include "common/strings.h"
#include "config/config.h"
#include "config/config_internal.h"

namespace dynis {
namespace {

using config_internal::EqualsNoCase;
using config_internal::kGb;
using config_internal::kKb;
using config_internal::kMb;
using config_internal::OptionDef;
using config_internal::ParsedValue;
using config_internal::Type;

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += ' ';
    out += parts[i];
  }
  return out;
}

// Appends the non-empty pieces of `s` between any of `separators`.
void SplitOn(std::string_view s, std::string_view separators, std::vector<std::string>* out) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && separators.find(s[i]) != std::string_view::npos) ++i;
    const size_t start = i;
    while (i < s.size() && separators.find(s[i]) == std::string_view::npos) ++i;
    if (i > start) out->emplace_back(s.substr(start, i - start));
  }
}

Status BoundsError(const OptionDef& def) {
  return Status::InvalidArgument("argument must be between " + std::to_string(def.min) + " and " +
                                 std::to_string(def.max) + " inclusive");
}

Status ParseBool(const std::string& arg, ParsedValue* out) {
  if (EqualsNoCase(arg, "yes")) {
    out->num = 1;
  } else if (EqualsNoCase(arg, "no")) {
    out->num = 0;
  } else {
    return Status::InvalidArgument("argument must be 'yes' or 'no'");
  }
  return Status::OK();
}

// kInt and kMemory: the number (plain, or with a memory unit) within the row's bounds.
Status ParseBoundedNumber(const OptionDef& def, const std::string& arg, ParsedValue* out) {
  if (def.type == Type::kInt) {
    if (!ParseInt64(arg, &out->num)) {
      return Status::InvalidArgument("argument couldn't be parsed into an integer");
    }
  } else if (!ParseMemory(arg, &out->num)) {
    return Status::InvalidArgument("argument must be a memory value");
  }
  if (out->num < def.min || out->num > def.max) return BoundsError(def);
  return Status::OK();
}

// kEnum: the index of the name `arg` matches, case-insensitively.
Status ParseEnum(const OptionDef& def, const std::string& arg, ParsedValue* out) {
  for (size_t i = 0; i < def.enum_names.size(); ++i) {
    if (EqualsNoCase(arg, def.enum_names[i])) {
      out->num = static_cast<int64_t>(i);
      return Status::OK();
    }
  }
  std::string msg = "argument(s) must be one of the following: ";
  for (size_t i = 0; i < def.enum_names.size(); ++i) {
    if (i > 0) msg += ", ";
    msg += def.enum_names[i];
  }
  return Status::InvalidArgument(msg);
}

Status ParseList(const OptionDef& def, const std::vector<std::string>& args, ParsedValue* out) {
  if (static_cast<int64_t>(args.size()) > def.max) {
    return Status::InvalidArgument("Too many bind addresses specified.");  // only bind has a cap
  }
  if (def.check_item != nullptr) {
    for (const std::string& item : args) RETURN_IF_ERROR(def.check_item(item));
  }
  out->list = args;
  out->str = Join(args);
  return Status::OK();
}

// A client class name of client-output-buffer-limit: its index, or -1. "slave" is Redis's
// old name for replica.
int ObufClass(const std::string& name) {
  if (EqualsNoCase(name, "normal")) return 0;
  if (EqualsNoCase(name, "replica") || EqualsNoCase(name, "slave")) return 1;
  if (EqualsNoCase(name, "pubsub")) return 2;
  return -1;
}

// client-output-buffer-limit: groups of <class> <hard> <soft> <soft-seconds>.
Status ParseOutputLimit(const std::vector<std::string>& args, ParsedValue* out) {
  if (args.empty() || args.size() % 4 != 0) {
    return Status::InvalidArgument("Wrong number of arguments in buffer limit configuration.");
  }
  for (size_t i = 0; i < args.size(); i += 4) {
    const int cls = ObufClass(args[i]);
    if (cls < 0) {
      return Status::InvalidArgument(
          "Invalid client class specified in buffer limit configuration.");
    }
    int64_t hard = 0;
    int64_t soft = 0;
    int64_t seconds = 0;
    if (!ParseMemory(args[i + 1], &hard) || !ParseMemory(args[i + 2], &soft) ||
        !ParseInt64(args[i + 3], &seconds) || hard < 0 || soft < 0 || seconds < 0) {
      return Status::InvalidArgument(
          "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
    }
    out->obuf[cls][0] = hard;
    out->obuf[cls][1] = soft;
    out->obuf[cls][2] = seconds;
    out->obuf_set[cls] = true;
  }
  return Status::OK();
}

}  // namespace

namespace config_internal {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// A multi-argument option given one argument splits it on spaces (Redis does the same for
// CONFIG SET and for `--bind "a b"`). A list with item separators splits every argument on
// them and on blanks, so `a:1,b:2`, `"a:1, b:2"` and `a:1 b:2` are the same two items.
std::vector<std::string> NormalizeArgs(const OptionDef& def, const std::vector<std::string>& args) {
  if (def.type == Type::kStringList && def.item_separators != nullptr) {
    const std::string separators = std::string(" \t") + def.item_separators;
    std::vector<std::string> out;
    for (const std::string& arg : args) SplitOn(arg, separators, &out);
    return out;
  }
  if ((def.type != Type::kStringList && def.type != Type::kOutputLimit) || args.size() != 1) {
    return args;
  }
  std::vector<std::string> out;
  SplitOn(args[0], " ", &out);
  return out;
}

Status ParseValue(const OptionDef& def, const std::vector<std::string>& args, ParsedValue* out) {
  switch (def.type) {
    case Type::kBool:
      return ParseBool(args[0], out);
    case Type::kInt:
    case Type::kMemory:
      return ParseBoundedNumber(def, args[0], out);
    case Type::kEnum:
      return ParseEnum(def, args[0], out);
    case Type::kString:
      out->str = args[0];
      return Status::OK();
    case Type::kStringList:
      return ParseList(def, args, out);
    case Type::kOutputLimit:
      return ParseOutputLimit(args, out);
  }
  return Status::InvalidArgument("unknown option type");
}

}  // namespace config_internal

// ---------------------------------------------------------------------------------------------
// Free helpers of config.h.
// ---------------------------------------------------------------------------------------------
StatusOr<std::vector<std::string>> SplitConfigLine(std::string_view line) {
  std::vector<std::string> out;
  bool ok = SplitArgs(
      line.data(), line.data() + line.size(),
      [&out]() -> std::string& { return out.emplace_back(); }, [](const std::string&) {});
  if (!ok) return Status::InvalidArgument("Unbalanced quotes in configuration line");
  return out;
}

bool ParseMemory(std::string_view text, int64_t* out) {
  size_t i = 0;
  if (i < text.size() && text[i] == '-') ++i;
  const size_t digits_start = i;
  while (i < text.size() && IsDigit(text[i])) ++i;
  if (i == digits_start) return false;
  const std::string_view unit = text.substr(i);
  int64_t mul = 0;
  if (unit.empty() || EqualsNoCase(unit, "b")) {
    mul = 1;
  } else if (EqualsNoCase(unit, "k")) {
    mul = 1000;
  } else if (EqualsNoCase(unit, "kb")) {
    mul = kKb;
  } else if (EqualsNoCase(unit, "m")) {
    mul = 1000 * 1000;
  } else if (EqualsNoCase(unit, "mb")) {
    mul = kMb;
  } else if (EqualsNoCase(unit, "g")) {
    mul = 1000LL * 1000 * 1000;
  } else if (EqualsNoCase(unit, "gb")) {
    mul = kGb;
  } else {
    return false;
  }
  // Leading zeros are fine here (Redis uses strtoll for the digits).
  uint64_t v = 0;
  for (size_t j = digits_start; j < i; ++j) {
    const uint64_t d = static_cast<uint64_t>(text[j] - '0');
    if (v > (static_cast<uint64_t>(INT64_MAX) - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > static_cast<uint64_t>(INT64_MAX / mul)) return false;
  const int64_t value = static_cast<int64_t>(v) * mul;
  *out = digits_start == 1 ? -value : value;
  return true;
}

}  // namespace dynis
