// GETCTX, SETCTX, DELCTX: the context-carrying pair through which applications see concurrent
// writes (siblings) and resolve them. The context is an opaque, binary-safe encoding of the
// dotted version vector the reader saw; a write with it supersedes exactly those versions.
#include "commands/command.h"
#include "commands/util.h"
#include "common/errors.h"
#include "kv/keyspace.h"
#include "server/server.h"

namespace dynis {

namespace {

// Parses an optional trailing "R n" / "W n". Returns false after replying an error.
bool ParseQuorumOption(CommandContext& c, size_t first, const char* letter) {
  if (c.argv.size() == first) return true;
  if (c.argv.size() != first + 2 || !EqualsIgnoreCase(c.argv[first], letter)) {
    c.reply.Error(err::kSyntax);
    return false;
  }
  int64_t n;
  if (!ParseInt64(c.argv[first + 1], &n) || n < 1) {
    c.reply.Error(std::string("ERR ") + letter + " must be a positive integer");
    return false;
  }
  if (n > c.server.config().replicas()) {
    c.reply.Error(std::string("ERR ") + letter + " (" + std::to_string(n) +
                  ") is more than replicas (" + std::to_string(c.server.config().replicas()) + ")");
    return false;
  }
  // The coordinator (server/cluster.cc) has already waited for this many replicas; a
  // standalone node is its own only replica, so any quorum is met by its one answer.
  return true;
}

void CmdGetCtx(CommandContext& c) {
  if (!ParseQuorumOption(c, 2, "R")) return;
  ReplySiblings(c, c.argv[1]);
}

void CmdSetCtx(CommandContext& c) {
  if (!ParseQuorumOption(c, 4, "W")) return;
  if (ReplyIfError(c, c.ks.PutWithContext(c.argv[1], c.argv[2], c.argv[3], false))) return;
  c.reply.Ok();
}

void CmdDelCtx(CommandContext& c) {
  if (!ParseQuorumOption(c, 3, "W")) return;
  if (ReplyIfError(c, c.ks.PutWithContext(c.argv[1], c.argv[2], "", true))) return;
  c.reply.Ok();
}

}  // namespace

void ReplySiblings(CommandContext& c, const std::string& key) {
  std::vector<version::Sibling> values;
  std::string context;
  if (ReplyIfError(c, c.ks.GetSiblings(key, &values, &context))) return;
  c.reply.Array(2);
  c.reply.Bulk(context);
  c.reply.Array(values.size());
  for (const auto& v : values) c.reply.Bulk(v.value);
}

// One command per declaration reads as a table.
// clang-format off
void RegisterContextCommands(std::vector<CommandSpec>* out) {
  out->push_back({"getctx", -2, kCmdReadOnly | kCmdFast, 1, 1, 1, CmdGetCtx, "dynis",
                  "Get every concurrent value (sibling) of a key and the causal context that "
                  "names them",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"}, {"r", "integer", "R", true}}, {}, "@read @string @fast"});
  out->push_back({"setctx", -4, kCmdWrite | kCmdBlindWrite, 1, 1, 1, CmdSetCtx, "dynis",
                  "Set a key's value, superseding exactly the versions named by a context from "
                  "GETCTX (an empty context supersedes nothing)",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"},
                   {"context", "string"},
                   {"value", "string"},
                   {"w", "integer", "W", true}},
                  {}, "@write @string @slow"});
  out->push_back({"delctx", -3, kCmdWrite | kCmdBlindWrite, 1, 1, 1, CmdDelCtx, "dynis",
                  "Delete a key, superseding exactly the versions named by a context from GETCTX",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"}, {"context", "string"}, {"w", "integer", "W", true}}, {},
                  "@write @string @slow"});
}
// clang-format on

}  // namespace dynis
