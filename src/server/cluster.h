// The node-wide cluster state: who the members are and the ring computed from them.
//
// Members come from `cluster-nodes` (seed addresses) and from the peers themselves: every
// second worker 0 sends DYNIS.MEET (its own identity) to each seed and member, and each answer
// lists the members the peer knows (with their states once the peer's membership is sealed), so
// a node that names only one seed learns the others. Membership only grows here; failure
// detection is local to each link (transport/peer_link.h), and explicit join/leave comes later.
//
// The merging rule is cluster/membership.h: a node's membership is open until it first holds
// data (SealBeforeData, called before a worker commits its first data batch), and ids met after
// that are `joining`: they take no partitions, so a node that appears cannot take over keys it
// does not hold. The ring is a pure function of the non-joining member ids (cluster/ring.h), so
// nodes that agree on the founding set compute the same ring.
//
// Thread rule: Learn(), SealBeforeData() and View() are safe from any thread; Restore() and
// set_on_change() run before the loops start. Workers keep the view they last loaded and
// reload it when version() moves (one relaxed atomic load per command).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/membership.h"
#include "cluster/ring.h"

namespace dynis::server {

using cluster::Member;
using cluster::NodeId;

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
  cluster::Ring ring;           // of the members that are not joining
  const Member* Find(NodeId id) const;
  // Whether a known member listens at the seed's address.
  bool Knows(const Seed& seed) const;
};

class Cluster {
 public:
  Cluster(Member self, std::vector<std::string> seeds, uint32_t partitions, uint32_t n_val);

  const Member& self() const { return self_; }
  const std::vector<Seed>& seeds() const { return seeds_; }
  uint32_t n_val() const { return n_val_; }

  // Merges what a peer said (cluster::Merge): members not known yet are added (joining once
  // sealed), a known id with a new address is updated, a peer's founding set may be adopted.
  // Returns true when the view changed; then on_change (set before the loops start) runs with
  // the new membership, e.g. to persist it, before any worker can see the new view.
  bool Learn(const cluster::Membership& heard);
  // The membership stored by an earlier run (before on_change is set): merged like a peer's
  // answer, logged as one summary.
  void Restore(const cluster::Membership& stored);
  // Members heard without states (a MEET request: the node itself).
  bool Learn(const std::vector<Member>& members) { return Learn({members, false}); }
  void set_on_change(std::function<void(const cluster::Membership&)> f) {
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

 private:
  // Under mu_: logs what changed, publishes a new view, runs on_change.
  void Publish(const cluster::MergeResult& r, bool restoring = false);
  // What the operator needs to know about a change (under mu_; sticky states log once).
  void LogChanges(const cluster::MergeResult& r, bool restoring);

  Member self_;
  std::vector<Seed> seeds_;
  uint32_t partitions_;
  uint32_t n_val_;
  mutable std::mutex mu_;
  cluster::Membership membership_;                    // guarded by mu_
  std::vector<std::vector<NodeId>> diverged_logged_;  // founding sets reported; guarded by mu_
  std::shared_ptr<const ClusterView> view_;           // guarded by mu_
  std::atomic<uint64_t> version_{0};
  std::atomic<bool> sealed_{false};
  mutable std::atomic<bool> formed_{false};
  int64_t start_ms_;
  std::function<void(const cluster::Membership&)> on_change_;
};

}  // namespace dynis::server
