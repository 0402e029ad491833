// MULTI, EXEC, DISCARD, WATCH, UNWATCH. On one node a transaction runs without interleaving:
// EXEC runs its queued commands with every other io-thread paused. Across a cluster (later) no
// isolation holds, as in Dynamo. WATCH remembers each key's stored record and EXEC aborts when
// any of them changed (WatchedKeyChanged).
#include "commands/client_state.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/clock.h"
#include "common/errors.h"
#include "kv/keyspace.h"
#include "storage/store.h"

namespace dynis {

namespace {

std::optional<std::string> StoredRecord(const kv::Keyspace& ks, storage::Store& store,
                                        const std::string& key) {
  std::string v;
  Status s = store.Get(storage::DataKey(ks.PartitionOf(key), key), &v);
  if (!s.ok()) return std::nullopt;
  return v;
}

// A watched key is absent (no record, or one holding only a tombstone or expired values) or
// live with its record. Live at WATCH: a change of the record, or its expiry since, is a
// change (Redis counts an expiry as a touch). Absent at WATCH: the same record, or none at all
// (the expired record went away lazily, by FLUSHDB or compaction: the same absence), is no
// change; any other record means a write since, even if the key is absent again (Redis aborts
// on SET then DEL too), so a CAS loop retries rather than miss a conflict.
bool WatchedKeyChanged(const ClientState::WatchedKey& w, const std::optional<std::string>& now,
                       int64_t now_ms) {
  if (w.live) return now != w.record || !kv::RecordIsLive(*now, now_ms);
  return now.has_value() && now != w.record;
}

void ResetMulti(ClientState* cl) {
  cl->in_multi = false;
  cl->multi_error = false;
  cl->multi_queue.clear();
  cl->watched.clear();
}

void CmdMulti(CommandContext& c) {
  if (c.client->in_multi) {
    c.reply.Error(err::kMultiNested);
    return;
  }
  c.client->in_multi = true;
  c.client->multi_error = false;
  c.client->multi_queue.clear();
  c.reply.Ok();
}

void CmdDiscard(CommandContext& c) {
  if (!c.client->in_multi) {
    c.reply.Error(err::kDiscardWithoutMulti);
    return;
  }
  ResetMulti(c.client);
  c.reply.Ok();
}

void CmdExec(CommandContext& c) {
  std::optional<std::vector<std::vector<std::string>>> queue =
      TakeTransaction(c.client, c.ks, c.node.store(), &c.reply);
  if (!queue) return;
  c.reply.Array(queue->size());
  for (const auto& argv : *queue) {
    const CommandSpec* spec = LookupCommand(argv[0]);
    if (!spec->subcommands.empty() && argv.size() >= 2) {
      const CommandSpec* sub = LookupSubcommand(*spec, argv[1]);
      if (sub != nullptr) spec = sub;
    }
    // Commands that read the store directly must see this transaction's earlier writes.
    if (spec->flags & (kCmdAllKeys | kCmdExclusive)) c.node.CommitTurn();
    c.node.Execute(c.client, spec, argv, &c.reply);
  }
}

void CmdWatch(CommandContext& c) {
  if (c.client->in_multi) {
    c.reply.Error(err::kWatchInMulti);
    return;
  }
  const int64_t now_ms = NowMs();
  for (size_t i = 1; i < c.argv.size(); i++) {
    bool already = false;
    for (const auto& w : c.client->watched) already |= w.key == c.argv[i];
    if (already) continue;
    ClientState::WatchedKey w;
    w.key = c.argv[i];
    w.record = StoredRecord(c.ks, c.node.store(), w.key);
    w.live = w.record && kv::RecordIsLive(*w.record, now_ms);
    c.client->watched.push_back(std::move(w));
  }
  c.reply.Ok();
}

void CmdUnwatch(CommandContext& c) {
  c.client->watched.clear();
  c.reply.Ok();
}

}  // namespace

std::optional<std::vector<std::vector<std::string>>> TakeTransaction(ClientState* cl,
                                                                     const kv::Keyspace& ks,
                                                                     storage::Store& store,
                                                                     proto::ReplyWriter* refusal) {
  if (!cl->in_multi) {
    refusal->Error(err::kExecWithoutMulti);
    return std::nullopt;
  }
  if (cl->multi_error) {
    ResetMulti(cl);
    refusal->Error(err::kExecAbort);
    return std::nullopt;
  }
  const int64_t now_ms = NowMs();
  for (const ClientState::WatchedKey& w : cl->watched) {
    if (WatchedKeyChanged(w, StoredRecord(ks, store, w.key), now_ms)) {
      ResetMulti(cl);
      refusal->NullArray();
      return std::nullopt;
    }
  }
  std::vector<std::vector<std::string>> queue = std::move(cl->multi_queue);
  ResetMulti(cl);
  return queue;
}

// One command per declaration reads as a table.
// clang-format off
void RegisterTransactionCommands(std::vector<CommandSpec>* out) {
  const uint32_t f = kCmdConn | kCmdNoScript | kCmdLoading | kCmdStale | kCmdFast;
  out->push_back({"multi", 1, f | kCmdNotQueued, 0, 0, 0, CmdMulti, "transactions",
                  "Mark the start of a transaction block", "1.2.0", "O(1)", {}, {},
                  "@fast @transaction"});
  out->push_back({"exec", 1, kCmdExclusive | kCmdNotQueued | kCmdNoScript | kCmdLoading | kCmdStale | kCmdRunsQueue,
                  0, 0, 0, CmdExec, "transactions",
                  "Execute all commands issued after MULTI", "1.2.0",
                  "Depends on commands in the transaction", {}, {}, "@slow @transaction"});
  out->push_back({"discard", 1, f | kCmdNotQueued, 0, 0, 0, CmdDiscard, "transactions",
                  "Discard all commands issued after MULTI", "2.0.0",
                  "O(N), when N is the number of queued commands", {}, {}, "@fast @transaction"});
  out->push_back({"watch", -2, kCmdAllKeys | kCmdNotQueued | kCmdNoScript | kCmdFast, 1, -1, 1,
                  CmdWatch, "transactions",
                  "Watch the given keys to determine execution of the MULTI/EXEC block", "2.2.0",
                  "O(1) for every key.", {{"key", "key", nullptr, false, true}}, {},
                  "@fast @transaction"});
  out->push_back({"unwatch", 1, f, 0, 0, 0, CmdUnwatch, "transactions",
                  "Forget about all watched keys", "2.2.0", "O(1)", {}, {},
                  "@fast @transaction"});
}
// clang-format on

}  // namespace dynis
