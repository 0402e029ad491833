// The cluster side of a worker: routing keyed commands to a member of their preference list,
// coordinating them through the replication engine (replication/engine.h), the links to the
// other members, and membership exchange. See cluster.h and docs/ARCHITECTURE.md.
//
// A keyed client command (each key separately for multi-key commands) goes:
//  - to a member of the key's preference list: this node when it is one (then to the worker
//    owning the key's partition), else the first member with a live link, over DYNIS.FWD;
//  - on the owning worker, Coordinate(): commands that read, and writes that depend on the
//    current value, first read R replicas (the merged record is stored locally when the local
//    one is older); then the command runs against the local keyspace like on a single node;
//    every record it stored is sent to the other replicas and the reply leaves after W stores.
//    A quorum not reached in cluster-request-timeout answers -NOQUORUM with the counts.
#include "cluster/membership.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "commands/util.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/strings.h"
#include "server/server.h"

namespace dynis::server {

// ---------------------------------------------------------------------------------------------
// Worker: routing.

namespace {

constexpr int64_t kMeetIntervalMs = 1000;

// Commands whose reply does not depend on what is stored (a blind SET, SETCTX, MSET's parts)
// need no quorum read first.
bool NeedsRead(const CommandSpec* spec, const std::vector<std::string>& argv) {
  if (!(spec->flags & kCmdWrite)) return true;
  if (!(spec->flags & kCmdBlindWrite)) return true;
  if (std::strcmp(spec->name, "set") == 0) {
    for (size_t i = 3; i < argv.size(); i++) {
      if (EqualsIgnoreCase(argv[i], "nx") || EqualsIgnoreCase(argv[i], "xx") ||
          EqualsIgnoreCase(argv[i], "get") || EqualsIgnoreCase(argv[i], "keepttl")) {
        return true;
      }
    }
  }
  return false;
}

// The per-request R or W (GETCTX k R n...), or `dflt`; -1 when the option is malformed: the
// command's own handler replies the error, so such a command runs without a quorum round.
int QuorumOf(const CommandSpec* spec, const std::vector<std::string>& argv, int dflt,
             int replicas) {
  StatusOr<int> q = CommandQuorumOption(*spec, argv, replicas);
  if (!q.ok()) return -1;
  return *q != 0 ? *q : dflt;
}

std::string ErrorReply(const std::string& text) { return "-" + text + "\r\n"; }

std::string NoQuorumText(bool read, const replication::Outcome& o) {
  std::string s = "NOQUORUM ";
  s += read ? "read: " : "write: ";
  s += std::to_string(o.answered) + " of " + std::to_string(o.required) + " required replicas ";
  s += read ? "answered" : "stored it";
  s += std::string(" (") + (read ? "R" : "W") + "=" + std::to_string(o.required) +
       ", N=" + std::to_string(o.replicas) + ")";
  if (!read) s += "; it may still be applied";
  return s;
}

// A write whose local copy failed to commit and that did not reach W on other replicas: the
// storage error, then the counts NOQUORUM would give.
std::string LocalFailureText(const std::string& io_error, const replication::Outcome& o) {
  return io_error + "; " + NoQuorumText(false, o).substr(std::strlen("NOQUORUM write: "));
}

}  // namespace

// One client command (or one key's part of it) being coordinated on this worker.
struct Worker::CoordOp {
  Message m;
  int waiting = 0;          // engine operations not complete yet
  std::string reply;        // the command's reply, sent once its writes reached W
  std::string error;        // the first quorum failure
  std::string local_error;  // IOERR... when the batch holding the local copies failed
  bool wrote = false;       // the command ran; waiting counts puts
};

const ClusterView& Worker::cluster_view() {
  ClusterState* cl = server_->cluster();
  if (!view_ || view_->version != cl->version()) view_ = cl->View();
  return *view_;
}

bool Worker::ClusterDispatch(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                             bool forwarded) {
  auto slot = std::make_shared<Slot>();
  slot->remaining = 1;  // held until every part is routed: parts may finish synchronously
  c->slots_.push_back(slot);
  std::vector<int> keys = CommandKeyPositions(*spec, argv);
  uint32_t split = spec->flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk);
  if (split != 0 && keys.size() > 1) {
    // Dynamo: no isolation across keys; each key is its own replicated operation, all in
    // flight at once.
    slot->combine = split;
    slot->parts.resize(keys.size());
    for (size_t i = 0; i < keys.size(); i++) {
      RoutePart(c, slot, static_cast<int>(i), spec, CommandKeyPart(*spec, argv, i), forwarded);
    }
  } else {
    slot->parts.resize(1);
    RoutePart(c, slot, 0, spec, std::move(argv), forwarded);
  }
  PartDone(c->id(), slot);  // the routing hold
  return !c->close_after_reply && !c->closing_;
}

