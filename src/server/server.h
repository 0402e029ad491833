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
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "commands/client_state.h"
#include "commands/command.h"
#include "common/clock.h"
#include "config/config.h"
#include "kv/keyspace.h"
#include "proto/reply.h"
#include "proto/resp_parser.h"
#include "replication/coordinator.h"
#include "cluster/membership.h"
#include "storage/store.h"
#include "transport/peer_link.h"

namespace dynis::server {

using cluster::ClusterState;
using cluster::ClusterView;
using cluster::Member;
using cluster::NodeId;
using cluster::Seed;

class Worker;
class Server;

// One reply in a connection's order that is not ready yet: it waits for other workers.
struct Slot {
  std::vector<std::string> parts;  // one per forwarded part, written by the owning worker
  int remaining = 0;               // parts not back yet (connection's worker only)
  uint32_t combine = 0;            // 0, kCmdSplitSum, kCmdSplitArray, kCmdSplitOk or kCombineExec
  static constexpr uint32_t kCombineExec = 1u << 31;  // EXEC in a cluster: parts verbatim
  bool ready = false;
  std::string data;  // the reply once ready
};

// Joins the per-part replies of a split command into the reply the client expects.
void CombineParts(Slot* slot);
// A listening socket with SO_REUSEPORT (every worker accepts on the same port); -1 and *err.
int OpenListener(const std::string& addr, int port, int backlog, bool exclusive_probe,
                 std::string* err);

// A connection: the state commands see (commands/client_state.h) and the loop's own buffers.
class Client final : public ClientState {
 public:
  Client(Worker* w, uint64_t id);

  Worker* worker() const { return worker_; }

  size_t query_buffer_bytes() const override { return in_.size(); }
  size_t output_bytes() const override { return out_.size() + writing_.size(); }
  size_t pending_replies() const override { return slots_.size(); }

 private:
  friend class Worker;
  Worker* worker_;
  uv_tcp_t tcp_;
  uv_write_t write_req_;
  std::string in_;
  std::string out_;
  std::string writing_;  // the bytes of the uv_write in flight
  proto::RequestParser parser_;
  std::deque<std::shared_ptr<Slot>> slots_;
  bool reading_ = false;
  bool parked_ = false;  // waiting for its forwarded commands before the next one
  bool has_parked_argv_ = false;
  std::vector<std::string> parked_argv_;  // the command that waits for them
  bool closing_ = false;
  bool dirty_ = false;  // has output to write this turn
  bool wrote_this_turn_ = false;
  int64_t soft_limit_since_ms_ = 0;
};

// A message between workers.
struct Message {
  enum class Kind { kExec, kDone } kind = Kind::kExec;  // run a command; its reply is ready
  int origin = 0;                                       // worker of the connection
  uint64_t client_id = 0;
  std::shared_ptr<Slot> slot;
  int part = 0;
  std::vector<std::string> argv;  // kExec
  const CommandSpec* spec = nullptr;
  int resp = 2;
  bool coordinate = false;  // kExec in a cluster: coordinate the command's replication
};

class Worker {
 public:
  Worker(Server* server, int id);
  ~Worker();

  int id() const { return id_; }
  Server& server() { return *server_; }
  kv::Keyspace& keyspace() { return keyspace_; }
  uv_loop_t* loop() { return &loop_; }
  const std::unordered_map<uint64_t, Client*>& clients() const { return clients_; }

  Status Listen();  // opens this worker's SO_REUSEPORT listeners
  void Start();     // runs the loop on a new thread
  void Join();

  // Thread-safe: queue a message for this worker and wake it.
  void Post(Message msg);
  void PostBatch(std::vector<Message>* msgs);
  void Wake();

  // Commits this turn's writes; on failure the connections that wrote are closed unanswered.
  void CommitTurn();
  // Marks a client of this worker to be closed (after its pending output when graceful).
  void CloseClient(Client* c);

  // Runs a command's handler here (counting it, refusing writes after an I/O error). Used by
  // dispatch and by EXEC for its queued commands.
  void ExecuteSpec(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                   proto::ReplyWriter* w);

  // Number of connections this worker serves.
  size_t client_count() const { return clients_.size(); }

  // Cluster (server/cluster.cc). The membership view this worker routes with.
  const cluster::ClusterView& cluster_view();
  // This worker's link to a member (created on first use); nullptr for self or unknown.
  transport::PeerLink* LinkTo(NodeId node);
  // State of this worker's link to a member: "self", "connected", "connecting", "down".
  std::string LinkState(NodeId node);

