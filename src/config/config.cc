// Config: directives from the file, the flags and CONFIG SET applied through one parser, and
// CONFIG GET formatting. The option table is in options.cc, value parsing in values.cc. See
// config.h for the contract and thread rules.
#include "config/config.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "common/glob.h"
#include "common/strings.h"
#include "config/config_internal.h"

namespace dynis {
namespace {

using config_internal::EqualsNoCase;
using config_internal::Lower;
using config_internal::NormalizeArgs;
using config_internal::OptionDef;
using config_internal::ParsedValue;
using config_internal::ParseValue;
using config_internal::Type;

const char* const kObufClassNames[] = {"normal", "replica", "pubsub"};

std::string BadDirective(std::string_view name) {
  return "Bad directive or wrong number of arguments '" + Lower(name) + "'";
}

std::string SetFailed(std::string_view name, std::string_view reason) {
  return err::ConfigSetFailed(name, reason);
}

std::string UnknownSetOption(std::string_view name) { return err::ConfigSetUnknown(name); }

// One CONFIG SET value for `def`: split, arity-checked and parsed, with CONFIG SET's errors.
Status ParseSetValue(const OptionDef& def, const std::string& name, const std::string& arg,
                     ParsedValue* out) {
  const std::vector<std::string> args = NormalizeArgs(def, {arg});
  if (args.size() < def.min_args || args.size() > def.max_args) {
    return Status::Error(UnknownSetOption(name));
  }
  Status s = ParseValue(def, args, out);
  if (!s.ok()) return Status::Error(SetFailed(name, s.message()));
  return Status::OK();
}

}  // namespace

const Config::Def* Config::Find(std::string_view name) {
  for (const Def& def : Table()) {
    if (EqualsNoCase(name, def.name)) return &def;
    if (def.alias != nullptr && EqualsNoCase(name, def.alias)) return &def;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Config.
// ---------------------------------------------------------------------------------------------
Config::Config() {
  const std::vector<Def>& table = Table();
  for (int i = 0; i < kNumOptions; ++i) nums_[i].store(0, std::memory_order_relaxed);
  for (auto& cls : obuf_) {
    for (auto& field : cls) field.store(0, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  bool table_ok = table.size() == static_cast<size_t>(kNumOptions);
  for (size_t i = 0; table_ok && i < table.size(); ++i) {
    const Def& def = table[i];
    table_ok = def.id == static_cast<int>(i);
    StatusOr<std::vector<std::string>> args = SplitConfigLine(def.default_value);
    Status s = args.ok() ? ApplyLocked(def.name, *args) : args.status();
    if (!s.ok()) {
      std::fprintf(stderr, "dynis: bad default for config option '%s': %s\n", def.name,
                   s.message().c_str());
      std::abort();
    }
  }
  if (!table_ok) {
    std::fprintf(stderr, "dynis: config table out of order with Config::Id\n");
    std::abort();
  }
}

Status Config::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::in | std::ios::binary);
  if (!in) return Status::IOError("cannot open config file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read config file '" + path + "'");
  return LoadString(text.str(), path);
}

Status Config::LoadString(std::string_view text, const std::string& origin) {
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    // Trim like Redis: sdstrim(line, " \t\r\n").
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '\r' ||
                             line.front() == '\n')) {
      line.remove_prefix(1);
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r' ||
                             line.back() == '\n')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line[0] == '#') continue;
    const std::string where = origin + ":" + std::to_string(line_no) + ": ";
    StatusOr<std::vector<std::string>> args = SplitConfigLine(line);
    if (!args.ok()) return Status::InvalidArgument(where + args.status().message());
    if (args->empty()) continue;
    const std::vector<std::string> rest(args->begin() + 1, args->end());
    Status s = ApplyDirective((*args)[0], rest);
    if (!s.ok()) return Status::InvalidArgument(where + s.message());
  }
  return Status::OK();
}

Status Config::ApplyArgs(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size()) {
    const std::string& flag = args[i];
    if (flag.size() <= 2 || flag[0] != '-' || flag[1] != '-') {
      return Status::InvalidArgument(flag + ": expected an option of the form --name value");
    }
    const std::string name = flag.substr(2);
    std::vector<std::string> values;
    for (++i; i < args.size(); ++i) {
      if (args[i].size() >= 2 && args[i][0] == '-' && args[i][1] == '-') break;
      values.push_back(args[i]);
    }
    Status s = ApplyDirective(name, values);
    if (!s.ok()) return Status::InvalidArgument("--" + Lower(name) + ": " + s.message());
  }
  return Status::OK();
}

