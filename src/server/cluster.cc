// The cluster side of a worker: routing keyed commands to a member of their preference list
// (cluster/preflist.h), driving the command coordinator (replication/coordinator.h) with this
// loop's peer links, and membership exchange. See docs/ARCHITECTURE.md.
//
// A keyed client command (each key separately for multi-key commands) goes:
//  - to a member of the key's preference list: this node when it is one (then to the worker
//    owning the key's partition), else the first member with a live link, over DYNIS.FWD;
//  - on the owning worker, Coordinate(): the coordinator runs the command's plan (read R
//    replicas first when it must, run it against the local keyspace, replicate what it stored,
//    reply after W stores or with -NOQUORUM); this file only carries its effects: sends over
//    the peer links (transport/verbs.h), local runs through the command table, replies.
#include <algorithm>

#include "cluster/preflist.h"
#include "commands/coordination.h"
#include "commands/util.h"
#include "common/clock.h"
#include "common/errors.h"
#include "server/server.h"
#include "transport/verbs.h"

namespace dynis::server {

// ---------------------------------------------------------------------------------------------
// Worker: routing.

namespace {

constexpr int64_t kMeetIntervalMs = 1000;

std::string ErrorReply(const std::string& text) { return "-" + text + "\r\n"; }

}  // namespace

const ClusterView& Worker::cluster_view() {
  ClusterState* cl = server_->cluster();
  if (!view_ || view_->version != cl->version()) {
    view_ = cl->View();
    if (coordinator_) coordinator_->set_ring(&view_->ring);
  }
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
    RunPartHere(c, slot, part, spec, argv);
    return;
  }
  std::optional<uint32_t> partition = PartitionOfPart(argv, keys, &slot->parts[part]);
  if (!partition) return;
  // The preference list the coordinator will use (sloppy: fallbacks for members held down).
  std::vector<NodeId> pref = coordinator().PreflistOf(argv[keys[0]]).Nodes();
  NodeId self = server_->cluster()->self().id;
  slot->remaining++;
  if (forwarded || std::find(pref.begin(), pref.end(), self) != pref.end()) {
    CoordinatePart(c, slot, part, spec, std::move(argv), *partition);
  } else {
    ForwardPart(c, slot, part, spec, std::move(argv), std::move(pref));
  }
}