bool Worker::ClusterExec(Client* c) {
  // WATCH compares this node's stored records: a best effort in a cluster (documented). This
  // loop's own writes of the turn are stored first so that the comparison sees them.
  CommitTurn();
  std::string refusal;
  proto::ReplyWriter w(&refusal);
  w.set_resp(c->resp);
  std::optional<std::vector<std::vector<std::string>>> queue =
      TakeTransaction(c, keyspace_, server_->store(), &w);
  if (!queue) {
    AppendReply(c, refusal);
    return true;
  }
  // The queued commands run in order of arrival at their coordinators, each replicated on its
  // own: accepted so that clients' MULTI/EXEC pipelines work, not isolated (README).
  auto slot = std::make_shared<Slot>();
  slot->remaining = 1;
  slot->combine = Slot::kCombineExec;
  slot->parts.resize(queue->size());
  c->slots_.push_back(slot);
  for (size_t i = 0; i < queue->size(); i++) {
    std::vector<std::string>& argv = (*queue)[i];
    const CommandSpec* spec = LookupClientCommand(argv[0]);
    if (!spec->subcommands.empty() && argv.size() >= 2) {
      const CommandSpec* sub = LookupSubcommand(*spec, argv[1]);
      if (sub != nullptr) spec = sub;
    }
    RoutePart(c, slot, static_cast<int>(i), spec, std::move(argv), false);
  }
  PartDone(c->id(), slot);
  return true;
}

void Worker::RoutePart(Client* c, const std::shared_ptr<Slot>& slot, int part,
                       const CommandSpec* spec, std::vector<std::string> argv, bool forwarded) {
  std::vector<int> keys = CommandKeyPositions(*spec, argv);
  if (keys.empty() || (spec->flags & (kCmdConn | kCmdAllKeys))) {
    // Not about one key's replicas (PING, INFO, KEYS, FLUSHALL... inside EXEC): runs on this
    // node, as it would outside the transaction.
    proto::ReplyWriter w(&slot->parts[part]);
    w.set_resp(c->resp);
    if (spec->flags & kCmdExclusive) {
      if (!server_->PauseOthers(*this)) {
        w.Error("ERR the server is shutting down");
        return;
      }
      CommitTurn();
      ExecuteSpec(c, spec, argv, &w);
      CommitTurn();
      server_->ResumeOthers();
      return;
    }
    if (spec->flags & kCmdAllKeys) CommitTurn();
    ExecuteSpec(c, spec, argv, &w);
    return;
  }
  size_t reached = 0;
  if (!forwarded && !server_->cluster()->Formed(NowMs(), &reached)) {
    slot->parts[part] =
        ErrorReply("CLUSTERDOWN the cluster is forming: " + std::to_string(reached) + " of " +
                   std::to_string(server_->cluster()->seeds().size()) + " seed nodes reached");
    return;
  }
  uint32_t partition = keyspace_.PartitionOf(argv[keys[0]]);
  for (int k : keys) {
    if (keyspace_.PartitionOf(argv[k]) != partition) {
      slot->parts[part] = ErrorReply("CROSSSLOT Keys in request don't hash to the same slot");
      return;
    }
  }
  const ClusterView& view = cluster_view();
  std::vector<NodeId> pref = view.ring.Preflist(partition, server_->cluster()->n_val());
  NodeId self = server_->cluster()->self().id;
  bool local = forwarded || std::find(pref.begin(), pref.end(), self) != pref.end();
  slot->remaining++;
  if (local) {
    Message m;
    m.kind = Message::Kind::kExec;
    m.coordinate = true;
    m.origin = id_;
    m.client_id = c->id();
    m.slot = slot;
    m.part = part;
    m.spec = spec;
    m.resp = c->resp;
    m.argv = std::move(argv);
    int owner = server_->OwnerOf(partition);
    if (owner == id_) {
      Coordinate(std::move(m));
    } else {
      outbox_[owner].push_back(std::move(m));
    }
    return;
  }
  // Not a replica of this key: a member of the preference list coordinates it, one with a
  // live link first.
  std::stable_partition(pref.begin(), pref.end(), [this](NodeId n) {
    transport::PeerLink* l = LinkTo(n);
    return l != nullptr && l->state() == transport::PeerLink::State::kReady;
  });
  auto fwd = std::make_shared<std::vector<std::string>>();
  fwd->reserve(argv.size() + 2);
  fwd->emplace_back("DYNIS.FWD");
  fwd->push_back(std::to_string(c->resp));
  for (auto& a : argv) fwd->push_back(std::move(a));
  // A read that got no answer is safe to send to the next member; a write is not (it may have
  // been applied), so it answers NOQUORUM and the client decides.
  size_t tries = (spec->flags & kCmdReadOnly) ? pref.size() : std::min<size_t>(1, pref.size());
  auto targets = std::make_shared<std::vector<NodeId>>(pref.begin(), pref.begin() + tries);
  ForwardToReplica(c->id(), slot, part, std::move(fwd), std::move(targets), 0);
}

