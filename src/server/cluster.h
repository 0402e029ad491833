// The node-wide cluster state: who the members are and the ring computed from them.
//
// Members come from `cluster-nodes` (seed addresses) and from the peers themselves: every
// second worker 0 sends DYNIS.MEET (its own identity) to each seed and member, and each answer
// lists the members the peer knows, so a node that names only one seed learns the others. The
// ring is a pure function of the member set (cluster/ring.h), so nodes that know the same
// members compute the same ring. Membership only grows here; failure detection is local to
// each link (transport/peer_link.h), and explicit join/leave comes later.
//
// Thread rule: Learn() and View() are safe from any thread. Workers keep the view they last
// loaded and reload it when version() moves (one relaxed atomic load per command).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/ring.h"

namespace dynis::server {

using cluster::NodeId;

struct Member {
  NodeId id = 0;     // KeyHash(name): the ring's identity of the node (and its actor's node)
  std::string name;  // the node id as configured/generated (40 hex characters by default)
  std::string host;  // where peers reach it
  int cport = 0;     // its cluster port
  int port = 0;      // its client port (for DYNIS NODES)
};

// A seed address from cluster-nodes (host:port of a cluster port, checked by Config).
struct Seed {
  std::string addr;  // as configured
  std::string host;
  int port = 0;
};

struct ClusterView {
  uint64_t version = 0;
  std::vector<Member> members;  // sorted by id
  cluster::Ring ring;
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

  // Adds members not known yet (by id); a known id with a new address is updated. Returns
  // true when the view changed; then on_change (set before the loops start) runs with the new
  // member list, e.g. to persist it.
  bool Learn(const std::vector<Member>& members);
  void set_on_change(std::function<void(const std::vector<Member>&)> f) {
    on_change_ = std::move(f);
  }

  // A fresh node routes keys only once it knows every seed (or after kFormingTimeoutMs), so
  // that the first writes do not land on a ring of one: false while forming, with the count
  // of seeds reached in *reached.
  bool Formed(int64_t now_ms, size_t* reached) const;
  static constexpr int64_t kFormingTimeoutMs = 10000;

  // The member list as stored in the meta column family, and back.
  static std::string EncodeMembers(const std::vector<Member>& members);
  static std::vector<Member> DecodeMembers(const std::string& text);
  std::shared_ptr<const ClusterView> View() const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  Member self_;
  std::vector<Seed> seeds_;
  uint32_t partitions_;
  uint32_t n_val_;
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterView> view_;  // guarded by mu_
  std::atomic<uint64_t> version_{0};
  mutable std::atomic<bool> formed_{false};
  int64_t start_ms_;
  std::function<void(const std::vector<Member>&)> on_change_;
};

}  // namespace dynis::server
