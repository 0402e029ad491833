// Server commands: INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, TIME, LASTSAVE, SHUTDOWN, FUNCTION.
// DYNIS, this node's own admin views, is in dynis_cmds.cc.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "commands/client_state.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "config/config.h"
#include "kv/keyspace.h"
#include "replication/anti_entropy.h"
#include "storage/store.h"

namespace dynis {

namespace {

uint64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string Human(uint64_t bytes) {
  char buf[32];
  double b = static_cast<double>(bytes);
  if (bytes < 1024) {
    std::snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2fK", b / 1024);
  } else if (bytes < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2fM", b / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fG", b / (1 << 30));
  }
  return buf;
}

void Field(std::string* s, const char* name, const std::string& v) {
  *s += name;
  *s += ':';
  *s += v;
  *s += "\r\n";
}
void Field(std::string* s, const char* name, uint64_t v) { Field(s, name, std::to_string(v)); }

constexpr uint64_t kExactCountLimit = 100000;

struct KeyCounts {
  uint64_t keys = 0;
  uint64_t expires = 0;
};

KeyCounts CountKeys(NodeContext& node) {
  KeyCounts k;
  int64_t now = NowMs();
  Status s = node.store().Scan("", [&](std::string_view, std::string_view v) {
    int64_t exp = 0;
    if (kv::RecordLiveExpiry(v, now, &exp)) {
      k.keys++;
      if (exp != 0) k.expires++;
    }
    return true;
  });
  (void)s;
  return k;
}

// INFO's sections, one function each (Redis's names and fields, in Redis's order).

void InfoServer(NodeContext& node, std::string* s) {
  const Config& cfg = node.config();
  int64_t now = NowMs();
  *s += "# Server\r\n";
  Field(s, "redis_version", kRedisVersion);
  Field(s, "dynis_version", kDynisVersion);
  Field(s, "redis_git_sha1", "00000000");
  Field(s, "redis_git_dirty", "0");
  Field(s, "redis_build_id", "0");
  Field(s, "redis_mode", "standalone");
  Field(s, "os", "Linux");
  Field(s, "arch_bits", "64");
  Field(s, "multiplexing_api", "epoll");
  Field(s, "atomicvar_api", "c11-builtin");
  Field(s, "gcc_version", "0.0.0");
  Field(s, "process_id", static_cast<uint64_t>(getpid()));
  Field(s, "process_supervised", "no");
  Field(s, "run_id", node.run_id());
  Field(s, "tcp_port", static_cast<uint64_t>(cfg.port()));
  Field(s, "server_time_usec", static_cast<uint64_t>(NowUs()));
  Field(s, "uptime_in_seconds", static_cast<uint64_t>((now - node.start_ms()) / 1000));
  Field(s, "uptime_in_days", static_cast<uint64_t>((now - node.start_ms()) / 86400000));
  Field(s, "hz", "10");
  Field(s, "configured_hz", "10");
  Field(s, "lru_clock", static_cast<uint64_t>((now / 1000) & ((1 << 24) - 1)));
  Field(s, "executable", node.executable());
  Field(s, "config_file", node.config_file());
  Field(s, "io_threads_active", "1");
}

void InfoClients(NodeContext& node, std::string* s) {
  *s += "# Clients\r\n";
  Field(s, "connected_clients", static_cast<uint64_t>(node.connected_clients()));
  Field(s, "cluster_connections", "0");
  Field(s, "maxclients", static_cast<uint64_t>(node.config().maxclients()));
  Field(s, "client_recent_max_input_buffer", "0");
  Field(s, "client_recent_max_output_buffer", "0");
  Field(s, "blocked_clients", "0");
  Field(s, "tracking_clients", "0");
  Field(s, "clients_in_timeout_table", "0");
}

void InfoMemory(NodeContext& node, std::string* s) {
  uint64_t rss = RssBytes();
  *s += "# Memory\r\n";
  Field(s, "used_memory", rss);
  Field(s, "used_memory_human", Human(rss));
  Field(s, "used_memory_rss", rss);
  Field(s, "used_memory_rss_human", Human(rss));
  Field(s, "used_memory_peak", rss);
  Field(s, "used_memory_peak_human", Human(rss));
  Field(s, "maxmemory", "0");
  Field(s, "maxmemory_human", "0B");
  Field(s, "maxmemory_policy", "noeviction");
  Field(s, "mem_allocator", "libc");
  Field(s, "rocksdb_memtable_bytes", node.store().MemtableBytes());
}

void InfoPersistence(NodeContext& node, std::string* s) {
  const Config& cfg = node.config();
  storage::Store& store = node.store();
  *s += "# Persistence\r\n";
  Field(s, "loading", "0");
  Field(s, "async_loading", "0");
  Field(s, "rdb_changes_since_last_save", "0");
  Field(s, "rdb_bgsave_in_progress", "0");
  Field(s, "rdb_last_save_time", static_cast<uint64_t>(node.last_save_s()));
  Field(s, "rdb_last_bgsave_status", "ok");
  Field(s, "aof_enabled", "1");
  Field(s, "aof_rewrite_in_progress", "0");
  Field(s, "aof_last_write_status", store.write_failed() ? "err" : "ok");
  Field(s, "storage_engine", "rocksdb");
  Field(s, "storage_fsync", cfg.Get("fsync").empty() ? "" : cfg.Get("fsync")[0].second);
  Field(s, "storage_write_failed", store.write_failed() ? "1" : "0");
  Field(s, "storage_disk_bytes", store.DiskBytes());
}

void InfoStats(NodeContext& node, std::string* s) {
  const NodeStats st = node.stats();
  *s += "# Stats\r\n";
  Field(s, "total_connections_received", st.connections_received);
  Field(s, "total_commands_processed", st.commands_processed);
  Field(s, "instantaneous_ops_per_sec", "0");
  Field(s, "total_net_input_bytes", st.net_input_bytes);
  Field(s, "total_net_output_bytes", st.net_output_bytes);
  Field(s, "rejected_connections", st.rejected_connections);
  Field(s, "expired_keys", "0");
  Field(s, "evicted_keys", "0");
  Field(s, "keyspace_hits", st.keyspace_hits);
  Field(s, "keyspace_misses", st.keyspace_misses);
  Field(s, "pubsub_channels", "0");
  Field(s, "pubsub_patterns", "0");
  Field(s, "total_error_replies", "0");
  Field(s, "client_query_buffer_limit_disconnections", "0");
  Field(s, "client_output_buffer_limit_disconnections", st.output_limit_disconnections);
  Field(s, "total_protocol_errors", st.protocol_errors);
}

void InfoReplication(NodeContext& node, std::string* s) {
  *s += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n";
  Field(s, "master_replid", node.run_id());
  *s += "master_repl_offset:0\r\n";
}

void InfoCpu(NodeContext&, std::string* s) {
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  char buf[128];
  *s += "# CPU\r\n";
  std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(self.ru_stime.tv_sec),
                static_cast<long>(self.ru_stime.tv_usec));
  Field(s, "used_cpu_sys", buf);
  std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(self.ru_utime.tv_sec),
                static_cast<long>(self.ru_utime.tv_usec));
  Field(s, "used_cpu_user", buf);
}