void Worker::RunPartHere(Client* c, const std::shared_ptr<Slot>& slot, int part,
                         const CommandSpec* spec, const std::vector<std::string>& argv) {
  // Not about one key's replicas (PING, INFO, KEYS, FLUSHALL... inside EXEC): runs on this
  // node, as it would outside the transaction.
  proto::ReplyWriter w(&slot->parts[part]);
  w.set_resp(c->resp);
  if (spec->flags & kCmdExclusive) {
    if (!server_->PauseOthers(*this)) {
      w.Error(err::kShuttingDown);
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
}

std::optional<uint32_t> Worker::PartitionOfPart(const std::vector<std::string>& argv,
                                                const std::vector<int>& keys,
                                                std::string* refusal) {
  size_t reached = 0;
  // Forwarded ones too: a node that has not met its seeds (a wiped data dir) must store
  // nothing, or its first record seals a membership of one (see CmdPeerRecord); the forwarder
  // tries the next replica.
  if (!server_->cluster()->Formed(NowMs(), &reached)) {
    *refusal = ErrorReply(err::ClusterForming(reached, server_->cluster()->seeds().size()));
    return std::nullopt;
  }
  uint32_t partition = keyspace_.PartitionOf(argv[keys[0]]);
  for (int k : keys) {
    if (keyspace_.PartitionOf(argv[k]) != partition) {
      *refusal = ErrorReply(err::kCrossSlot);
      return std::nullopt;
    }
  }
  return partition;
}

void Worker::CoordinatePart(Client* c, const std::shared_ptr<Slot>& slot, int part,
                            const CommandSpec* spec, std::vector<std::string> argv,
                            uint32_t partition) {
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
}

void Worker::ForwardPart(Client* c, const std::shared_ptr<Slot>& slot, int part,
                         const CommandSpec* spec, std::vector<std::string> argv,
                         std::vector<NodeId> pref) {
  // Not a replica of this key: a member of the preference list coordinates it, one with a
  // live link first (the replica link: it carries heartbeats, the forward link may be idle).
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
  while (link == nullptr && next < targets->size()) link = ForwardLinkTo((*targets)[next++]);
  if (link == nullptr) {
    slot->parts[part] = ErrorReply(err::kNoReplicaAnswered);
    PartDone(client_id, slot);
    return;
  }
  server_->stats().cluster_forwarded.fetch_add(1, std::memory_order_relaxed);
  std::string where = link->options().host + ":" + std::to_string(link->options().port);
  link->Send(*fwd, [this, client_id, slot, part, fwd, targets, next, where](
                       const proto::Reply* reply, std::string_view raw) {
    // A replica still forming (it has not met its seeds) is like one that did not answer.
    const bool forming = reply != nullptr && reply->type == proto::Reply::Type::kError &&
                         reply->str.rfind("CLUSTERDOWN", 0) == 0;
    if (reply != nullptr && !(forming && next < targets->size())) {
      slot->parts[part].assign(raw.data(), raw.size());
    } else if (next < targets->size()) {
      ForwardToReplica(client_id, slot, part, fwd, targets, next);
      return;
    } else {
      slot->parts[part] = ErrorReply(err::ForwardUnanswered(where));
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

replication::Coordinator& Worker::coordinator() {
  const Config& cfg = server_->config();
  if (!coordinator_) {
    replication::CoordinatorOptions opts;
    opts.self = server_->cluster()->self().id;
    opts.n_val = server_->cluster()->n_val();
    coordinator_ = std::make_unique<replication::Coordinator>(opts, &keyspace_);
    coordinator_->set_health(&health_);
    coordinator_->set_ring(&cluster_view().ring);
  }
  cluster_view();  // the coordinator routes with the current ring and judgement
  coordinator_->set_timeout_ms(cfg.cluster_request_timeout_ms());
  coordinator_->set_sloppy(cfg.sloppy_quorum());
  return *coordinator_;
}

void Worker::Coordinate(Message m) {
  server_->stats().cluster_coordinated.fetch_add(1, std::memory_order_relaxed);
  const Config& cfg = server_->config();
  coordinator();
  replication::CommandPlan plan = PlanCommand(*m.spec, m.argv, cfg.read_quorum(),
                                              cfg.write_quorum(), cfg.replicas());
  replication::CommandEffects fx;
  fx.reserve(4);
  uint64_t id = coordinator_->Start(NowMs(), std::move(plan), &fx);
  coordinating_[id] = std::move(m);
  RunEffects(&fx);
}

bool Worker::ReportLocalStores() {
  if (!coordinator_) return false;
  replication::CommandEffects fx;
  coordinator_->ReportLocalCommits(NowMs(), &fx);
  if (fx.empty()) return false;
  RunEffects(&fx);
  // Requests to peers that this queued are flushed by their links' prepare callbacks, which
  // already ran in this loop turn: make the loop turn again at once.
  Wake();
  return true;
}

void Worker::FinishCoordinated(Message m, std::string reply) {
  m.slot->parts[m.part] = std::move(reply);
  if (m.origin == id_) {
    PartDone(m.client_id, m.slot);
    return;
  }
  DoneAfterCommit(std::move(m));
}

void Worker::RunEffects(replication::CommandEffects* fx) {
  using Kind = replication::CommandEffect::Kind;
  while (!fx->empty()) {
    replication::CommandEffects batch;
    batch.swap(*fx);
    for (replication::CommandEffect& e : batch) {
      if (e.kind == Kind::kSend) {
        if (e.msg.type == replication::Message::Type::kPutReq && e.msg.repair) {
          server_->stats().cluster_read_repairs.fetch_add(1, std::memory_order_relaxed);
        }
        SendToReplica(e.msg, fx);
        continue;
      }
      auto it = coordinating_.find(e.command);
      if (it == coordinating_.end()) continue;
      if (e.kind == Kind::kRun) {
        cluster_view();  // what it stores is replicated along the current ring
        const Message& m = it->second;
        coordinator_->Run(
            NowMs(), e.command,
            [&] {
              std::string out;
              proto::ReplyWriter w(&out);
              w.set_resp(m.resp);
              ExecuteSpec(nullptr, m.spec, m.argv, &w);
              return out;
            },
            fx);
        continue;
      }
      Message m = std::move(it->second);
      coordinating_.erase(it);
      if (e.quorum_failed) {
        server_->stats().cluster_quorum_failures.fetch_add(1, std::memory_order_relaxed);
      }
      FinishCoordinated(std::move(m), e.error.empty() ? std::move(e.reply) : ErrorReply(e.error));
    }
  }
}

void Worker::SendToReplica(const replication::Message& msg, replication::CommandEffects* fx) {
  transport::PeerLink* link = LinkTo(msg.to);
  // A replica whose link went down is skipped until the link is back: its requests fail at
  // once (the quorum proceeds with the others; read repair brings it up to date later) rather
  // than waiting in the reconnecting link and arriving late.
  if (link == nullptr ||
      (link->state() != transport::PeerLink::State::kReady && link->failures() > 0)) {
    coordinator_->OnSendFailed(NowMs(), msg.op, msg.to, fx, /*not_sent=*/link != nullptr);
    return;
  }
  // The reply's decoding needs the request's identity, not its record.
  replication::Message req = transport::RequestIdentity(msg);
  link->Send(transport::RequestArgv(msg), [this, req](const proto::Reply* reply, std::string_view) {
    if (!coordinator_) return;
    replication::CommandEffects fx;  // often none: a reply after the quorum completes nothing
    if (reply == nullptr) {
      coordinator_->OnSendFailed(NowMs(), req.op, req.to, &fx);
    } else {
      coordinator_->OnMessage(NowMs(), transport::ResponseOf(req, *reply), &fx);
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
  auto link = std::make_unique<transport::PeerLink>(
      &loop_, PeerOptions(m->host, m->cport),
      [this, node](transport::PeerLink::State state) { OnLinkState(node, state); });
  transport::PeerLink* raw = link.get();
  links_[node] = std::move(link);
  return raw;
}

transport::PeerLink* Worker::ForwardLinkTo(NodeId node) {
  auto it = fwd_links_.find(node);
  if (it != fwd_links_.end()) return it->second.get();
  if (stopping_ || node == server_->cluster()->self().id) return nullptr;
  const Member* m = cluster_view().Find(node);
  if (m == nullptr) return nullptr;
  transport::PeerLinkOptions o = PeerOptions(m->host, m->cport);
  // A forwarded command's answer may take a read and a write phase (each up to the request
  // timeout) on the member: give up on it only well past that.
  o.request_timeout_ms *= 2;
  auto link = std::make_unique<transport::PeerLink>(
      &loop_, std::move(o),
      [this, node](transport::PeerLink::State state) { OnLinkState(node, state); });
  transport::PeerLink* raw = link.get();
  fwd_links_[node] = std::move(link);
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
  // A peer that comes back is reconnected to (and judged up) within half a second.
  o.backoff_max_ms = 500;
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
  Server* srv = server_;
  link->Send(transport::MeetArgv(server_->cluster()->self()),
             [srv](const proto::Reply* reply, std::string_view) {
               if (reply == nullptr || reply->type != proto::Reply::Type::kArray) return;
               srv->cluster()->Learn(transport::ParseMembers(*reply));
             });
}

void Worker::ClusterCron(int64_t now_ms) {
  if (coordinator_) {
    replication::CommandEffects fx;
    coordinator_->OnTick(now_ms, &fx);
    RunEffects(&fx);
  }
  DetectFailures(now_ms);
  ReplayHints(now_ms);
  RunAntiEntropy(now_ms);
  // MEET doubles as the heartbeat of idle links: at least every half request timeout, so that
  // a paused peer nobody sends to is still judged down within twice the timeout.
  const int64_t interval =
      std::clamp<int64_t>(server_->config().cluster_request_timeout_ms() / 2, 100, kMeetIntervalMs);
  if (now_ms - last_meet_ms_ < interval) return;
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
  if (replay_) replay_->Reset();
  if (aae_) aae_->Reset();
  coordinating_.clear();
  links_.clear();  // ~PeerLink closes; the loop frees the handles
  fwd_links_.clear();
  seed_links_.clear();
}

Status Worker::ListenPeers() {
  return ListenOn(server_->config().cluster_port(), "cluster", &peer_listeners_);
}

}  // namespace dynis::server
