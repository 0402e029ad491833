// A worker: one libuv loop on its own thread, with its own SO_REUSEPORT listeners, its clients,
// and the partitions it owns (partition % workers == worker id). Only the worker's thread
// touches its members, except Post/PostBatch/Wake, which any thread may call.
//
// Each worker commits the writes of one loop turn as one RocksDB batch before any of that
// turn's replies are written (uv_prepare runs after all callbacks of a turn); reply bytes are
// written from there only, never from another callback of the turn.
//
// Where its member functions are defined:
//   worker.cc      the loop: start/stop, mailbox, turn commit, barrier participation, cron
//   listener.cc    listening sockets and accepting connections
//   connection.cc  reading, parsing, reply order, writing, output limits, closing
//   admission.cc   the checks a parsed command passes before it runs (Dispatch)
//   routing.cc     where an admitted command runs: here, on its owner, split, or alone
//   cluster.cc     the cluster side: preference lists, coordination, peer links
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/membership.h"
#include "commands/command.h"
#include "kv/keyspace.h"
#include "proto/reply.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/handoff.h"
#include "server/admission.h"
#include "server/connection.h"
#include "server/message.h"
#include "transport/peer_link.h"

namespace dynis::server {

using cluster::ClusterState;
using cluster::ClusterView;
using cluster::Member;
using cluster::NodeId;
using cluster::Seed;

class Worker;
class Server;

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
  // This worker's link to a member for forwarded commands (DYNIS.FWD, created on first use).
  // Their answers wait for a whole coordination on the member (up to the request timeout)
  // and replies come in order, so on LinkTo's link they would hold back every reply behind
  // them: replica answers past their operations' deadlines, probes and heartbeats past the
  // failure detector's timeout, a reachable member judged down. Its requests' age is no
  // evidence of health; its link failing is.
  transport::PeerLink* ForwardLinkTo(NodeId node);
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
  // Admission steps (admission.cc), in Dispatch's order.
  Admission RefuseHttp(Client* c, const std::vector<std::string>& argv);
  Admission GatePeer(Client* c, const std::vector<std::string>& argv);
  Admission LookUp(Client* c, const std::vector<std::string>& argv, const CommandSpec** spec);
  Admission CheckArity(Client* c, const CommandSpec& spec, const std::vector<std::string>& argv);
  Admission CheckAuth(Client* c, const CommandSpec& spec);
  Admission QueueInMulti(Client* c, const CommandSpec& spec, const std::vector<std::string>& argv);
  Admission AnswerQuit(Client* c, const CommandSpec& spec);
  // Answers the error (marking an open transaction failed, so EXEC answers EXECABORT).
  Admission Refuse(Client* c, const std::string& msg);

  // Routing (routing.cc): runs an admitted command where it belongs; false like Dispatch.
  bool Route(Client* c, const CommandSpec* spec, std::vector<std::string>& argv, bool forwarded);
  enum class Placement { kHere, kForwarded, kAlone };
  // Where a keyed command runs by its keys' owners; kForwarded when it was sent (Forward).
  Placement PlaceByKeys(Client* c, const CommandSpec* spec, std::vector<std::string>& argv);
  // Runs after the connection's earlier commands, with the other workers paused if exclusive.
  bool RunAlone(Client* c, const CommandSpec* spec, std::vector<std::string>& argv, bool exclusive);
  bool RunHere(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv);
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
  // Sends a part's reply (already in its slot) back to the worker that asked, once this turn's
  // writes are committed.
  void DoneAfterCommit(Message m);
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
  // RoutePart's steps: a keyless or whole-keyspace part runs here; a keyed part needs its keys
  // in one partition of a formed cluster (else *refusal), then is coordinated by the owning
  // worker when this node is a replica of it, or forwarded to a member of its preference list.
  void RunPartHere(Client* c, const std::shared_ptr<Slot>& slot, int part,
                   const CommandSpec* spec, const std::vector<std::string>& argv);
  std::optional<uint32_t> PartitionOfPart(const std::vector<std::string>& argv,
                                          const std::vector<int>& keys,
                                          std::string* refusal);
  void CoordinatePart(Client* c, const std::shared_ptr<Slot>& slot, int part,
                      const CommandSpec* spec, std::vector<std::string> argv, uint32_t partition);
  void ForwardPart(Client* c, const std::shared_ptr<Slot>& slot, int part, const CommandSpec* spec,
                   std::vector<std::string> argv, std::vector<NodeId> pref);
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
  // Failure detection's inputs beyond the coordinator's: links, old requests, probes.
  void DetectFailures(int64_t now_ms);
  void OnLinkState(NodeId node, transport::PeerLink::State state);
  // Hinted handoff: replays this loop's hints to primaries that are back.
  void ReplayHints(int64_t now_ms);
  // Anti-entropy (server/anti_entropy.cc): builds this loop's trees, runs its exchanges and
  // reap passes, and carries their requests.
  void RunAntiEntropy(int64_t now_ms);
  void SendAae(int64_t now_ms, replication::AaeSends* sends);
  const replication::AaeTopology& AaeTopo();
  // The coordinator, made on first use with this node's options.
  replication::Coordinator& coordinator();
  // The node's judgement of its peers as this loop's coordinator and replay use it: the loaded
  // view's, with evidence passed to ClusterState only when it would change the judgement.
  class Health final : public replication::PeerHealth {
   public:
    explicit Health(Worker* w) : w_(w) {}
    bool Up(NodeId node) const override;
    bool AnyDown() const override { return w_->view_ != nullptr && !w_->view_->down.empty(); }
    void Answered(int64_t now_ms, NodeId node) override;
    void Failed(int64_t now_ms, NodeId node, const char* why) override;

   private:
    Worker* w_;
  };
  transport::PeerLinkOptions PeerOptions(const std::string& host, int port) const;
  void CloseLinks();

  Server* server_;
  int id_;
  uv_loop_t loop_;
  std::vector<uv_tcp_t*> listeners_;
  std::vector<uv_tcp_t*> peer_listeners_;  // the cluster port
  std::unique_ptr<replication::Coordinator> coordinator_;
  std::unique_ptr<replication::HintReplay> replay_;
  std::unique_ptr<replication::AntiEntropy> aae_;
  replication::AaeTopology aae_topo_;
  int64_t last_cron_ms_ = 0;
  Health health_{this};
  int64_t last_rate_ms_ = 0;
  uint64_t last_replayed_ = 0;
  std::unordered_map<NodeId, std::unique_ptr<transport::PeerLink>> links_;
  std::unordered_map<NodeId, std::unique_ptr<transport::PeerLink>> fwd_links_;
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

}  // namespace dynis::server