void InfoCluster(NodeContext&, std::string* s) { *s += "# Cluster\r\ncluster_enabled:0\r\n"; }

void InfoKeyspace(NodeContext& node, std::string* s) {
  *s += "# Keyspace\r\n";
  // Counting decodes every record; past kExactCountLimit records INFO (which monitoring
  // calls often) reports RocksDB's estimate instead of stalling the io-thread. DBSIZE is
  // always exact.
  KeyCounts k;
  uint64_t estimate = node.store().EstimateKeys();
  if (estimate > kExactCountLimit) {
    k.keys = estimate;
  } else {
    k = CountKeys(node);
  }
  if (k.keys > 0) {
    *s += "db0:keys=" + std::to_string(k.keys) + ",expires=" + std::to_string(k.expires) +
          ",avg_ttl=0\r\n";
  }
}

void InfoDynis(NodeContext& node, std::string* s) {
  const Config& cfg = node.config();
  const NodeStats st = node.stats();
  *s += "# Dynis\r\n";
  Field(s, "node_id", node.node_id());
  Field(s, "actor_epoch", node.epoch());
  Field(s, "partitions", static_cast<uint64_t>(node.keyspace_shared().partitions));
  Field(s, "keyspace_estimated", node.store().EstimateKeys() > kExactCountLimit ? "1" : "0");
  Field(s, "io_threads", static_cast<uint64_t>(node.io_threads()));
  Field(s, "forwarded_commands", st.forwarded_commands);
  Field(s, "barriers", st.barriers);
  std::shared_ptr<const cluster::ClusterView> view = node.cluster_view();
  Field(s, "cluster_nodes", static_cast<uint64_t>(view != nullptr ? view->members.size() : 1));
  Field(s, "replicas", static_cast<uint64_t>(cfg.replicas()));
  Field(s, "read_quorum", static_cast<uint64_t>(cfg.read_quorum()));
  Field(s, "write_quorum", static_cast<uint64_t>(cfg.write_quorum()));
  Field(s, "cluster_forwarded", st.cluster_forwarded);
  Field(s, "cluster_coordinated", st.cluster_coordinated);
  Field(s, "cluster_quorum_failures", st.cluster_quorum_failures);
  Field(s, "cluster_read_repairs", st.cluster_read_repairs);
  Field(s, "cluster_dot_conflicts", node.keyspace_shared().dot_conflicts.load());
  // Failure detection and hinted handoff.
  uint64_t down = 0;
  if (view != nullptr) down = view->down.size();
  Field(s, "peers_down", down);
  Field(s, "peer_health_transitions", st.peer_health_transitions);
  Field(s, "sloppy_quorum", cfg.sloppy_quorum() ? "yes" : "no");
  const kv::HintLedger* hints = node.keyspace_shared().hints;
  uint64_t pending = 0, pending_bytes = 0;
  if (hints != nullptr) {
    for (const auto& [target, t] : hints->All()) {
      pending += t.count;
      pending_bytes += t.bytes;
    }
  }
  Field(s, "hints_stored", hints != nullptr ? hints->stored.load() : 0);
  Field(s, "hints_pending", pending);
  Field(s, "hints_pending_bytes", pending_bytes);
  Field(s, "hints_replayed", hints != nullptr ? hints->replayed.load() : 0);
  Field(s, "hints_dropped", hints != nullptr ? hints->dropped.load() : 0);
  Field(s, "hints_replay_failures", hints != nullptr ? hints->replay_failures.load() : 0);
  Field(s, "hint_replay_rate", hints != nullptr ? hints->replay_rate.load() : 0);
  Field(s, "hint_replay_rate_limit", static_cast<uint64_t>(cfg.hint_replay_rate()));
  // Anti-entropy.
  const kv::PartitionTrees* trees = node.keyspace_shared().trees;
  uint64_t ready = 0, building = 0;
  if (trees != nullptr) {
    for (uint32_t p = 0; p < trees->partitions(); p++) {
      ready += trees->published(p).ready.load(std::memory_order_relaxed) ? 1 : 0;
      building += trees->published(p).building.load(std::memory_order_relaxed) ? 1 : 0;
    }
  }
  const replication::AaeBoard* aae = node.aae_board();
  auto count = [aae](const std::atomic<uint64_t> replication::AaeBoard::*field) {
    return aae != nullptr ? (aae->*field).load(std::memory_order_relaxed) : 0;
  };
  using replication::AaeBoard;
  Field(s, "aae_enabled", trees != nullptr && cfg.aae() ? "yes" : "no");
  Field(s, "aae_trees_ready", ready);
  Field(s, "aae_trees_building", building);
  Field(s, "aae_tree_builds", trees != nullptr ? trees->builds.load() : 0);
  Field(s, "aae_tree_rebuild_mismatches", trees != nullptr ? trees->rebuild_mismatches.load() : 0);
  Field(s, "aae_exchanges", count(&AaeBoard::exchanges));
  Field(s, "aae_exchanges_agreed", count(&AaeBoard::exchanges_agreed));
  Field(s, "aae_exchanges_failed", count(&AaeBoard::exchanges_failed));
  Field(s, "aae_segments_compared", count(&AaeBoard::segments_compared));
  Field(s, "aae_keys_compared", count(&AaeBoard::keys_compared));
  Field(s, "aae_keys_repaired", count(&AaeBoard::keys_repaired));
  Field(s, "aae_bytes_sent", count(&AaeBoard::bytes_sent));
  Field(s, "aae_tombstones_reaped", count(&AaeBoard::tombstones_reaped));
  Field(s, "aae_reap_candidates", count(&AaeBoard::reap_candidates));
  // The record cache: hits and absent answers (a complete partition without the key) need no
  // store read; misses read the store.
  const kv::RecordCache* cache = node.keyspace_shared().cache;
  kv::RecordCache::Stats cs;
  if (cache != nullptr) cs = cache->stats();
  Field(s, "cache_max_bytes", cache != nullptr ? cache->max_bytes() : 0);
  Field(s, "cache_eviction_policy", cfg.cache_policy_random() ? "random" : "lru");
  Field(s, "cache_bytes", cs.bytes);
  Field(s, "cache_records", cs.records);
  Field(s, "cache_hits", cs.hits);
  Field(s, "cache_absent_hits", cs.absent);
  Field(s, "cache_misses", cs.misses);
  const uint64_t lookups = cs.hits + cs.absent + cs.misses;
  char rate[32];
  snprintf(rate, sizeof(rate), "%.4f",
           lookups == 0 ? 0.0 : static_cast<double>(cs.hits + cs.absent) / lookups);
  Field(s, "cache_hit_rate", rate);
  Field(s, "cache_evictions", cs.evictions);
  Field(s, "cache_partitions_complete", static_cast<uint64_t>(cs.complete));
  Field(s, "write_batches", st.write_batches);
  Field(s, "max_object_size", static_cast<uint64_t>(cfg.max_object_size()));
  Field(s, "sibling_warn", static_cast<uint64_t>(cfg.sibling_warn()));
  Field(s, "sibling_max", static_cast<uint64_t>(cfg.sibling_max()));
}

