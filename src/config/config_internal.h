// Config's internals shared by its three files, private to src/config: OptionDef, one row of
// the option table (options.cc); ParsedValue and the parser that turns a directive's arguments
// into one (values.cc); Config itself (config.cc) reads the table and stores parsed values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynis::config_internal {

enum class Type { kBool, kInt, kMemory, kEnum, kString, kStringList, kOutputLimit };

struct OptionDef {
  int id;
  const char* name;
  const char* alias;  // nullptr when none
  Type type;
  const char* default_value;  // in directive syntax, run through SplitConfigLine
  int64_t min;                // kInt / kMemory bounds, inclusive
  int64_t max;                // ... and for kStringList the most items allowed
  bool is_mutable;
  std::vector<const char*> enum_names;  // kEnum: index = stored value
  size_t min_args;                      // after multi-arg splitting
  size_t max_args;
  const char* doc;
  // kStringList: characters that separate items inside an argument besides the blanks between
  // arguments (nullptr: only a single argument is split, on spaces), and each item's syntax.
  const char* item_separators = nullptr;
  Status (*check_item)(std::string_view item) = nullptr;
};

// A value parsed for a row but not yet stored: num for bool, int, memory and enum (its index);
// str for strings and lists (joined by one space); list's items; the output-buffer limits
// [class][hard, soft, soft_seconds] of the classes given.
struct ParsedValue {
  int64_t num = 0;
  std::string str;
  std::vector<std::string> list;
  int64_t obuf[3][3] = {};
  bool obuf_set[3] = {};
};

constexpr int64_t kKb = 1024;
constexpr int64_t kMb = 1024 * kKb;
constexpr int64_t kGb = 1024 * kMb;

// ASCII lower case, and equality ignoring it: how names and keyword values compare.
std::string Lower(std::string_view s);
bool EqualsNoCase(std::string_view a, std::string_view b);

// Splits multi-argument values the way `def` takes them (see values.cc).
std::vector<std::string> NormalizeArgs(const OptionDef& def, const std::vector<std::string>& args);

// Parses `args` (already normalized and arity-checked) for `def`. The error message is the
// bare Redis reason, e.g. "argument must be 'yes' or 'no'".
Status ParseValue(const OptionDef& def, const std::vector<std::string>& args, ParsedValue* out);

}  // namespace dynis::config_internal
