// The coordinator of client commands on one loop: everything between "this node coordinates
// this command" and its reply, for every command whose keys this loop's partitions hold.
//
// A command (or one key's part of a multi-key command) arrives with its CommandPlan, decided
// from the command table by the caller (commands/coordination.h): its keys, whether it reads
// first, R and W. Then, per Dynamo:
//  1. read first (commands that read, and writes that depend on the current value): a quorum
//     read of R replicas per key (Engine::StartGet). The merged record is stored locally when
//     the local one is older, so the command sees what the quorum saw;
//  2. run: the command runs against the local replica like on a single node (a kRun effect that
//     the caller answers with Run(), which tracks the records the command stored);
//  3. replicate: every record it stored goes to the key's other replicas (Engine::StartPut). Its
//     own copy counts toward W only once the batch holding it is committed (OnLocalCommit, then
//     ReportLocalCommits), so W is only ever reached by durable copies;
//  4. reply: the command's reply once every put reached W, or an error saying how many replicas
//     answered (NOQUORUM), or the storage error when the local copy failed and W was missed.
// Preference lists are sloppy (Dynamo §4.6): the primaries this node holds up, then fallbacks
// for the ones held down (cluster/preflist.h); R and W count fallbacks, PR and PW only
// primaries. When this node is itself a fallback for a key it writes, it keeps a hint of what
// it stored for the primary it stands in for (kv/vnode.h), like a fallback replica does; for a
// primary held down that nobody can stand in for (fewer nodes up than N), it keeps the hint
// itself (as Cassandra's coordinators do), without counting it toward W. Every
// answer, failed send and unanswered request is evidence for the failure detector (PeerHealth).
//
// Sans-IO, like the engine: time, peer replies, transport failures and commit results are
// inputs; sends, local runs and replies are effects. The libuv worker (server/) and the seeded
// simulator (tests/sim/) drive this same code. It reads and merges into the local replica
// directly (the loop's kv::Keyspace and its vnodes), which is in memory or a RocksDB read, and
// never waits.
//
// Thread rule: one per loop, used only by that loop's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/preflist.h"
#include "common/status.h"
#include "kv/keyspace.h"
#include "replication/engine.h"

namespace dynis::replication {

// What a command asks of coordination (commands/coordination.h builds it from the table).
struct CommandPlan {
  std::vector<std::string> keys;  // the distinct keys it reads first, in order
  bool read_first = false;        // quorum-read every key before running
  int r = 0;                      // R (the request's own, or the default)
  int w = 1;                      // W
  int pr = 0;                     // PR: of the R answers, from primaries (GETCTX's PR n)
  int pw = 0;                     // PW: of the W stores, on primaries (SETCTX's PW n)
};

// The node's judgement of its peers (cluster/failure_detector.h) as the coordinator uses it:
// whom preference lists skip, and where the evidence of its requests goes. The worker
// implements it over the node's ClusterState, the simulator over each node's detector.
class PeerHealth {
 public:
  virtual ~PeerHealth() = default;
  virtual bool Up(NodeId node) const = 0;
  // False only when every peer is held up (the common case: preference lists are then the
  // plain walk of the primaries). The default is the safe answer.
  virtual bool AnyDown() const { return true; }
  virtual void Answered(int64_t now_ms, NodeId node) = 0;
  virtual void Failed(int64_t now_ms, NodeId node, const char* why) = 0;
};

struct CoordinatorOptions {
  NodeId self = 0;
  uint32_t n_val = 3;
  // Sloppy quorum (`sloppy-quorum yes`): primaries held down are replaced by fallbacks that
  // keep the write as a hint. Off: the preference list is the N primaries, down or not.
  bool sloppy = true;
  Options engine;  // the engine's timeout (and the simulator's lww control)
};

struct CommandEffect {
  enum class Kind : uint8_t { kSend, kRun, kReply };
  Kind kind = Kind::kSend;
  Message msg;                 // kSend: a request to a replica (msg.repair: read repair)
  uint64_t command = 0;        // kRun, kReply: the id Start returned
  std::string reply;           // kReply: the command's own reply bytes (when error is empty)
  std::string error;           // kReply: an error text instead (no '-', no CRLF)
  bool quorum_failed = false;  // kReply with an error: a quorum was not reached
};
using CommandEffects = std::vector<CommandEffect>;

class Coordinator {
 public:
  // `ks` is the loop's keyspace: the local replica of every key this coordinator handles.
  Coordinator(CoordinatorOptions opts, kv::Keyspace* ks);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // The ring preference lists are computed from; it must outlive every later call until the
  // next set_ring (the worker calls it whenever it loads a new cluster view).
  void set_ring(const cluster::Ring* ring) { ring_ = ring; }
  // Who is up, and where the evidence goes; without it every peer is up. Must outlive the
  // coordinator.
  void set_health(PeerHealth* health) { health_ = health; }
  void set_timeout_ms(int64_t ms) { engine_.set_timeout_ms(ms); }
  void set_sloppy(bool sloppy) { opts_.sloppy = sloppy; }