Status Config::ApplyDirective(std::string_view name, const std::vector<std::string>& args) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return ApplyLocked(name, args);
}

Status Config::ApplyLocked(std::string_view name, const std::vector<std::string>& args) {
  const Def* def = Find(name);
  if (def == nullptr) return Status::InvalidArgument(BadDirective(name));
  const std::vector<std::string> normalized = NormalizeArgs(*def, args);
  if (normalized.size() < def->min_args || normalized.size() > def->max_args) {
    return Status::InvalidArgument(BadDirective(name));
  }
  Parsed value;
  Status s = ParseValue(*def, normalized, &value);
  if (!s.ok()) return Status::InvalidArgument("'" + Lower(name) + "' " + s.message());
  StoreLocked(*def, value);
  return Status::OK();
}

void Config::StoreLocked(const Def& def, const Parsed& value) {
  switch (def.type) {
    case Type::kBool:
    case Type::kInt:
    case Type::kMemory:
    case Type::kEnum:
      nums_[def.id].store(value.num, std::memory_order_relaxed);
      break;
    case Type::kString: {
      std::lock_guard<std::mutex> lock(str_mu_);
      strs_[def.id] = value.str;
      break;
    }
    case Type::kStringList: {
      std::lock_guard<std::mutex> lock(str_mu_);
      strs_[def.id] = value.str;
      lists_[def.id] = value.list;
      break;
    }
    case Type::kOutputLimit:
      for (int cls = 0; cls < kObufClasses; ++cls) {
        if (!value.obuf_set[cls]) continue;
        for (int f = 0; f < 3; ++f)
          obuf_[cls][f].store(value.obuf[cls][f], std::memory_order_relaxed);
      }
      break;
  }
}

std::string Config::FormatLocked(const Def& def) const {
  switch (def.type) {
    case Type::kBool:
      return Num(static_cast<Id>(def.id)) != 0 ? "yes" : "no";
    case Type::kInt:
    case Type::kMemory:
      return std::to_string(Num(static_cast<Id>(def.id)));
    case Type::kEnum: {
      const int64_t v = Num(static_cast<Id>(def.id));
      return v >= 0 && static_cast<size_t>(v) < def.enum_names.size() ? def.enum_names[v] : "";
    }
    case Type::kString:
    case Type::kStringList:
      return strs_[def.id];  // writers hold write_mu_, so no str_mu_ needed
    case Type::kOutputLimit: {
      std::string out;
      for (int cls = 0; cls < kObufClasses; ++cls) {
        if (cls > 0) out += ' ';
        out += kObufClassNames[cls];
        for (int f = 0; f < 3; ++f) out += ' ' + std::to_string(Obuf(cls, f));
      }
      return out;
    }
  }
  return "";
}

Status Config::Validate() const {
  const int64_t warn = Num(kSiblingWarn);
  const int64_t max = Num(kSiblingMax);
  if (warn > max) {
    return Status::InvalidArgument("'sibling-warn' (" + std::to_string(warn) +
                                   ") must be less than or equal to 'sibling-max' (" +
                                   std::to_string(max) + ")");
  }
  const int64_t n = Num(kReplicas);
  for (Id q : {kReadQuorum, kWriteQuorum}) {
    if (Num(q) > n) {
      return Status::InvalidArgument(
          "'" + std::string(Table()[q].name) + "' (" + std::to_string(Num(q)) +
          ") must be less than or equal to 'replicas' (" + std::to_string(n) + ")");
    }
  }
  // Each cluster-nodes entry was checked by the parser, at its line.
  if (!cluster_nodes().empty() && cluster_secret().empty()) {
    return Status::InvalidArgument("'cluster-nodes' is set but 'cluster-secret' is empty");
  }
  return Status::OK();
}

int Config::cluster_port() const {
  int p = static_cast<int>(Num(kClusterPort));
  return p != 0 ? p : static_cast<int>(Num(kPort)) + 10000;
}

std::vector<std::string> Config::cluster_nodes() const {
  std::lock_guard<std::mutex> lock(str_mu_);
  return lists_[kClusterNodes];
}

std::string Config::cluster_announce_ip() const {
  std::string ip = Str(kClusterAnnounceIp);
  if (!ip.empty()) return ip;
  for (std::string addr : bind()) {
    if (!addr.empty() && addr[0] == '-') addr = addr.substr(1);
    if (addr == "*" || addr == "0.0.0.0" || addr == "::" || addr == "::*") continue;
    return addr;
  }
  return "127.0.0.1";
}

