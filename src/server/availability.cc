// The worker's side of failure detection and hinted handoff (docs/ARCHITECTURE.md): the
// node's judgement of its peers as this loop's coordinator and replay see it (Worker::Health,
// over ClusterState's detector), the evidence only a worker has (its links' state, their
// oldest unanswered request, probes of peers held down), and carrying HintReplay's sends over
// this loop's peer links.
#include <algorithm>

#include "common/clock.h"
#include "server/server.h"
#include "transport/verbs.h"

namespace dynis::server {

bool Worker::Health::Up(NodeId node) const {
  return w_->view_ == nullptr || w_->view_->Up(node);
}

void Worker::Health::Answered(int64_t now_ms, NodeId node) {
  // The hot path: one empty-vector check while every peer is up.
  if (Up(node)) return;
  w_->server_->cluster()->PeerAnswered(now_ms, node);
}

void Worker::Health::Failed(int64_t now_ms, NodeId node, const char* why) {
  if (!Up(node)) return;
  w_->server_->cluster()->PeerFailed(now_ms, node, why);
}

void Worker::OnLinkState(NodeId node, transport::PeerLink::State state) {
  if (stopping_) return;
  // A completed handshake is an answer: the peer's loop runs and knows the secret. A link that
  // failed (refused, reset, handshake or request timeout) is a failed request.
  if (state == transport::PeerLink::State::kReady) {
    health_.Answered(NowMs(), node);
  } else if (state == transport::PeerLink::State::kBackoff) {
    health_.Failed(NowMs(), node, "its link failed");
  }
}

void Worker::DetectFailures(int64_t now_ms) {
  const int64_t timeout = server_->config().cluster_request_timeout_ms();
  // A request unanswered for the request timeout: a paused or wedged peer, long before its
  // link gives up on it (3x) and whatever the engine's operations waited for.
  for (auto& [node, link] : links_) {
    if (link->state() != transport::PeerLink::State::kReady || !health_.Up(node)) continue;
    const int64_t age = link->OldestRequestAgeMs();
    if (age < timeout) continue;
    // A request sent before the peer was last judged up says nothing new: the peer answered
    // something since (it may still be working through a backlog).
    if (server_->cluster()->Judgement(node).since_ms > now_ms - age) continue;
    health_.Failed(now_ms, node, "no answer within cluster-request-timeout");
  }
  // Probes of the peers held down, from one loop: a PING on its link (a link in backoff
  // reconnects by itself, and its handshake is the answer).
  if (id_ != 0) return;
  for (NodeId node : server_->cluster()->TakeProbesDue(now_ms)) {
    transport::PeerLink* link = LinkTo(node);
    if (link == nullptr || link->state() == transport::PeerLink::State::kBackoff) continue;
    replication::Message probe;
    probe.type = replication::Message::Type::kProbeReq;
    link->Send(transport::RequestArgv(probe), [this, node](const proto::Reply* reply,
                                                           std::string_view) {
      if (reply != nullptr && reply->type != proto::Reply::Type::kError) {
        health_.Answered(NowMs(), node);
      }
    });
  }
}

void Worker::ReplayHints(int64_t now_ms) {
  kv::HintLedger* ledger = server_->keyspace_shared().hints;
  if (ledger == nullptr) return;
  const Config& cfg = server_->config();
  if (id_ == 0 && now_ms - last_rate_ms_ >= 1000) {
    const uint64_t replayed = ledger->replayed.load(std::memory_order_relaxed);
    ledger->replay_rate.store(
        last_rate_ms_ == 0 ? 0 : (replayed - last_replayed_) * 1000 / (now_ms - last_rate_ms_),
        std::memory_order_relaxed);
    last_replayed_ = replayed;
    last_rate_ms_ = now_ms;
  }
  if (!ledger->Any() && (!replay_ || replay_->inflight() == 0)) return;
  if (!replay_) {
    replication::HandoffOptions o;
    o.self = server_->cluster()->self().id;
    replay_ = std::make_unique<replication::HintReplay>(o, &keyspace_);
  }
  // The node's rate, shared by its loops.
  const int64_t rate = cfg.hint_replay_rate();
  replay_->set_rate(rate == 0 ? 0 : std::max<int64_t>(1, rate / server_->worker_count()));
  replay_->set_timeout_ms(std::max<int64_t>(3 * cfg.cluster_request_timeout_ms(), 1000));
  cluster_view();
  std::vector<replication::Message> sends;
  replay_->OnTick(now_ms, &health_, &sends);
  for (replication::Message& m : sends) {
    transport::PeerLink* link = LinkTo(m.to);
    if (link == nullptr || link->state() != transport::PeerLink::State::kReady) {
      // Not sent: this loop's link is not back yet, no news about the peer (no health).
      replay_->OnSendFailed(now_ms, m.op, nullptr);
      continue;
    }
    replication::Message req = transport::RequestIdentity(m);  // m.handoff is set
    link->Send(transport::RequestArgv(m), [this, req](const proto::Reply* reply, std::string_view) {
      if (!replay_) return;
      if (reply == nullptr) {
        replay_->OnSendFailed(NowMs(), req.op, &health_);
        return;
      }
      replay_->OnResponse(NowMs(), transport::ResponseOf(req, *reply), &health_);
      // The target's batch is answered: the next one goes out now, not at the next cron.
      if (replay_->Idle(req.to)) ReplayHints(NowMs());
    });
  }
}

}  // namespace dynis::server