  // The preference list this coordinator uses for key: sloppy (fallbacks for primaries held
  // down) or strict, as configured.
  cluster::Preflist PreflistOf(std::string_view key) const;

  // Starts coordinating one command; its effects end with a kReply carrying the returned id.
  uint64_t Start(int64_t now_ms, CommandPlan plan, CommandEffects* out);

  // Answers a kRun effect: `run()` executes the command against the local replica and returns
  // its reply bytes; the records it stored are replicated.
  template <class RunFn>
  void Run(int64_t now_ms, uint64_t command, RunFn&& run, CommandEffects* out) {
    ks_->BeginTracking();
    std::string reply = run();
    Ran(now_ms, command, std::move(reply), ks_->TakeTracked(), out);
  }

  // A replica's response, or the transport's failure to deliver a request of engine op `op`.
  void OnMessage(int64_t now_ms, const Message& m, CommandEffects* out);
  // `not_sent`: the request never left because this node's own link to `to` is still
  // reconnecting after a failure the detector already heard of; it is no new evidence about
  // the peer (another loop's link may have found it up meanwhile), so only the op counts it.
  void OnSendFailed(int64_t now_ms, uint64_t op, NodeId to, CommandEffects* out,
                    bool not_sent = false);
  // The batch holding every local copy stored since the last call was committed (or failed).
  // Only recorded: the caller reports with ReportLocalCommits where running more commands is
  // safe (their writes go into the next batch). True when something was recorded.
  bool OnLocalCommit(const Status& s);
  void ReportLocalCommits(int64_t now_ms, CommandEffects* out);
  // Deadlines: quorum timeouts and pending read repairs.
  void OnTick(int64_t now_ms, CommandEffects* out);

  int64_t NextDeadline() const { return engine_.NextDeadline(); }
  size_t inflight() const { return commands_.size(); }
  // Merged records the coordinator stored into its local replica (read-first merges).
  uint64_t local_merges() const { return local_merges_; }
  // Drops every command without effects (shutdown; a crashed node in the simulator).
  void Reset();

 private:
  // One command being coordinated.
  struct Command {
    CommandPlan plan;
    int waiting = 0;   // engine operations not complete yet
    bool ran = false;  // the command ran locally: its puts are what it waits for
    bool quorum_failed = false;
    std::string error;        // the first failure: replied instead of the command's reply
    std::string local_error;  // a local copy's commit failed: why
    std::string reply;        // the command's reply, sent once its puts completed
  };
  void Ran(int64_t now_ms, uint64_t command, std::string reply,
           const std::vector<std::string>& written, CommandEffects* out);
  // Turns engine effects into command effects: sends pass through, local merges are stored,
  // completions advance their command.
  void Drain(int64_t now_ms, Effects* fx, CommandEffects* out);
  void Completed(const Effect& e, CommandEffects* out);
  void Reply(uint64_t id, Command& c, CommandEffects* out);
  std::vector<Replica> ReplicasOf(std::string_view key) const;
  // How many replicas a key has: N, or the ring's members (or partitions) when fewer. R and W
  // are capped at it, never at a sloppy list that came out shorter.
  int ReplicaCount() const;
  // Hints this node keeps for primaries of key held down that no fallback stands in for.
  void KeepHintsForUnreplaced(const std::string& key, const std::vector<Replica>& replicas,
                              const std::string& record);
  // The engine's effects of one input, in a buffer reused from call to call.
  Effects& Scratch();

  CoordinatorOptions opts_;
  kv::Keyspace* ks_;
  const cluster::Ring* ring_ = nullptr;
  PeerHealth* health_ = nullptr;
  Engine engine_;
  uint64_t next_command_ = 1;
  std::unordered_map<uint64_t, Command> commands_;
  std::unordered_map<uint64_t, uint64_t> op_command_;  // engine op -> command
  // Engine puts whose local copy is in the batch not committed yet, and the outcomes of
  // committed batches not reported to the engine yet.
  std::vector<uint64_t> uncommitted_puts_;
  std::vector<std::pair<uint64_t, Status>> committed_puts_;
  uint64_t local_merges_ = 0;
  Effects fx_, batch_;  // Scratch() and Drain's buffers
};

}  // namespace dynis::replication
