// Config: every dynis option, in ONE typed table (options.cc, like Redis's static_configs[]).
//
// Contract:
//   - Each option has a name (plus at most one alias), a type (bool yes/no, int, memory, enum,
//     string, string list, client-output-buffer-limit), a default, bounds, a mutable flag and a
//     doc line. Defaults are written in directive syntax and go through the same parser as the
//     config file, so a default can never disagree with what the parser accepts.
//   - The config file (`name arg arg...`, '#' comments, Redis sdssplitargs quoting, names
//     case-insensitive, a repeated directive: last wins) and the command line
//     (`--name value...`, values up to the next `--`) feed the same ApplyDirective(). The
//     first error stops loading: file errors read `<file>:<line>: <reason>`, flag errors
//     `--<name>: <reason>`, where reason is `Bad directive or wrong number of arguments
//     '<name>'` or `'<name>' <what is wrong>`. Loading stops at the first error and does not
//     roll back earlier lines: a failed load is fatal at startup.
//   - Multi-argument options (bind, save, client-output-buffer-limit) given exactly one
//     argument split it on spaces, so `bind "a b"`, `--bind "a b"` and CONFIG SET bind "a b"
//     all mean two addresses. cluster-nodes splits every argument on blanks and commas
//     (`a:1,b:2`, `"a:1, b:2"` and `a:1 b:2` are two seeds) and refuses, at its line, an
//     entry that is not host:port (ParseHostPort: IPv6 in brackets, port 1 to 65535).
//   - Validate() runs the cross-field checks (sibling-warn <= sibling-max, read-quorum and
//     write-quorum <= replicas, a cluster needs a secret); call it once after
//     the file and the flags. Set() runs them on the values it is about to install.
//   - Get() is CONFIG GET: glob patterns (GlobMatch, case-insensitive) over names and aliases,
//     results in table order without duplicates, values formatted like Redis (memory in bytes,
//     bools yes/no, enums by name, lists joined by one space).
//   - Set() is CONFIG SET: mutable options only, several pairs all-or-nothing (every value is
//     parsed and checked before any is stored). Errors are the Redis 7 texts, ready to send
//     after '-' (they start with "ERR "). On success the on-change hook of each option set
//     runs, in argument order, on the calling thread, after the new values are visible and
//     with no Config lock held.
//
// Thread rules: construction, LoadFile/LoadString/ApplyArgs and OnChange happen at startup,
// before the event loops start (they are nevertheless safe to call concurrently with
// readers). After that any thread may call the getters, Get() and Set() concurrently. Integer,
// bool and enum options live in std::atomic and their getters are one relaxed load (fine for
// hot paths such as proto_max_bulk_len() per read); string options live behind a mutex and
// their getters return copies. Writers (Set/ApplyDirective) are serialized by a mutex; a
// reader may observe some options of a multi-option Set before others.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace dynis {

enum class FsyncPolicy { kAlways, kEverySec, kNo };
enum class LogLevel { kDebug, kVerbose, kNotice, kWarning, kNothing };
// Redis's enable-debug-command: who may run DEBUG.
enum class DebugCommand { kNo, kYes, kLocal };

namespace config_internal {
struct OptionDef;    // one row of the table (config_internal.h)
struct ParsedValue;  // a parsed but not yet stored value (config_internal.h)
}  // namespace config_internal

// Splits one config line into arguments like Redis's sdssplitargs: blanks separate
// arguments; "..." takes escapes \n \r \t \b \a \xHH and \<any>; '...' takes \' only; a
// closing quote must be followed by a blank or the end. Fails on unbalanced quotes.
StatusOr<std::vector<std::string>> SplitConfigLine(std::string_view line);

// Parses a memory value like Redis's memtoll: digits with an optional case-insensitive unit
// b, k (1000), kb (1024), m, mb, g, gb; a leading '-' is allowed. False on anything else or
// on overflow.
bool ParseMemory(std::string_view text, int64_t* out);

class Config {
 public:
  using NameValue = std::pair<std::string, std::string>;

  // All options at their defaults.
  Config();
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  // Loads a config file / text. Errors: IOError if the file cannot be read, InvalidArgument
  // `<origin>:<line>: <reason>` on the first bad line.
  Status LoadFile(const std::string& path);
  Status LoadString(std::string_view text, const std::string& origin);
  // Applies command-line flags (argv after the config file path): `--name v1 v2 --name2 v`.
  Status ApplyArgs(const std::vector<std::string>& args);
  // Applies one directive, ignoring the mutable flag (startup and internal use, e.g. the
  // server storing a freshly generated node-id). Does not run hooks. Error reason as above,
  // without a location prefix.
  Status ApplyDirective(std::string_view name, const std::vector<std::string>& args);
  // Cross-field checks.
  Status Validate() const;