void Worker::ForwardToReplica(uint64_t client_id, std::shared_ptr<Slot> slot, int part,
                              std::shared_ptr<std::vector<std::string>> fwd,
                              std::shared_ptr<std::vector<NodeId>> targets, size_t next) {
  transport::PeerLink* link = nullptr;
  while (link == nullptr && next < targets->size()) link = LinkTo((*targets)[next++]);
  if (link == nullptr) {
    slot->parts[part] = ErrorReply("NOQUORUM no replica of this key answered this node");
    PartDone(client_id, slot);
    return;
  }
  server_->stats().cluster_forwarded.fetch_add(1, std::memory_order_relaxed);
  std::string where = link->options().host + ":" + std::to_string(link->options().port);
  link->Send(*fwd, [this, client_id, slot, part, fwd, targets, next, where](
                       const proto::Reply* reply, std::string_view raw) {
    if (reply != nullptr) {
      slot->parts[part].assign(raw.data(), raw.size());
    } else if (next < targets->size()) {
      ForwardToReplica(client_id, slot, part, fwd, targets, next);
      return;
    } else {
      slot->parts[part] =
          ErrorReply("NOQUORUM the replica at " + where + " coordinating this key did not answer");
    }
    PartDone(client_id, slot);
  });
}

void Worker::PartDone(uint64_t client_id, const std::shared_ptr<Slot>& slot) {
  if (--slot->remaining != 0) return;
  CombineParts(slot.get());
  slot->ready = true;
  auto it = clients_.find(client_id);
  if (it != clients_.end()) CompleteSlots(it->second);
}

// ---------------------------------------------------------------------------------------------
// Worker: coordination.

void Worker::Coordinate(Message m) {
  server_->stats().cluster_coordinated.fetch_add(1, std::memory_order_relaxed);
  if (!coordinator_) {
    replication::Options opts;
    opts.timeout_ms = server_->config().cluster_request_timeout_ms();
    coordinator_ = std::make_unique<replication::Coordinator>(server_->cluster()->self().id, opts);
  }
  coordinator_->set_timeout_ms(server_->config().cluster_request_timeout_ms());
  auto op = std::make_shared<CoordOp>();
  op->m = std::move(m);
  const CommandSpec* spec = op->m.spec;
  const std::vector<std::string>& argv = op->m.argv;
  const Config& cfg = server_->config();
  int r = QuorumOf(spec, argv, cfg.read_quorum(), cfg.replicas());
  if (!NeedsRead(spec, argv) || r < 0) {
    ExecuteAndReplicate(op);
    return;
  }
  const ClusterView& view = cluster_view();
  std::vector<int> keys = CommandKeyPositions(*spec, argv);
  replication::Effects fx;
  std::vector<std::string> seen;
  for (int k : keys) {
    const std::string& key = argv[k];
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    std::optional<std::string> local;
    Status s = keyspace_.LoadRecord(key, &local);
    if (!s.ok()) {
      op->error = std::string(err::kIoError) + " " + s.message();
      continue;
    }
    std::vector<NodeId> pref =
        view.ring.Preflist(keyspace_.PartitionOf(key), server_->cluster()->n_val());
    op->waiting++;
    uint64_t id = coordinator_->StartGet(NowMs(), key, pref, r, std::move(local), &fx);
    coord_ops_[id] = op;
  }
  if (op->waiting == 0) {
    FinishCoordinated(op, ErrorReply(op->error));
    return;
  }
  RunEffects(&fx);
}