std::vector<Config::NameValue> Config::Get(std::string_view pattern) const {
  return Get(std::vector<std::string>{std::string(pattern)});
}

std::vector<Config::NameValue> Config::Get(const std::vector<std::string>& patterns) const {
  std::vector<NameValue> out;
  std::lock_guard<std::mutex> lock(write_mu_);
  for (const Def& def : Table()) {
    for (const char* name : {def.name, def.alias}) {
      if (name == nullptr) continue;
      for (const std::string& pattern : patterns) {
        if (GlobMatch(pattern, name, /*nocase=*/true)) {
          out.emplace_back(name, FormatLocked(def));
          break;
        }
      }
    }
  }
  return out;
}

Status Config::Set(const std::vector<NameValue>& name_values) {
  std::vector<const Def*> defs;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    RETURN_IF_ERROR(FindSettable(name_values, &defs));
    std::vector<Parsed> values(name_values.size());
    RETURN_IF_ERROR(ParseSetValues(name_values, defs, &values));
    for (size_t i = 0; i < defs.size(); ++i) StoreLocked(*defs[i], values[i]);
  }
  // Hooks run with no Config lock held, so they may call getters or Get().
  RunHooks(defs);
  return Status::OK();
}

Status Config::FindSettable(const std::vector<NameValue>& name_values,
                            std::vector<const Def*>* defs) {
  defs->reserve(name_values.size());
  // Pass 1, like Redis 7: names, mutability and duplicates; the first problem wins.
  for (const auto& [name, value] : name_values) {
    const Def* def = Find(name);
    if (def == nullptr) return Status::Error(UnknownSetOption(name));
    if (!def->is_mutable) return Status::Error(SetFailed(name, "can't set immutable config"));
    for (const Def* seen : *defs) {
      if (seen == def) return Status::Error(SetFailed(name, "duplicate parameter"));
    }
    defs->push_back(def);
  }
  return Status::OK();
}

Status Config::ParseSetValues(const std::vector<NameValue>& name_values,
                              const std::vector<const Def*>& defs,
                              std::vector<Parsed>* values) const {
  // Pass 2: parse every value before storing any.
  int64_t warn = Num(kSiblingWarn);
  int64_t max = Num(kSiblingMax);
  const std::string* sibling_arg = nullptr;
  for (size_t i = 0; i < name_values.size(); ++i) {
    const Def& def = *defs[i];
    const std::string& name = name_values[i].first;
    Parsed& value = (*values)[i];
    RETURN_IF_ERROR(ParseSetValue(def, name, name_values[i].second, &value));
    if (def.id == kSiblingWarn || def.id == kSiblingMax) {
      (def.id == kSiblingWarn ? warn : max) = value.num;
      if (sibling_arg == nullptr) sibling_arg = &name;
    }
    if ((def.id == kReadQuorum || def.id == kWriteQuorum) && value.num > Num(kReplicas)) {
      return Status::Error(SetFailed(name, std::string(def.name) + " (" +
                                               std::to_string(value.num) +
                                               ") must be less than or equal to replicas (" +
                                               std::to_string(Num(kReplicas)) + ")"));
    }
  }
  if (sibling_arg != nullptr && warn > max) {
    return Status::Error(SetFailed(*sibling_arg, "sibling-warn (" + std::to_string(warn) +
                                                     ") must be less than or equal to "
                                                     "sibling-max (" +
                                                     std::to_string(max) + ")"));
  }
  return Status::OK();
}

void Config::RunHooks(const std::vector<const Def*>& defs) {
  for (const Def* def : defs) {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(hooks_mu_);
      hook = hooks_[def->id];
    }
    if (hook) hook();
  }
}

std::vector<std::string> Config::Names() const {
  std::vector<std::string> out;
  for (const Def& def : Table()) out.emplace_back(def.name);
  return out;
}

Status Config::OnChange(std::string_view name, std::function<void()> hook) {
  const Def* def = Find(name);
  if (def == nullptr) {
    return Status::InvalidArgument("no config option '" + std::string(name) + "'");
  }
  std::lock_guard<std::mutex> lock(hooks_mu_);
  hooks_[def->id] = std::move(hook);
  return Status::OK();
}

std::string Config::Str(Id id) const {
  std::lock_guard<std::mutex> lock(str_mu_);
  return strs_[id];
}

std::vector<std::string> Config::bind() const {
  std::lock_guard<std::mutex> lock(str_mu_);
  return lists_[kBind];
}

}  // namespace dynis