  // CONFIG GET with one or several patterns.
  std::vector<NameValue> Get(std::string_view pattern) const;
  std::vector<NameValue> Get(const std::vector<std::string>& patterns) const;
  // CONFIG SET name value [name value ...], atomically.
  Status Set(const std::vector<NameValue>& name_values);
  // Canonical option names (no aliases), in table order.
  std::vector<std::string> Names() const;
  // Installs (replaces) the hook run after a successful Set() of `name` (or its alias).
  // InvalidArgument if there is no such option.
  Status OnChange(std::string_view name, std::function<void()> hook);

  // Typed getters, one per option.
  std::vector<std::string> bind() const;  // as written, '-' prefixes kept
  int port() const { return static_cast<int>(Num(kPort)); }
  bool protected_mode() const { return Num(kProtectedMode) != 0; }
  DebugCommand enable_debug_command() const {
    return static_cast<DebugCommand>(Num(kEnableDebugCommand));
  }
  std::string requirepass() const { return Str(kRequirepass); }
  std::string dir() const { return Str(kDir); }
  int io_threads() const { return static_cast<int>(Num(kIoThreads)); }  // 0 = cores
  int maxclients() const { return static_cast<int>(Num(kMaxclients)); }
  int timeout_s() const { return static_cast<int>(Num(kTimeout)); }  // 0 = never
  int tcp_backlog() const { return static_cast<int>(Num(kTcpBacklog)); }
  int tcp_keepalive() const { return static_cast<int>(Num(kTcpKeepalive)); }
  LogLevel loglevel() const { return static_cast<LogLevel>(Num(kLoglevel)); }
  std::string logfile() const { return Str(kLogfile); }  // "" = stdout
  std::string pidfile() const { return Str(kPidfile); }  // "" = none
  FsyncPolicy fsync() const { return static_cast<FsyncPolicy>(Num(kFsync)); }
  bool appendonly() const { return Num(kAppendonly) != 0; }
  std::string save() const { return Str(kSave); }
  int databases() const { return static_cast<int>(Num(kDatabases)); }
  int64_t proto_max_bulk_len() const { return Num(kProtoMaxBulkLen); }
  int64_t client_query_buffer_limit() const { return Num(kClientQueryBufferLimit); }
  int64_t output_limit_normal_hard() const { return Obuf(0, 0); }  // bytes, 0 = none
  int64_t output_limit_normal_soft() const { return Obuf(0, 1); }  // bytes, 0 = none
  int64_t output_limit_normal_soft_seconds() const { return Obuf(0, 2); }
  int partitions() const { return static_cast<int>(Num(kPartitions)); }
  int64_t max_object_size() const { return Num(kMaxObjectSize); }
  int sibling_warn() const { return static_cast<int>(Num(kSiblingWarn)); }
  int sibling_max() const { return static_cast<int>(Num(kSiblingMax)); }
  int tombstone_grace_s() const { return static_cast<int>(Num(kTombstoneGrace)); }
  std::string node_id() const { return Str(kNodeId); }  // "" until generated
  int64_t block_cache_size() const { return Num(kRocksdbBlockCacheSize); }
  int64_t write_buffer_size() const { return Num(kRocksdbWriteBufferSize); }
  int64_t cache_max_bytes() const { return Num(kCacheMaxBytes); }  // 0: no record cache
  bool cache_policy_random() const { return Num(kCacheEvictionPolicy) == 1; }  // else lru
  // The cluster. cluster_nodes() empty = a standalone node (no cluster port).
  int cluster_port() const;                        // cluster-port, or port + 10000 when 0
  std::vector<std::string> cluster_nodes() const;  // host:port of peers' cluster ports
  std::string cluster_secret() const { return Str(kClusterSecret); }
  std::string cluster_name() const { return Str(kClusterName); }
  std::string cluster_announce_ip() const;  // or the first bind address
  int replicas() const { return static_cast<int>(Num(kReplicas)); }
  int read_quorum() const { return static_cast<int>(Num(kReadQuorum)); }
  int write_quorum() const { return static_cast<int>(Num(kWriteQuorum)); }
  int64_t cluster_request_timeout_ms() const { return Num(kClusterRequestTimeout); }
  int64_t cluster_connect_timeout_ms() const { return Num(kClusterConnectTimeout); }
  bool sloppy_quorum() const { return Num(kSloppyQuorum) != 0; }
  int64_t hint_window_ms() const { return Num(kHintWindow) * 1000; }  // 0: no hints
  int64_t hint_replay_rate() const { return Num(kHintReplayRate); }  // keys/s, 0: unlimited
  int64_t hints_max_bytes() const { return Num(kHintsMaxBytes); }    // per target, 0: unlimited
  bool aae() const { return Num(kAae) != 0; }
  int64_t aae_round_ms() const { return Num(kAaeRound) * 1000; }
  int64_t aae_exchange_rate() const { return Num(kAaeExchangeRate); }  // records/s, 0: unlimited
  int64_t aae_repair_rate() const { return Num(kAaeRepairRate); }      // keys/s, 0: unlimited
  int64_t aae_rebuild_interval_ms() const { return Num(kAaeRebuildInterval) * 1000; }  // 0: never