void Worker::ExecuteAndReplicate(const std::shared_ptr<CoordOp>& op) {
  op->wrote = true;
  keyspace_.BeginTracking();
  std::string out;
  proto::ReplyWriter w(&out);
  w.set_resp(op->m.resp);
  ExecuteSpec(nullptr, op->m.spec, op->m.argv, &w);
  std::vector<std::string> written = keyspace_.TakeTracked();
  if (written.empty()) {
    FinishCoordinated(op, std::move(out));
    return;
  }
  op->reply = std::move(out);
  const Config& cfg = server_->config();
  int wq = std::max(1, QuorumOf(op->m.spec, op->m.argv, cfg.write_quorum(), cfg.replicas()));
  const ClusterView& view = cluster_view();
  replication::Effects fx;
  for (const std::string& key : written) {
    std::optional<std::string> record;
    if (!keyspace_.LoadRecord(key, &record).ok() || !record) continue;
    std::vector<NodeId> pref =
        view.ring.Preflist(keyspace_.PartitionOf(key), server_->cluster()->n_val());
    op->waiting++;
    uint64_t id = coordinator_->StartPut(NowMs(), key, pref, wq, std::move(*record), &fx);
    coord_ops_[id] = op;
    local_puts_.push_back(id);  // counted once the turn's batch is committed
  }
  if (op->waiting == 0) {
    FinishCoordinated(op, std::move(op->reply));
    return;
  }
  RunEffects(&fx);
}

bool Worker::ReportLocalStores() {
  if (local_stored_.empty()) return false;
  std::vector<std::pair<uint64_t, Status>> stored;
  stored.swap(local_stored_);
  if (!coordinator_) return false;
  replication::Effects fx;
  int64_t now = NowMs();
  for (const auto& [id, status] : stored) {
    if (!status.ok()) {
      auto it = coord_ops_.find(id);
      if (it != coord_ops_.end() && it->second->local_error.empty()) {
        it->second->local_error = std::string(err::kIoError) + " " + status.message();
      }
    }
    coordinator_->OnLocalStored(now, id, status.ok(), &fx);
  }
  if (fx.empty()) return false;
  RunEffects(&fx);
  // Requests to peers that this queued are flushed by their links' prepare callbacks, which
  // already ran in this loop turn: make the loop turn again at once.
  Wake();
  return true;
}

void Worker::FinishCoordinated(const std::shared_ptr<CoordOp>& op, std::string reply) {
  Message& m = op->m;
  m.slot->parts[m.part] = std::move(reply);
  if (m.origin == id_) {
    PartDone(m.client_id, m.slot);
    return;
  }
  Message done;
  done.kind = Message::Kind::kDone;
  done.origin = m.origin;
  done.client_id = m.client_id;
  done.slot = std::move(m.slot);
  done.part = m.part;
  done.spec = m.spec;
  done_after_commit_.push_back(std::move(done));
}

