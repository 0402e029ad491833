// DYNIS: this node's admin views, one container command whose subcommands show the node
// (NODE), a key's placement (PARTITION, PREFLIST), the ring it routes with (RING), the members
// it knows and its links to them (NODES), and a key's local replica (LOCALCTX). The verbs nodes
// speak to each other (DYNIS.HELLO, DYNIS.MEET, ...) are another family: cluster_cmds.cc.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "cluster/preflist.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/strings.h"
#include "config/config.h"
#include "kv/hints.h"
#include "kv/keyspace.h"
#include "kv/trees.h"
#include "replication/anti_entropy.h"
#include "storage/store.h"

namespace dynis {

namespace {

// DYNIS: this node's identity and a key's placement.
void CmdDynisNode(CommandContext& c) {
  c.reply.Map(4);
  c.reply.Bulk("node-id");
  c.reply.Bulk(c.node.node_id());
  c.reply.Bulk("epoch");
  c.reply.Integer(static_cast<int64_t>(c.node.epoch()));
  c.reply.Bulk("partitions");
  c.reply.Integer(c.node.keyspace_shared().partitions);
  c.reply.Bulk("io-threads");
  c.reply.Integer(c.node.io_threads());
}

void CmdDynisPartition(CommandContext& c) {
  uint64_t h = KeyHash(c.argv[2]);
  uint32_t p = c.ks.PartitionOf(c.argv[2]);
  c.reply.Map(3);
  c.reply.Bulk("hash");
  c.reply.Bulk(std::to_string(h));
  c.reply.Bulk("partition");
  c.reply.Integer(p);
  c.reply.Bulk("io-thread");
  c.reply.Integer(c.node.OwnerOf(p));
}

// The ring this node routes with; a standalone node is a ring of one.
std::shared_ptr<const cluster::ClusterView> RingView(CommandContext& c) {
  if (c.node.in_cluster()) return c.node.cluster_view();
  auto v = std::make_shared<cluster::ClusterView>();
  cluster::Member self;
  self.name = c.node.node_id();
  self.id = KeyHash(self.name);
  self.host = c.node.config().cluster_announce_ip();
  self.port = c.node.config().port();
  v->members = {self};
  v->ring = cluster::Ring(c.node.keyspace_shared().partitions, {self.id},
                          static_cast<uint32_t>(c.node.config().replicas()));
  return v;
}

uint32_t Replicas(CommandContext& c) { return static_cast<uint32_t>(c.node.config().replicas()); }

// entry: the member's place in a preference list (DYNIS PREFLIST, with `view`), else nullptr.
void ReplyMember(CommandContext& c, const cluster::Member& m, uint32_t owned,
                 const cluster::PreflistEntry* entry = nullptr,
                 const cluster::ClusterView* view = nullptr) {
  const bool self = m.name == c.node.node_id();
  c.reply.Map(entry != nullptr ? 11 : 9);
  c.reply.Bulk("node-id");
  c.reply.Bulk(m.name);
  c.reply.Bulk("addr");
  c.reply.Bulk(m.host + ":" + std::to_string(m.port));
  c.reply.Bulk("cluster-addr");
  c.reply.Bulk(m.host + ":" + std::to_string(m.cport));
  c.reply.Bulk("state");
  c.reply.Bulk(!c.node.in_cluster() ? std::string("self") : c.node.LinkState(m.id));
  // joining: met once the cluster held data; takes no partitions (cluster/membership.h).
  c.reply.Bulk("membership");
  c.reply.Bulk(cluster::MemberStateName(m.state));
  c.reply.Bulk("partitions");
  c.reply.Integer(owned);
  c.reply.Bulk("self");
  c.reply.Bool(self);
  // This node's failure detector's judgement (cluster/failure_detector.h), and since when
  // (unix ms; 0: never changed since this node started).
  cluster::PeerJudgement j = self || !c.node.in_cluster() ? cluster::PeerJudgement{}
                                                          : c.node.Judgement(m.id);
  c.reply.Bulk("health");
  c.reply.Bulk(self ? "self" : cluster::HealthName(j.health));
  c.reply.Bulk("health-since");
  c.reply.Integer(j.since_ms);
  if (entry == nullptr) return;
  c.reply.Bulk("role");
  c.reply.Bulk(entry->primary ? "primary" : "fallback");
  c.reply.Bulk("stands-in-for");
  const cluster::Member* primary = entry->primary ? nullptr : view->Find(entry->stands_in_for);
  c.reply.Bulk(primary != nullptr ? primary->name : std::string());
}

void CmdDynisRing(CommandContext& c) {
  auto view = RingView(c);
  const cluster::Ring& ring = view->ring;
  c.reply.Map(5);
  c.reply.Bulk("partitions");
  c.reply.Integer(ring.partitions());
  c.reply.Bulk("replicas");
  c.reply.Integer(Replicas(c));
  c.reply.Bulk("nodes");  // the ring's: joining nodes take no part
  c.reply.Integer(static_cast<int64_t>(ring.members().size()));
  c.reply.Bulk("window-violations");
  c.reply.Integer(ring.WindowViolations(Replicas(c)));
  c.reply.Bulk("ownership");
  auto counts = ring.OwnershipCounts();
  c.reply.Array(counts.size());
  for (const auto& [id, n] : counts) {
    const cluster::Member* m = view->Find(id);
    c.reply.Array(2);
    c.reply.Bulk(m != nullptr ? m->name : std::to_string(id));
    c.reply.Integer(n);
  }
}

void CmdDynisPreflist(CommandContext& c) {
  auto view = RingView(c);
  uint32_t p = c.ks.PartitionOf(c.argv[2]);
  // As this node's coordinator would use it: fallbacks for members it holds down (sloppy).
  const cluster::NodeId self = KeyHash(c.node.node_id());
  cluster::Preflist pref =
      c.node.config().sloppy_quorum()
          ? cluster::PreflistOf(view->ring, p, Replicas(c),
                                [&view, self](cluster::NodeId n) { return n == self || view->Up(n); })
          : cluster::PreflistOf(view->ring, p, Replicas(c));
  auto counts = view->ring.OwnershipCounts();
  c.reply.Array(pref.size());
  for (const cluster::PreflistEntry& e : pref.entries) {
    const cluster::Member* m = view->Find(e.node);
    uint32_t owned = 0;
    for (const auto& [n, k] : counts) {
      if (n == e.node) owned = k;
    }
    ReplyMember(c, *m, owned, &e, view.get());
  }
}

// Pending hints per target: count and bytes from the tally, the oldest from the column family.
// The scan runs on this loop, so it reads at most kHintsScanned hints per target (a sample in
// key order past that, said by `oldest-scanned`).
constexpr uint64_t kHintsScanned = 50000;

void CmdDynisHints(CommandContext& c) {
  const kv::HintLedger* ledger = c.node.keyspace_shared().hints;
  std::map<uint64_t, kv::HintTotals> totals;
  if (ledger != nullptr) totals = ledger->All();
  std::map<uint64_t, int64_t> oldest;
  std::map<uint64_t, uint64_t> scanned_of;
  for (const auto& [target, t] : totals) {
    auto it = c.node.store().NewRangeIterator(storage::Cf::kHints, storage::HintTargetStart(target),
                                              storage::HintTargetEnd(target));
    int64_t min = 0;
    uint64_t scanned = 0;
    for (; it->Valid() && scanned < kHintsScanned; it->Next(), scanned++) {
      kv::HintValue v;
      if (kv::DecodeHintValue(it->value(), &v) && (min == 0 || v.stored_ms < min)) {
        min = v.stored_ms;
      }
    }
    oldest[target] = min;
    scanned_of[target] = scanned;
  }
  auto view = RingView(c);
  c.reply.Array(totals.size());
  for (const auto& [target, t] : totals) {
    const cluster::Member* m = view->Find(target);
    c.reply.Map(6);
    c.reply.Bulk("node-id");
    c.reply.Bulk(m != nullptr ? m->name : std::to_string(target));
    c.reply.Bulk("hints");
    c.reply.Integer(static_cast<int64_t>(t.count));
    c.reply.Bulk("bytes");
    c.reply.Integer(static_cast<int64_t>(t.bytes));
    c.reply.Bulk("oldest");  // unix ms the oldest pending hint was first stored
    c.reply.Integer(oldest[target]);
    c.reply.Bulk("oldest-scanned");  // hints the oldest was taken from (all, up to 50000)
    c.reply.Integer(static_cast<int64_t>(scanned_of[target]));
    c.reply.Bulk("health");
    c.reply.Bulk(c.node.in_cluster() ? cluster::HealthName(c.node.Judgement(target).health)
                                     : "up");
  }
}

void CmdDynisNodes(CommandContext& c) {
  auto view = RingView(c);
  auto counts = view->ring.OwnershipCounts();
  c.reply.Array(view->members.size());
  for (const cluster::Member& m : view->members) {
    uint32_t owned = 0;
    for (const auto& [n, k] : counts) {
      if (n == m.id) owned = k;
    }
    ReplyMember(c, m, owned);
  }
}

void CmdDynisLocalCtx(CommandContext& c) { ReplySiblings(c, c.argv[2]); }

// The (partition, peer) pairs this node exchanges: the partitions it is a primary of (or just
// `only`), each with its other primaries.
std::map<uint32_t, std::vector<cluster::NodeId>> AaePairs(CommandContext& c,
                                                          std::optional<uint32_t> only) {
  std::map<uint32_t, std::vector<cluster::NodeId>> out;
  auto view = c.node.cluster_view();
  if (view == nullptr) return out;
  const cluster::NodeId self = KeyHash(c.node.node_id());
  const uint32_t n = static_cast<uint32_t>(c.node.config().replicas());
  for (uint32_t p = 0; p < c.node.keyspace_shared().partitions; p++) {
    if (only && *only != p) continue;
    std::vector<cluster::NodeId> prim = cluster::Primaries(view->ring, p, n);
    if (std::find(prim.begin(), prim.end(), self) == prim.end()) continue;
    auto& peers = out[p];
    for (cluster::NodeId q : prim) {
      if (q != self) peers.push_back(q);
    }
  }
  return out;
}

void CmdDynisAaeExchange(CommandContext& c) {
  replication::AaeBoard* board = c.node.aae_board();
  if (board == nullptr || c.node.keyspace_shared().trees == nullptr || !c.node.config().aae()) {
    return c.reply.Error(err::kAaeDisabled);
  }
  std::optional<uint32_t> only;
  if (c.argv.size() == 4) {
    uint64_t p = 0;
    if (!ParseUint64(c.argv[3], &p) || p >= c.node.keyspace_shared().partitions) {
      return c.reply.Error(err::kAaeBadPartition);
    }
    only = static_cast<uint32_t>(p);
  }
  int64_t queued = 0;
  for (const auto& [p, peers] : AaePairs(c, only)) queued += static_cast<int64_t>(peers.size());
  board->QueueExchange(c.node.keyspace_shared().workers,
                       only ? static_cast<int64_t>(*only) : int64_t{-1});
  c.reply.Integer(queued);
}

void CmdDynisAae(CommandContext& c) {
  if (c.argv.size() >= 3) {
    if (EqualsIgnoreCase(c.argv[2], "exchange") && c.argv.size() <= 4) {
      return CmdDynisAaeExchange(c);
    }
    return c.reply.Error(err::kSyntax);
  }
  replication::AaeBoard* board = c.node.aae_board();
  const kv::PartitionTrees* trees = c.node.keyspace_shared().trees;
  if (board == nullptr || trees == nullptr) return c.reply.Error(err::kAaeDisabled);
  auto view = c.node.cluster_view();
  const auto pairs = AaePairs(c, std::nullopt);
  const auto seen = board->Snapshot();
  const int64_t now = NowMs();
  c.reply.Array(pairs.size());
  for (const auto& [p, peers] : pairs) {
    const kv::PartitionTrees::Published& t = trees->published(p);
    auto part = seen.find(p);
    c.reply.Map(6);
    c.reply.Bulk("partition");
    c.reply.Integer(p);
    c.reply.Bulk("tree");
    c.reply.Bulk(t.ready.load() ? (t.building.load() ? "ready, rebuilding" : "ready")
                                : (t.building.load() ? "building" : "none"));
    c.reply.Bulk("keys");
    c.reply.Integer(static_cast<int64_t>(t.keys.load()));
    c.reply.Bulk("root");
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(t.root.load()));
    c.reply.Bulk(hex);
    c.reply.Bulk("reaped");
    c.reply.Integer(part != seen.end() ? static_cast<int64_t>(part->second.reaped) : 0);
    c.reply.Bulk("peers");
    c.reply.Array(peers.size());
    for (cluster::NodeId q : peers) {
      const cluster::Member* m = view != nullptr ? view->Find(q) : nullptr;
      replication::AaeBoard::Last last;
      bool known = false;
      if (part != seen.end()) {
        auto it = part->second.peers.find(q);
        if (it != part->second.peers.end()) {
          last = it->second;
          known = true;
        }
      }
      c.reply.Array(6);
      c.reply.Bulk(m != nullptr ? m->name : std::to_string(q));
      c.reply.Integer(known ? now - last.at_ms : -1);  // ms since the last exchange ended
      c.reply.Integer(last.took_ms);
      c.reply.Bulk(known ? last.result : "never");
      c.reply.Integer(static_cast<int64_t>(last.segments));
      c.reply.Integer(static_cast<int64_t>(last.repaired));
    }
  }
}

void CmdDynisHelp(CommandContext& c) {
  static const char* kLines[] = {
      "DYNIS <subcommand> [<arg> ...]. Subcommands are:",
      "NODE",
      "    Return this node's id, actor epoch, partition count and io-threads.",
      "PARTITION <key>",
      "    Return the key's ring position, partition and owning io-thread.",
      "RING",
      "    Return the ring: partitions, replicas, nodes and partitions owned per node.",
      "PREFLIST <key>",
      "    Return the key's preference list as this node uses it: its primaries held up, then",
      "    fallbacks standing in for the ones held down (sloppy quorum).",
      "NODES",
      "    Return the nodes this node knows: the state of its link to each, whether it is a",
      "    member or joining (met after the cluster held data: takes no partitions), and",
      "    whether this node holds it up or down (failure detection) since when.",
      "HINTS",
      "    Return the hints this node keeps for others, per node: count, bytes, oldest.",
      "AAE [EXCHANGE [<partition>]]",
      "    Anti-entropy: per partition this node holds, its hash tree (state, keys, root) and",
      "    the last exchange with each other replica (ms ago, took ms, result, differing",
      "    segments, keys repaired). EXCHANGE starts exchanges now; returns how many.",
      "LOCALCTX <key>",
      "    Like GETCTX, from this node's replica only (no quorum, no repair).",
      "HELP",
      "    Print this help.",
  };
  c.reply.Array(sizeof(kLines) / sizeof(kLines[0]));
  for (const char* l : kLines) c.reply.Simple(l);
}

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterDynisCommands(std::vector<CommandSpec>* out) {
  const uint32_t conn = kCmdConn | kCmdLoading | kCmdStale;
  CommandSpec dynis{"dynis", -2, conn, 0, 0, 0, nullptr, "dynis",
                    "A container for dynis node administration commands", "0.1.0",
                    "Depends on subcommand.", {}, {}, "@slow"};
  dynis.subcommands = {
      {"dynis|node", 2, conn, 0, 0, 0, CmdDynisNode, "dynis",
       "Show this node's id, actor epoch, partitions and io-threads", "0.1.0", "O(1)", {}, {},
       "@slow"},
      {"dynis|partition", 3, conn, 0, 0, 0, CmdDynisPartition, "dynis",
       "Show a key's ring position, partition and owning io-thread", "0.1.0", "O(1)",
       {{"key", "string"}}, {}, "@slow"},
      {"dynis|ring", 2, conn, 0, 0, 0, CmdDynisRing, "dynis",
       "Show the ring: partitions, replicas and partitions owned per node", "0.1.0",
       "O(Q) where Q is the number of partitions", {}, {}, "@slow"},
      {"dynis|preflist", 3, conn, 0, 0, 0, CmdDynisPreflist, "dynis",
       "Show the preference list of a key: the nodes holding its replicas, in order", "0.1.0",
       "O(N)", {{"key", "string"}}, {}, "@slow"},
      {"dynis|nodes", 2, conn, 0, 0, 0, CmdDynisNodes, "dynis",
       "Show the members this node knows, the state of its link to each and its health",
       "0.1.0",
       "O(nodes)", {}, {}, "@slow"},
      {"dynis|hints", 2, conn, 0, 0, 0, CmdDynisHints, "dynis",
       "Show the hints this node keeps for other nodes: count, bytes and oldest per node",
       "0.1.0", "O(H) where H is the number of hints", {}, {}, "@slow"},
      {"dynis|aae", -2, conn, 0, 0, 0, CmdDynisAae, "dynis",
       "Show anti-entropy per partition, or start exchanges now (EXCHANGE [partition])",
       "0.1.0", "O(Q) where Q is the number of partitions",
       {{"exchange", "pure-token", "EXCHANGE", true}, {"partition", "integer", nullptr, true}},
       {}, "@slow"},
      {"dynis|localctx", 3, conn, 0, 0, 0, CmdDynisLocalCtx, "dynis",
       "Get a key's siblings and context from this node's replica only", "0.1.0",
       "O(S) where S is the number of siblings", {{"key", "string"}}, {}, "@read @slow"},
      {"dynis|help", 2, conn, 0, 0, 0, CmdDynisHelp, "dynis",
       "Show helpful text about the different subcommands", "0.1.0", "O(1)", {}, {}, "@slow"},
  };
  out->push_back(std::move(dynis));
}
// clang-format on

}  // namespace dynis
