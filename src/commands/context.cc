// GETCTX, SETCTX, DELCTX: the context-carrying pair through which applications see concurrent
// writes (siblings) and resolve them. The context is an opaque, binary-safe encoding of the
// dotted version vector the reader saw; a write with it supersedes exactly those versions.
#include <cstdlib>

#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "config/config.h"
#include "kv/keyspace.h"

namespace dynis {

namespace {

// Checks the optional trailing "R n" / "PR n" / "W n" / "PW n". Returns false after replying an
// error. The
// coordinator (server/cluster.cc) has already waited for that many replicas; a standalone node
// is its own only replica, so any quorum is met by its one answer.
bool CheckQuorumOption(CommandContext& c) {
  StatusOr<QuorumOption> q = CommandQuorumOption(*c.spec, c.argv, c.node.config().replicas());
  return !ReplyIfError(c, q.status());
}

void CmdGetCtx(CommandContext& c) {
  if (!CheckQuorumOption(c)) return;
  ReplySiblings(c, c.argv[1]);
}

void CmdSetCtx(CommandContext& c) {
  if (!CheckQuorumOption(c)) return;
  if (ReplyIfError(c, c.ks.PutWithContext(c.argv[1], c.argv[2], c.argv[3], false))) return;
  c.reply.Ok();
}

void CmdDelCtx(CommandContext& c) {
  if (!CheckQuorumOption(c)) return;
  if (ReplyIfError(c, c.ks.PutWithContext(c.argv[1], c.argv[2], "", true))) return;
  c.reply.Ok();
}

}  // namespace

StatusOr<QuorumOption> CommandQuorumOption(const CommandSpec& spec,
                                           const std::vector<std::string>& argv, int replicas) {
  QuorumOption out;
  // The options follow the command's fixed arguments.
  if (!(spec.flags & (kCmdQuorumR | kCmdQuorumW))) return out;
  const bool read = spec.flags & kCmdQuorumR;
  const char* letter = read ? "R" : "W";
  const char* primary_letter = read ? "PR" : "PW";
  const size_t first = static_cast<size_t>(std::abs(spec.arity));
  if ((argv.size() - first) % 2 != 0) return Status::Error(err::kSyntax);
  for (size_t i = first; i < argv.size(); i += 2) {
    const bool primary = EqualsIgnoreCase(argv[i], primary_letter);
    if (!primary && !EqualsIgnoreCase(argv[i], letter)) return Status::Error(err::kSyntax);
    int& slot = primary ? out.pq : out.q;
    const char* name = primary ? primary_letter : letter;
    if (slot != 0) return Status::Error(err::kSyntax);  // given twice
    int64_t n;
    if (!ParseInt64(argv[i + 1], &n) || n < 1) {
      return Status::Error(err::QuorumNotPositive(name));
    }
    if (n > replicas) {
      return Status::Error(err::QuorumAboveReplicas(name, n, replicas));
    }
    slot = static_cast<int>(n);
  }
  return out;
}

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
  out->push_back({"getctx", -2, kCmdReadOnly | kCmdFast | kCmdQuorumR, 1, 1, 1, CmdGetCtx, "dynis",
                  "Get every concurrent value (sibling) of a key and the causal context that "
                  "names them",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"}, {"r", "integer", "R", true}, {"pr", "integer", "PR", true}}, {},
                  "@read @string @fast"});
  out->push_back({"setctx", -4, kCmdWrite | kCmdBlindWrite | kCmdQuorumW, 1, 1, 1, CmdSetCtx, "dynis",
                  "Set a key's value, superseding exactly the versions named by a context from "
                  "GETCTX (an empty context supersedes nothing)",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"},
                   {"context", "string"},
                   {"value", "string"},
                   {"w", "integer", "W", true},
                   {"pw", "integer", "PW", true}},
                  {}, "@write @string @slow"});
  out->push_back({"delctx", -3, kCmdWrite | kCmdBlindWrite | kCmdQuorumW, 1, 1, 1, CmdDelCtx, "dynis",
                  "Delete a key, superseding exactly the versions named by a context from GETCTX",
                  "0.1.0", "O(S) where S is the number of siblings",
                  {{"key", "key"},
                   {"context", "string"},
                   {"w", "integer", "W", true},
                   {"pw", "integer", "PW", true}},
                  {}, "@write @string @slow"});
}
// clang-format on

}  // namespace dynis