// The text of one INFO section; empty for a name INFO does not know.
std::string InfoSection(CommandContext& c, const std::string& name) {
  using Writer = void (*)(NodeContext&, std::string*);
  static const std::pair<const char*, Writer> kSections[] = {
      {"server", InfoServer},
      {"clients", InfoClients},
      {"memory", InfoMemory},
      {"persistence", InfoPersistence},
      {"stats", InfoStats},
      {"replication", InfoReplication},
      {"cpu", InfoCpu},
      {"cluster", InfoCluster},
      {"keyspace", InfoKeyspace},
      {"dynis", InfoDynis},
  };

  std::string s;
  for (const auto& [section, write] : kSections) {
    if (name == section) write(c.node, &s);
  }
  return s;
}

void CmdInfo(CommandContext& c) {
  static const std::vector<std::string> kDefault = {
      "server",      "clients", "memory",  "persistence", "stats",
      "replication", "cpu",     "cluster", "keyspace",    "dynis"};
  std::vector<std::string> sections;
  if (c.argv.size() == 1) {
    sections = kDefault;
  } else {
    for (size_t i = 1; i < c.argv.size(); i++) {
      std::string s = ToLower(c.argv[i]);
      if (s == "all" || s == "default" || s == "everything") {
        for (const auto& d : kDefault) sections.push_back(d);
      } else {
        sections.push_back(s);
      }
    }
  }
  std::string out;
  std::set<std::string> seen;
  for (const auto& s : sections) {
    if (!seen.insert(s).second) continue;
    std::string part = InfoSection(c, s);
    if (part.empty()) continue;
    if (!out.empty()) out += "\r\n";
    out += part;
  }
  c.reply.Verbatim(out);
}