void Worker::RunEffects(replication::Effects* fx) {
  while (!fx->empty()) {
    replication::Effects batch;
    batch.swap(*fx);
    for (replication::Effect& e : batch) {
      switch (e.kind) {
        case replication::Effect::Kind::kSend:
          if (e.msg.type == replication::Message::Type::kPutReq && e.msg.repair) {
            server_->stats().cluster_read_repairs.fetch_add(1, std::memory_order_relaxed);
          }
          SendToReplica(e.msg, fx);
          break;
        case replication::Effect::Kind::kStoreLocal: {
          // The coordinator is a replica too: its own store takes the merge like a peer's.
          replication::Message req, resp;
          req.type = replication::Message::Type::kPutReq;
          req.key = std::move(e.key);
          req.record = std::move(e.record);
          keyspace_.ServeReplicaRequest(req, &resp);
          if (!resp.ok) LOG_WARNING("Storing a merged record locally failed");
          break;
        }
        case replication::Effect::Kind::kComplete: {
          auto it = coord_ops_.find(e.op);
          if (it == coord_ops_.end()) break;
          std::shared_ptr<CoordOp> op = std::move(it->second);
          coord_ops_.erase(it);
          if (!e.outcome.ok && op->error.empty()) {
            server_->stats().cluster_quorum_failures.fetch_add(1, std::memory_order_relaxed);
            op->error = op->local_error.empty() ? NoQuorumText(!op->wrote, e.outcome)
                                                : LocalFailureText(op->local_error, e.outcome);
          }
          if (--op->waiting > 0) break;
          if (!op->error.empty()) {
            FinishCoordinated(op, ErrorReply(op->error));
          } else if (!op->wrote) {
            ExecuteAndReplicate(op);
          } else {
            FinishCoordinated(op, std::move(op->reply));
          }
          break;
        }
      }
    }
  }
}

void Worker::SendToReplica(const replication::Message& msg, replication::Effects* fx) {
  using replication::Message;
  transport::PeerLink* link = LinkTo(msg.to);
  // A replica whose link went down is skipped until the link is back: its requests fail at
  // once (the quorum proceeds with the others; read repair brings it up to date later) rather
  // than waiting in the reconnecting link and arriving late.
  if (link == nullptr ||
      (link->state() != transport::PeerLink::State::kReady && link->failures() > 0)) {
    coordinator_->OnSendFailed(NowMs(), msg.op, msg.to, fx);
    return;
  }
  std::vector<std::string> argv;
  Message::Type resp_type;
  if (msg.type == Message::Type::kGetReq) {
    argv = {"DYNIS.GETREC", msg.key};
    resp_type = Message::Type::kGetResp;
  } else {
    argv = {"DYNIS.PUTREC", msg.key, msg.record};
    resp_type = Message::Type::kPutResp;
  }
  NodeId to = msg.to;
  NodeId self = msg.from;
  uint64_t op = msg.op;
  std::string key = msg.key;
  link->Send(argv,
             [this, to, self, op, key, resp_type](const proto::Reply* reply, std::string_view) {
               if (!coordinator_) return;
               replication::Effects fx;
               if (reply == nullptr) {
                 coordinator_->OnSendFailed(NowMs(), op, to, &fx);
               } else {
                 replication::Message r;
                 r.type = resp_type;
                 r.from = to;
                 r.to = self;
                 r.op = op;
                 r.key = key;
                 r.ok = reply->type != proto::Reply::Type::kError;
                 if (resp_type == replication::Message::Type::kGetResp && r.ok) {
                   r.found = reply->type == proto::Reply::Type::kBulk;
                   if (r.found) r.record = reply->str;
                 }
                 coordinator_->OnMessage(NowMs(), r, &fx);
               }
               RunEffects(&fx);
             });
}

// ---------------------------------------------------------------------------------------------
// Worker: links and membership.

transport::PeerLink* Worker::LinkTo(NodeId node) {
  auto it = links_.find(node);
  if (it != links_.end()) return it->second.get();
  if (stopping_ || node == server_->cluster()->self().id) return nullptr;
  const Member* m = cluster_view().Find(node);
  if (m == nullptr) return nullptr;
  auto link = std::make_unique<transport::PeerLink>(&loop_, PeerOptions(m->host, m->cport));
  transport::PeerLink* raw = link.get();
  links_[node] = std::move(link);
  return raw;
}

transport::PeerLinkOptions Worker::PeerOptions(const std::string& host, int port) const {
  const Config& cfg = server_->config();
  transport::PeerLinkOptions o;
  o.host = host;
  o.port = port;
  o.secret = cfg.cluster_secret();
  o.cluster = cfg.cluster_name();
  o.connect_timeout_ms = cfg.cluster_connect_timeout_ms();
  // A request unanswered this long means a paused or wedged peer: drop the link.
  o.request_timeout_ms = std::max<int64_t>(3 * cfg.cluster_request_timeout_ms(), 1000);
  return o;
}

