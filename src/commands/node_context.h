// The node as command handlers see it: the services they use, and nothing of the runtime that
// provides them (server/node_context.h implements it over the server's workers). One instance
// per io-thread ("loop"): the per-loop services (the barrier, the loop's clients and links,
// EXEC's queued commands) act on the loop the handler runs on. Called on that loop only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/membership.h"
#include "common/status.h"

namespace dynis::replication {
class AaeBoard;
}

namespace dynis {

class Config;
class ClientState;
struct CommandSpec;
namespace kv {
struct KeyspaceShared;
}
namespace proto {
class ReplyWriter;
}
namespace storage {
class Store;
}

// The node's counters INFO reports, read at one moment.
struct NodeStats {
  uint64_t connections_received = 0;
  uint64_t commands_processed = 0;
  uint64_t rejected_connections = 0;
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
  uint64_t forwarded_commands = 0;
  uint64_t barriers = 0;
  uint64_t write_batches = 0;
  uint64_t protocol_errors = 0;
  uint64_t output_limit_disconnections = 0;
  uint64_t cluster_forwarded = 0;
  uint64_t cluster_coordinated = 0;
  uint64_t cluster_quorum_failures = 0;
  uint64_t cluster_read_repairs = 0;
  uint64_t peer_health_transitions = 0;  // up -> down and down -> up, by the failure detector
};

class NodeContext {
 public:
  virtual ~NodeContext() = default;

  // Configuration (CONFIG GET/SET, and every option a handler reads).
  virtual Config& config() = 0;

  // Identity and figures of the process, for INFO and DYNIS NODE.
  virtual const std::string& node_id() const = 0;
  virtual uint64_t epoch() const = 0;  // the actor epoch (kv/epoch.h)
  virtual const std::string& run_id() const = 0;
  virtual int64_t start_ms() const = 0;
  virtual int64_t last_save_s() const = 0;
  virtual const std::string& executable() const = 0;
  virtual const std::string& config_file() const = 0;
  virtual int connected_clients() const = 0;
  virtual int io_threads() const = 0;
  // The io-thread owning a partition.
  virtual int OwnerOf(uint32_t partition) const = 0;

  // Storage: the node's one store (KEYS, SCAN, DBSIZE, WATCH, DEBUG, INFO's figures) and the
  // keyspace settings every loop shares (partition count, conflict counter).
  virtual storage::Store& store() = 0;
  virtual const kv::KeyspaceShared& keyspace_shared() const = 0;

  // Counters.
  virtual NodeStats stats() const = 0;
  virtual void ResetStats() = 0;                  // CONFIG RESETSTAT
  virtual void CountKeyspaceLookup(bool hit) = 0;  // keyspace_hits / keyspace_misses

  // The all-loops barrier: every other loop commits its turn and waits until ResumeOthers.
  // False (nothing paused) when the node is shutting down.
  [[nodiscard]] virtual bool PauseOthers() = 0;
  virtual void ResumeOthers() = 0;
  // The clients of loop `loop` (0 .. io_threads()-1). Other loops' clients only while they
  // are paused.
  virtual std::vector<ClientState*> ClientsOf(int loop) = 0;
  // Whether `cl` is a client of this loop, and closing one that is (after its pending output).
  virtual bool OnThisLoop(const ClientState* cl) const = 0;
  virtual void CloseClient(ClientState* cl) = 0;

  // EXEC: commits this loop's writes so far, and runs one queued command here as dispatch
  // would (counted, refused after an I/O error).
  virtual void CommitTurn() = 0;
  virtual void Execute(ClientState* cl, const CommandSpec* spec,
                       const std::vector<std::string>& argv, proto::ReplyWriter* reply) = 0;

  // FLUSHALL: every data record deleted under a new actor epoch. Only inside the barrier.
  virtual Status FlushAll() = 0;
  // Begins a clean shutdown (SHUTDOWN).
  virtual void RequestShutdown() = 0;

  // The cluster: false for a standalone node, which has no view.
  virtual bool in_cluster() const = 0;
  // The membership this node knows (nullptr when standalone).
  virtual std::shared_ptr<const cluster::ClusterView> cluster_view() const = 0;
  // DYNIS.MEET: learns a member that introduced itself; returns the view after. Cluster only.
  virtual std::shared_ptr<const cluster::ClusterView> Meet(const cluster::Member& m) = 0;
  // State of this loop's link to a member: "self", "connected", "connecting", "down".
  virtual std::string LinkState(cluster::NodeId node) = 0;
  // This node's failure detector's judgement of a member. Cluster only.
  virtual cluster::PeerJudgement Judgement(cluster::NodeId node) const = 0;
  // Whether a cluster node has met its seeds (cluster/membership.h ClusterState::Formed); an
  // error reply's text in *refusal when not. Always true standalone.
  virtual bool Formed(std::string* refusal) const {
    (void)refusal;
    return true;
  }
  // Anti-entropy's counters and last exchanges (nullptr: none, e.g. standalone).
  virtual replication::AaeBoard* aae_board() { return nullptr; }
};

}  // namespace dynis