void CmdConfigGet(CommandContext& c) {
  std::vector<std::pair<std::string, std::string>> all;
  std::set<std::string> seen;
  for (size_t i = 2; i < c.argv.size(); i++) {
    for (auto& kv : c.node.config().Get(c.argv[i])) {
      if (seen.insert(kv.first).second) all.push_back(std::move(kv));
    }
  }
  c.reply.Map(all.size());
  for (const auto& [k, v] : all) {
    c.reply.Bulk(k);
    c.reply.Bulk(v);
  }
}

void CmdConfigSet(CommandContext& c) {
  if (c.argv.size() % 2 != 0) {
    c.reply.Error(err::WrongArity("config|set"));
    return;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 2; i + 1 < c.argv.size(); i += 2) pairs.emplace_back(c.argv[i], c.argv[i + 1]);
  Status s = c.node.config().Set(pairs);
  if (!s.ok()) {
    c.reply.Error(s.message());
    return;
  }
  c.reply.Ok();  // options that lower layers cache are re-applied by their on-change hooks
}

void CmdConfigResetStat(CommandContext& c) {
  c.node.ResetStats();
  c.reply.Ok();
}

void CmdConfigHelp(CommandContext& c) {
  static const char* kLines[] = {
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "HELP",
      "    Print this help.",
  };
  c.reply.Array(sizeof(kLines) / sizeof(kLines[0]));
  for (const char* l : kLines) c.reply.Simple(l);
}