std::string Worker::LinkState(NodeId node) {
  if (node == server_->cluster()->self().id) return "self";
  transport::PeerLink* l = LinkTo(node);
  if (l == nullptr) return "unknown";
  switch (l->state()) {
    case transport::PeerLink::State::kReady:
      return "connected";
    case transport::PeerLink::State::kConnecting:
    case transport::PeerLink::State::kAuthenticating:
      return "connecting";
    default:
      return "down";
  }
}

void Worker::SendMeet(transport::PeerLink* link) {
  const Member& self = server_->cluster()->self();
  std::vector<std::string> argv = {"DYNIS.MEET", self.name, self.host, std::to_string(self.cport),
                                   std::to_string(self.port)};
  Server* srv = server_;
  link->Send(argv, [srv](const proto::Reply* reply, std::string_view) {
    if (reply == nullptr || reply->type != proto::Reply::Type::kArray) return;
    // [name, host, cport, port] per member, with a fifth element (member|joining) when the
    // peer's membership is sealed. A malformed entry drops the states: a founding set missing
    // one of its members would demote it.
    cluster::Membership heard;
    bool states_ok = true, open = false;
    for (const proto::Reply& e : reply->elements) {
      size_t n = e.type == proto::Reply::Type::kArray ? e.elements.size() : 0;
      Member m;
      int64_t cport = 0, port = 0;
      if ((n != 4 && n != 5) || !ParseInt64(e.elements[2].str, &cport) ||
          !ParseInt64(e.elements[3].str, &port) ||
          (n == 5 && !cluster::ParseMemberState(e.elements[4].str, &m.state))) {
        states_ok = false;
        continue;
      }
      (n == 5 ? heard.sealed : open) = true;
      m.name = e.elements[0].str;
      m.id = KeyHash(m.name);
      m.host = e.elements[1].str;
      m.cport = static_cast<int>(cport);
      m.port = static_cast<int>(port);
      if (!cluster::ValidMember(m)) states_ok = false;
      heard.members.push_back(std::move(m));
    }
    if (!states_ok || open) heard.sealed = false;
    srv->cluster()->Learn(heard);
  });
}

void Worker::ClusterCron(int64_t now_ms) {
  if (coordinator_) {
    replication::Effects fx;
    coordinator_->OnTick(now_ms, &fx);
    RunEffects(&fx);
  }
  if (now_ms - last_meet_ms_ < kMeetIntervalMs) return;
  last_meet_ms_ = now_ms;
  ClusterState* cl = server_->cluster();
  cluster_view();
  // Held, not referenced: LinkTo below reloads view_ when the membership moved meanwhile,
  // which would free the view a reference points into.
  std::shared_ptr<const ClusterView> held = view_;
  const ClusterView& view = *held;
  // Every worker keeps a link to every member, made before the first request needs it.
  for (const Member& m : view.members) LinkTo(m.id);
  // Membership exchange runs on worker 0 only: one MEET per member per second.
  if (id_ != 0) return;
  for (const Seed& seed : cl->seeds()) {
    if (view.Knows(seed)) {
      seed_links_.erase(seed.addr);  // the member's own link takes over
      continue;
    }
    auto& link = seed_links_[seed.addr];
    if (!link)
      link = std::make_unique<transport::PeerLink>(&loop_, PeerOptions(seed.host, seed.port));
    if (link->state() != transport::PeerLink::State::kBackoff) SendMeet(link.get());
  }
  for (const Member& m : view.members) {
    transport::PeerLink* link = LinkTo(m.id);
    if (link != nullptr && link->state() != transport::PeerLink::State::kBackoff) SendMeet(link);
  }
}

void Worker::CloseLinks() {
  if (coordinator_) coordinator_->Reset();
  coord_ops_.clear();
  links_.clear();  // ~PeerLink closes; the loop frees the handles
  seed_links_.clear();
}

Status Worker::ListenPeers() {
  return ListenOn(server_->config().cluster_port(), "cluster", &peer_listeners_);
}

}  // namespace dynis::server
