// DEBUG: commands for testing dynis itself. As in Redis 7, DEBUG is refused unless the
// immutable option enable-debug-command allows the connection ("yes", or "local" from a
// loopback address), with Redis's text. dynis has its own subcommand:
//   DEBUG COMMIT-FAULT DELAY <ms> [count]  the next count write batches (default 1) wait ms
//                                          before they reach the write-ahead log
//   DEBUG COMMIT-FAULT FAIL                the next write batch fails as an I/O error does:
//                                          the node refuses writes from then on (so a count
//                                          would mean nothing)
//   DEBUG COMMIT-FAULT RESET               forget the queued faults
//   DEBUG REPLICA-PUT-DROP <count>         the next count replica puts this node receives
//                                          (DYNIS.PUTREC, not hints) are acknowledged and not
//                                          stored: a silently lost write, for anti-entropy tests
// The faults are queued in the node's one Store (storage/store.h) and taken in order by
// whichever io-thread commits next, so tests that need one batch to fail keep the node quiet.
#include "commands/client_state.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "config/config.h"
#include "kv/keyspace.h"
#include "storage/store.h"

namespace dynis {

namespace {

constexpr int64_t kMaxDelayMs = 60000;
constexpr int64_t kMaxCount = 1000000;

// Redis's local connection: from 127.0.0.1 or ::1 (dynis has no unix socket).
bool IsLocal(const ClientState* cl) {
  if (cl == nullptr) return false;
  std::string ip = cl->addr.substr(0, cl->addr.rfind(':'));
  return ip == "127.0.0.1" || ip == "::1";
}

bool Allowed(CommandContext& c) {
  switch (c.node.config().enable_debug_command()) {
    case DebugCommand::kYes:
      return true;
    case DebugCommand::kLocal:
      return IsLocal(c.client);
    case DebugCommand::kNo:
      break;
  }
  return false;
}

void UnknownSubcommand(CommandContext& c) {
  c.reply.Error(err::UnknownDebugSubcommand(c.argv[1].substr(0, 128)));
}

// Reads argv[i] as an integer in [min, max]; replies the error and returns false otherwise.
bool IntArg(CommandContext& c, size_t i, int64_t min, int64_t max, int64_t* out) {
  if (!ParseInt64(c.argv[i], out) || *out < min || *out > max) {
    c.reply.Error(err::kNotInteger);
    return false;
  }
  return true;
}

void CommitFault(CommandContext& c) {
  const std::vector<std::string>& a = c.argv;
  storage::Store& store = c.node.store();
  if (a.size() < 3) return UnknownSubcommand(c);
  storage::Store::CommitFault fault;
  int64_t count = 1;
  if (EqualsIgnoreCase(a[2], "reset") && a.size() == 3) {
    store.ClearCommitFaults();
    c.reply.Ok();
    return;
  }
  if (EqualsIgnoreCase(a[2], "delay") && (a.size() == 4 || a.size() == 5)) {
    fault.kind = storage::Store::CommitFault::Kind::kDelay;
    if (!IntArg(c, 3, 0, kMaxDelayMs, &fault.delay_ms)) return;
    if (a.size() == 5 && !IntArg(c, 4, 1, kMaxCount, &count)) return;
  } else if (EqualsIgnoreCase(a[2], "fail") && a.size() == 3) {
    fault.kind = storage::Store::CommitFault::Kind::kFail;
  } else {
    c.reply.Error(err::kSyntax);
    return;
  }
  store.AddCommitFaults(fault, static_cast<int>(count));
  c.reply.Ok();
}

void ReplicaPutDrop(CommandContext& c) {
  int64_t count = 0;
  if (c.argv.size() != 3) return c.reply.Error(err::kSyntax);
  if (!IntArg(c, 2, 0, kMaxCount, &count)) return;
  c.node.keyspace_shared().drop_replica_puts.store(count, std::memory_order_relaxed);
  c.reply.Ok();
}

void Help(CommandContext& c) {
  static const char* kLines[] = {
      "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "COMMIT-FAULT DELAY <ms> [<count>]",
      "    The next <count> write batches (default 1) wait <ms> milliseconds before they are",
      "    written to the write-ahead log.",
      "COMMIT-FAULT FAIL",
      "    The next write batch fails as a storage I/O error does: the node refuses writes",
      "    until it is restarted.",
      "COMMIT-FAULT RESET",
      "    Forget the queued commit faults.",
      "REPLICA-PUT-DROP <count>",
      "    The next <count> replica writes this node receives are acknowledged but not",
      "    stored (0 stops it): a lost write for anti-entropy to repair.",
      "HELP",
      "    Print this help.",
  };
  c.reply.Array(sizeof(kLines) / sizeof(kLines[0]));
  for (const char* l : kLines) c.reply.Simple(l);
}

void CmdDebug(CommandContext& c) {
  if (!Allowed(c)) {
    c.reply.Error(err::kDebugNotAllowed);
    return;
  }
  if (EqualsIgnoreCase(c.argv[1], "help") && c.argv.size() == 2) return Help(c);
  if (EqualsIgnoreCase(c.argv[1], "commit-fault")) return CommitFault(c);
  if (EqualsIgnoreCase(c.argv[1], "replica-put-drop")) return ReplicaPutDrop(c);
  UnknownSubcommand(c);
}

}  // namespace

// clang-format off
void RegisterDebugCommands(std::vector<CommandSpec>* out) {
  // Redis declares DEBUG as one command that parses its own subcommands, so that every call
  // (even a misspelt one) meets the enable-debug-command check first.
  // Documented two levels deep at most, like Redis's own commands: clients built on older
  // hiredis refuse deeper replies to COMMAND DOCS.
  out->push_back({"debug", -2, kCmdConn | kCmdAdmin | kCmdNoScript | kCmdLoading | kCmdStale, 0,
                  0, 0, CmdDebug, "server", "A container for debugging commands", "1.0.0",
                  "Depends on subcommand.",
                  {{"subcommand", "oneof", nullptr, false, false,
                    {{"commit-fault", "pure-token", "COMMIT-FAULT"},
                     {"replica-put-drop", "pure-token", "REPLICA-PUT-DROP"},
                     {"help", "pure-token", "HELP"}}},
                   {"action", "oneof", nullptr, true, false,
                    {{"ms", "integer", "DELAY"},
                     {"fail", "pure-token", "FAIL"},
                     {"reset", "pure-token", "RESET"}}},
                   {"count", "integer", nullptr, true}},
                  {}, "@admin @slow @dangerous"});
}
// clang-format on

}  // namespace dynis
