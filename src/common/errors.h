// Error reply texts: Redis 7's exact wording where Redis has one, then dynis's own. Handlers
// and lower layers use these constants so one table holds every text a client can see.
#pragma once

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
inline constexpr char kShuttingDown[] = "ERR the server is shutting down";
// Built with the command's words: kUnknownCommand + name + kUnknownCommandArgs + 'arg' ...
inline constexpr char kUnknownCommand[] = "ERR unknown command '";
inline constexpr char kUnknownCommandArgs[] = "', with args beginning with: ";
// kUnknownSubcommand + sub + kUnknownSubcommandTry + COMMAND + kUnknownSubcommandHelp
inline constexpr char kUnknownSubcommand[] = "ERR unknown subcommand '";
inline constexpr char kUnknownSubcommandTry[] = "'. Try ";
inline constexpr char kUnknownSubcommandHelp[] = " HELP.";
// kWrongArity + name + kWrongArityEnd
inline constexpr char kWrongArity[] = "ERR wrong number of arguments for '";
inline constexpr char kWrongArityEnd[] = "' command";
// Spelled inline in server/cluster.cc for now (being rewritten); here for its next version.
inline constexpr char kClusterForming[] = "CLUSTERDOWN the cluster is forming: ";
inline constexpr char kCrossSlot[] = "CROSSSLOT Keys in request don't hash to the same slot";

}  // namespace dynis::err
