// Where an admitted command runs: on this worker, on the worker owning its keys, split per
// key over several, or alone with every other worker paused; and running it (ExecuteSpec).
#include "common/errors.h"
#include "common/strings.h"
#include "server/node_context.h"
#include "server/server.h"

namespace dynis::server {

bool Worker::Route(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                   bool forwarded) {
  uint32_t flags = spec->flags;
  if (server_->cluster() != nullptr && !(flags & kCmdInternal)) {
    if (flags & kCmdRunsQueue) return ClusterExec(c);
    if (spec->first_key > 0 && !(flags & (kCmdConn | kCmdAllKeys))) {
      return ClusterDispatch(c, spec, argv, forwarded);
    }
  }
  bool exclusive = (flags & kCmdExclusive) != 0;
  if ((flags & kCmdPartitionArg) && argv.size() > 1) {
    // A partition's own work (DYNIS.AAE): on the loop owning it.
    uint64_t p = 0;
    if (ParseUint64(argv[1], &p) && p < keyspace_.shared().partitions) {
      const int owner = server_->OwnerOf(static_cast<uint32_t>(p));
      if (owner != id_) {
        Forward(c, spec, argv, {owner}, true);
        return true;
      }
    }
    return RunHere(c, spec, argv);
  }
  if (!(flags & (kCmdConn | kCmdAllKeys | kCmdExclusive))) {
    Placement placement = PlaceByKeys(c, spec, argv);
    if (placement == Placement::kForwarded) return true;
    if (placement == Placement::kAlone) exclusive = true;  // e.g. RENAME across two workers
  }
  if (exclusive || (flags & kCmdAllKeys)) return RunAlone(c, spec, argv, exclusive);
  return RunHere(c, spec, argv);
}

Worker::Placement Worker::PlaceByKeys(Client* c, const CommandSpec* spec,
                                      std::vector<std::string>& argv) {
  uint32_t flags = spec->flags;
  std::vector<int> owners;
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
  if (!remote) return Placement::kHere;
  if (!mixed || (flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk))) {
    Forward(c, spec, argv, owners, !mixed);
    return Placement::kForwarded;
  }
  return Placement::kAlone;
}

bool Worker::RunAlone(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                      bool exclusive) {
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
      AppendReply(c, std::string("-") + err::kShuttingDown + "\r\n");
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

bool Worker::RunHere(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv) {
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

void Worker::ExecuteLocal(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                          std::string* out) {
  proto::ReplyWriter w(out);
  w.set_resp(c != nullptr ? c->resp : 2);
  ExecuteSpec(c, spec, argv, &w);
}

void Worker::ExecuteSpec(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                         proto::ReplyWriter* w) {
  server_->stats().commands_processed.fetch_add(1, std::memory_order_relaxed);
  if ((spec->flags & kCmdWrite) && server_->store().write_failed()) {
    w->Error(std::string(err::kIoError) + " " + server_->store().write_error() +
             "; the node refuses writes until restarted");
    return;
  }
  if (c != nullptr) {
    c->last_command = spec->name;
    if ((spec->flags & kCmdWrite) && !c->wrote_this_turn_) {
      c->wrote_this_turn_ = true;
      wrote_.push_back(c);
    }
  }
  WorkerNodeContext node(*server_, *this);
  CommandContext ctx{argv, *w, keyspace_, node, c, spec};
  spec->handler(ctx);
}

void Worker::Forward(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                     const std::vector<int>& owners, bool one_owner) {
  server_->stats().forwarded_commands.fetch_add(1, std::memory_order_relaxed);
  auto slot = std::make_shared<Slot>();
  auto send = [&](int owner, size_t part, std::vector<std::string> part_argv) {
    slot->remaining++;
    Message m;
    m.kind = Message::Kind::kExec;
    m.origin = id_;
    m.client_id = c->id();
    m.slot = slot;
    m.part = static_cast<int>(part);
    m.spec = spec;
    m.resp = c->resp;
    m.argv = std::move(part_argv);
    outbox_[owner].push_back(std::move(m));
  };
  if (one_owner) {
    slot->parts.resize(1);
    send(owners[0], 0, std::move(argv));
  } else {
    // One part per key (per key/value pair for MSET); parts this worker owns run now.
    slot->combine = spec->flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk);
    slot->parts.resize(owners.size());
    for (size_t i = 0; i < owners.size(); i++) {
      std::vector<std::string> sub = CommandKeyPart(*spec, argv, i);
      if (owners[i] == id_) {
        proto::ReplyWriter w(&slot->parts[i]);
        w.set_resp(c->resp);
        ExecuteSpec(c, spec, sub, &w);
      } else {
        send(owners[i], i, std::move(sub));
      }
    }
  }
  c->slots_.push_back(std::move(slot));
}

}  // namespace dynis::server
