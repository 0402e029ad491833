// The command table: one declaration per command (name, arity, flags, key positions, handler,
// docs). Dispatch, arity errors, routing to the owning loop, COMMAND, COMMAND DOCS and the
// redis-cli hints all read the same table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/reply.h"

namespace dynis {
namespace kv {
class Keyspace;
}
namespace storage {
class Store;
}
class ClientState;
class NodeContext;

// Command flags (Redis's names where they exist).
enum CommandFlag : uint32_t {
  kCmdWrite = 1 << 0,
  kCmdReadOnly = 1 << 1,
  kCmdFast = 1 << 2,
  kCmdNoAuth = 1 << 3,  // allowed before AUTH
  kCmdAdmin = 1 << 4,
  kCmdLoading = 1 << 5,
  kCmdStale = 1 << 6,
  kCmdNoMulti = 1 << 7,      // Redis's no-multi: refused inside MULTI, which also fails the
                             // EXEC (SHUTDOWN; the peers' verbs)
  kCmdConn = 1 << 8,         // needs the calling connection: runs on its loop
  kCmdAllKeys = 1 << 9,      // reads the whole keyspace (KEYS, SCAN...): runs on the connection's
                             // loop once its earlier commands are done
  kCmdExclusive = 1 << 10,   // runs with every loop paused (FLUSHALL, cross-owner RENAME...)
  kCmdSplitSum = 1 << 11,    // multi-key: per-key parts, integer replies summed (DEL, EXISTS)
  kCmdSplitArray = 1 << 12,  // multi-key: per-key parts, replies concatenated (MGET)
  kCmdSplitOk = 1 << 13,     // multi-key: per-key parts, +OK when all are (MSET)
  kCmdPubSub = 1 << 14,
  kCmdNoScript = 1 << 15,
  kCmdTransaction = 1 << 16,  // MULTI/EXEC family
  kCmdInternal = 1 << 17,     // node-to-node verb: only on an authenticated cluster-port
                              // connection; unknown to clients and left out of COMMAND
  kCmdBlindWrite = 1 << 18,   // a write that needs no read of the current value (SET without
                              // NX/XX/GET/KEEPTTL, SETCTX): a cluster coordinator skips the
                              // quorum read before it
  kCmdNotQueued = 1 << 19,    // runs at once inside MULTI instead of being queued (EXEC,
                              // DISCARD, MULTI, WATCH, QUIT, RESET): Redis decides this by
                              // the command, it is not one of its COMMAND flags
  kCmdQuorumR = 1 << 20,      // takes an optional "R n" after its |arity| fixed arguments
  kCmdQuorumW = 1 << 21,      // takes an optional "W n" there (GETCTX / SETCTX, DELCTX)
  kCmdPartitionArg = 1 << 22,  // its first argument is a partition number: it runs on the
                               // loop owning that partition (DYNIS.AAE)
  // Decisions server/ makes before or instead of the handler (not COMMAND flags either).
  kCmdPeerHandshake = 1 << 26,  // allowed on the cluster port before the peer authenticates
                                // (DYNIS.HELLO, DYNIS.AUTH)
  kCmdPeerForward = 1 << 27,    // wraps a client's command (DYNIS.FWD resp cmd...): on the
                                // cluster port it is unwrapped and the inner command runs
  kCmdQuit = 1 << 28,           // answered +OK by the server, which closes after the reply
  kCmdRunsQueue = 1 << 29,      // runs the connection's MULTI queue (EXEC): in a cluster each
                                // queued command is replicated as a part of one reply
};

struct CommandContext;
using CommandHandler = void (*)(CommandContext&);

// One argument of a command, for COMMAND DOCS (Redis 7 argument schema).
struct ArgDoc {
  const char* name;
  const char* type;  // "key", "string", "integer", "double", "pattern", "unix-time", "pure-token",
                     // "oneof", "block"
  const char* token = nullptr;
  bool optional = false;
  bool multiple = false;
  std::vector<ArgDoc> children = {};
};

struct CommandSpec {
  const char* name;  // lower case; "config|get" for subcommands
  int arity;         // Redis convention: -N means at least N
  uint32_t flags;
  int first_key;
  int last_key;  // -1 = last argument
  int key_step;
  CommandHandler handler;
  const char* group;  // "string", "generic", "connection", "server", "transactions", "dynis"
  const char* summary;
  const char* since;
  const char* complexity;
  std::vector<ArgDoc> args = {};
  std::vector<CommandSpec> subcommands = {};
  const char* acl_categories = "";  // e.g. "@read @string @fast"
  // A kCmdBlindWrite that does read the current value when one of these options is given
  // (space-separated, any case): SET's "NX XX GET KEEPTTL".
  const char* reads_with = "";
};

// Everything a handler may touch. `client` is null when the command runs on a loop other than
// its connection's (it was forwarded to the key's owner); such commands never need it.
struct CommandContext {
  const std::vector<std::string>& argv;
  proto::ReplyWriter& reply;
  kv::Keyspace& ks;
  NodeContext& node;    // the node's services, for the loop the handler runs on
  ClientState* client;  // the calling connection
  const CommandSpec* spec;
};

// Replies a failed status and returns true; false (nothing sent) when `s` is OK. Errors of
// kind kError carry their reply text; storage errors are sent as "IOERR <message>".
bool ReplyIfError(CommandContext& c, const Status& s);
// EXEC's checks, shared by the single-node EXEC and the cluster's: nullopt with the refusal
// replied (not in MULTI, an error while queueing, a watched key changed); otherwise the queued
// commands. The connection's transaction state is reset either way.
std::optional<std::vector<std::vector<std::string>>> TakeTransaction(ClientState* cl,
                                                                     const kv::Keyspace& ks,
                                                                     storage::Store& store,
                                                                     proto::ReplyWriter* refusal);
// GETCTX's reply from this node's keyspace: [context, [value, ...]] (live siblings).
void ReplySiblings(CommandContext& c, const std::string& key);

// The table. Lookup is case-insensitive; subcommands are looked up with Subcommand().
const CommandSpec* LookupCommand(std::string_view name);
// The same without the node-to-node verbs (kCmdInternal): what a client may call.
const CommandSpec* LookupClientCommand(std::string_view name);
const CommandSpec* LookupSubcommand(const CommandSpec& parent, std::string_view sub);
const std::vector<const CommandSpec*>& AllCommands();
// Keys of argv according to the spec (used for routing and COMMAND GETKEYS).
std::vector<int> CommandKeyPositions(const CommandSpec& spec, const std::vector<std::string>& argv);
// The single-key command that is part `i` of a split multi-key command: argv[0] and the i-th
// key with its key_step-1 following arguments (MSET a 1 b 2, part 1 -> MSET b 2).
std::vector<std::string> CommandKeyPart(const CommandSpec& spec,
                                        const std::vector<std::string>& argv, size_t i);
// The quorum a GETCTX / SETCTX / DELCTX asks for with its trailing options, in any order, each
// at most once: "R n" and "PR n" (kCmdQuorumR), or "W n" and "PW n" (kCmdQuorumW): how many
// replicas must answer, and how many of them must be primaries (Riak's PR/PW). Each is checked
// against `replicas`; 0 when not given (other commands always). The error is the reply the
// command's handler sends for a malformed option.
struct QuorumOption {
  int q = 0;   // R or W
  int pq = 0;  // PR or PW
};
StatusOr<QuorumOption> CommandQuorumOption(const CommandSpec& spec,
                                           const std::vector<std::string>& argv, int replicas);

// Each family registers its commands (commands/*.cc).
void RegisterConnectionCommands(std::vector<CommandSpec>* out);
void RegisterServerCommands(std::vector<CommandSpec>* out);
void RegisterDynisCommands(std::vector<CommandSpec>* out);
void RegisterStringCommands(std::vector<CommandSpec>* out);
void RegisterKeyCommands(std::vector<CommandSpec>* out);
void RegisterTransactionCommands(std::vector<CommandSpec>* out);
void RegisterContextCommands(std::vector<CommandSpec>* out);
void RegisterClusterCommands(std::vector<CommandSpec>* out);
void RegisterDebugCommands(std::vector<CommandSpec>* out);

}  // namespace dynis
