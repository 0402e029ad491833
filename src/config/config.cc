// Config: the option table, the directive parser shared by file / flags / CONFIG SET, and
// CONFIG GET formatting. See config.h for the contract and thread rules.
#include "config/config.h"

#include <cassert>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/glob.h"
#include "common/split_args.h"
#include "common/strings.h"

namespace dynis {
namespace config_internal {

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

struct ParsedValue {
  int64_t num = 0;
  std::string str;
  std::vector<std::string> list;
  int64_t obuf[3][3] = {};
  bool obuf_set[3] = {};
};

}  // namespace config_internal

namespace {

using config_internal::OptionDef;
using config_internal::ParsedValue;
using config_internal::Type;

constexpr int64_t kKb = 1024;
constexpr int64_t kMb = 1024 * kKb;
constexpr int64_t kGb = 1024 * kMb;
constexpr int64_t kMaxBindAddrs = 16;  // Redis CONFIG_BINDADDR_MAX
constexpr size_t kAnyArgs = static_cast<size_t>(-1);

const char* const kObufClassNames[] = {"normal", "replica", "pubsub"};

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

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

// A cluster-nodes item: host:port of a seed's cluster port.
Status CheckSeed(std::string_view item) {
  std::string host;
  int port = 0;
  Status s = ParseHostPort(item, &host, &port);
  if (s.ok()) return s;
  return Status::InvalidArgument("entry '" + std::string(item) +
                                 "' is not host:port: " + s.message());
}

Status BoundsError(const OptionDef& def) {
  return Status::InvalidArgument("argument must be between " + std::to_string(def.min) + " and " +
                                 std::to_string(def.max) + " inclusive");
}

// Parses `args` (already normalized and arity-checked) for `def`. The error message is the
// bare Redis reason, e.g. "argument must be 'yes' or 'no'".
Status ParseValue(const OptionDef& def, const std::vector<std::string>& args, ParsedValue* out) {
  switch (def.type) {
    case Type::kBool:
      if (EqualsNoCase(args[0], "yes")) {
        out->num = 1;
      } else if (EqualsNoCase(args[0], "no")) {
        out->num = 0;
      } else {
        return Status::InvalidArgument("argument must be 'yes' or 'no'");
      }
      return Status::OK();
    case Type::kInt:
      if (!ParseInt64(args[0], &out->num)) {
        return Status::InvalidArgument("argument couldn't be parsed into an integer");
      }
      if (out->num < def.min || out->num > def.max) return BoundsError(def);
      return Status::OK();
    case Type::kMemory:
      if (!ParseMemory(args[0], &out->num)) {
        return Status::InvalidArgument("argument must be a memory value");
      }
      if (out->num < def.min || out->num > def.max) return BoundsError(def);
      return Status::OK();
    case Type::kEnum: {
      for (size_t i = 0; i < def.enum_names.size(); ++i) {
        if (EqualsNoCase(args[0], def.enum_names[i])) {
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
    case Type::kString:
      out->str = args[0];
      return Status::OK();
    case Type::kStringList:
      if (static_cast<int64_t>(args.size()) > def.max) {
        return Status::InvalidArgument(
            "Too many bind addresses specified.");  // only bind has a cap
      }
      if (def.check_item != nullptr) {
        for (const std::string& item : args) RETURN_IF_ERROR(def.check_item(item));
      }
      out->list = args;
      out->str = Join(args);
      return Status::OK();
    case Type::kOutputLimit:
      if (args.empty() || args.size() % 4 != 0) {
        return Status::InvalidArgument("Wrong number of arguments in buffer limit configuration.");
      }
      for (size_t i = 0; i < args.size(); i += 4) {
        int cls = -1;
        if (EqualsNoCase(args[i], "normal")) {
          cls = 0;
        } else if (EqualsNoCase(args[i], "replica") || EqualsNoCase(args[i], "slave")) {
          cls = 1;
        } else if (EqualsNoCase(args[i], "pubsub")) {
          cls = 2;
        } else {
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
  return Status::InvalidArgument("unknown option type");
}

std::string BadDirective(std::string_view name) {
  return "Bad directive or wrong number of arguments '" + Lower(name) + "'";
}

std::string SetFailed(std::string_view name, std::string_view reason) {
  return "ERR CONFIG SET failed (possibly related to argument '" + std::string(name) + "') - " +
         std::string(reason);
}

// Table row builders, in the spirit of Redis's createBoolConfig() and friends.
OptionDef Row(int id, const char* name, Type type, const char* def, bool mut, const char* doc) {
  OptionDef d{id, name, nullptr, type, def, 0, 0, mut, {}, 1, 1, doc};
  return d;
}
OptionDef BoolOpt(int id, const char* name, const char* def, bool mut, const char* doc) {
  return Row(id, name, Type::kBool, def, mut, doc);
}
OptionDef IntOpt(int id, const char* name, const char* def, int64_t min, int64_t max, bool mut,
                 const char* doc) {
  OptionDef d = Row(id, name, Type::kInt, def, mut, doc);
  d.min = min;
  d.max = max;
  return d;
}
OptionDef MemOpt(int id, const char* name, const char* def, int64_t min, int64_t max, bool mut,
                 const char* doc) {
  OptionDef d = Row(id, name, Type::kMemory, def, mut, doc);
  d.min = min;
  d.max = max;
  return d;
}
OptionDef EnumOpt(int id, const char* name, const char* alias, std::vector<const char*> names,
                  const char* def, bool mut, const char* doc) {
  OptionDef d = Row(id, name, Type::kEnum, def, mut, doc);
  d.alias = alias;
  d.enum_names = std::move(names);
  return d;
}
OptionDef StrOpt(int id, const char* name, const char* def, bool mut, const char* doc) {
  return Row(id, name, Type::kString, def, mut, doc);
}
OptionDef ListOpt(int id, const char* name, const char* def, size_t min_args, int64_t max_items,
                  bool mut, const char* doc) {
  OptionDef d = Row(id, name, Type::kStringList, def, mut, doc);
  d.min_args = min_args;
  d.max = max_items;
  d.max_args = kAnyArgs;
  return d;
}
// A list of host:port seeds: commas separate items too (Cassandra's habit), each is checked.
OptionDef SeedListOpt(int id, const char* name, const char* def, int64_t max_items, bool mut,
                      const char* doc) {
  OptionDef d = ListOpt(id, name, def, 0, max_items, mut, doc);
  d.item_separators = ",";
  d.check_item = CheckSeed;
  return d;
}
OptionDef ObufOpt(int id, const char* name, const char* def, bool mut, const char* doc) {
  OptionDef d = Row(id, name, Type::kOutputLimit, def, mut, doc);
  d.min_args = 0;  // the parser reports a bad count with Redis's text
  d.max_args = kAnyArgs;
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The table. Order must follow Config::Id (checked at construction).
// ---------------------------------------------------------------------------------------------
const std::vector<Config::Def>& Config::Table() {
  constexpr bool kMutable = true;
  constexpr bool kImmutable = false;
  static const std::vector<Def> table = {
      ListOpt(kBind, "bind", "127.0.0.1 -::1", 1, kMaxBindAddrs, kImmutable,
              "Addresses to listen on; a leading '-' marks an address that may be unavailable."),
      IntOpt(kPort, "port", "6379", 0, 65535, kImmutable, "TCP port for clients."),
      BoolOpt(kProtectedMode, "protected-mode", "yes", kMutable,
              "Refuse non-loopback clients when no password is set and bind is the default."),
      EnumOpt(kEnableDebugCommand, "enable-debug-command", nullptr, {"no", "yes", "local"}, "no",
              kImmutable, "Who may run DEBUG: nobody, everyone, or loopback connections only."),
      StrOpt(kRequirepass, "requirepass", "\"\"", kMutable,
             "Password clients must AUTH with; empty means none."),
      StrOpt(kDir, "dir", "./data", kImmutable, "Data directory (RocksDB, node id)."),
      IntOpt(kIoThreads, "io-threads", "0", 0, 64, kImmutable,
             "Event-loop threads; 0 means one per core."),
      IntOpt(kMaxclients, "maxclients", "10000", 1, 1000000, kMutable,
             "Maximum simultaneous client connections."),
      IntOpt(kTimeout, "timeout", "0", 0, INT_MAX, kMutable,
             "Close idle clients after this many seconds; 0 disables."),
      IntOpt(kTcpBacklog, "tcp-backlog", "511", 0, INT_MAX, kImmutable, "listen() backlog."),
      IntOpt(kTcpKeepalive, "tcp-keepalive", "300", 0, INT_MAX, kMutable,
             "TCP keepalive period in seconds; 0 disables."),
      EnumOpt(kLoglevel, "loglevel", nullptr, {"debug", "verbose", "notice", "warning", "nothing"},
              "notice", kMutable, "Log verbosity."),
      StrOpt(kLogfile, "logfile", "\"\"", kImmutable, "Log file; empty means standard output."),
      StrOpt(kPidfile, "pidfile", "\"\"", kImmutable, "Pid file; empty means none."),
      EnumOpt(kFsync, "fsync", "appendfsync", {"always", "everysec", "no"}, "everysec", kMutable,
              "When the write-ahead log is fsynced."),
      BoolOpt(kAppendonly, "appendonly", "yes", kImmutable,
              "Informational: every write goes to the RocksDB write-ahead log."),
      ListOpt(kSave, "save", "\"\"", 0, INT64_MAX, kImmutable,
              "Informational: dynis does not snapshot."),
      IntOpt(kDatabases, "databases", "1", 1, 1, kImmutable, "Number of databases (only 0)."),
      MemOpt(kProtoMaxBulkLen, "proto-max-bulk-len", "512mb", kMb, INT64_MAX, kMutable,
             "Largest bulk string a client may send."),
      MemOpt(kClientQueryBufferLimit, "client-query-buffer-limit", "1gb", kMb, INT64_MAX, kMutable,
             "Largest query buffer of one client."),
      ObufOpt(kClientOutputBufferLimit, "client-output-buffer-limit",
              "normal 256mb 64mb 60 replica 256mb 64mb 60 pubsub 32mb 8mb 60", kMutable,
              "Output buffer limits per client class: <class> <hard> <soft> <soft-seconds>."),
      IntOpt(kPartitions, "partitions", "256", 1, 65536, kImmutable,
             "Number of ring partitions (Q), fixed at cluster creation."),
      MemOpt(kMaxObjectSize, "max-object-size", "1mb", 1, 512 * kMb, kMutable,
             "Largest value (with its siblings) stored under one key."),
      IntOpt(kSiblingWarn, "sibling-warn", "25", 1, 100000, kMutable,
             "Log a warning when a key has more siblings than this."),
      IntOpt(kSiblingMax, "sibling-max", "100", 1, 100000, kMutable,
             "Refuse writes that would give a key more siblings than this."),
      IntOpt(kTombstoneGrace, "tombstone-grace", "3600", 0, INT_MAX, kMutable,
             "Seconds a delete tombstone is kept before it may be purged."),
      StrOpt(kNodeId, "node-id", "\"\"", kImmutable,
             "This node's id; generated and persisted at first start when empty."),
      MemOpt(kRocksdbBlockCacheSize, "rocksdb-block-cache-size", "256mb", kMb, INT64_MAX,
             kImmutable, "RocksDB block cache capacity."),
      MemOpt(kRocksdbWriteBufferSize, "rocksdb-write-buffer-size", "64mb", kMb, INT64_MAX,
             kImmutable, "RocksDB memtable size."),
      IntOpt(kClusterPort, "cluster-port", "0", 0, 65535, kImmutable,
             "TCP port for other nodes (peer protocol); 0 means port + 10000."),
      SeedListOpt(kClusterNodes, "cluster-nodes", "\"\"", 1024, kImmutable,
                  "Seed members as host:port of their cluster ports, separated by spaces or "
                  "commas; empty runs a standalone node."),
      StrOpt(kClusterSecret, "cluster-secret", "\"\"", kImmutable,
             "Shared secret every node proves with HMAC-SHA256; required in a cluster."),
      StrOpt(kClusterName, "cluster-name", "dynis", kImmutable,
             "Name of the cluster; nodes of another cluster are refused."),
      StrOpt(kClusterAnnounceIp, "cluster-announce-ip", "\"\"", kImmutable,
             "Address other nodes reach this one at; empty means the first bind address."),
      IntOpt(kReplicas, "replicas", "3", 1, 16, kImmutable,
             "Replicas of every key (N), fixed at cluster creation."),
      IntOpt(kReadQuorum, "read-quorum", "2", 1, 16, kMutable,
             "Replicas that must answer a read (R)."),
      IntOpt(kWriteQuorum, "write-quorum", "2", 1, 16, kMutable,
             "Replicas that must store a write before it is acknowledged (W)."),
      IntOpt(kClusterRequestTimeout, "cluster-request-timeout", "1000", 1, 3600000, kMutable,
             "Milliseconds a coordinator waits for R or W replicas (then read repair)."),
      IntOpt(kClusterConnectTimeout, "cluster-connect-timeout", "1000", 1, 3600000, kMutable,
             "Milliseconds to connect and authenticate to a peer before backing off."),
  };
  return table;
}

const Config::Def* Config::Find(std::string_view name) {
  for (const Def& def : Table()) {
    if (EqualsNoCase(name, def.name)) return &def;
    if (def.alias != nullptr && EqualsNoCase(name, def.alias)) return &def;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Free helpers.
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
  defs.reserve(name_values.size());
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    // Pass 1, like Redis 7: names, mutability and duplicates; the first problem wins.
    for (const auto& [name, value] : name_values) {
      const Def* def = Find(name);
      if (def == nullptr) {
        return Status::Error("ERR Unknown option or number of arguments for CONFIG SET - '" + name +
                             "'");
      }
      if (!def->is_mutable) return Status::Error(SetFailed(name, "can't set immutable config"));
      for (const Def* seen : defs) {
        if (seen == def) return Status::Error(SetFailed(name, "duplicate parameter"));
      }
      defs.push_back(def);
    }
    // Pass 2: parse every value before storing any.
    std::vector<Parsed> values(name_values.size());
    int64_t warn = Num(kSiblingWarn);
    int64_t max = Num(kSiblingMax);
    const std::string* sibling_arg = nullptr;
    for (size_t i = 0; i < name_values.size(); ++i) {
      const Def& def = *defs[i];
      const std::string& name = name_values[i].first;
      const std::vector<std::string> args = NormalizeArgs(def, {name_values[i].second});
      if (args.size() < def.min_args || args.size() > def.max_args) {
        return Status::Error("ERR Unknown option or number of arguments for CONFIG SET - '" + name +
                             "'");
      }
      Status s = ParseValue(def, args, &values[i]);
      if (!s.ok()) return Status::Error(SetFailed(name, s.message()));
      if (def.id == kSiblingWarn || def.id == kSiblingMax) {
        (def.id == kSiblingWarn ? warn : max) = values[i].num;
        if (sibling_arg == nullptr) sibling_arg = &name;
      }
      if ((def.id == kReadQuorum || def.id == kWriteQuorum) && values[i].num > Num(kReplicas)) {
        return Status::Error(SetFailed(name, std::string(def.name) + " (" +
                                                 std::to_string(values[i].num) +
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
    for (size_t i = 0; i < defs.size(); ++i) StoreLocked(*defs[i], values[i]);
  }
  // Hooks run with no Config lock held, so they may call getters or Get().
  for (const Def* def : defs) {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(hooks_mu_);
      hook = hooks_[def->id];
    }
    if (hook) hook();
  }
  return Status::OK();
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
