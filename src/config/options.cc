// Config::Table(): every option with its default, bounds, mutability and doc line, built
// with one row builder per type. The parser that reads the table is in config.cc.
#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "config/config.h"
#include "config/config_internal.h"

namespace dynis {
namespace {

using config_internal::kMb;
using config_internal::OptionDef;
using config_internal::Type;

constexpr int64_t kMaxBindAddrs = 16;  // Redis CONFIG_BINDADDR_MAX
constexpr size_t kAnyArgs = static_cast<size_t>(-1);

// A cluster-nodes item: host:port of a seed's cluster port.
Status CheckSeed(std::string_view item) {
  std::string host;
  int port = 0;
  Status s = ParseHostPort(item, &host, &port);
  if (s.ok()) return s;
  return Status::InvalidArgument("entry '" + std::string(item) +
                                 "' is not host:port: " + s.message());
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
      MemOpt(kCacheMaxBytes, "cache-max-bytes", "1gb", 0, INT64_MAX, kMutable,
             "Memory for the record cache in front of RocksDB (committed records of every "
             "partition); 0 turns it off."),
      EnumOpt(kCacheEvictionPolicy, "cache-eviction-policy", nullptr, {"lru", "random"}, "lru",
              kMutable,
              "Which cached record goes when the cache is full: the least recently used of a "
              "sample (lru), or a random one; only the cached copy goes, never data."),
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
      BoolOpt(kSloppyQuorum, "sloppy-quorum", "yes", kMutable,
              "Replace replicas judged down by fallbacks that keep hints (Dynamo's sloppy "
              "quorum); no: only the N primaries count."),
      IntOpt(kHintWindow, "hint-window", "10800", 0, INT_MAX, kMutable,
             "Seconds a replica may be down and still get hints; 0 stores none."),
      IntOpt(kHintReplayRate, "hint-replay-rate", "10000", 0, INT_MAX, kMutable,
             "Hints replayed per second to replicas that are back; 0 means unlimited."),
      MemOpt(kHintsMaxBytes, "hints-max-bytes", "1gb", 0, INT64_MAX, kMutable,
             "Bytes of hints kept for one replica; new hints over it are dropped; 0 means "
             "unlimited."),
      BoolOpt(kAae, "aae", "yes", kMutable,
              "Active anti-entropy: compare partitions' hash trees with the other replicas and "
              "repair what differs, without client reads."),
      IntOpt(kAaeRound, "aae-round", "60", 1, 86400 * 7, kMutable,
             "Seconds in which every (partition, replica) pair of this node is compared once."),
      IntOpt(kAaeExchangeRate, "aae-exchange-rate", "200000", 0, INT_MAX, kMutable,
             "Records per second the exchanges may scan to list differing segments; 0 means "
             "unlimited."),
      IntOpt(kAaeRepairRate, "aae-repair-rate", "2000", 0, INT_MAX, kMutable,
             "Keys per second anti-entropy repairs; 0 means unlimited."),
      IntOpt(kAaeRebuildInterval, "aae-rebuild-interval", "604800", 0, INT_MAX, kMutable,
             "Seconds between rebuilds of each hash tree from its data; 0 means never (only "
             "at startup)."),
  };
  return table;
}

}  // namespace dynis
