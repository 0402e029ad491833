// The node-to-node verbs served on the cluster port (kCmdInternal: a client on the client port
// never sees them, and a connection on the cluster port must authenticate first):
//   DYNIS.HELLO <cluster> <link-nonce>    -> [server-nonce, server-proof]
//   DYNIS.AUTH <link-proof>               -> +OK (the connection may now use the verbs below)
//   DYNIS.MEET <name> <host> <cport> <port> -> the members this node knows, as
//                                            [[name, host, cport, port], ...], each with a
//                                            fifth element, member|joining, once this node's
//                                            membership is sealed (cluster/membership.h)
//   DYNIS.GETREC <key>                    -> this replica's record of key (nil when absent)
//   DYNIS.PUTREC <key> <record>           -> +OK once the record is merged and stored
//   DYNIS.AAE <partition> <step> [args]  -> anti-entropy (transport/verbs.h): served by the
//                                            loop owning the partition, from its hash tree
//   DYNIS.FWD <resp> <command> [args...]  -> handled by dispatch: the command, coordinated here
// The replica verbs are keyed, so they run on the worker owning the key's partition, and a
// PUTREC's reply leaves only after the worker's write batch is committed, like any write.
#include "cluster/membership.h"
#include "commands/client_state.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "common/log.h"
#include "config/config.h"
#include "kv/keyspace.h"
#include "replication/anti_entropy.h"
#include "replication/replica.h"
#include "transport/peer_auth.h"
#include "transport/verbs.h"