void CmdDbSize(CommandContext& c) {
  c.reply.Integer(static_cast<int64_t>(CountKeys(c.node).keys));
}

void CmdFlushAll(CommandContext& c) {
  if (c.argv.size() > 2 || (c.argv.size() == 2 && !EqualsIgnoreCase(c.argv[1], "async") &&
                            !EqualsIgnoreCase(c.argv[1], "sync"))) {
    c.reply.Error(err::kSyntax);
    return;
  }
  c.ks.DropPending();
  if (ReplyIfError(c, c.node.FlushAll())) return;
  c.reply.Ok();
}

void CmdTime(CommandContext& c) {
  int64_t us = NowUs();
  c.reply.Array(2);
  c.reply.Bulk(std::to_string(us / 1000000));
  c.reply.Bulk(std::to_string(us % 1000000));
}

void CmdLastSave(CommandContext& c) { c.reply.Integer(c.node.last_save_s()); }

void CmdShutdown(CommandContext& c) {
  for (size_t i = 1; i < c.argv.size(); i++) {
    std::string a = ToLower(c.argv[i]);
    if (a == "abort") {
      c.reply.Error(err::kNoShutdownInProgress);
      return;
    }
    if (a != "nosave" && a != "save" && a != "now" && a != "force") {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  // As in Redis, a successful SHUTDOWN does not answer: the connection closes.
  c.client->close_after_reply = true;
  c.node.RequestShutdown();
}

void CmdFunctionFlush(CommandContext& c) {
  if (c.argv.size() == 3 && !EqualsIgnoreCase(c.argv[2], "async") &&
      !EqualsIgnoreCase(c.argv[2], "sync")) {
    c.reply.Error(err::kSyntax);
    return;
  }
  c.reply.Ok();  // dynis has no functions: there is nothing to flush
}

void CmdFunctionList(CommandContext& c) { c.reply.Array(0); }

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterServerCommands(std::vector<CommandSpec>* out) {
  const uint32_t conn = kCmdConn | kCmdLoading | kCmdStale;
  out->push_back({"info", -1, conn, 0, 0, 0, CmdInfo, "server",
                  "Get information and statistics about the server", "1.0.0", "O(1)",
                  {{"section", "string", nullptr, true, true}}, {}, "@slow @dangerous"});
  CommandSpec config{"config", -2, conn, 0, 0, 0, nullptr, "server",
                     "A container for server configuration commands", "2.0.0",
                     "Depends on subcommand.", {}, {}, "@slow"};
  config.subcommands = {
      {"config|get", -3, conn | kCmdAdmin | kCmdNoScript, 0, 0, 0, CmdConfigGet, "server",
       "Get the values of configuration parameters", "2.0.0",
       "O(N) when N is the number of configuration parameters provided",
       {{"parameter", "string", nullptr, false, true}}, {}, "@admin @slow @dangerous"},
      {"config|set", -4, conn | kCmdAdmin | kCmdNoScript, 0, 0, 0, CmdConfigSet, "server",
       "Set configuration parameters to the given values", "2.0.0",
       "O(N) when N is the number of configuration parameters provided",
       {{"data", "block", nullptr, false, true, {{"parameter", "string"}, {"value", "string"}}}},
       {}, "@admin @slow @dangerous"},
      {"config|resetstat", 2, conn | kCmdAdmin | kCmdNoScript, 0, 0, 0, CmdConfigResetStat,
       "server", "Reset the stats returned by INFO", "2.0.0", "O(1)", {}, {},
       "@admin @slow @dangerous"},
      {"config|help", 2, conn, 0, 0, 0, CmdConfigHelp, "server",
       "Show helpful text about the different subcommands", "5.0.0", "O(1)", {}, {}, "@slow"},
  };
  out->push_back(std::move(config));
  out->push_back({"dbsize", 1, kCmdAllKeys | kCmdReadOnly | kCmdFast, 0, 0, 0, CmdDbSize,
                  "server", "Return the number of keys in the selected database", "1.0.0",
                  "O(1)", {}, {}, "@keyspace @read @fast"});
  const std::vector<ArgDoc> flush_args = {
      {"flush-type", "oneof", nullptr, true, false,
       {{"async", "pure-token", "ASYNC"}, {"sync", "pure-token", "SYNC"}}}};
  out->push_back({"flushall", -1, kCmdExclusive | kCmdWrite, 0, 0, 0, CmdFlushAll, "server",
                  "Remove all keys from all databases", "1.0.0",
                  "O(N) where N is the total number of keys in all databases", flush_args, {},
                  "@keyspace @write @slow @dangerous"});
  out->push_back({"flushdb", -1, kCmdExclusive | kCmdWrite, 0, 0, 0, CmdFlushAll, "server",
                  "Remove all keys from the current database", "1.0.0",
                  "O(N) where N is the number of keys in the selected database", flush_args, {},
                  "@keyspace @write @slow @dangerous"});
  out->push_back({"time", 1, conn | kCmdFast, 0, 0, 0, CmdTime, "server",
                  "Return the current server time", "2.6.0", "O(1)", {}, {}, "@fast"});
  out->push_back({"lastsave", 1, conn | kCmdFast, 0, 0, 0, CmdLastSave, "server",
                  "Get the UNIX time stamp of the last successful save to disk", "1.0.0", "O(1)",
                  {}, {}, "@fast @dangerous"});
  out->push_back({"shutdown", -1, conn | kCmdAdmin | kCmdNoScript | kCmdNoMulti, 0, 0, 0,
                  CmdShutdown, "server",
                  "Synchronously save the dataset to disk and then shut down the server", "1.0.0",
                  "O(N) when saving, where N is the total number of keys in all databases",
                  {{"nosave_save", "oneof", nullptr, true, false,
                    {{"nosave", "pure-token", "NOSAVE"}, {"save", "pure-token", "SAVE"}}},
                   {"now", "pure-token", "NOW", true},
                   {"force", "pure-token", "FORCE", true},
                   {"abort", "pure-token", "ABORT", true}},
                  {}, "@admin @slow @dangerous"});
  CommandSpec function{"function", -2, conn, 0, 0, 0, nullptr, "scripting",
                       "A container for function commands", "7.0.0", "Depends on subcommand.",
                       {}, {}, "@slow"};
  function.subcommands = {
      {"function|flush", -2, conn | kCmdWrite | kCmdNoScript, 0, 0, 0, CmdFunctionFlush,
       "scripting", "Deleting all functions", "7.0.0",
       "O(N) where N is the number of functions deleted", flush_args, {},
       "@write @slow @scripting"},
      {"function|list", -2, conn | kCmdNoScript, 0, 0, 0, CmdFunctionList, "scripting",
       "List information about all the functions", "7.0.0", "O(N) where N is the number of functions",
       {}, {}, "@slow @scripting"},
  };
  out->push_back(std::move(function));
}
// clang-format on

}  // namespace dynis
