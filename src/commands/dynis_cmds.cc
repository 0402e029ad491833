// DYNIS: this node's admin views, one container command whose subcommands show the node
// (NODE), a key's placement (PARTITION, PREFLIST), the ring it routes with (RING), the members
// it knows and its links to them (NODES), and a key's local replica (LOCALCTX). The verbs nodes
// speak to each other (DYNIS.HELLO, DYNIS.MEET, ...) are another family: cluster_cmds.cc.
#include "cluster/preflist.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "common/hash.h"
#include "config/config.h"
#include "kv/keyspace.h"

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

void ReplyMember(CommandContext& c, const cluster::Member& m, uint32_t owned) {
  c.reply.Map(7);
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
  c.reply.Bool(m.name == c.node.node_id());
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
  std::vector<cluster::NodeId> pref = cluster::PreflistOf(view->ring, p, Replicas(c)).Nodes();
  auto counts = view->ring.OwnershipCounts();
  c.reply.Array(pref.size());
  for (cluster::NodeId id : pref) {
    const cluster::Member* m = view->Find(id);
    uint32_t owned = 0;
    for (const auto& [n, k] : counts) {
      if (n == id) owned = k;
    }
    ReplyMember(c, *m, owned);
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
      "    Return the key's preference list: the nodes holding its replicas, in order.",
      "NODES",
      "    Return the nodes this node knows: the state of its link to each, and whether it is a",
      "    member or joining (met after the cluster held data: takes no partitions).",
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
       "Show the members this node knows and the state of its link to each", "0.1.0",
       "O(nodes)", {}, {}, "@slow"},
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
