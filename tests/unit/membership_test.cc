// Specification of cluster::Merge, Seal and the stored form of a membership: a node's member
// set is open until it holds data; ids met after that are joining and never take partitions;
// joining spreads (a node with no data takes a sealed peer's founding set, a sealed node a
// founding set smaller than its own), so every node ends up with the same ring.
#include "cluster/membership.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/hash.h"

namespace dynis::cluster {
namespace {

Member Node(const std::string& name, int cport = 0) {
  Member m;
  m.name = name;
  m.id = KeyHash(name);
  m.host = "10.0.0." + std::to_string(name.size());
  m.cport = cport != 0 ? cport : 17000 + static_cast<int>(m.id % 1000);
  m.port = m.cport - 10000;
  return m;
}

// A node's fresh membership: itself only, open.
Membership Fresh(const std::string& self) { return Membership{{Node(self)}, false}; }

std::vector<NodeId> Ids(std::vector<std::string> names) {
  std::vector<NodeId> out;
  for (const std::string& n : names) out.push_back(KeyHash(n));
  std::sort(out.begin(), out.end());
  return out;
}

MemberState StateOf(const Membership& m, const std::string& name) {
  const Member* x = m.Find(KeyHash(name));
  REQUIRE(x != nullptr);
  return x->state;
}

// What `peer` says in a MEET answer: its members, with their states when sealed.
MergeResult Hear(Membership* mine, const std::string& self, const Membership& peer) {
  return Merge(mine, peer, KeyHash(self));
}

// Five nodes that formed (everyone knows everyone) and stored data (sealed).
Membership SealedFive(const std::string& self) {
  Membership m = Fresh(self);
  Hear(&m, self, Membership{{Node("a"), Node("b"), Node("c"), Node("d"), Node("e")}, false});
  REQUIRE(Seal(&m));
  return m;
}

const std::vector<std::string> kFive = {"a", "b", "c", "d", "e"};

}  // namespace

TEST_CASE("an open membership takes every member it hears as a full member", "[membership]") {
  Membership a = Fresh("a");
  MergeResult r = Hear(&a, "a", Membership{{Node("b"), Node("c")}, false});
  REQUIRE(r.changed);
  REQUIRE(r.learned.size() == 2);
  REQUIRE(r.joining.empty());
  REQUIRE(!a.sealed);
  REQUIRE(a.RingMembers() == Ids({"a", "b", "c"}));
  // Members are kept sorted by id, and hearing the same again changes nothing.
  REQUIRE(std::is_sorted(a.members.begin(), a.members.end(),
                         [](const Member& x, const Member& y) { return x.id < y.id; }));
  REQUIRE(!Hear(&a, "a", Membership{{Node("b"), Node("c")}, false}).changed);
}

TEST_CASE("a sealed membership holds every id met later as joining, for good", "[membership]") {
  Membership a = SealedFive("a");
  REQUIRE(!Seal(&a));                                             // sealed once
  MergeResult r = Hear(&a, "a", Membership{{Node("x")}, false});  // x's own MEET
  REQUIRE(r.changed);
  REQUIRE(r.joining == Ids({"x"}));
  REQUIRE(StateOf(a, "x") == MemberState::kJoining);
  REQUIRE(a.RingMembers() == Ids(kFive));
  // A peer that lists x as a member (an open one, or one whose founding set includes it)
  // does not make x a member here.
  REQUIRE(!Hear(&a, "a", Membership{{Node("x"), Node("b")}, false}).changed);
  Membership wide = SealedFive("b");
  wide.members.insert(
      std::lower_bound(wide.members.begin(), wide.members.end(), Node("x"),
                       [](const Member& p, const Member& q) { return p.id < q.id; }),
      Node("x"));  // sealed knowing x: a founding set of six
  MergeResult w = Hear(&a, "a", wide);
  REQUIRE(!w.changed);
  REQUIRE(!w.diverged);  // a superset: that peer takes ours when it hears us
  REQUIRE(StateOf(a, "x") == MemberState::kJoining);
  REQUIRE(a.RingMembers() == Ids(kFive));
}

TEST_CASE("a new node hears a sealed member: it is joining itself and takes no partitions",
          "[membership]") {
  Membership x = Fresh("x");
  Membership seed = SealedFive("c");
  Hear(&seed, "c", x);                  // x's MEET reaches its seed: joining there
  MergeResult r = Hear(&x, "x", seed);  // the seed's answer
  REQUIRE(r.adopted);
  REQUIRE(x.sealed);
  REQUIRE(r.joining == Ids({"x"}));
  REQUIRE(StateOf(x, "x") == MemberState::kJoining);
  REQUIRE(x.RingMembers() == Ids(kFive));
  for (const std::string& n : kFive) REQUIRE(StateOf(x, n) == MemberState::kMember);
}

TEST_CASE("a member with no data yet takes a sealed peer's founding set", "[membership]") {
  // e met x while open (x is a member there), then hears a member that stored data before x
  // arrived: x becomes joining at e too, so e routes with the same ring as the others.
  Membership e = Fresh("e");
  Hear(&e, "e", Membership{{Node("a"), Node("b"), Node("c"), Node("d"), Node("x")}, false});
  REQUIRE(e.RingMembers().size() == 6);
  Membership a = SealedFive("a");
  Hear(&a, "a", Membership{{Node("x")}, false});
  MergeResult r = Hear(&e, "e", a);
  REQUIRE(r.adopted);
  REQUIRE(r.joining == Ids({"x"}));
  REQUIRE(e.sealed);
  REQUIRE(e.RingMembers() == Ids(kFive));
}

TEST_CASE("a node that sealed knowing a later node converges to the smaller founding set",
          "[membership]") {
  // o stored its first data just after meeting x (a race); a sealed before x arrived.
  Membership o = Fresh("o");
  Hear(&o, "o", Membership{{Node("a"), Node("b"), Node("c"), Node("d"), Node("x")}, false});
  REQUIRE(Seal(&o));
  Membership a = Fresh("a");
  Hear(&a, "a", Membership{{Node("b"), Node("c"), Node("d"), Node("o")}, false});
  REQUIRE(Seal(&a));
  Hear(&a, "a", o);  // x is new to a: joining
  REQUIRE(StateOf(a, "x") == MemberState::kJoining);
  MergeResult r = Hear(&o, "o", a);
  REQUIRE(r.adopted);
  REQUIRE(r.joining == Ids({"x"}));
  REQUIRE(o.RingMembers() == a.RingMembers());
  REQUIRE(o.RingMembers() == Ids({"a", "b", "c", "d", "o"}));
}

TEST_CASE("two groups that stored data apart keep their own rings and report it", "[membership]") {
  Membership a = Fresh("a");
  Hear(&a, "a", Membership{{Node("b"), Node("c")}, false});
  Seal(&a);
  Membership d = Fresh("d");
  Hear(&d, "d", Membership{{Node("e")}, false});
  Seal(&d);
  MergeResult r = Hear(&a, "a", d);
  REQUIRE(r.diverged);
  REQUIRE(r.peer_set == Ids({"d", "e"}));
  REQUIRE(!r.adopted);
  // The other group's nodes are joining here: no keys move, nothing here is demoted.
  REQUIRE(a.RingMembers() == Ids({"a", "b", "c"}));
  REQUIRE(r.joining == Ids({"d", "e"}));
}

TEST_CASE("merging: addresses update except this node's own; invalid members are skipped",
          "[membership]") {
  Membership a = Fresh("a");
  Hear(&a, "a", Membership{{Node("b")}, false});
  Member moved = Node("b", 18001);
  moved.host = "10.9.9.9";
  Member me = Node("a", 18002);
  me.host = "10.9.9.9";
  REQUIRE(Hear(&a, "a", Membership{{moved, me}, false}).changed);
  REQUIRE(a.Find(KeyHash("b"))->host == "10.9.9.9");
  REQUIRE(a.Find(KeyHash("b"))->cport == 18001);
  REQUIRE(a.Find(KeyHash("a"))->host == Node("a").host);
  REQUIRE(a.Find(KeyHash("a"))->cport == Node("a").cport);

  Member no_host = Node("c");
  no_host.host.clear();
  Member bad_port = Node("d");
  bad_port.cport = 70000;
  Member no_id = Node("e");
  no_id.id = 0;
  REQUIRE(!Hear(&a, "a", Membership{{no_host, bad_port, no_id}, false}).changed);
  REQUIRE(a.members.size() == 2);
  // A sealed peer that lists nobody as a member says nothing about founding sets.
  Member j = moved;
  j.state = MemberState::kJoining;
  REQUIRE(!Hear(&a, "a", Membership{{j}, true}).changed);
  REQUIRE(!a.sealed);
}

TEST_CASE("any order of exchanges converges on one ring; a node met after data is joining",
          "[membership]") {
  // Five nodes formed (everyone knows everyone, nothing stored); then, in a random order, some
  // of them store their first data and x appears, meeting one of them, while random pairs
  // exchange MEETs. Afterwards a few full rounds: every node has the same ring, and x is in it
  // only if no node had stored data before it knew x.
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "x"};
  for (uint32_t seed = 1; seed <= 500; seed++) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    std::vector<Membership> ms;
    for (const std::string& n : names) ms.push_back(Fresh(n));
    for (int i = 0; i < 5; i++) {
      for (int j = 0; j < 5; j++) Hear(&ms[i], names[i], Fresh(names[j]));
    }
    bool x_met = false, sealed_before_x = false;
    for (int step = 0; step < 30; step++) {
      int what = static_cast<int>(rng() % 4);
      if (what == 0) {
        int i = static_cast<int>(rng() % 5);
        if (!ms[i].sealed && ms[i].Find(KeyHash("x")) == nullptr) sealed_before_x = true;
        Seal(&ms[i]);  // stores its first data (a no-op when sealed already)
      } else if (what == 1 && !x_met) {
        int seed_node = static_cast<int>(rng() % 5);
        Hear(&ms[seed_node], names[seed_node], Fresh("x"));  // x's MEET to its seed
        Hear(&ms[5], "x", ms[seed_node]);                    // and the answer
        x_met = true;
      } else {
        int i = static_cast<int>(rng() % 6), j = static_cast<int>(rng() % 6);
        if (ms[i].Find(KeyHash(names[j])) == nullptr) continue;  // only known peers are met
        Hear(&ms[j], names[j], Membership{{*ms[i].Find(KeyHash(names[i]))}, false});
        Hear(&ms[i], names[i], ms[j]);
      }
    }
    if (!x_met) {
      for (int i = 0; i < 5; i++) sealed_before_x = sealed_before_x || ms[i].sealed;
      Hear(&ms[0], "a", Fresh("x"));
      Hear(&ms[5], "x", ms[0]);
    }
    for (int i = 0; i < 5; i++) Seal(&ms[i]);  // by now every node holds data
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) {
          if (i != j) Hear(&ms[i], names[i], ms[j]);
        }
      }
    }
    for (int i = 0; i < 6; i++) {
      INFO("node " << names[i]);
      REQUIRE(ms[i].members.size() == 6);
      REQUIRE(ms[i].RingMembers() == ms[0].RingMembers());
    }
    if (sealed_before_x) REQUIRE(ms[0].RingMembers() == Ids(kFive));
    REQUIRE((ms[0].RingMembers() == Ids(kFive) || ms[0].RingMembers() == Ids(names)));
  }
}

