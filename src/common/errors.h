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

}  // namespace dynis::err
