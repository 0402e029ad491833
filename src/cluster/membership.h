// Membership: who the cluster's members are and which of them take partitions. Pure and
// deterministic (no I/O, no clock); server/cluster.h feeds it what the peers say and stores it.
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

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace dynis::cluster
