#include "cluster/failure_detector.h"

namespace dynis::cluster {

const char* HealthName(Health h) { return h == Health::kUp ? "up" : "down"; }

bool FailureDetector::Answered(int64_t now_ms, NodeId peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.health == Health::kUp) return false;
  PeerJudgement& p = it->second;
  p.health = Health::kUp;
  p.since_ms = now_ms;
  p.ups++;
  transitions_++;
  return true;
}

bool FailureDetector::Failed(int64_t now_ms, NodeId peer, std::string_view why) {
  PeerJudgement& p = peers_[peer];
  if (p.health == Health::kDown) return false;
  p.health = Health::kDown;
  p.since_ms = now_ms;
  p.downs++;
  // The first probe waits one interval: the failure itself was the latest evidence.
  p.last_probe_ms = now_ms;
  p.reason.assign(why.data(), why.size());
  transitions_++;
  return true;
}

bool FailureDetector::Up(NodeId peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() || it->second.health == Health::kUp;
}

PeerJudgement FailureDetector::Of(NodeId peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? PeerJudgement{} : it->second;
}

std::vector<NodeId> FailureDetector::Down() const {
  std::vector<NodeId> out;
  for (const auto& [id, p] : peers_) {
    if (p.health == Health::kDown) out.push_back(id);
  }
  return out;
}

std::vector<NodeId> FailureDetector::TakeProbesDue(int64_t now_ms) {
  std::vector<NodeId> out;
  for (auto& [id, p] : peers_) {
    if (p.health != Health::kDown || now_ms - p.last_probe_ms < probe_interval_ms_) continue;
    p.last_probe_ms = now_ms;
    out.push_back(id);
  }
  return out;
}

}  // namespace dynis::cluster