 private:
  friend class Server;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnClose(uv_handle_t* h);
  static void OnAsync(uv_async_t* a);
  static void OnPrepare(uv_prepare_t* p);
  static void OnCron(uv_timer_t* t);

  void Accept(uv_stream_t* listener);
  void ProcessInput(Client* c);
  // Runs or routes one parsed command. Returns false when the client must stop processing
  // input for now (parked, closing).
  bool Dispatch(Client* c, std::vector<std::string>& argv);
  void ExecuteLocal(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                    std::string* out);

  // Sends the command to its owner (one_owner) or, split per key, to each key's owner.
  void Forward(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
               const std::vector<int>& owners, bool one_owner);
  void AppendReply(Client* c, std::string_view bytes);
  void CompleteSlots(Client* c);
  void MarkDirty(Client* c);
  void FlushClient(Client* c);
  void HandleMessages();
  void ServicePause();
  void Shutdown();
  void CheckOutputLimits(Client* c, int64_t now_ms);
  // Closes the client when its pending output exceeds the hard limit; true when it did.
  bool OverHardOutputLimit(Client* c);

  // Cluster (server/cluster.cc).
  Status ListenPeers();
  // Opens this worker's SO_REUSEPORT listeners on `port` at every bind address.
  Status ListenOn(int port, const char* what, std::vector<uv_tcp_t*>* out);
  // Routes a keyed client command through the replication engine; false like Dispatch.
  bool ClusterDispatch(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                       bool forwarded);
  // EXEC in a cluster: the queued commands run as parts of one reply, each replicated.
  bool ClusterExec(Client* c);
  void RoutePart(Client* c, const std::shared_ptr<Slot>& slot, int part, const CommandSpec* spec,
                 std::vector<std::string> argv, bool forwarded);
  // Sends a DYNIS.FWD to targets[next], then (when it gets no answer) to the following ones.
  void ForwardToReplica(uint64_t client_id, std::shared_ptr<Slot> slot, int part,
                        std::shared_ptr<std::vector<std::string>> fwd,
                        std::shared_ptr<std::vector<NodeId>> targets, size_t next);
  void Coordinate(Message m);
  // Tells the engine how the commits of coordinated puts' local copies went (CommitTurn records
  // them). Called where running more commands is safe (OnPrepare); true when that completed
  // something, which may have written again.
  bool ReportLocalStores();
  void FinishCoordinated(Message m, std::string reply);
  void PartDone(uint64_t client_id, const std::shared_ptr<Slot>& slot);
  void RunEffects(replication::CommandEffects* fx);
  void SendToReplica(const replication::Message& msg, replication::CommandEffects* fx);
  void ClusterCron(int64_t now_ms);
  void SendMeet(transport::PeerLink* link);
  transport::PeerLinkOptions PeerOptions(const std::string& host, int port) const;
  void CloseLinks();

  Server* server_;
  int id_;
  uv_loop_t loop_;
  std::vector<uv_tcp_t*> listeners_;
  std::vector<uv_tcp_t*> peer_listeners_;  // the cluster port
  std::unique_ptr<replication::Coordinator> coordinator_;
  std::unordered_map<NodeId, std::unique_ptr<transport::PeerLink>> links_;
  std::unordered_map<std::string, std::unique_ptr<transport::PeerLink>> seed_links_;  // worker 0
  std::unordered_map<uint64_t, Message> coordinating_;  // by the coordinator's command id
  std::shared_ptr<const cluster::ClusterView> view_;
  int64_t last_meet_ms_ = 0;
  uv_async_t async_;
  uv_prepare_t prepare_;
  uv_timer_t cron_;
  std::thread thread_;
  kv::Keyspace keyspace_;
  std::unordered_map<uint64_t, Client*> clients_;
  std::vector<Client*> dirty_;
  std::vector<Client*> wrote_;                // clients whose writes are in this turn
  std::vector<std::vector<Message>> outbox_;  // per target worker, sent after commit
  std::vector<Message> done_after_commit_;    // replies to other workers' requests
  std::mutex inbox_mu_;
  std::vector<Message> inbox_;
  std::vector<Message> inbox_work_;
  char read_buf_[64 * 1024];
  bool stopping_ = false;
};

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
  void WalSyncLoop();
  // Applies the mutable config values that lower layers cache (at start and on CONFIG SET).
  void ApplyConfig();

  Config* config_;
  std::unique_ptr<cluster::ClusterState> cluster_;
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
