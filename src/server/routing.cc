// Where an admitted command runs: on this worker, on the worker owning its keys, split per
// key over several, or alone with every other worker paused; and running it (ExecuteSpec).
#include "server/server.h"

#include "common/errors.h"

namespace dynis::server {

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
  CommandContext ctx{argv, *w, keyspace_, *server_, *this, c, spec};
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
