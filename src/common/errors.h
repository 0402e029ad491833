// Error reply texts: Redis 7's exact wording where Redis has one, then dynis's own. Handlers
// and lower layers use these constants so one table holds every text a client can see.
#pragma once

#include <string>
#include <string_view>

namespace dynis::err {

inline constexpr char kSyntax[] = "ERR syntax error";
inline constexpr char kWrongType[] =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr char kNotInteger[] = "ERR value is not an integer or out of range";
inline constexpr char kNotFloat[] = "ERR value is not a valid float";
inline constexpr char kOverflow[] = "ERR increment or decrement would overflow";
inline constexpr char kNaN[] = "ERR increment would produce NaN or Infinity";
inline constexpr char kNoSuchKey[] = "ERR no such key";
inline constexpr char kSameObject[] = "ERR source and destination objects are the same";
inline constexpr char kOffsetRange[] = "ERR offset is out of range";
inline constexpr char kStringTooLong[] =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
inline constexpr char kNoAuth[] = "NOAUTH Authentication required.";
inline constexpr char kWrongPass[] =
    "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr char kAuthNotConfigured[] =
    "ERR AUTH <password> called without any password configured for the default user. Are you "
    "sure your configuration is correct?";
inline constexpr char kMaxClients[] = "ERR max number of clients reached";
inline constexpr char kNoProto[] = "NOPROTO unsupported protocol version";
inline constexpr char kSelectCluster[] = "ERR SELECT is not allowed in cluster mode";
inline constexpr char kDbIndexRange[] = "ERR DB index is out of range";
inline constexpr char kMultiNested[] = "ERR MULTI calls can not be nested";
inline constexpr char kExecWithoutMulti[] = "ERR EXEC without MULTI";
inline constexpr char kDiscardWithoutMulti[] = "ERR DISCARD without MULTI";
inline constexpr char kWatchInMulti[] = "ERR WATCH inside MULTI is not allowed";
inline constexpr char kExecAbort[] = "EXECABORT Transaction discarded because of previous errors.";
inline constexpr char kNoMulti[] = "ERR Command not allowed inside a transaction";
inline constexpr char kInvalidCursor[] = "ERR invalid cursor";
inline constexpr char kNegativeTimeout[] = "ERR timeout is negative";
inline constexpr char kDebugNotAllowed[] =
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you "
    "can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.";

// dynis's own.
inline constexpr char kInvalidContext[] =
    "ERR invalid context: pass back the context GETCTX returned (or an empty string)";
inline constexpr char kObjectTooLarge[] = "ERR value exceeds max-object-size";
inline constexpr char kTooManySiblings[] = "ERR too many siblings";
inline constexpr char kIoError[] = "IOERR";

// Cluster routing (server/cluster.cc).
inline constexpr char kShuttingDown[] = "ERR the server is shutting down";
inline constexpr char kCrossSlot[] = "CROSSSLOT Keys in request don't hash to the same slot";
inline std::string ClusterForming(size_t reached, size_t seeds) {
  return "CLUSTERDOWN the cluster is forming: " + std::to_string(reached) + " of " +
         std::to_string(seeds) + " seed nodes reached";
}

// Replication: the coordinator (replication/coordinator.cc), forwarding, and the replica verbs.
inline constexpr char kNoReplicaAnswered[] = "NOQUORUM no replica of this key answered this node";
inline std::string ForwardUnanswered(const std::string& where) {
  return "NOQUORUM the replica at " + where + " coordinating this key did not answer";
}
// What an operation that missed its quorum counted (replication/engine.h's Outcome).
struct QuorumCounts {
  int answered = 0;          // replicas that answered (read) or stored it (write)
  int required = 0;          // R or W
  int replicas = 0;          // N: the preference list's size
  int primaries = 0;         // of `answered`, primaries; the rest are fallbacks
  int primary_required = 0;  // PR or PW (0: none asked)
};
// "NOQUORUM read: 1 of 2 required replicas answered (R=2, N=3): 1 primary, 0 fallbacks", for
// a write "... stored it (W=2, N=3): ...; it may still be applied". When PR/PW was missed while
// R/W was met: "NOQUORUM write: 1 of 2 required primaries stored it (PW=2, W=2, N=3): 1
// primary, 1 fallback; ...".
inline std::string NoQuorum(bool read, const QuorumCounts& c) {
  const int fallbacks = c.answered - c.primaries;
  const bool primaries_missed = c.primary_required > 0 && c.primaries < c.primary_required &&
                                c.answered >= c.required;
  std::string s = read ? "NOQUORUM read: " : "NOQUORUM write: ";
  s += primaries_missed
           ? std::to_string(c.primaries) + " of " + std::to_string(c.primary_required) +
                 " required primaries "
           : std::to_string(c.answered) + " of " + std::to_string(c.required) +
                 " required replicas ";
  s += read ? "answered (" : "stored it (";
  if (c.primary_required > 0) {
    s += std::string(read ? "PR" : "PW") + "=" + std::to_string(c.primary_required) + ", ";
  }
  s += std::string(read ? "R" : "W") + "=" + std::to_string(c.required) +
       ", N=" + std::to_string(c.replicas) + "): " + std::to_string(c.primaries) +
       (c.primaries == 1 ? " primary, " : " primaries, ") + std::to_string(fallbacks) +
       (fallbacks == 1 ? " fallback" : " fallbacks");
  if (!read) s += "; it may still be applied";
  return s;
}
// A write whose local copy failed to commit and that did not reach W elsewhere: the storage
// error, then the counts NOQUORUM gives ("IOERR ...; 1 of 2 required replicas stored it ...").
inline std::string LocalStoreFailed(const std::string& io_error, const QuorumCounts& c) {
  std::string counts = NoQuorum(false, c);
  return io_error + "; " + counts.substr(sizeof("NOQUORUM write: ") - 1);
}
// A fallback refusing a hint (kv/vnode.h): the primary's hints are over hints-max-bytes, or it
// has been down longer than hint-window.
inline constexpr char kHintsFull[] = "HINTSFULL the hints kept for that replica are at hints-max-bytes";
inline constexpr char kHintWindowPassed[] =
    "HINTWINDOW that replica has been down longer than hint-window; anti-entropy will repair it";
inline constexpr char kHintRefused[] = "ERR this node keeps no hints for that node";
inline constexpr char kReplicaReadFailed[] = "ERR the replica could not read its record";
// Anti-entropy (DYNIS.AAE between nodes, DYNIS AAE for clients).
inline constexpr char kAaeBadPartition[] = "ERR no such partition";
inline std::string AaeTreeNotReady(uint32_t partition) {
  return "TRYAGAIN the hash tree of partition " + std::to_string(partition) +
         " is being built";
}
inline constexpr char kAaeDisabled[] = "ERR anti-entropy is off (aae no) or this node is not in a cluster";
inline constexpr char kReplicaMergeFailed[] = "ERR the replica could not merge the record";
// GETCTX's "R n" / "PR n", SETCTX's / DELCTX's "W n" / "PW n".
inline std::string QuorumNotPositive(const char* letter) {
  return std::string("ERR ") + letter + " must be a positive integer";
}
inline std::string QuorumAboveReplicas(const char* letter, long long n, int replicas) {
  return std::string("ERR ") + letter + " (" + std::to_string(n) + ") is more than replicas (" +
         std::to_string(replicas) + ")";
}
// A context that does not decode, as version/ reports it (Keyspace replies kInvalidContext).
inline constexpr char kBadContext[] = "ERR invalid context";
// CONFIG SET (config/config.cc), Redis's wording.
inline std::string ConfigSetFailed(std::string_view name, std::string_view reason) {
  return "ERR CONFIG SET failed (possibly related to argument '" + std::string(name) + "') - " +
         std::string(reason);
}
inline std::string ConfigSetUnknown(std::string_view name) {
  return "ERR Unknown option or number of arguments for CONFIG SET - '" + std::string(name) + "'";
}
inline constexpr char kReplicaRecordUndecodable[] =
    "ERR the replica's record of this key does not decode";
inline std::string DotConflict(size_t reused) {
  return "ERR dot conflict: " + std::to_string(reused) +
         " value(s) reuse a version this replica holds for another write";
}

// --- commands ---------------------------------------------------------------------------------
// Texts the command handlers (src/commands) reply. Redis 7's wording byte for byte where Redis
// has the same error; the builders take the part Redis interpolates.

inline std::string WrongArity(std::string_view command) {
  return "ERR wrong number of arguments for '" + std::string(command) + "' command";
}
inline std::string UnsupportedOption(std::string_view option) {  // EXPIRE family
  return "ERR Unsupported option " + std::string(option);
}
inline std::string InvalidExpireTime(std::string_view command) {
  return "ERR invalid expire time in '" + std::string(command) + "' command";
}
inline std::string HelloSyntax(std::string_view option) {
  return "ERR Syntax error in HELLO option '" + std::string(option) + "'";
}
inline std::string UnrecognizedOption(std::string_view option) {  // CLIENT SETINFO
  return "ERR Unrecognized option '" + std::string(option) + "'";
}
inline std::string BadClientInfo(std::string_view attr) {  // CLIENT SETINFO lib-name/lib-ver
  return "ERR " + std::string(attr) + " cannot contain spaces, newlines or special characters.";
}
inline std::string UnknownClientType(std::string_view type) {
  return "ERR Unknown client type '" + std::string(type) + "'";
}
inline std::string UnknownDebugSubcommand(std::string_view sub) {
  return "ERR unknown subcommand or wrong number of arguments for '" + std::string(sub) +
         "'. Try DEBUG HELP.";
}
inline constexpr char kExpireNxAndOthers[] =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
inline constexpr char kExpireGtAndLt[] =
    "ERR GT and LT options at the same time are not compatible";
inline constexpr char kDecrementOverflow[] = "ERR decrement would overflow";
inline constexpr char kCopyToOtherDb[] =
    "ERR Copying to another database is not allowed in cluster mode";
inline constexpr char kProtoVersionNotInteger[] =
    "ERR Protocol version is not an integer or out of range";
inline constexpr char kHelloNoAuth[] =
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
    "RESP protocol version at the same time";
inline constexpr char kBadClientName[] =
    "ERR Client names cannot contain spaces, newlines or special characters.";
inline constexpr char kInvalidDbIndex[] = "ERR invalid DB index";
inline constexpr char kInvalidClientId[] = "ERR Invalid client ID";
inline constexpr char kNoSuchClient[] = "ERR No such client";
inline constexpr char kClientIdNotPositive[] = "ERR client-id should be greater than 0";
inline constexpr char kNoShutdownInProgress[] = "ERR No shutdown in progress.";
inline constexpr char kInvalidCommandSpecified[] = "ERR Invalid command specified";
inline constexpr char kInvalidArgCountSpecified[] =
    "ERR Invalid number of arguments specified for command";
inline constexpr char kNoKeyArguments[] = "ERR The command has no key arguments";
// dynis's own: the cluster port's verbs.
inline std::string PeerAuthFailed(std::string_view why) {
  return "ERR peer authentication failed: " + std::string(why);
}
inline constexpr char kHelloClusterPortOnly[] =
    "ERR DYNIS.HELLO is served on the cluster port only";
inline constexpr char kNotInCluster[] = "ERR this node is not in a cluster";
inline constexpr char kBadMeet[] = "ERR bad DYNIS.MEET arguments";
inline constexpr char kBadFwd[] = "ERR DYNIS.FWD needs a protocol version and a command";
// --- end of commands --------------------------------------------------------------------------

// ---- server: what server/ answers before or instead of a command's handler ----
inline constexpr char kProtectedMode[] =
    "DENIED dynis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to dynis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to dynis from the same "
    "host the server is running, however MAKE SURE dynis is not publicly accessible from "
    "internet if you do so. 2) Alternatively you can just disable the protected mode by editing "
    "the dynis configuration file, and setting the protected mode option to 'no', and then "
    "restarting the server. 3) If you started the server manually just for testing, restart it "
    "with the '--protected-mode no' option. 4) Set up an authentication password for the "
    "default user. NOTE: You only need to do one of the above things in order for the server to "
    "start accepting connections from the outside.";
inline constexpr char kPeerPortNoAuth[] =
    "NOAUTH this is the cluster port: peers authenticate with the cluster secret (DYNIS.HELLO, "
    "DYNIS.AUTH); clients use the client port";
// Built with the command's words: kUnknownCommand + name + kUnknownCommandArgs + 'arg' ...
inline constexpr char kUnknownCommand[] = "ERR unknown command '";
inline constexpr char kUnknownCommandArgs[] = "', with args beginning with: ";
// kUnknownSubcommand + sub + kUnknownSubcommandTry + COMMAND + kUnknownSubcommandHelp
inline constexpr char kUnknownSubcommand[] = "ERR unknown subcommand '";
inline constexpr char kUnknownSubcommandTry[] = "'. Try ";
inline constexpr char kUnknownSubcommandHelp[] = " HELP.";

}  // namespace dynis::err
