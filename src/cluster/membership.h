// Membership: who the cluster's members are and which of them take partitions. Pure and
// deterministic (no I/O, no clock); ClusterState below holds the node's copy, which server/ feeds
// with what the peers say and stores in the meta column family.
//
// Until ownership handoff exists, a node that appears once data is stored must not take
// partitions: the ring would move keys to preference lists that do not hold them. So a node's
// membership is *open* until it first holds data, then *sealed*:
//  - open: every member learned is a full member (nodes forming a cluster learn each other);
//  - sealed: the members at the moment of sealing are the *founding set*; they take partitions,
//    and every id learned later is `joining`: known, linked, a valid forwarder, never in a
//    preference list. The founding set never grows (a later release's handoff will).
// A node seals when it is about to store its first data record (Seal), or when it hears a
// sealed peer while open (it adopts the peer's founding set: a member with no data yet must not
// let newcomers in either). A sealed node adopts a peer's founding set only when it is a strict
// subset of its own: the peer sealed knowing fewer nodes, i.e. before those extra nodes
// arrived, so they are the newcomers. Nodes that sealed knowing the same members agree; a node
// that sealed with an extra, later member converges to the smaller set. Two founding sets that
// are not nested (two groups that each stored data before meeting) are left as they are and
// reported (Merge's `diverged`): no rule can merge them without moving data.
//
// The ring is computed from the members that are not joining (RingMembers), so nodes that agree
// on the founding set compute the same ring whatever else they know.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/failure_detector.h"
#include "cluster/ring.h"

namespace dynis::cluster {

enum class MemberState : uint8_t { kMember, kJoining };

// "member" / "joining", and back (false for another word).
const char* MemberStateName(MemberState s);
bool ParseMemberState(std::string_view word, MemberState* out);

struct Member {
  NodeId id = 0;     // KeyHash(name): the ring's identity of the node (and its actor's node)
  std::string name;  // the node id as configured/generated (40 hex characters by default)
  std::string host;  // where peers reach it
  int cport = 0;     // its cluster port
  int port = 0;      // its client port (for DYNIS NODES)
  MemberState state = MemberState::kMember;
  bool joining() const { return state == MemberState::kJoining; }
};

// id set, host non-empty, cluster port in range: the members Merge accepts.
bool ValidMember(const Member& m);

struct Membership {
  std::vector<Member> members;  // sorted by id, ids unique
  // Open: every member is kMember. Sealed: the kMember ones are the founding set.
  bool sealed = false;

  const Member* Find(NodeId id) const;
  // The members that take partitions (the founding set once sealed), sorted.
  std::vector<NodeId> RingMembers() const;
};

struct MergeResult {
  bool changed = false;          // anything differs (members, addresses, states, sealed)
  std::vector<NodeId> learned;   // ids not known before
  std::vector<NodeId> joining;   // ids that became joining here (new ones included)
  bool adopted = false;          // took the peer's founding set
  bool diverged = false;         // both sealed, founding sets neither equal nor nested
  std::vector<NodeId> peer_set;  // the peer's founding set when diverged
};

// Folds what a peer said into `mine`. `heard.members` as the peer lists them (invalid ones are
// skipped; their states count only when heard.sealed). The address of `self` is never taken
// from a peer, but its state is: a node that hears it is joining takes no partitions.
MergeResult Merge(Membership* mine, const Membership& heard, NodeId self);

// Seals an open membership with every member known as the founding set; false when it was
// sealed already.
bool Seal(Membership* m);

// The stored form, one member a line: "name host cport port" while open (the format before
// states existed), "name host cport port member|joining" once sealed. Decode reads both and
// skips lines it cannot parse.
std::string EncodeMembership(const Membership& m);
Membership DecodeMembership(std::string_view text);

// ---------------------------------------------------------------------------------------------
// ClusterState, the node-wide cluster state: who the members are and the ring computed from them.
//
// Members come from `cluster-nodes` (seed addresses) and from the peers themselves: every
// second worker 0 sends DYNIS.MEET (its own identity) to each seed and member, and each answer
// lists the members the peer knows (with their states once the peer's membership is sealed), so
// a node that names only one seed learns the others. Membership only grows here, and explicit
// join/leave comes later; a member judged down (PeerFailed) stays in the ring.
//
// The merging rule is Merge above: a node's membership is open until it first holds
// data (SealBeforeData, called before a worker commits its first data batch), and ids met after
// that are `joining`: they take no partitions, so a node that appears cannot take over keys it
// does not hold. The ring is a pure function of the non-joining member ids (cluster/ring.h), so
// nodes that agree on the founding set compute the same ring.
//
// Thread rule: Learn(), SealBeforeData() and View() are safe from any thread; Restore() and
// set_on_change() run before the loops start. Workers keep the view they last loaded and
// reload it when version() moves (one relaxed atomic load per command).

// A seed address from cluster-nodes (host:port of a cluster port, checked by Config).
struct Seed {
  std::string addr;  // as configured
  std::string host;
  int port = 0;
};

struct ClusterView {
  uint64_t version = 0;
  std::vector<Member> members;  // sorted by id; joining ones included (state)
  bool sealed = false;          // this node's membership is sealed (cluster/membership.h)
  Ring ring;           // of the members that are not joining
  std::vector<NodeId> down;  // sorted: the peers this node judges down (FailureDetector)
  const Member* Find(NodeId id) const;
  bool Up(NodeId id) const;
  // Whether a known member listens at the seed's address.
  bool Knows(const Seed& seed) const;
};

class ClusterState {
 public:
  ClusterState(Member self, std::vector<std::string> seeds, uint32_t partitions, uint32_t n_val,
               int64_t start_ms);

