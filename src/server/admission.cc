// The checks a parsed command passes before it runs: the HTTP guard, the cluster port's peer
// authentication, lookup, arity, AUTH, MULTI queueing and QUIT. What passes is routed
// (routing.cc).
#include "server/server.h"

#include <algorithm>
#include <cctype>

#include "commands/util.h"
#include "common/errors.h"
#include "common/log.h"

namespace dynis::server {

namespace {

// Whether `name` is a command (client or node-to-node) with `flag` in the table.
bool HasFlag(const std::string& name, uint32_t flag) {
  const CommandSpec* spec = LookupCommand(name);
  return spec != nullptr && (spec->flags & flag) != 0;
}

}  // namespace

bool Worker::Dispatch(Client* c, std::vector<std::string>& argv) {
  const Config& cfg = server_->config();
  auto reply_error = [&](const std::string& msg) {
    std::string out;
    proto::ReplyWriter w(&out);
    w.Error(msg);
    AppendReply(c, out);
    if (c->in_multi) c->multi_error = true;
  };

  // A browser or an HTTP proxy talking to us: Redis closes at once (cross-protocol scripting).
  if (EqualsIgnoreCase(argv[0], "post") || EqualsIgnoreCase(argv[0], "host:")) {
    LOG_WARNING(
        "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: "
        "commands to dynis. Connection from %s aborted.",
        c->addr.c_str());
    CloseClient(c);
    return false;
  }

  // A node on the cluster port proves the cluster secret before anything else is served.
  if (c->peer_port && !c->peer_authenticated && !HasFlag(argv[0], kCmdPeerHandshake)) {
    AppendReply(c,
                "-NOAUTH this is the cluster port: peers authenticate with the cluster secret "
                "(DYNIS.HELLO, DYNIS.AUTH); clients use the client port\r\n");
    c->close_after_reply = true;
    return false;
  }
  // A peer forwarding a client's command to a replica of its key: it runs here as if a client
  // of this node sent it, with the client's protocol version, and is coordinated here.
  bool forwarded = false;
  if (c->peer_port && argv.size() >= 3 && HasFlag(argv[0], kCmdPeerForward)) {
    c->resp = argv[1] == "3" ? 3 : 2;
    argv.erase(argv.begin(), argv.begin() + 2);
    forwarded = true;
  }

  const CommandSpec* spec = c->peer_port ? LookupCommand(argv[0]) : LookupClientCommand(argv[0]);
  if (spec == nullptr) {
    std::string msg =
        "ERR unknown command '" + argv[0].substr(0, 128) + "', with args beginning with: ";
    for (size_t i = 1; i < argv.size() && msg.size() < 128; i++) {
      msg += "'" + argv[i].substr(0, 128 - std::min<size_t>(128, msg.size())) + "' ";
    }
    reply_error(msg);
    return true;
  }
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = LookupSubcommand(*spec, argv[1]);
    if (sub == nullptr) {
      std::string upper(spec->name);
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      reply_error("ERR unknown subcommand '" + argv[1].substr(0, 128) + "'. Try " + upper +
                  " HELP.");
      return true;
    }
    spec = sub;
  }
  int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && argc != spec->arity) || argc < -spec->arity) {
    reply_error(std::string("ERR wrong number of arguments for '") + spec->name + "' command");
    return true;
  }
  if (spec->key_step > 1 && (argc - spec->first_key) % spec->key_step != 0) {
    // MSET a 1 b: Redis checks the pairs in the handler with the arity error's text.
    reply_error(std::string("ERR wrong number of arguments for '") + spec->name + "' command");
    return true;
  }
  if (!c->authenticated && !(spec->flags & kCmdNoAuth)) {
    if (cfg.requirepass().empty()) {
      c->authenticated = true;  // the password was removed by CONFIG SET
    } else {
      reply_error(err::kNoAuth);
      return true;
    }
  }
  if (c->in_multi && (spec->flags & kCmdNoMulti)) {
    reply_error(err::kNoMulti);  // and the transaction is marked: EXEC answers EXECABORT
    return true;
  }
  if (c->in_multi && !(spec->flags & kCmdNotQueued)) {
    c->multi_queue.push_back(argv);
    AppendReply(c, "+QUEUED\r\n");
    return true;
  }
  if (spec->flags & kCmdQuit) {
    AppendReply(c, "+OK\r\n");
    c->close_after_reply = true;
    return false;
  }

  uint32_t flags = spec->flags;
  if (server_->cluster() != nullptr && !(flags & kCmdInternal)) {
    if (flags & kCmdRunsQueue) return ClusterExec(c);
    if (spec->first_key > 0 && !(flags & (kCmdConn | kCmdAllKeys))) {
      return ClusterDispatch(c, spec, argv, forwarded);
    }
  }
  bool exclusive = (flags & kCmdExclusive) != 0;
  std::vector<int> owners;
  if (!(flags & (kCmdConn | kCmdAllKeys | kCmdExclusive))) {
    std::vector<int> keys = CommandKeyPositions(*spec, argv);
    bool remote = false;
    bool mixed = false;
    for (int k : keys) {
      int o = server_->OwnerOf(keyspace_.PartitionOf(argv[k]));
      owners.push_back(o);
      if (o != id_) remote = true;
      if (o != owners[0]) mixed = true;
    }
    // A read needs no ownership: with none of this connection's commands in flight it can
    // read the store right here (it sees every acknowledged write) and skip two thread hops.
    // A peer's DYNIS.GETREC may do so even behind its own earlier requests: the coordinator
    // merges what it reads, so it never relies on one request seeing another's effect.
    if (remote && (flags & kCmdReadOnly) && (c->slots_.empty() || (flags & kCmdInternal))) {
      remote = false;
    }
    if (remote) {
      if (!mixed || (flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk))) {
        Forward(c, spec, argv, owners, !mixed);
        return true;
      }
      exclusive = true;  // e.g. RENAME across two workers' partitions
    }
  }
  if (exclusive || (flags & kCmdAllKeys)) {
    // Needs every earlier command of this connection done first.
    if (!c->slots_.empty()) {
      c->parked_ = true;
      c->has_parked_argv_ = true;
      c->parked_argv_ = argv;
      return false;
    }
    std::string out;
    if (exclusive && server_->worker_count() > 1) {
      if (!server_->PauseOthers(*this)) {
        AppendReply(c, "-ERR the server is shutting down\r\n");
        return true;
      }
      CommitTurn();
      ExecuteLocal(c, spec, argv, &out);
      CommitTurn();
      server_->ResumeOthers();
    } else {
      CommitTurn();
      ExecuteLocal(c, spec, argv, &out);
    }
    AppendReply(c, out);
    return !c->close_after_reply;
  }
  if (c->slots_.empty()) {
    ExecuteLocal(c, spec, argv, &c->out_);
    MarkDirty(c);
  } else {
    std::string out;
    ExecuteLocal(c, spec, argv, &out);
    AppendReply(c, out);
  }
  return !c->close_after_reply && !c->closing_;
}

}  // namespace dynis::server