TEST_CASE("the stored form: the old four-field lines are an open membership", "[membership]") {
  std::string old = Node("b").name + " 10.0.0.1 17002 7002\n" + "a 10.0.0.1 17001 7001\n";
  Membership m = DecodeMembership(old);
  REQUIRE(!m.sealed);
  REQUIRE(m.members.size() == 2);
  REQUIRE(m.members[0].id < m.members[1].id);
  const Member* a = m.Find(KeyHash("a"));
  REQUIRE(a != nullptr);
  REQUIRE(a->host == "10.0.0.1");
  REQUIRE(a->cport == 17001);
  REQUIRE(a->port == 7001);
  REQUIRE(a->state == MemberState::kMember);
  // Written back open, it is the same text in id order.
  REQUIRE(DecodeMembership(EncodeMembership(m)).members.size() == 2);
  REQUIRE(EncodeMembership(m).find("member") == std::string::npos);
}

TEST_CASE("the stored form of a sealed membership keeps each state", "[membership]") {
  Membership a = SealedFive("a");
  Hear(&a, "a", Membership{{Node("x")}, false});
  std::string text = EncodeMembership(a);
  REQUIRE(text.find(Node("x").name + " " + Node("x").host + " " + std::to_string(Node("x").cport) +
                    " " + std::to_string(Node("x").port) + " joining\n") != std::string::npos);
  Membership back = DecodeMembership(text);
  REQUIRE(back.sealed);
  REQUIRE(back.members.size() == 6);
  REQUIRE(back.RingMembers() == Ids(kFive));
  REQUIRE(StateOf(back, "x") == MemberState::kJoining);
  REQUIRE(EncodeMembership(back) == text);
  // Restored into a fresh node (its own entry first), it is the same membership.
  Membership restart = Fresh("a");
  Hear(&restart, "a", back);
  REQUIRE(restart.sealed);
  REQUIRE(restart.RingMembers() == Ids(kFive));
  REQUIRE(StateOf(restart, "x") == MemberState::kJoining);
  // Unparseable lines, unknown states and repeated ids are skipped.
  Membership junk = DecodeMembership("garbage\nb 10.0.0.1 17002\nc 10.0.0.1 17003 7003 maybe\n" +
                                     text + text.substr(0, text.find('\n') + 1) + "\n");
  REQUIRE(junk.members.size() == 6);
  REQUIRE(junk.RingMembers() == Ids(kFive));
}

}  // namespace dynis::cluster
