#include "cluster/membership.h"

#include <algorithm>
#include <cstdio>

#include "common/hash.h"

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

MergeResult Merge(Membership* mine, const Membership& heard, NodeId self) {
  MergeResult r;
  const std::vector<Member> old = mine->members;
  const bool was_sealed = mine->sealed;

  // Addresses: new ids are added (joining when this node is sealed: it meets them after its
  // data was placed), known ones take the peer's address, except this node's own.
  std::vector<NodeId> peer_set;
  for (const Member& h : heard.members) {
    if (!ValidMember(h)) continue;
    if (!h.joining()) peer_set.push_back(h.id);
    auto it = std::lower_bound(mine->members.begin(), mine->members.end(), h, ById);
    if (it == mine->members.end() || it->id != h.id) {
      Member m = h;
      m.state = mine->sealed ? MemberState::kJoining : MemberState::kMember;
      mine->members.insert(it, std::move(m));
      r.learned.push_back(h.id);
      r.changed = true;
    } else if (h.id != self && (it->name != h.name || it->host != h.host || it->cport != h.cport ||
                                it->port != h.port)) {
      it->name = h.name;
      it->host = h.host;
      it->cport = h.cport;
      it->port = h.port;
      r.changed = true;
    }
  }

  // Founding sets.
  std::sort(peer_set.begin(), peer_set.end());
  peer_set.erase(std::unique(peer_set.begin(), peer_set.end()), peer_set.end());
  if (heard.sealed && !peer_set.empty()) {
    std::vector<NodeId> own = FoundingSet(*mine);
    bool adopt = false;
    if (!mine->sealed) {
      adopt = true;
    } else if (peer_set != own) {
      if (std::includes(own.begin(), own.end(), peer_set.begin(), peer_set.end())) {
        adopt = true;  // the peer sealed before the extra members arrived
      } else if (!std::includes(peer_set.begin(), peer_set.end(), own.begin(), own.end())) {
        r.diverged = true;  // (a superset: the peer adopts ours when it hears us)
        r.peer_set = peer_set;
      }
    }
    if (adopt) {
      mine->sealed = true;
      for (Member& m : mine->members) {
        m.state = Contains(peer_set, m.id) ? MemberState::kMember : MemberState::kJoining;
      }
      r.adopted = true;
      r.changed = true;
    }
  }
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

}  // namespace dynis::cluster
