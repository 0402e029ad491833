#include "cluster/membership.h"

#include <algorithm>
#include <cstdio>

#include "common/hash.h"
#include "common/log.h"
#include "common/strings.h"

namespace dynis::cluster {

namespace {

bool ById(const Member& a, const Member& b) { return a.id < b.id; }

std::vector<NodeId> FoundingSet(const Membership& m) {
  std::vector<NodeId> out;
  for (const Member& x : m.members) {
    if (!x.joining()) out.push_back(x.id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool Contains(const std::vector<NodeId>& sorted, NodeId id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

}  // namespace

const char* MemberStateName(MemberState s) {
  return s == MemberState::kJoining ? "joining" : "member";
}

bool ParseMemberState(std::string_view word, MemberState* out) {
  if (word == "member") {
    *out = MemberState::kMember;
  } else if (word == "joining") {
    *out = MemberState::kJoining;
  } else {
    return false;
  }
  return true;
}

bool ValidMember(const Member& m) {
  return m.id != 0 && !m.host.empty() && m.cport > 0 && m.cport <= 65535;
}

const Member* Membership::Find(NodeId id) const {
  auto it = std::lower_bound(members.begin(), members.end(), id,
                             [](const Member& m, NodeId x) { return m.id < x; });
  return it != members.end() && it->id == id ? &*it : nullptr;
}

std::vector<NodeId> Membership::RingMembers() const { return FoundingSet(*this); }

namespace {

// Addresses: new ids are added (joining when this node is sealed: it meets them after its data
// was placed), known ones take the peer's address, except this node's own. Returns the peer's
// founding set (the ids it lists as members), sorted.
std::vector<NodeId> MergeAddresses(Membership* mine, const Membership& heard, NodeId self,
                                   MergeResult* r) {
  std::vector<NodeId> peer_set;
  for (const Member& h : heard.members) {
    if (!ValidMember(h)) continue;
    if (!h.joining()) peer_set.push_back(h.id);
    auto it = std::lower_bound(mine->members.begin(), mine->members.end(), h, ById);
    if (it == mine->members.end() || it->id != h.id) {
      Member m = h;
      m.state = mine->sealed ? MemberState::kJoining : MemberState::kMember;
      mine->members.insert(it, std::move(m));
      r->learned.push_back(h.id);
      r->changed = true;
    } else if (h.id != self && (it->name != h.name || it->host != h.host || it->cport != h.cport ||
                                it->port != h.port)) {
      it->name = h.name;
      it->host = h.host;
      it->cport = h.cport;
      it->port = h.port;
      r->changed = true;
    }
  }
  std::sort(peer_set.begin(), peer_set.end());
  peer_set.erase(std::unique(peer_set.begin(), peer_set.end()), peer_set.end());
  return peer_set;
}

// Founding sets: an open node adopts a sealed peer's; a sealed one only a strict subset of its
// own (the peer sealed before the extra members arrived). Neither nested: diverged.
void MergeFoundingSets(Membership* mine, const std::vector<NodeId>& peer_set, MergeResult* r) {
  std::vector<NodeId> own = FoundingSet(*mine);
  bool adopt = false;
  if (!mine->sealed) {
    adopt = true;
  } else if (peer_set != own) {
    if (std::includes(own.begin(), own.end(), peer_set.begin(), peer_set.end())) {
      adopt = true;
    } else if (!std::includes(peer_set.begin(), peer_set.end(), own.begin(), own.end())) {
      r->diverged = true;  // (a superset: the peer adopts ours when it hears us)
      r->peer_set = peer_set;
    }
  }
  if (!adopt) return;
  mine->sealed = true;
  for (Member& m : mine->members) {
    m.state = Contains(peer_set, m.id) ? MemberState::kMember : MemberState::kJoining;
  }
  r->adopted = true;
  r->changed = true;
}

}  // namespace

MergeResult Merge(Membership* mine, const Membership& heard, NodeId self) {
  MergeResult r;
  const std::vector<Member> old = mine->members;
  const bool was_sealed = mine->sealed;
  std::vector<NodeId> peer_set = MergeAddresses(mine, heard, self, &r);
  if (heard.sealed && !peer_set.empty()) MergeFoundingSets(mine, peer_set, &r);
  if (mine->sealed != was_sealed) r.changed = true;
  for (const Member& m : mine->members) {
    if (!m.joining()) continue;
    auto it = std::lower_bound(old.begin(), old.end(), m, ById);
    bool was_joining = it != old.end() && it->id == m.id && it->joining();
    if (!was_joining) r.joining.push_back(m.id);
  }
  if (!r.joining.empty()) r.changed = true;
  return r;
}

bool Seal(Membership* m) {
  if (m->sealed) return false;
  m->sealed = true;
  for (Member& x : m->members) x.state = MemberState::kMember;
  return true;
}

std::string EncodeMembership(const Membership& m) {
  std::string out;
  for (const Member& x : m.members) {
    out += x.name + " " + x.host + " " + std::to_string(x.cport) + " " + std::to_string(x.port);
    if (m.sealed) out += std::string(" ") + MemberStateName(x.state);
    out += "\n";
  }
  return out;
}

Membership DecodeMembership(std::string_view text) {
  Membership out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    char name[256], host[256], state[16];
    int cport = 0, port = 0;
    int fields =
        std::sscanf(line.c_str(), "%255s %255s %d %d %15s", name, host, &cport, &port, state);
    Member m;
    if (fields == 5) {
      if (!ParseMemberState(state, &m.state)) continue;
      out.sealed = true;
    } else if (fields != 4) {
      continue;
    }
    m.name = name;
    m.id = KeyHash(m.name);
    m.host = host;
    m.cport = cport;
    m.port = port;
    if (!ValidMember(m)) continue;
    auto it = std::lower_bound(out.members.begin(), out.members.end(), m, ById);
    if (it != out.members.end() && it->id == m.id) continue;
    out.members.insert(it, std::move(m));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ClusterState: the node-wide membership and the ring.

const Member* ClusterView::Find(NodeId id) const {
  for (const Member& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

bool ClusterView::Knows(const Seed& seed) const {
  for (const Member& m : members) {
    if (m.host == seed.host && m.cport == seed.port) return true;
  }
  return false;
}

ClusterState::ClusterState(Member self, std::vector<std::string> seeds, uint32_t partitions,
                           uint32_t n_val, int64_t start_ms)
    : self_(std::move(self)), partitions_(partitions), n_val_(n_val), start_ms_(start_ms) {
  for (std::string& addr : seeds) {
    Seed seed;
    // Config checked every entry; the host loses an IPv6 address's brackets here, so that it
    // compares equal to a member's announced address.
    if (!ParseHostPort(addr, &seed.host, &seed.port).ok()) continue;
    seed.addr = std::move(addr);
    seeds_.push_back(std::move(seed));
  }
  self_.state = MemberState::kMember;
  membership_.members = {self_};
  auto view = std::make_shared<ClusterView>();
  view->version = 1;
  view->members = membership_.members;
  view->ring = Ring(partitions_, {self_.id}, n_val_);
  view_ = std::move(view);
  version_.store(1, std::memory_order_release);
}

bool ClusterState::Learn(const Membership& heard) {
  std::lock_guard<std::mutex> lock(mu_);
  MergeResult r = Merge(&membership_, heard, self_.id);
  if (!r.changed) return false;
  Publish(r);
  return true;
}

void ClusterState::Restore(const Membership& stored) {
  std::lock_guard<std::mutex> lock(mu_);
  MergeResult r = Merge(&membership_, stored, self_.id);
  if (r.changed) Publish(r, /*restoring=*/true);
}

void ClusterState::SealBeforeData() {
  if (sealed()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!Seal(&membership_)) return;
  LOG_NOTICE(
      "Cluster: this node holds data: membership sealed with %zu members; "
      "nodes met from now on join as 'joining' and take no partitions",
      membership_.members.size());
  Publish(MergeResult{});
}

void ClusterState::LogChanges(const MergeResult& r, bool restoring) {
  const Membership& ms = membership_;
  size_t joining = ms.members.size() - ms.RingMembers().size();
  if (restoring) {
    LOG_NOTICE("Cluster: %zu nodes remembered: %zu members%s, %zu joining", ms.members.size(),
               ms.members.size() - joining, ms.sealed ? " (sealed)" : "", joining);
  }
  for (NodeId id : restoring ? std::vector<NodeId>{} : r.learned) {
    const Member* m = ms.Find(id);
    if (m != nullptr && !m->joining()) {
      LOG_NOTICE("Cluster: learned node %s at %s:%d", m->name.c_str(), m->host.c_str(), m->cport);
    }
  }
  if (r.adopted && !restoring) {
    LOG_NOTICE("Cluster: a peer holds data: membership sealed with its %zu members",
               ms.RingMembers().size());
  }
  // Logged once: joining is sticky.
  for (NodeId id : r.joining) {
    const Member* m = ms.Find(id);
    if (m == nullptr) continue;
    if (id == self_.id) {
      // Said again at every start: this node still serves no partitions.
      LOG_WARNING(
          "Cluster: this node is joining: the cluster's %zu members held data before they "
          "met it. It takes no partitions and forwards every keyed command to them until "
          "ownership handoff exists (a later release)",
          ms.RingMembers().size());
    } else if (!restoring) {
      LOG_WARNING(
          "Cluster: node %s at %s:%d is joining: it was not a member when this cluster "
          "first stored data, so it takes no partitions (ownership handoff, a later "
          "release, will move keys to it); it may serve clients and forwards their "
          "commands",
          m->name.c_str(), m->host.c_str(), m->cport);
    }
  }
  if (r.diverged && std::find(diverged_logged_.begin(), diverged_logged_.end(), r.peer_set) ==
                        diverged_logged_.end()) {
    diverged_logged_.push_back(r.peer_set);
    std::string names;
    for (NodeId id : r.peer_set) {
      const Member* m = ms.Find(id);
      if (m != nullptr) names += " " + m->name;
    }
    LOG_WARNING(
        "Cluster: a peer holds data under other members (%zu:%s) than this node (%zu); "
        "the two groups route keys differently and keys written through one may not be "
        "readable through the other until ownership handoff exists (a later release)",
        r.peer_set.size(), names.c_str(), ms.RingMembers().size());
  }
}

void ClusterState::Publish(const MergeResult& r, bool restoring) {
  LogChanges(r, restoring);
  const Membership& ms = membership_;
  auto view = std::make_shared<ClusterView>();
  view->version = view_->version + 1;
  view->members = ms.members;
  view->sealed = ms.sealed;
  view->down = view_->down;
  std::vector<NodeId> ring_ids = ms.RingMembers();
  if (ring_ids != view_->ring.members()) {
    if (ring_ids.size() < n_val_) {
      LOG_WARNING("Cluster: replicas %u > %zu member nodes: keys have %zu replicas for now", n_val_,
                  ring_ids.size(), ring_ids.size());
    } else {
      LOG_NOTICE("Cluster: %zu member nodes, ring recomputed", ring_ids.size());
    }
    view->ring = Ring(partitions_, ring_ids, n_val_);
  } else {
    view->ring = view_->ring;
  }
  // Stored before any worker routes with it (and, for a seal, before the data it precedes).
  if (on_change_) on_change_(ms);
  view_ = std::move(view);
  sealed_.store(ms.sealed, std::memory_order_release);
  version_.store(view_->version, std::memory_order_release);
}

bool ClusterState::Formed(int64_t now_ms, size_t* reached) const {
  if (formed_.load(std::memory_order_relaxed)) return true;
  std::shared_ptr<const ClusterView> view = View();
  size_t n = 0;
  for (const Seed& seed : seeds_) n += view->Knows(seed) ? 1 : 0;
  if (reached != nullptr) *reached = n;
  if (n < seeds_.size() && now_ms - start_ms_ < kFormingTimeoutMs) return false;
  if (n < seeds_.size()) {
    LOG_WARNING("Cluster: %zu of %zu seeds unreachable after %llds; serving with the nodes known",
                seeds_.size() - n, seeds_.size(), static_cast<long long>(kFormingTimeoutMs / 1000));
  }
  formed_.store(true, std::memory_order_relaxed);
  return true;
}

bool ClusterView::Up(NodeId id) const {
  return down.empty() || !std::binary_search(down.begin(), down.end(), id);
}

void ClusterState::PeerAnswered(int64_t now_ms, NodeId peer) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t since = detector_.Of(peer).since_ms;
  if (!detector_.Answered(now_ms, peer)) return;
  const Member* m = membership_.Find(peer);
  LOG_NOTICE("Cluster: node %s is up again (answered after %.1f s down)",
             m != nullptr ? m->name.c_str() : std::to_string(peer).c_str(),
             static_cast<double>(now_ms - since) / 1000.0);
  PublishHealth();
}

void ClusterState::PeerFailed(int64_t now_ms, NodeId peer, std::string_view why) {
  if (peer == self_.id) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!detector_.Failed(now_ms, peer, why)) return;
  const Member* m = membership_.Find(peer);
  LOG_WARNING("Cluster: node %s is down (%.*s): its keys go to fallbacks with hints",
              m != nullptr ? m->name.c_str() : std::to_string(peer).c_str(),
              static_cast<int>(why.size()), why.data());
  PublishHealth();
}

PeerJudgement ClusterState::Judgement(NodeId peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  return detector_.Of(peer);
}

std::vector<NodeId> ClusterState::TakeProbesDue(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  return detector_.TakeProbesDue(now_ms);
}

void ClusterState::PublishHealth() {
  auto view = std::make_shared<ClusterView>(*view_);
  view->version = view_->version + 1;
  view->down = detector_.Down();
  view_ = std::move(view);
  transitions_.store(detector_.transitions(), std::memory_order_relaxed);
  version_.store(view_->version, std::memory_order_release);
}

std::shared_ptr<const ClusterView> ClusterState::View() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

}  // namespace dynis::cluster