  const Member& self() const { return self_; }
  const std::vector<Seed>& seeds() const { return seeds_; }
  uint32_t n_val() const { return n_val_; }

  // Merges what a peer said (Merge): members not known yet are added (joining once
  // sealed), a known id with a new address is updated, a peer's founding set may be adopted.
  // Returns true when the view changed; then on_change (set before the loops start) runs with
  // the new membership, e.g. to persist it, before any worker can see the new view.
  bool Learn(const Membership& heard);
  // The membership stored by an earlier run (before on_change is set): merged like a peer's
  // answer, logged as one summary.
  void Restore(const Membership& stored);
  // Members heard without states (a MEET request: the node itself).
  bool Learn(const std::vector<Member>& members) { return Learn({members, false}); }
  void set_on_change(std::function<void(const Membership&)> f) {
    on_change_ = std::move(f);
  }

  // Called before this node stores data: seals an open membership (its members become the
  // founding set) and returns once on_change has stored it, so the seal is durable before the
  // data is. One atomic load once sealed.
  void SealBeforeData();
  bool sealed() const { return sealed_.load(std::memory_order_acquire); }

  // A fresh node routes keys only once it knows every seed (or after kFormingTimeoutMs), so
  // that the first writes do not land on a ring of one: false while forming, with the count
  // of seeds reached in *reached.
  bool Formed(int64_t now_ms, size_t* reached) const;
  static constexpr int64_t kFormingTimeoutMs = 10000;

  std::shared_ptr<const ClusterView> View() const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Failure detection (cluster/failure_detector.h), node-wide: every worker reports what its
  // requests, links and probes saw. A change of judgement is logged once, counted, and
  // published in a new view (its `down`), so every worker's next preference list follows it.
  void PeerAnswered(int64_t now_ms, NodeId peer);
  void PeerFailed(int64_t now_ms, NodeId peer, std::string_view why);
  PeerJudgement Judgement(NodeId peer) const;
  // Peers held down that are due a probe (they count as probed now).
  std::vector<NodeId> TakeProbesDue(int64_t now_ms);
  uint64_t health_transitions() const { return transitions_.load(std::memory_order_relaxed); }

 private:
  // Under mu_: logs what changed, publishes a new view, runs on_change.
  void Publish(const MergeResult& r, bool restoring = false);
  // What the operator needs to know about a change (under mu_; sticky states log once).
  void LogChanges(const MergeResult& r, bool restoring);
  // Under mu_: a new view with the detector's judgement, nothing else changed.
  void PublishHealth();

  Member self_;
  std::vector<Seed> seeds_;
  uint32_t partitions_;
  uint32_t n_val_;
  mutable std::mutex mu_;
  Membership membership_;                    // guarded by mu_
  std::vector<std::vector<NodeId>> diverged_logged_;  // founding sets reported; guarded by mu_
  std::shared_ptr<const ClusterView> view_;           // guarded by mu_
  FailureDetector detector_;                          // guarded by mu_
  std::atomic<uint64_t> transitions_{0};
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> sealed_{false};
  mutable std::atomic<bool> formed_{false};
  int64_t start_ms_;
  std::function<void(const Membership&)> on_change_;
};

}  // namespace dynis::cluster
