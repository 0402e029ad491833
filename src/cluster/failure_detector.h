// FailureDetector: this node's own judgement of which peers are up (Dynamo §4.8.3: failure
// detection is local; no node needs a global view, and a peer held down is never removed from
// the ring). Pure: evidence and time are inputs.
//
// Timeout-based, not accrual (phi): the evidence is what the node already has, the outcome of
// its requests. A peer is judged down on the first failed request (the engine's deadline,
// `cluster-request-timeout`, passed without its answer; a send that could not be delivered; its
// link lost or refused), and up on the first answer (a reply, a link that completed its
// handshake, an answered probe). Requests to a peer held down stop (fallbacks take its place),
// so a peer held down is probed every `probe_interval_ms` instead; a probe that fails changes
// nothing. This gives the bounds users are told: a killed or paused peer is down within twice
// the request timeout, and up within a probe interval of answering again. A phi detector needs
// a steady heartbeat stream per peer to estimate an arrival distribution and answers in
// probabilities; its benefit (adapting to jittery WAN links) does not apply to a cluster whose
// requests already carry an explicit deadline.
//
// Unknown peers are up. Thread rule: none; ClusterState (cluster/membership.h) guards the
// node's one instance, the simulator keeps one per simulated node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/ring.h"

namespace dynis::cluster {

enum class Health : uint8_t { kUp, kDown };
const char* HealthName(Health h);  // "up" / "down"

struct PeerJudgement {
  Health health = Health::kUp;
  int64_t since_ms = 0;       // the last transition (0: never changed, up since start)
  uint64_t downs = 0;         // transitions to down
  uint64_t ups = 0;           // transitions back up
  int64_t last_probe_ms = 0;  // while down: the last probe sent
  std::string reason;         // why it was last judged down
};

class FailureDetector {
 public:
  static constexpr int64_t kDefaultProbeIntervalMs = 250;
  explicit FailureDetector(int64_t probe_interval_ms = kDefaultProbeIntervalMs)
      : probe_interval_ms_(probe_interval_ms) {}

  // Evidence; each returns true when it changed the judgement (the caller logs it once).
  bool Answered(int64_t now_ms, NodeId peer);
  bool Failed(int64_t now_ms, NodeId peer, std::string_view why);

  bool Up(NodeId peer) const;
  // The judgement of a peer (a default, up, one for a peer never heard of).
  PeerJudgement Of(NodeId peer) const;
  const std::map<NodeId, PeerJudgement>& peers() const { return peers_; }
  // The peers held down, sorted.
  std::vector<NodeId> Down() const;
  // Peers held down whose next probe is due at now_ms; they count as probed now.
  std::vector<NodeId> TakeProbesDue(int64_t now_ms);

  uint64_t transitions() const { return transitions_; }

 private:
  int64_t probe_interval_ms_;
  std::map<NodeId, PeerJudgement> peers_;
  uint64_t transitions_ = 0;
};

}  // namespace dynis::cluster