 private:
  // Option ids: index into the table and into the storage arrays.
  enum Id : int {
    kBind,
    kPort,
    kProtectedMode,
    kEnableDebugCommand,
    kRequirepass,
    kDir,
    kIoThreads,
    kMaxclients,
    kTimeout,
    kTcpBacklog,
    kTcpKeepalive,
    kLoglevel,
    kLogfile,
    kPidfile,
    kFsync,
    kAppendonly,
    kSave,
    kDatabases,
    kProtoMaxBulkLen,
    kClientQueryBufferLimit,
    kClientOutputBufferLimit,
    kPartitions,
    kMaxObjectSize,
    kSiblingWarn,
    kSiblingMax,
    kTombstoneGrace,
    kNodeId,
    kRocksdbBlockCacheSize,
    kRocksdbWriteBufferSize,
    kCacheMaxBytes,
    kCacheEvictionPolicy,
    kClusterPort,
    kClusterNodes,
    kClusterSecret,
    kClusterName,
    kClusterAnnounceIp,
    kReplicas,
    kReadQuorum,
    kWriteQuorum,
    kClusterRequestTimeout,
    kClusterConnectTimeout,
    kSloppyQuorum,
    kHintWindow,
    kHintReplayRate,
    kHintsMaxBytes,
    kAae,
    kAaeRound,
    kAaeExchangeRate,
    kAaeRepairRate,
    kAaeRebuildInterval,
    kNumOptions
  };
  static constexpr int kObufClasses = 3;  // normal, replica, pubsub
  using Def = config_internal::OptionDef;
  using Parsed = config_internal::ParsedValue;

  static const std::vector<Def>& Table();
  static const Def* Find(std::string_view name);

  int64_t Num(Id id) const { return nums_[id].load(std::memory_order_relaxed); }
  int64_t Obuf(int cls, int field) const {
    return obuf_[cls][field].load(std::memory_order_relaxed);
  }
  std::string Str(Id id) const;

  // Parses and stores one directive (no hooks); requires write_mu_.
  Status ApplyLocked(std::string_view name, const std::vector<std::string>& args);
  void StoreLocked(const Def& def, const Parsed& value);
  std::string FormatLocked(const Def& def) const;  // requires write_mu_
  // Set()'s steps. Under write_mu_: the rows of the names (or the first error), then every
  // value parsed and cross-checked before any is stored. RunHooks takes no Config lock.
  static Status FindSettable(const std::vector<NameValue>& name_values,
                             std::vector<const Def*>* defs);
  Status ParseSetValues(const std::vector<NameValue>& name_values,
                        const std::vector<const Def*>& defs, std::vector<Parsed>* values) const;
  void RunHooks(const std::vector<const Def*>& defs);

  std::atomic<int64_t> nums_[kNumOptions];
  std::atomic<int64_t> obuf_[kObufClasses][3];  // [class][hard, soft, soft_seconds]

  mutable std::mutex write_mu_;  // serializes writers; CONFIG GET takes it for a snapshot
  mutable std::mutex str_mu_;    // guards strs_ and lists_ for the string getters
  std::string strs_[kNumOptions];
  std::vector<std::string> lists_[kNumOptions];

  std::mutex hooks_mu_;
  std::function<void()> hooks_[kNumOptions];
};

}  // namespace dynis