namespace dynis {

namespace {

void RefusePeer(CommandContext& c, const std::string& why) {
  LOG_WARNING("Refused peer %s: %s", c.client->addr.c_str(), why.c_str());
  c.reply.Error(err::PeerAuthFailed(why));
  c.client->close_after_reply = true;
}

void CmdPeerHello(CommandContext& c) {
  ClientState* cl = c.client;
  if (!cl->peer_port) {
    c.reply.Error(err::kHelloClusterPortOnly);
    return;
  }
  const Config& cfg = c.node.config();
  if (!c.node.in_cluster()) return RefusePeer(c, "this node is not in a cluster");
  if (c.argv[1] != cfg.cluster_name()) {
    return RefusePeer(
        c, "cluster name '" + c.argv[1].substr(0, 64) + "' is not '" + cfg.cluster_name() + "'");
  }
  if (c.argv[2].size() < 16 || c.argv[2].size() > 128) return RefusePeer(c, "bad nonce");
  cl->peer_link_nonce = c.argv[2];
  cl->peer_server_nonce = transport::RandomNonce();
  c.reply.Array(2);
  c.reply.Bulk(cl->peer_server_nonce);
  c.reply.Bulk(transport::PeerProof(cfg.cluster_secret(), "server", cfg.cluster_name(),
                                    cl->peer_link_nonce, cl->peer_server_nonce));
}

void CmdPeerAuth(CommandContext& c) {
  ClientState* cl = c.client;
  if (!cl->peer_port || cl->peer_server_nonce.empty()) {
    return RefusePeer(c, "DYNIS.AUTH before DYNIS.HELLO");
  }
  const Config& cfg = c.node.config();
  std::string expected = transport::PeerProof(cfg.cluster_secret(), "link", cfg.cluster_name(),
                                              cl->peer_server_nonce, cl->peer_link_nonce);
  cl->peer_server_nonce.clear();  // one attempt per challenge
  if (!transport::ConstantTimeEquals(expected, c.argv[1])) {
    return RefusePeer(c, "wrong cluster secret");
  }
  cl->peer_authenticated = true;
  cl->authenticated = true;
  cl->name = "peer";
  c.reply.Ok();
}

void CmdPeerMeet(CommandContext& c) {
  if (!c.node.in_cluster()) {
    c.reply.Error(err::kNotInCluster);
    return;
  }
  cluster::Member m;
  if (!transport::ParseMeet(c.argv, &m)) {
    c.reply.Error(err::kBadMeet);
    return;
  }
  transport::WriteMembers(*c.node.Meet(m), &c.reply);
}

// DYNIS.GETREC and DYNIS.PUTREC: served by the vnode of the key's partition; the answer leaves
// only after the worker's batch holding a merge is committed.
void CmdPeerRecord(CommandContext& c) {
  replication::Message req;
  if (!transport::ParseRequest(c.argv, &req)) return c.reply.Error(err::kSyntax);
  // A node that has not met its seeds yet (a fresh or wiped data dir) stores nothing for
  // peers: its first record seals its membership, and sealed with only the members it knows
  // now (itself) it would hand every peer a founding set of one. It waits for a peer's
  // sealed set (MEET), as its own clients do.
  std::string forming;
  if (req.type == replication::Message::Type::kPutReq && !c.node.Formed(&forming)) {
    return c.reply.Error(forming);
  }
  // The test hook of a silently lost write (DEBUG REPLICA-PUT-DROP): acknowledged, not stored.
  std::atomic<int64_t>& drops = c.ks.shared().drop_replica_puts;
  if (req.type == replication::Message::Type::kPutReq && req.hint_for == 0 &&
      drops.load(std::memory_order_relaxed) > 0 &&
      drops.fetch_sub(1, std::memory_order_relaxed) > 0) {
    c.reply.Ok();
    return;
  }
  replication::Message resp = replication::ServeReplica(c.ks.VnodeOf(req.key), req);
  transport::WriteResponse(resp, &c.reply);
}

// DYNIS.AAE: the answering side of an exchange, on the loop owning the partition.
void CmdPeerAae(CommandContext& c) {
  replication::AaeRequest req;
  if (!transport::ParseAae(c.argv, &req)) return c.reply.Error(err::kSyntax);
  const kv::KeyspaceShared& shared = c.ks.shared();
  if (shared.trees == nullptr) return c.reply.Error(err::kAaeDisabled);
  std::string forming;  // as for PUTREC: nothing stored (reaped) before the seeds are met
  if (!c.node.Formed(&forming)) return c.reply.Error(forming);
  replication::AaeResponse resp =
      replication::ServeAae(c.ks, *shared.trees, shared.hints, req, c.node.aae_board());
  transport::WriteAaeResponse(resp, &c.reply);
}

void CmdPeerFwd(CommandContext& c) {
  // Dispatch unwraps DYNIS.FWD before lookup; reaching here means it was malformed.
  c.reply.Error(err::kBadFwd);
}

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterClusterCommands(std::vector<CommandSpec>* out) {
  // A peer never opens a transaction; if one did, its replication verbs are refused rather
  // than held until an EXEC (kCmdNoMulti).
  const uint32_t peer = kCmdInternal | kCmdConn | kCmdNoMulti | kCmdNoScript | kCmdLoading |
                        kCmdStale;
  out->push_back({"dynis.hello", 3, peer | kCmdNoAuth | kCmdPeerHandshake, 0, 0, 0, CmdPeerHello, "dynis",
                  "Peer handshake: challenge", "0.1.0", "O(1)"});
  out->push_back({"dynis.auth", 2, peer | kCmdNoAuth | kCmdPeerHandshake, 0, 0, 0, CmdPeerAuth, "dynis",
                  "Peer handshake: response", "0.1.0", "O(1)"});
  out->push_back({"dynis.meet", 5, peer, 0, 0, 0, CmdPeerMeet, "dynis",
                  "Exchange membership", "0.1.0", "O(nodes)"});
  out->push_back({"dynis.getrec", 2, kCmdInternal | kCmdNoMulti | kCmdReadOnly | kCmdFast, 1, 1,
                  1, CmdPeerRecord, "dynis", "Read this replica's record of a key", "0.1.0",
                  "O(1)"});
  out->push_back({"dynis.putrec", -3, kCmdInternal | kCmdNoMulti | kCmdWrite | kCmdFast, 1, 1,
                  1, CmdPeerRecord, "dynis", "Merge a record into this replica", "0.1.0", "O(1)"});
  out->push_back({"dynis.aae", -3, kCmdInternal | kCmdNoMulti | kCmdWrite | kCmdPartitionArg, 0,
                  0, 0, CmdPeerAae, "dynis", "Anti-entropy: compare and reap with a peer",
                  "0.1.0", "O(partition)"});
  out->push_back({"dynis.fwd", -4, peer | kCmdPeerForward, 0, 0, 0, CmdPeerFwd, "dynis",
                  "Run a client command forwarded by another node", "0.1.0", "O(1)"});
}
// clang-format on

}  // namespace dynis
