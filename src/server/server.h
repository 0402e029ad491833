// The node's runtime: one libuv loop per core ("worker"), each with its own SO_REUSEPORT
// listener, its clients, and the partitions it owns (partition % workers == worker id).
//
// A connection lives on one worker. A command runs where its data lives: on the connection's
// worker when that worker owns every key, otherwise it is sent as a message to the owning
// worker, which runs it, commits, and sends the reply bytes back; replies always leave in
// request order. Multi-key commands split per key (Dynamo: no isolation across keys). The few
// commands that need every key at once (EXEC, FLUSHALL, cross-owner RENAME) pause all other
// workers with a barrier: rare, and never on the GET/SET path.
//
// Each worker commits the writes of one loop turn as one RocksDB batch before any of that
// turn's replies are written (uv_prepare runs after all callbacks of a turn); reply bytes are
// written from there only, never from another callback of the turn.
//
// Server owns what the workers share: the store, the node's identity, the cluster state, the
// counters, the barrier and the WAL sync thread. The files of server/ (see worker.h for the
// worker's own):
//   server.cc  Run, shutdown, the barrier (PauseOthers/ResumeOthers), WAL sync, ApplyConfig
//   node.cc    Init: data dir, store, node id and epoch, workers, cluster membership
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/membership.h"
#include "common/clock.h"
#include "config/config.h"
#include "kv/keyspace.h"
#include "server/worker.h"
#include "storage/store.h"

namespace dynis::server {

// Counters for INFO (relaxed atomics: any worker increments).
struct Stats {
  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> commands_processed{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> keyspace_hits{0};
  std::atomic<uint64_t> keyspace_misses{0};
  std::atomic<uint64_t> net_input_bytes{0};
  std::atomic<uint64_t> net_output_bytes{0};
  std::atomic<uint64_t> forwarded_commands{0};
  std::atomic<uint64_t> barriers{0};
  std::atomic<uint64_t> write_batches{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> output_limit_disconnections{0};
  std::atomic<uint64_t> cluster_forwarded{0};    // sent to a preference-list member
  std::atomic<uint64_t> cluster_coordinated{0};  // coordinated here
  std::atomic<uint64_t> cluster_quorum_failures{0};
  std::atomic<uint64_t> cluster_read_repairs{0};  // merged records sent to stale replicas
  void Reset();
};

class Server {
 public:
  explicit Server(Config* config);
  ~Server();

  // Opens storage, node identity and listeners. Fails with a message for the log.
  Status Init();
  // Runs until SHUTDOWN, SIGTERM or SIGINT, then stops cleanly.
  void Run();
  // Thread-safe: begin a clean shutdown.
  void RequestShutdown();

  Config& config() { return *config_; }
  storage::Store& store() { return *store_; }
  HybridClock& clock() { return clock_; }
  Stats& stats() { return stats_; }
  const kv::KeyspaceShared& keyspace_shared() const { return ks_shared_; }
  kv::KeyspaceShared& mutable_keyspace_shared() { return ks_shared_; }
  replication::AaeBoard& aae_board() { return aae_board_; }
  int worker_count() const { return static_cast<int>(workers_.size()); }
  Worker& worker(int i) { return *workers_[i]; }
  int OwnerOf(uint32_t partition) const { return static_cast<int>(partition % workers_.size()); }

  const std::string& node_id() const { return node_id_; }
  // The cluster, or nullptr for a standalone node (no cluster-nodes).
  cluster::ClusterState* cluster() { return cluster_.get(); }
  uint64_t epoch() const { return epoch_; }
  // FLUSHALL: deletes every data record under a new actor epoch (kv/epoch.h). Only while every
  // other worker is paused (the actor is shared).
  Status FlushAll();
  int64_t start_ms() const { return start_ms_; }
  int64_t last_save_s() const { return last_save_s_.load(); }
  const std::string& run_id() const { return run_id_; }
  const std::string& config_file() const { return config_file_; }
  void set_config_file(std::string f) { config_file_ = std::move(f); }
  const std::string& executable() const { return executable_; }
  void set_executable(std::string f) { executable_ = std::move(f); }

  uint64_t NextClientId() { return next_client_id_.fetch_add(1) + 1; }
  std::atomic<int>& connected_clients() { return connected_clients_; }

  // The all-workers barrier: every other worker commits its turn and waits until Release.
  // False (nothing paused) when the server is shutting down.
  [[nodiscard]] bool PauseOthers(Worker& self);
  void ResumeOthers();
  bool pause_requested() const { return pause_requested_.load(std::memory_order_acquire); }

 private:
  friend class Worker;
  // Init's steps (node.cc), in order.
  Status OpenStore();
  Status LoadIdentity();  // node id and actor epoch
  Status ShareKeyspace();
  Status CreateWorkers();  // and their listeners
  Status JoinCluster();    // with cluster-nodes: the cluster state and the peer listeners
  Status RestoreMembership();
  Status KeepHints();
  Status KeepTrees();
  void WalSyncLoop();
  // Applies the mutable config values that lower layers cache (at start and on CONFIG SET).
  void ApplyConfig();

  Config* config_;
  std::unique_ptr<cluster::ClusterState> cluster_;
  std::unique_ptr<kv::HintLedger> hints_;  // in a cluster
  std::unique_ptr<kv::PartitionTrees> trees_;  // in a cluster (anti-entropy)
  std::unique_ptr<kv::RecordCache> cache_;     // cache-max-bytes 0 leaves it empty and off
  replication::AaeBoard aae_board_;
  std::unique_ptr<storage::Store> store_;
  HybridClock clock_;
  Stats stats_;
  kv::KeyspaceShared ks_shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::string node_id_;
  uint64_t epoch_ = 0;
  int64_t start_ms_ = 0;
  std::atomic<int64_t> last_save_s_{0};
  std::string run_id_;
  std::string config_file_;
  std::string executable_;
  std::atomic<uint64_t> next_client_id_{0};
  std::atomic<int> connected_clients_{0};
  std::atomic<bool> shutdown_{false};

  std::mutex barrier_mu_;  // held by the worker running an exclusive command
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<bool> pause_requested_{false};
  int paused_ = 0;  // guarded by pause_mu_
  int pause_owner_ = -1;
  uint64_t pause_gen_ = 0;

  std::mutex wal_mu_;
  std::condition_variable wal_cv_;
  std::thread wal_thread_;
};

}  // namespace dynis::server
