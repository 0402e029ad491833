// The seeded cluster simulator: see sim.h.
#include "sim.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>

#include "cluster/failure_detector.h"
#include "cluster/preflist.h"
#include "cluster/ring.h"
#include "commands/command.h"
#include "commands/coordination.h"
#include "commands/node_context.h"
#include "common/errors.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "kv/epoch.h"
#include "config/config.h"
#include "kv/hints.h"
#include "kv/trees.h"
#include "kv/keyspace.h"
#include "proto/reply.h"
#include "proto/reply_parser.h"
#include "replication/anti_entropy.h"
#include "replication/coordinator.h"
#include "replication/engine.h"
#include "replication/handoff.h"
#include "replication/replica.h"
#include "storage/store.h"

namespace dynis::sim {

namespace {

using replication::CommandEffect;
using replication::CommandEffects;
using replication::Coordinator;
using replication::Message;
using replication::NodeId;
using version::DVVSet;

// Virtual time 0 is this wall-clock instant, so skewed clocks stay positive.
constexpr int64_t kWallEpochMs = 1'700'000'000'000;
// A run that has not drained after this many events is stuck (a livelock in the engine or the
// simulator): reported rather than looping forever.
constexpr uint64_t kMaxEvents = 4'000'000;
constexpr size_t kTraceTail = 60;
constexpr uint64_t kReportedDots = 4;     // reused dots (and refused puts) reported per run
constexpr int64_t kEverySecMs = 1000;     // fsync everysec
constexpr int64_t kOsWritebackMs = 5000;  // fsync no: the OS writes dirty pages back
// The node cron (Worker::ClusterCron's period): probes and hint replay.
constexpr int64_t kCronMs = 100;
// After the faults, how long (virtual) a healed, idle cluster is given for its detectors to
// bring every peer up and for hint replay to drain every ledger (replay backs off up to 30 s).
constexpr int64_t kSettleMs = 120'000;
// The anti-entropy phase: how long (virtual) the engines are given to make every primary's
// trees agree, with no client and no read, before the replicas are compared.
constexpr int64_t kAaeConvergeMs = 60'000;
// Anti-entropy in the simulator: a short round (the cron ticks every 100 ms, so one start per
// tick at most), no rate limits.
constexpr int64_t kAaeRoundMs = 2000;
// Trace tags of anti-entropy messages: (kAaeTag + step) << 32, request or answer in bit 1.
constexpr uint64_t kAaeTag = 16;

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "sim: %s\n", what.c_str());
  std::abort();
}

// Set keys are k<i>, register keys r<i>; trace records carry a key as a number.
std::string SetKeyName(int i) { return "k" + std::to_string(i); }
std::string RegisterName(int i) { return "r" + std::to_string(i); }
bool IsRegister(const std::string& key) { return !key.empty() && key[0] == 'r'; }
int64_t KeyCode(const std::string& key) {
  const int64_t i = std::strtol(key.c_str() + 1, nullptr, 10);
  return IsRegister(key) ? 1000 + i : i;
}
std::string KeyLabel(int64_t code) {
  return code >= 1000 ? RegisterName(static_cast<int>(code - 1000))
                      : SetKeyName(static_cast<int>(code));
}

const char* TypeName(Message::Type t) {
  switch (t) {
    case Message::Type::kGetReq:
      return "GetReq";
    case Message::Type::kGetResp:
      return "GetResp";
    case Message::Type::kPutReq:
      return "PutReq";
    case Message::Type::kPutResp:
      return "PutResp";
    case Message::Type::kProbeReq:
      return "ProbeReq";
    case Message::Type::kProbeResp:
      return "ProbeResp";
  }
  return "?";
}

bool IsRequest(const Message& m) {
  return m.type == Message::Type::kGetReq || m.type == Message::Type::kPutReq;
}

uint64_t CounterOf(const DVVSet& set, const version::Actor& actor) {
  for (const DVVSet::Entry& e : set.entries()) {
    if (e.actor == actor) return e.counter;
  }
  return 0;
}

// ---- commands -------------------------------------------------------------------------------

enum class Cmd : uint8_t { kGetCtx, kSetCtx, kGet, kSet, kDel };

const char* CmdName(Cmd c) {
  switch (c) {
    case Cmd::kGetCtx:
      return "GETCTX";
    case Cmd::kSetCtx:
      return "SETCTX";
    case Cmd::kGet:
      return "GET";
    case Cmd::kSet:
      return "SET";
    case Cmd::kDel:
      return "DEL";
  }
  return "?";
}

struct Command {
  Cmd cmd = Cmd::kGet;
  std::string key;
  std::string value;  // SET, SETCTX
  std::string ctx;    // SETCTX
  int64_t px_ms = 0;
  int64_t pxat_ms = 0;
};

// The command as a client sends it: what the command table plans its coordination from.
std::vector<std::string> ArgvOf(const Command& c) {
  switch (c.cmd) {
    case Cmd::kGetCtx:
      return {"getctx", c.key};
    case Cmd::kSetCtx:
      return {"setctx", c.key, c.ctx, c.value};
    case Cmd::kGet:
      return {"get", c.key};
    case Cmd::kDel:
      return {"del", c.key};
    case Cmd::kSet:
      if (c.px_ms != 0) return {"set", c.key, c.value, "px", std::to_string(c.px_ms)};
      if (c.pxat_ms != 0) return {"set", c.key, c.value, "pxat", std::to_string(c.pxat_ms)};
      return {"set", c.key, c.value};
  }
  return {};
}

struct Reply {
  bool ok = false;
  bool found = false;  // GET
  std::string value;
  std::set<uint64_t> elements;  // GETCTX: union of the siblings' elements
  std::string ctx;              // GETCTX
  int64_t count = 0;            // DEL
  int node = 0;
};

// ---- trace ----------------------------------------------------------------------------------

enum class Tr : uint8_t {
  kSend,
  kDrop,
  kDup,
  kDeliver,
  kDropDown,
  kDropCut,
  kSendFailed,
  kClient,
  kReply,
  kTimeout,
  kRefused,
  kCrash,
  kBoot,
  kCut,
  kUncut,
  kComplete,
  kHeal,
  kRound,
  kCompact,
  kFlushAll,
  kRefusedPut,
  kDroppedPut,
  kAaePhase,
};

enum class CrashKind : uint8_t { kKill, kClean, kPower, kDisk };

struct TraceRec {
  int64_t at = 0;
  Tr what = Tr::kSend;
  int64_t a = 0, b = 0;
  uint64_t x = 0, y = 0;
  std::string Format() const {
    static const char* const kNames[] = {
        "send",     "drop",    "dup",      "deliver",    "drop(down)", "drop(cut)",
        "sendfail", "client",  "reply",    "timeout",    "refused",    "crash",
        "boot",     "cut",     "uncut",    "complete",   "heal",       "round",
        "compact",  "flushall", "refusedput", "droppedput", "aae"};
    static const char* const kCrashNames[] = {"kill -9", "clean shutdown", "power loss",
                                              "disk loss"};
    char buf[240];
    const char* name = kNames[static_cast<int>(what)];
    const long long t = at, na = a, nb = b;
    const auto ux = static_cast<unsigned long long>(x);
    const auto uy = static_cast<unsigned long long>(y);
    switch (what) {
      case Tr::kSend:
      case Tr::kDrop:
      case Tr::kDup:
      case Tr::kDeliver:
      case Tr::kDropDown:
      case Tr::kDropCut:
        // a, b: node indexes; x: op; y: type << 32 | aae << 2 | answer << 1 | repair
        if ((y >> 32) >= kAaeTag) {
          static const char* const kSteps[] = {"Root",      "Branches",  "Segments", "Keys",
                                               "Hints",     "ReapCheck", "ReapDrop"};
          std::snprintf(buf, sizeof(buf), "t=%lld %s n%lld->n%lld Aae%s%s op=%llu", t, name,
                        na + 1, nb + 1, kSteps[((y >> 32) - kAaeTag) % 7],
                        (y & 2) ? "Resp" : "Req", ux);
          break;
        }
        std::snprintf(buf, sizeof(buf), "t=%lld %s n%lld->n%lld %s%s%s op=%llu", t, name, na + 1,
                      nb + 1, TypeName(static_cast<Message::Type>(y >> 32)),
                      (y & 1) ? "(repair)" : "", (y & 4) ? "(aae)" : "", ux);
        break;
      case Tr::kClient:
        // a: client; b: node; x: request; y: cmd << 56 | key code << 40 | element or value id
        std::snprintf(buf, sizeof(buf), "t=%lld client %lld %s %s at n%lld req=%llu id=%llu", t, na,
                      CmdName(static_cast<Cmd>(y >> 56)),
                      KeyLabel(static_cast<int64_t>((y >> 40) & 0xffff)).c_str(), nb + 1, ux,
                      static_cast<unsigned long long>(y & ((uint64_t{1} << 40) - 1)));
        break;
      case Tr::kReply:
        std::snprintf(buf, sizeof(buf), "t=%lld client %lld reply ok=%lld req=%llu learned=%llu", t,
                      na, nb, ux, uy);
        break;
      case Tr::kTimeout:
      case Tr::kRefused:
        std::snprintf(buf, sizeof(buf), "t=%lld client %lld %s (n%lld) req=%llu", t, na, name,
                      nb + 1, ux);
        break;
      case Tr::kComplete:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld complete command=%llu ok=%lld", t, na + 1,
                      ux, nb);
        break;
      case Tr::kSendFailed:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld sendfail to n%lld op=%llu", t, na + 1, nb + 1,
                      ux);
        break;
      case Tr::kCrash:
        // b: down ms; x: CrashKind; y: data records rolled back or lost
        std::snprintf(buf, sizeof(buf), "t=%lld crash n%lld (%s, %llu records lost) for %lldms", t,
                      na + 1, kCrashNames[x & 3], uy, nb);
        break;
      case Tr::kBoot:
        std::snprintf(buf, sizeof(buf), "t=%lld boot n%lld epoch %llu%s", t, na + 1, ux,
                      y ? " (renewed)" : " (kept)");
        break;
      case Tr::kCut:
      case Tr::kUncut:
        std::snprintf(buf, sizeof(buf), "t=%lld %s partition #%lld%s", t, name, na,
                      nb ? " (one-way)" : "");
        break;
      case Tr::kHeal:
      case Tr::kRound:
        std::snprintf(buf, sizeof(buf), "t=%lld %s %lld", t, name, na);
        break;
      case Tr::kCompact:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld compacted, dropping %llu records", t, na + 1,
                      ux);
        break;
      case Tr::kFlushAll:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld FLUSHALL, epoch %llu now", t, na + 1, ux);
        break;
      case Tr::kRefusedPut:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld refused a put of %s (op=%llu)", t, na + 1,
                      KeyLabel(nb).c_str(), ux);
        break;
      case Tr::kDroppedPut:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld acknowledged a put of %s (op=%llu) "
                      "without storing it", t, na + 1, KeyLabel(nb).c_str(), ux);
        break;
      case Tr::kAaePhase:
        // a: 0 start, 1 converged, 2 gave up
        std::snprintf(buf, sizeof(buf), "t=%lld anti-entropy phase %s", t,
                      na == 0 ? "starts" : na == 1 ? "converged" : "gave up");
        break;
    }
    return buf;
  }
};

// ---- the simulated cluster ------------------------------------------------------------------

struct Envelope {
  // What it carries: a replica message, or an anti-entropy request or answer (DYNIS.AAE).
  enum class Aae : uint8_t { kNone, kReq, kResp };
  Aae aae = Aae::kNone;
  Message msg;
  replication::AaeRequest aae_req;
  replication::AaeResponse aae_resp;
  int from = 0;
  int to = 0;
  uint64_t to_inc = 0;    // the destination's incarnation the "connection" belongs to
  uint64_t from_inc = 0;  // the sender's incarnation: responses travel back on it
};

struct Event {
  enum class Kind : uint8_t {
    kDeliver,
    kSendFailed,
    kTick,
    kClientStart,
    kClientReply,
    kClientTimeout,
    kCrash,
    kPowerLoss,
    kDiskLoss,
    kFlushAll,
    kCompact,
    kSync,
    kRestart,
    kCutStart,
    kCutEnd,
    kEndFaults,
  };
  Kind kind = Kind::kDeliver;
  int node = -1;
  uint64_t inc = 0;
  int client = -1;
  uint64_t req = 0;
  int index = 0;  // plan index (crash, partition, ...)
  Envelope env;
  Reply reply;
};

// One command being coordinated (what server/cluster.cc keeps per coordinator command), or a
// repair round's read (a GET that runs nothing once its quorum read is done), or a final read.
struct CoordOp {
  enum class Kind : uint8_t { kClient, kRepair, kFinalRead };
  Kind kind = Kind::kClient;
  int client = -1;
  uint64_t req = 0;
  Command command;
  int r = 0;
  size_t write = 0;      // register model index + 1 of the write it carries (0: none)
  uint64_t element = 0;  // SETCTX: the element it adds
  bool ran = false;      // it ran on its coordinator
  Reply reply;
  // The availability rule (client SETCTX during the faults): at its start the coordinator's
  // detector agreed with reality and it could reach W nodes; fault_epoch then; a message of
  // its put lost, refused or slower than half the timeout.
  bool avail_eligible = false;
  uint64_t avail_epoch = 0;
  bool tainted = false;
  std::vector<uint64_t> put_ops;  // its engine put ops (keys of Sim::owners_)
};

// What the compaction filter of a node's store reads: open only inside the simulator's own
// CompactAll, at a fixed virtual instant, so background compactions decide nothing.
struct FilterGate {
  std::atomic<bool> open{false};
  std::atomic<int64_t> now_ms{0};
  std::atomic<uint64_t> dropped{0};
};

// A node's compaction filter, in one place. The server's asks Keyspace::Compact the same
// question with its wall clock and configured grace; this one decides only while the gate is
// open, at the node's virtual time. `dropped` counts the records it dropped or reduced to
// their clocks.
std::function<storage::CompactDecision(std::string_view, std::string*)> CompactionFilter(
    FilterGate* gate, int64_t tombstone_grace_ms, bool keep_clocks) {
  return [gate, tombstone_grace_ms, keep_clocks](std::string_view record,
                                                  std::string* /*rewrite*/) {
    if (!gate->open.load()) return storage::CompactDecision::kKeep;
    const storage::CompactDecision d = kv::Keyspace::Compact(
        record, gate->now_ms.load(), tombstone_grace_ms, keep_clocks);
    if (d != storage::CompactDecision::kKeep) gate->dropped.fetch_add(1);
    return d;
  };
}

// The node services the handlers of the simulated commands (GET, SET, DEL, GETCTX, SETCTX)
// may use: the default configuration, the node's store and keyspace settings, the hit
// counters. Everything else belongs to commands the simulator never sends: reaching it is a
// bug of the simulator, reported as such.
class SimNodeContext final : public NodeContext {
 public:
  SimNodeContext(storage::Store* store, const kv::KeyspaceShared* shared)
      : store_(store), shared_(shared) {}

  Config& config() override { return config_; }
  const std::string& node_id() const override { return Unused<const std::string&>("node_id"); }
  uint64_t epoch() const override { return shared_->actor.epoch; }
  const std::string& run_id() const override { return Unused<const std::string&>("run_id"); }
  int64_t start_ms() const override { return Unused<int64_t>("start_ms"); }
  int64_t last_save_s() const override { return Unused<int64_t>("last_save_s"); }
  const std::string& executable() const override {
    return Unused<const std::string&>("executable");
  }
  const std::string& config_file() const override {
    return Unused<const std::string&>("config_file");
  }
  int connected_clients() const override { return 0; }
  int io_threads() const override { return 1; }
  int OwnerOf(uint32_t) const override { return 0; }
  storage::Store& store() override { return *store_; }
  const kv::KeyspaceShared& keyspace_shared() const override { return *shared_; }
  NodeStats stats() const override { return NodeStats{}; }
  void ResetStats() override {}
  void CountKeyspaceLookup(bool) override {}
  bool PauseOthers() override { return Unused<bool>("PauseOthers"); }
  void ResumeOthers() override { Unused<int>("ResumeOthers"); }
  std::vector<ClientState*> ClientsOf(int) override { return {}; }
  bool OnThisLoop(const ClientState*) const override { return false; }
  void CloseClient(ClientState*) override { Unused<int>("CloseClient"); }
  void CommitTurn() override { Unused<int>("CommitTurn"); }
  void Execute(ClientState*, const CommandSpec*, const std::vector<std::string>&,
               proto::ReplyWriter*) override {
    Unused<int>("Execute");
  }
  Status FlushAll() override { return Unused<Status>("FlushAll"); }
  void RequestShutdown() override { Unused<int>("RequestShutdown"); }
  bool in_cluster() const override { return true; }
  std::shared_ptr<const cluster::ClusterView> cluster_view() const override {
    return Unused<std::shared_ptr<const cluster::ClusterView>>("cluster_view");
  }
  std::shared_ptr<const cluster::ClusterView> Meet(const cluster::Member&) override {
    return Unused<std::shared_ptr<const cluster::ClusterView>>("Meet");
  }
  std::string LinkState(cluster::NodeId) override { return Unused<std::string>("LinkState"); }
  cluster::PeerJudgement Judgement(cluster::NodeId) const override {
    return Unused<cluster::PeerJudgement>("Judgement");
  }

 private:
  template <class T>
  [[noreturn]] static T Unused(const char* what) {
    Fatal(std::string("a simulated command's handler used NodeContext::") + what);
  }

  Config config_;
  storage::Store* store_;
  const kv::KeyspaceShared* shared_;
};

// A node's judgement of its peers as its coordinator and hint replay use it: its
// FailureDetector, nothing else (Worker::Health over ClusterState, without the view).
class SimHealth final : public replication::PeerHealth {
 public:
  SimHealth(cluster::FailureDetector* d, uint64_t* transitions) : d_(d), transitions_(transitions) {}
  bool Up(NodeId node) const override { return d_->Up(node); }
  void Answered(int64_t now_ms, NodeId node) override {
    if (d_->Answered(now_ms, node)) ++*transitions_;
  }
  void Failed(int64_t now_ms, NodeId node, const char* why) override {
    if (d_->Failed(now_ms, node, why)) ++*transitions_;
  }

 private:
  cluster::FailureDetector* d_;
  uint64_t* transitions_;
};

struct Node {
  NodeId id = 0;
  bool up = false;
  uint64_t inc = 1;
  uint64_t meta_epoch = 0;   // the epoch the store holds (StartEpoch, FlushAll)
  uint64_t actor_epoch = 0;  // the epoch it mints under (the same unless reuse_epoch)
  std::unique_ptr<FilterGate> gate;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<HybridClock> clock;
  std::unique_ptr<kv::KeyspaceShared> shared;
  std::unique_ptr<kv::RecordCache> cache;  // memory: lost in a crash
  std::unique_ptr<kv::Keyspace> ks;
  std::unique_ptr<SimNodeContext> env;  // what the commands' handlers see of the node
  std::unique_ptr<cluster::FailureDetector> detector;  // memory: lost in a crash
  std::unique_ptr<SimHealth> health;
  // The node's hint tally: one object for the node's life (its counters are statistics),
  // rebuilt from the store at every boot as Server::KeepHints does.
  std::unique_ptr<kv::HintLedger> hints;
  uint64_t hints_stored_seen = 0;  // hints->stored when the hints were last noted
  std::unique_ptr<Coordinator> coord;
  std::unique_ptr<replication::HintReplay> replay;
  // Anti-entropy (Server::KeepTrees, Worker::RunAntiEntropy): the trees, built at every boot
  // with the reap floors the store keeps; the engine (one loop), lost in a crash; the board,
  // one for the node's life (its counters are statistics).
  std::unique_ptr<kv::PartitionTrees> trees;
  std::unique_ptr<replication::AntiEntropy> aae;
  std::unique_ptr<replication::AaeBoard> board;
  std::map<uint64_t, std::shared_ptr<CoordOp>> ops;  // by the coordinator's command id
  uint64_t conflicts_seen = 0;  // shared->dot_conflicts already reported
  std::set<int64_t> ticks;                           // scheduled tick times
  std::map<std::string, std::string> image;          // fragile node: data at the last sync
};

struct Client {
  uint64_t req = 0;
  bool waiting = false;
  Cmd cmd = Cmd::kGet;
  std::string key;
  uint64_t element = 0;  // SETCTX
  size_t write = 0;      // register model index + 1 (SET, DEL)
  int writes = 0;        // SETCTX attempts so far
  int register_ops = 0;
};

class Sim {
 public:
  Sim(const Params& p, bool trace_all)
      : p_(p),
        rng_(p.seed ^ 0xD1B54A32D192ED03ull),
        trace_all_(trace_all),
        ring_(p.partitions, NodeIds(p.nodes), static_cast<uint32_t>(p.n_val)) {
    opts_.n_val = static_cast<uint32_t>(p.n_val);
    opts_.engine.timeout_ms = p.timeout_ms;
    opts_.engine.lww_merge = p.lww;
    opts_.sloppy = p.sloppy;
    for (int i = 0; i < p.nodes; ++i) {
      Node n;
      n.id = static_cast<NodeId>(i + 1);
      n.gate = std::make_unique<FilterGate>();
      nodes_.push_back(std::move(n));
    }
    for (int i = 0; i < p.nodes; ++i) {
      node(i).store = OpenStore(i);
      Boot(i);
    }
    clients_.resize(static_cast<size_t>(p.clients) + 1);  // the last one writes the closing SETs
    cut_.assign(static_cast<size_t>(p.nodes), std::vector<int>(static_cast<size_t>(p.nodes), 0));
    for (int k = 0; k < p.keys + p.registers; ++k) {
      const std::string key = k < p.keys ? SetKeyName(k) : RegisterName(k - p.keys);
      keys_.push_back(key);
      // The coordinators compute the same lists (cluster/preflist.h) from the same ring.
      preflists_[key] = cluster::PreflistOf(ring_, KeyPartition(key, p.partitions),
                                            static_cast<uint32_t>(p.n_val))
                            .Nodes();
      if (IsRegister(key)) {
        registers_[key];
      } else {
        model_[key];
      }
    }
    max_skew_ = p.skew_ms.empty() ? 0 : *std::max_element(p.skew_ms.begin(), p.skew_ms.end());
    // Worker::AaeTopo over the sim's ring, which never changes: one version.
    aae_topo_.version = 1;
    for (uint32_t q = 0; q < p.partitions; ++q) {
      aae_topo_.primaries.push_back(
          cluster::Primaries(ring_, q, static_cast<uint32_t>(p.n_val)));
    }
    aae_topo_.members = NodeIds(p.nodes);
  }

  Result Run() {
    auto plan = [this](Event::Kind kind, int64_t at, int index) {
      Event e;
      e.kind = kind;
      e.index = index;
      Schedule(at, std::move(e));
    };
    for (size_t i = 0; i < p_.partition_plan.size(); ++i) {
      plan(Event::Kind::kCutStart, p_.partition_plan[i].start_ms, static_cast<int>(i));
    }
    for (size_t i = 0; i < p_.crash_plan.size(); ++i) {
      plan(Event::Kind::kCrash, p_.crash_plan[i].at_ms, static_cast<int>(i));
    }
    for (size_t i = 0; i < p_.power_plan.size(); ++i) {
      plan(Event::Kind::kPowerLoss, p_.power_plan[i].at_ms, static_cast<int>(i));
    }
    for (size_t i = 0; i < p_.flushall_plan.size(); ++i) {
      plan(Event::Kind::kFlushAll, p_.flushall_plan[i], static_cast<int>(i));
    }
    for (size_t i = 0; i < p_.compaction_plan.size(); ++i) {
      plan(Event::Kind::kCompact, p_.compaction_plan[i].at_ms, static_cast<int>(i));
    }
    if (p_.disk_loss.on) plan(Event::Kind::kDiskLoss, p_.disk_loss.at_ms, 0);
    if (p_.fragile >= 0 && p_.fsync != Fsync::kAlways) {
      plan(Event::Kind::kSync, rng_.Range(0, kEverySecMs - 1), 0);
    }
    for (int c = 0; c < p_.clients; ++c) {
      Event e;
      e.kind = Event::Kind::kClientStart;
      e.client = c;
      Schedule(rng_.Range(0, p_.think_max_ms), std::move(e));
    }
    plan(Event::Kind::kEndFaults, p_.fault_ms, 0);

    bool stuck = !Drain();
    if (!stuck) {
      if (Settled()) result_.stats.replay_ms = now_ - p_.fault_ms;
      StalePrimaries();
      stuck = !AntiEntropyPhase();
    }
    stuck = stuck || !ClosingWrites();
    bool quiet = false;
    for (int round = 1; !stuck && !quiet && round <= kMaxRepairRounds; ++round) {
      result_.stats.repair_rounds = round;
      quiet = RepairRound(&stuck);
    }

    result_.params = p_;
    result_.quiet = quiet;
    MarkLostWithDisk();
    result_.model = model_;
    result_.final_keys = FinalState();
    for (const auto& [key, fk] : result_.final_keys) {
      result_.stats.max_final_siblings =
          std::max(result_.stats.max_final_siblings, fk.siblings.size());
    }
    result_.final_registers = RegisterConvergence();
    if (!stuck) FinalReads(&stuck);
    result_.registers = registers_;
    result_.violations = Check(result_.model, result_.final_keys, quiet);
    for (Violation& v :
         CheckRegisters(result_.registers, result_.final_registers, p_.SkewSpread())) {
      result_.violations.push_back(std::move(v));
    }
    for (Violation& v : dot_violations_) result_.violations.push_back(std::move(v));
    for (Violation& v : avail_violations_) result_.violations.push_back(std::move(v));
    for (Node& n : nodes_) {
      result_.stats.aae_exchanges += n.board->exchanges.load();
      result_.stats.aae_exchanges_failed += n.board->exchanges_failed.load();
      result_.stats.aae_repaired += n.board->keys_repaired.load();
      result_.stats.aae_reaped += n.board->tombstones_reaped.load();
      result_.stats.hints_stored += n.hints->stored.load();
      result_.stats.hints_dropped += n.hints->dropped.load();
      result_.stats.hints_replayed += n.hints->replayed.load();
    }
    if (stuck) {
      result_.violations.push_back(
          Violation{Violation::Kind::kNotQuiet, "", "event limit reached: the run never drained"});
    }
    for (const std::string& what : broken_) {
      result_.violations.push_back(Violation{Violation::Kind::kBroken, "", what});
    }
    // The final stores join the fingerprint: runs that move the same messages but keep
    // different data (the negative control) must not collide.
    for (int i = 0; i < p_.nodes; ++i) {
      for (const auto& [key, record] : ScanData(i)) {
        for (const std::string* bytes : {&key, &record}) {
          for (char ch : *bytes) {
            hash_ ^= static_cast<uint8_t>(ch);
            hash_ *= 0x100000001B3ull;
          }
        }
      }
    }
    result_.trace_hash = hash_;
    const size_t n = trace_.size();
    const size_t first = trace_all_ || n <= kTraceTail ? 0 : n - kTraceTail;
    for (size_t i = first; i < n; ++i) result_.trace_tail.push_back(trace_[i].Format());
    return std::move(result_);
  }

 private:
  // ---- plumbing ----

  // Something that cannot happen with a correct node (e.g. a record that does not decode).
  void Broken(std::string what) {
    if (broken_.size() < 8) broken_.push_back("t=" + std::to_string(now_) + " " + what);
  }

  void Schedule(int64_t at, Event e) { queue_.emplace(std::make_pair(at, seq_++), std::move(e)); }

  void Trace(Tr what, int64_t a = 0, int64_t b = 0, uint64_t x = 0, uint64_t y = 0) {
    TraceRec r{now_, what, a, b, x, y};
    // FNV-1a over the fields: the replay fingerprint.
    const uint64_t fields[] = {static_cast<uint64_t>(r.at),
                               static_cast<uint64_t>(r.what),
                               static_cast<uint64_t>(r.a),
                               static_cast<uint64_t>(r.b),
                               r.x,
                               r.y};
    for (uint64_t f : fields) {
      for (int i = 0; i < 8; ++i) {
        hash_ ^= (f >> (8 * i)) & 0xff;
        hash_ *= 0x100000001B3ull;
      }
    }
    if (!trace_all_ && trace_.size() >= 4 * kTraceTail) {
      trace_.erase(trace_.begin(), trace_.begin() + static_cast<long>(3 * kTraceTail));
    }
    trace_.push_back(r);
  }

  static int Index(NodeId id) { return static_cast<int>(id) - 1; }
  static std::vector<NodeId> NodeIds(int nodes) {
    std::vector<NodeId> ids;
    for (int i = 0; i < nodes; ++i) ids.push_back(static_cast<NodeId>(i + 1));
    return ids;
  }
  Node& node(int i) { return nodes_[static_cast<size_t>(i)]; }

  int64_t WallMs(int ni) const { return kWallEpochMs + now_ + p_.skew_ms[static_cast<size_t>(ni)]; }
  uint64_t WallUs(int ni) const { return static_cast<uint64_t>(WallMs(ni)) * 1000; }

  int RandomMember(const std::string& key) {
    const std::vector<NodeId>& pref = preflists_[key];
    return Index(pref[static_cast<size_t>(rng_.Below(pref.size()))]);
  }

  // Runs events, and every kCronMs the node crons, until no event is left and the cluster is
  // settled (Settled(); or kSettleMs after the faults / the drain's start, whichever is later).
  // False when the event limit was hit.
  bool Drain() {
    return Drain([this] { return Settled(); }, std::max(now_, p_.fault_ms) + kSettleMs);
  }
  // ... until no event is left and done(), or the crons passed limit_ms. With at_cron, done()
  // is asked before every cron turn instead, and the limit ends it, events in flight or not.
  bool Drain(const std::function<bool()>& done, int64_t limit_ms, bool at_cron = false) {
    cron_at_ = std::max(cron_at_, now_);
    const int64_t limit = limit_ms;
    for (;;) {
      const bool idle = queue_.empty();
      if ((idle || at_cron) && cron_at_ > limit) return true;
      if (!at_cron && idle && done()) return true;
      if (++result_.stats.events > kMaxEvents) return false;
      if (idle || cron_at_ <= queue_.begin()->first.first) {
        if (at_cron && done()) return true;
        now_ = cron_at_;
        cron_at_ += kCronMs;
        for (int i = 0; i < p_.nodes; ++i) Cron(i);
        continue;
      }
      auto nh = queue_.extract(queue_.begin());
      now_ = nh.key().first;
      Handle(nh.mapped());
    }
  }

  // Every node holds every peer up and (unless replay is off) holds no hint, none in flight.
  bool Settled() {
    for (int i = 0; i < p_.nodes; ++i) {
      Node& n = node(i);
      if (!n.up || !n.detector->Down().empty()) return false;
      if (!p_.no_hints && (n.hints->Any() || n.replay->inflight() != 0)) return false;
    }
    return true;
  }

  // Worker::ClusterCron's failure detection and hint replay, one loop turn: probes of the
  // peers held down (DetectFailures), then ReplayHints.
  void Cron(int ni) {
    Node& n = node(ni);
    if (!n.up) return;
    // Worker::OnCron: the cache's recency clock and a step of its warm-up.
    n.cache->Tick(now_);
    n.ks->WarmCache(p_.cache_warm_per_tick);
    for (NodeId peer : n.detector->TakeProbesDue(now_)) {
      Message probe;
      probe.type = Message::Type::kProbeReq;
      probe.from = n.id;
      probe.to = peer;
      probe.op = ++probe_ops_;
      ++result_.stats.probes;
      Send(ni, std::move(probe));
    }
    // The negative control never replays: hints are kept but stay where they are.
    if (!p_.no_hints && (n.hints->Any() || n.replay->inflight() != 0)) {
      std::vector<Message> sends;
      n.replay->OnTick(now_, n.health.get(), &sends);
      for (Message& m : sends) {
        ++result_.stats.hints_sent;
        Send(ni, std::move(m));
      }
    }
    // Worker::RunAntiEntropy: the engine's tick (never in the negative control), its sends
    // on the network. Paused (while hinted handoff alone is checked, and after the
    // anti-entropy phase) or winding down (in that phase once the trees agree), it ticks as an
    // overloaded loop's: nothing new starts, neither at the tick nor when an exchange ends,
    // but due repairs go out and deadlines expire. (Not ticking at all would not stop it:
    // an exchange that ends starts the next ones due, going by the last tick's load.)
    if (!p_.no_aae) {
      replication::AaeSends sends;
      n.aae->OnTick(now_, aae_topo_, n.health.get(),
                    /*overloaded=*/!aae_on_ || aae_wind_down_, &sends);
      SendAae(ni, &sends);
    }
    EndTurn(ni);
  }

  // Worker::SendAae: the engine's requests and repairs go on the network.
  void SendAae(int ni, replication::AaeSends* sends) {
    for (replication::AaeRequest& req : sends->aae) {
      ++result_.stats.aae_requests;
      Envelope env;
      env.aae = Envelope::Aae::kReq;
      env.aae_req = std::move(req);
      Transmit(ni, Index(env.aae_req.to), std::move(env), std::nullopt);
    }
    for (Message& m : sends->records) Send(ni, std::move(m));
    sends->aae.clear();
    sends->records.clear();
  }

  void Handle(Event& e) {
    switch (e.kind) {
      case Event::Kind::kDeliver:
        Deliver(e.env);
        break;
      case Event::Kind::kSendFailed: {
        Node& n = node(e.node);
        if (!n.up || n.inc != e.inc) break;
        Trace(Tr::kSendFailed, e.node, e.env.to,
              e.env.aae == Envelope::Aae::kReq ? e.env.aae_req.op : e.env.msg.op);
        ++result_.stats.send_failed;
        if (e.env.aae == Envelope::Aae::kReq || e.env.msg.aae) {
          replication::AaeSends sends;
          n.aae->OnSendFailed(now_, e.env.aae == Envelope::Aae::kReq ? e.env.aae_req.op
                                                                      : e.env.msg.op,
                              &sends);
          SendAae(e.node, &sends);
          EndTurn(e.node);
          break;
        }
        if (e.env.msg.handoff) {
          n.replay->OnSendFailed(now_, e.env.msg.op, n.health.get());
          EndTurn(e.node);
          break;
        }
        CommandEffects fx;
        event_key_ = e.env.msg.key;
        n.coord->OnSendFailed(now_, e.env.msg.op, e.env.msg.to, &fx);
        RunEffects(e.node, &fx);
        EndTurn(e.node);
        break;
      }
      case Event::Kind::kTick: {
        Node& n = node(e.node);
        if (!n.up || n.inc != e.inc) break;
        n.ticks.erase(static_cast<int64_t>(e.req));
        CommandEffects fx;
        n.coord->OnTick(now_, &fx);
        RunEffects(e.node, &fx);
        EndTurn(e.node);
        break;
      }
      case Event::Kind::kClientStart:
        ClientStart(e.client);
        break;
      case Event::Kind::kClientReply:
        OnClientReply(e.client, e.req, e.reply);
        break;
      case Event::Kind::kClientTimeout: {
        Client& c = clients_[static_cast<size_t>(e.client)];
        if (!c.waiting || c.req != e.req) break;
        Trace(Tr::kTimeout, e.client, 0, e.req);
        OnClientReply(e.client, e.req, Reply{});
        break;
      }
      case Event::Kind::kCrash: {
        const Params::Crash& c = p_.crash_plan[static_cast<size_t>(e.index)];
        Crash(c.node, c.down_ms, c.clean ? CrashKind::kClean : CrashKind::kKill);
        break;
      }
      case Event::Kind::kPowerLoss: {
        const Params::Crash& c = p_.power_plan[static_cast<size_t>(e.index)];
        Crash(c.node, c.down_ms, CrashKind::kPower);
        break;
      }
      case Event::Kind::kDiskLoss:
        Crash(p_.disk_loss.node, p_.disk_loss.down_ms, CrashKind::kDisk);
        break;
      case Event::Kind::kFlushAll:
        FlushAll(p_.fragile);
        break;
      case Event::Kind::kCompact:
        Compact(p_.compaction_plan[static_cast<size_t>(e.index)].node);
        break;
      case Event::Kind::kSync:
        // The WAL sync thread runs in the process; the OS writes back whatever happens to it.
        if (node(p_.fragile).up || p_.fsync == Fsync::kNo) Synced(p_.fragile);
        if (faults_) {
          Event next;
          next.kind = Event::Kind::kSync;
          Schedule(now_ + (p_.fsync == Fsync::kNo ? kOsWritebackMs : kEverySecMs), std::move(next));
        }
        break;
      case Event::Kind::kRestart: {
        Node& n = node(e.node);
        if (!faults_ || n.up || n.inc != e.inc) break;
        Boot(e.node);
        break;
      }
      case Event::Kind::kCutStart:
        Cut(e.index, +1);
        break;
      case Event::Kind::kCutEnd:
        Cut(e.index, -1);
        break;
      case Event::Kind::kEndFaults:
        Heal();
        break;
    }
  }

  // ---- a node's store, keyspace and life cycle ----

  std::unique_ptr<storage::Store> OpenStore(int ni) {
    storage::StoreOptions so;
    so.dir = "/dynis-sim/n" + std::to_string(ni + 1);
    so.in_memory = true;
    so.block_cache_bytes = 1 << 20;
    so.write_buffer_bytes = 8 << 20;
    so.fsync = p_.fsync == Fsync::kAlways     ? storage::Fsync::kAlways
               : p_.fsync == Fsync::kEverySec ? storage::Fsync::kEverySec
                                              : storage::Fsync::kNo;
    so.compact = CompactionFilter(node(ni).gate.get(), p_.tombstone_grace_ms, p_.keep_clocks);
    auto store = storage::Store::Open(so);
    if (!store.ok()) Fatal("cannot open an in-memory store: " + store.status().ToString());
    return std::move(store).value();
  }

  // The data column family as it is now.
  std::map<std::string, std::string> ScanData(int ni) {
    std::map<std::string, std::string> out;
    Status s = node(ni).store->Scan("", [&out](std::string_view k, std::string_view v) {
      out.emplace(std::string(k), std::string(v));
      return true;
    });
    if (!s.ok()) Broken("a scan failed: " + s.ToString());
    return out;
  }

  // The fragile node's store synced its WAL: a power loss now keeps everything up to here.
  void Synced(int ni) {
    if (ni != p_.fragile || p_.fsync == Fsync::kAlways) return;
    node(ni).image = ScanData(ni);
  }

  // A process start, as Server::Open does it: the epoch from the store (kept only after a clean
  // shutdown), a fresh clock, keyspace and coordinator.
  void Boot(int ni) {
    Node& n = node(ni);
    auto start = kv::StartEpoch(n.store.get(), WallUs(ni));
    if (!start.ok()) Fatal("StartEpoch: " + start.status().ToString());
    const bool first = n.meta_epoch == 0;
    n.meta_epoch = start->epoch;
    // The broken configuration never renews: it mints under its first epoch forever.
    const uint64_t epoch = p_.reuse_epoch && !first ? n.actor_epoch : start->epoch;
    n.actor_epoch = epoch;
    Synced(ni);  // StartEpoch's durable meta write synced the WAL
    n.clock = std::make_unique<HybridClock>([this, ni] { return WallMs(ni); });
    n.shared = std::make_unique<kv::KeyspaceShared>();
    n.shared->store = n.store.get();
    n.shared->clock = n.clock.get();
    n.shared->actor = version::Actor{n.id, epoch};
    n.shared->partitions = p_.partitions;
    n.shared->workers = 1;
    n.shared->keep_clocks = p_.keep_clocks;
    n.shared->lww_merge = p_.lww;
    // Server::KeepHints: the tally counted again from the hints column family (hints are
    // durable: replay resumes after a restart), no hint window, the drawn budget.
    if (!n.hints) n.hints = std::make_unique<kv::HintLedger>(p_.partitions);
    Status hs = n.hints->Rebuild(n.store.get());
    if (!hs.ok()) Broken("HintLedger::Rebuild: " + hs.ToString());
    n.shared->hints = n.hints.get();
    n.shared->hints_max_bytes.store(p_.hints_max_bytes);
    // Server::ShareKeyspace: a cold cache, warmed on the cron. Not in the no-keep-clocks
    // negative control: its compactions drop records behind the keyspace (what a standalone
    // server does to records with no live value), and a cached copy would keep the counters
    // that control must be seen to forget.
    n.cache = std::make_unique<kv::RecordCache>(
        p_.partitions, p_.keep_clocks ? p_.cache_max_bytes : 0,
        p_.cache_random ? kv::CachePolicy::kRandom : kv::CachePolicy::kLru);
    n.shared->cache = n.cache.get();
    n.ks = std::make_unique<kv::Keyspace>(n.shared.get(), 0);
    n.env = std::make_unique<SimNodeContext>(n.store.get(), n.shared.get());
    // A fresh detector: every peer is up until the node's own requests say otherwise.
    n.detector = std::make_unique<cluster::FailureDetector>();
    n.health = std::make_unique<SimHealth>(n.detector.get(), &result_.stats.detector_transitions);
    replication::CoordinatorOptions opts = opts_;
    opts.self = n.id;
    n.coord = std::make_unique<Coordinator>(opts, n.ks.get());
    n.coord->set_ring(&ring_);
    n.coord->set_health(n.health.get());
    // Worker::ReplayHints' options: the node's rate (one loop), 3x the request timeout.
    replication::HandoffOptions ho;
    ho.self = n.id;
    ho.rate_per_s = p_.replay_rate_per_s;
    ho.timeout_ms = std::max<int64_t>(3 * p_.timeout_ms, 1000);
    n.replay = std::make_unique<replication::HintReplay>(ho, n.ks.get());
    // Server::KeepTrees: fresh trees with the stored reap floors, built from the data before
    // the node serves anything (the engine would build them in its first ticks).
    n.trees = std::make_unique<kv::PartitionTrees>(p_.partitions);
    Status ts = n.trees->LoadReapFloors(n.store.get());
    if (!ts.ok()) Broken("LoadReapFloors: " + ts.ToString());
    n.shared->trees = n.trees.get();
    BuildTrees(ni);
    if (!n.board) n.board = std::make_unique<replication::AaeBoard>();
    // Worker::RunAntiEntropy's options, one loop, the sim's timings.
    replication::AaeOptions ao;
    ao.self = n.id;
    ao.round_ms = kAaeRoundMs;
    ao.exchange_rate = 0;
    ao.repair_rate = 0;
    ao.timeout_ms = std::max<int64_t>(3 * p_.timeout_ms, 1000);
    // A reap must come after anything that may still carry an older version of the key: a
    // message in flight (the slowest delay) or an operation that may still read-repair (its
    // deadline). A server's tombstone-grace (an hour) is far above both; the seed's drawn
    // grace (it exercises standalone compaction) may not be.
    ao.tombstone_grace_ms = std::max<int64_t>(
        p_.tombstone_grace_ms, p_.delay_max_ms + p_.slow_max_ms + 3 * p_.timeout_ms);
    ao.rebuild_interval_ms = 0;
    n.aae = std::make_unique<replication::AntiEntropy>(ao, n.ks.get(), n.trees.get(),
                                                       n.board.get(), 0, 1);
    n.hints_stored_seen = n.hints->stored.load();
    ++fault_epoch_;
    n.conflicts_seen = 0;
    n.up = true;
    Trace(Tr::kBoot, ni, 0, epoch, start->renewed ? 1 : 0);
  }

  // Builds (or rebuilds) every partition's tree of node ni from its data, to the end.
  void BuildTrees(int ni) {
    Node& n = node(ni);
    for (uint32_t q = 0; q < p_.partitions; ++q) {
      n.trees->StartBuild(q);
      for (bool done = false; !done;) {
        Status s = n.trees->BuildStep(n.store.get(), q, 1 << 20, WallMs(ni), &done);
        if (!s.ok()) {
          Broken("PartitionTrees::BuildStep: " + s.ToString());
          break;
        }
      }
    }
  }

  void Crash(int ni, int64_t down_ms, CrashKind kind) {
    Node& n = node(ni);
    if (!faults_) return;
    const bool was_up = n.up;
    if (!was_up && (kind == CrashKind::kKill || kind == CrashKind::kClean)) return;
    if (was_up) {
      if (kind == CrashKind::kClean) {
        Status s = kv::RecordCleanShutdown(n.store.get(), n.meta_epoch);
        if (!s.ok()) Broken("RecordCleanShutdown: " + s.ToString());
        Synced(ni);
        ++result_.stats.clean_shutdowns;
      }
      // Volatile state goes: in-flight operations, timers, the clock. The store stays.
      n.up = false;
      ++n.inc;
      ++fault_epoch_;
      n.replay->Reset();
      n.replay.reset();
      n.aae->Reset();
      n.aae.reset();
      n.trees.reset();
      n.coord.reset();
      n.health.reset();
      n.detector.reset();
      n.ops.clear();
      n.ticks.clear();
      n.env.reset();
      n.ks.reset();
      n.shared.reset();
      n.cache.reset();
      n.clock.reset();
      ++result_.stats.crashes;
    }
    uint64_t lost = 0;
    if (kind == CrashKind::kPower) {
      lost = RollBack(ni);
      lossy_ = true;
      ++result_.stats.power_losses;
    } else if (kind == CrashKind::kDisk) {
      lost = ScanData(ni).size();
      n.store.reset();
      n.store = OpenStore(ni);
      n.image.clear();
      lossy_ = true;
      ++result_.stats.disk_losses;
    }
    Trace(Tr::kCrash, ni, down_ms, static_cast<uint64_t>(kind), lost);
    if (was_up) {
      Event e;
      e.kind = Event::Kind::kRestart;
      e.node = ni;
      e.inc = n.inc;
      Schedule(now_ + down_ms, std::move(e));
    }
  }

  // A power loss: the data column family goes back to the last sync (the meta writes are all
  // durable, so they stay). Returns how many records changed.
  uint64_t RollBack(int ni) {
    if (p_.fsync == Fsync::kAlways) return 0;
    Node& n = node(ni);
    const std::map<std::string, std::string> now = ScanData(ni);
    uint64_t changed = 0;
    Status s = n.store->Write([&](const storage::Store::WriteVisitor& put) {
      for (const auto& [k, v] : now) {
        if (!n.image.count(k)) {
          put(k, nullptr);
          ++changed;
        }
      }
      for (const auto& [k, v] : n.image) {
        auto it = now.find(k);
        if (it == now.end() || it->second != v) {
          put(k, &v);
          ++changed;
        }
      }
    });
    if (!s.ok()) Broken("rolling a store back failed: " + s.ToString());
    return changed;
  }

  // FLUSHALL on an up node, as Server::FlushAll does it (the turn's writes are committed:
  // between turns nothing is pending).
  void FlushAll(int ni) {
    Node& n = node(ni);
    if (!faults_ || !n.up) return;
    Synced(ni);  // FlushAll's durable epoch write syncs the WAL, before the range delete
    auto next = kv::FlushAll(n.store.get(), n.meta_epoch, WallUs(ni));
    if (!next.ok()) return Broken("FlushAll: " + next.status().ToString());
    n.meta_epoch = *next;
    n.trees->Reset(WallMs(ni));  // as Server::FlushAll: every record is gone
    n.cache->Clear();
    if (!p_.reuse_epoch) {
      n.shared->actor.epoch = *next;
      n.actor_epoch = *next;
    }
    lossy_ = true;
    ++result_.stats.flushalls;
    Trace(Tr::kFlushAll, ni, 0, n.shared->actor.epoch);
  }

  void Compact(int ni) {
    Node& n = node(ni);
    if (!n.up) return;
    const uint64_t before = n.gate->dropped.load();
    n.gate->now_ms.store(WallMs(ni));
    n.gate->open.store(true);
    Status s = n.store->CompactAll();
    n.gate->open.store(false);
    if (!s.ok()) Broken("CompactAll: " + s.ToString());
    const uint64_t dropped = n.gate->dropped.load() - before;
    ++result_.stats.compactions;
    result_.stats.compacted += dropped;
    // Only without keep_clocks (a negative control) may the filter drop records, which the
    // trees cannot see (a server keeps no trees then): rebuild them.
    if (dropped > 0) BuildTrees(ni);
    Trace(Tr::kCompact, ni, 0, dropped);
  }

  // The end of a loop turn of node ni: the keyspace commits the turn's writes (before anything
  // the turn sent is delivered: deliveries are later events), and the engine's next deadline
  // gets a timer.
  void EndTurn(int ni) {
    Node& n = node(ni);
    if (!n.up) {
      turn_keys_.clear();
      event_key_.clear();
      return;
    }
    // Worker::OnPrepare: commit, then tell the coordinator how the batch holding the turn's
    // local copies went; what that completes may run more commands, whose writes are committed
    // and reported the same way.
    do {
      for (std::string& key : n.ks->PendingKeys()) turn_keys_.insert(std::move(key));
      Status s;
      if (n.ks->HasPending()) {
        s = n.ks->Commit();
        if (!s.ok()) Broken("Commit: " + s.ToString());
      }
      n.coord->OnLocalCommit(s);
      CommandEffects fx;
      n.coord->ReportLocalCommits(now_, &fx);
      RunEffects(ni, &fx);
    } while (n.ks->HasPending());
    // Stores here never fail and records always decode, so a merge the keyspace refused (the
    // coordinator's own read's merge; peers' puts are reported as delivered) reused a dot. The
    // merge was for the key of the reply or failure this turn handled (a deadline's: unknown).
    for (uint64_t c = n.shared->dot_conflicts.load(); n.conflicts_seen < c; ++n.conflicts_seen) {
      RefusedPut(ni, event_key_, 0, "of its own read's merge");
    }
    event_key_.clear();
    if (n.hints->stored.load() != n.hints_stored_seen) {
      n.hints_stored_seen = n.hints->stored.load();
      NoteHints(ni);
    }
    for (const std::string& key : turn_keys_) {
      if (p_.lww) CollapseToLww(ni, key);
      if (p_.fragile >= 0 && ni != p_.fragile && !IsRegister(key)) NoteStable(ni, key);
    }
    turn_keys_.clear();
    const int64_t d = n.coord->NextDeadline();
    if (d != std::numeric_limits<int64_t>::max() && n.ticks.insert(d).second) {
      Event t;
      t.kind = Event::Kind::kTick;
      t.node = ni;
      t.inc = n.inc;
      t.req = static_cast<uint64_t>(d);
      Schedule(std::max(d, now_), std::move(t));
    }
  }

  std::optional<std::string> Record(int ni, const std::string& key) {
    std::optional<std::string> out;
    Status s = node(ni).ks->LoadRecord(key, &out);
    if (!s.ok()) Broken("LoadRecord: " + s.ToString());
    return out;
  }

  std::optional<DVVSet> Decoded(const std::optional<std::string>& record) {
    if (!record) return DVVSet();
    auto set = DVVSet::Decode(*record);
    if (!set.ok()) {
      Broken("a stored record does not decode");
      return std::nullopt;
    }
    return std::move(set).value();
  }

  // The LWW negative control: every stored record keeps only its LWW winner (a broken merge).
  void CollapseToLww(int ni, const std::string& key) {
    Node& n = node(ni);
    const std::optional<std::string> record = Record(ni, key);
    if (!record) return;
    auto collapsed = replication::MergeRecords(*record, *record, /*lww=*/true);
    if (!collapsed.ok() || *collapsed == *record) return;
    const std::string dk = storage::DataKey(n.ks->PartitionOf(key), key);
    Status s =
        n.store->Write([&](const storage::Store::WriteVisitor& put) { put(dk, &*collapsed); });
    if (!s.ok()) Broken("Write: " + s.ToString());
    // A write past the keyspace: the trees and the record cache learn it here, and the
    // keyspace's last-read note too.
    n.trees->Applied(dk, kv::HashTree::ItemHash(key, *record),
                     kv::HashTree::ItemHash(key, *collapsed));
    n.cache->Committed(n.ks->PartitionOf(key), dk, *collapsed);
    Record(ni, key);
  }

  // On seeds with a fragile node: the highest dot per actor that a store which never loses
  // anything has counted for a set key. A correct node never forgets a counted dot, so tracking
  // every store ever written (not just the final ones) keeps the model strict.
  void NoteStable(int ni, const std::string& key) {
    std::optional<DVVSet> set = Decoded(Record(ni, key));
    if (!set) return;
    std::map<version::Actor, uint64_t>& seen = stable_[key];
    for (const DVVSet::Entry& e : set->entries()) {
      uint64_t& c = seen[e.actor];
      c = std::max(c, e.counter);
    }
  }

  // The stored writes no store that keeps everything ever counted, and the fragile node's
  // final store does not count: their every copy (and every effect of their contexts) was in
  // data the fragile node lost.
  void MarkLostWithDisk() {
    if (!lossy_) return;
    for (auto& [key, km] : model_) {
      std::optional<DVVSet> fragile = Decoded(Record(p_.fragile, key));
      if (!fragile) continue;
      const auto& stable = stable_[key];
      for (StoredWrite& w : km.stored) {
        auto s = stable.find(w.actor);
        if ((s == stable.end() || s->second < w.counter) &&
            CounterOf(*fragile, w.actor) < w.counter) {
          w.lost_with_disk = true;
          ++result_.stats.lost_with_disk;
        }
      }
    }
  }

  void Heal() {
    faults_ = false;
    // Anti-entropy pauses until its own phase: the settling and the stale-primary check that
    // follows it measure hinted handoff alone.
    aae_on_ = false;
    for (auto& row : cut_) std::fill(row.begin(), row.end(), 0);
    for (int i = 0; i < p_.nodes; ++i) {
      if (!node(i).up) Boot(i);
    }
    Trace(Tr::kHeal);
  }

  // ---- network ----

  // `to_inc` is the destination incarnation for responses (the requester's); requests open a
  // "connection" to the destination's current incarnation.
  void Send(int from, Message msg, std::optional<uint64_t> to_inc = std::nullopt) {
    if (msg.type == Message::Type::kPutReq && msg.repair) ++result_.stats.repairs;
    if (msg.type == Message::Type::kPutReq && msg.hint_for != 0) ++result_.stats.fallback_puts;
    if (msg.aae && IsRequest(msg)) ++result_.stats.aae_records;
    const int to = Index(msg.to);
    Envelope env;
    env.msg = std::move(msg);
    Transmit(from, to, std::move(env), to_inc);
  }

  // The trace tag and op of what an envelope carries.
  static uint64_t TagOf(const Envelope& env) {
    if (env.aae == Envelope::Aae::kReq) {
      return (kAaeTag + static_cast<uint64_t>(env.aae_req.type)) << 32;
    }
    if (env.aae == Envelope::Aae::kResp) {
      return ((kAaeTag + static_cast<uint64_t>(env.aae_resp.type)) << 32) | 2u;
    }
    const Message& msg = env.msg;
    return (static_cast<uint64_t>(msg.type) << 32) | (msg.repair ? 1u : 0u) |
           (msg.aae ? 4u : 0u);
  }
  static uint64_t OpOf(const Envelope& env) {
    return env.aae == Envelope::Aae::kReq    ? env.aae_req.op
           : env.aae == Envelope::Aae::kResp ? env.aae_resp.op
                                             : env.msg.op;
  }
  static bool IsRequestEnv(const Envelope& env) {
    return env.aae == Envelope::Aae::kReq ||
           (env.aae == Envelope::Aae::kNone && IsRequest(env.msg));
  }

  // The network: loss, duplication, delay of one message from -> to.
  void Transmit(int from, int to, Envelope env, std::optional<uint64_t> to_inc) {
    ++result_.stats.messages;
    Node& dst = node(to);
    env.from = from;
    env.to = to;
    env.to_inc = to_inc.has_value() ? *to_inc : dst.inc;
    env.from_inc = node(from).inc;
    const uint64_t tag = TagOf(env);
    const uint64_t op = OpOf(env);
    if (!dst.up) {
      // A refused connection is reported at once on some seeds; otherwise the request is just
      // lost and the coordinator times out.
      if (faults_ && IsRequestEnv(env) && rng_.Permille(p_.fast_fail_permille)) {
        Event e;
        e.kind = Event::Kind::kSendFailed;
        e.node = from;
        e.inc = node(from).inc;
        e.env = std::move(env);
        Schedule(now_ + rng_.Range(0, 2), std::move(e));
      } else {
        Trace(Tr::kDropDown, from, to, op, tag);
        ++result_.stats.dropped;
      }
      return;
    }
    if (faults_ && rng_.Permille(p_.loss_permille)) {
      Trace(Tr::kDrop, from, to, op, tag);
      ++result_.stats.dropped;
      if (env.aae == Envelope::Aae::kNone) Taint(env, env.msg);
      return;
    }
    int copies = 1;
    if (faults_ && rng_.Permille(p_.dup_permille)) {
      copies = 2;
      ++result_.stats.duplicated;
      Trace(Tr::kDup, from, to, op, tag);
    }
    Trace(Tr::kSend, from, to, op, tag);
    for (int i = 0; i < copies; ++i) {
      int64_t delay;
      if (faults_) {
        delay = rng_.Range(p_.delay_min_ms, p_.delay_max_ms);
        if (rng_.Permille(p_.slow_permille)) delay += rng_.Range(0, p_.slow_max_ms);
      } else {
        // Healed: a round trip fits well within the engine timeout, so repair rounds can go
        // quiet (a drawn delay range may exceed the timeout during the faults).
        delay = rng_.Range(0, std::min(p_.delay_max_ms, p_.timeout_ms / 4));
      }
      if (2 * delay >= p_.timeout_ms && env.aae == Envelope::Aae::kNone) Taint(env, env.msg);
      Event e;
      e.kind = Event::Kind::kDeliver;
      e.env = env;
      Schedule(now_ + delay, std::move(e));
    }
  }

  void Deliver(const Envelope& env) {
    Node& dst = node(env.to);
    const Message& msg = env.msg;
    const uint64_t tag = TagOf(env);
    const uint64_t op = OpOf(env);
    if (!dst.up || dst.inc != env.to_inc) {
      Trace(Tr::kDropDown, env.from, env.to, op, tag);
      ++result_.stats.dropped;
      return;
    }
    if (cut_[static_cast<size_t>(env.from)][static_cast<size_t>(env.to)] > 0) {
      Trace(Tr::kDropCut, env.from, env.to, op, tag);
      ++result_.stats.dropped;
      return;
    }
    Trace(Tr::kDeliver, env.from, env.to, op, tag);
    if (env.aae == Envelope::Aae::kReq) {
      // CmdPeerAae: the answering side, on the loop owning the partition; a reap's drops
      // commit with the turn, before the answer leaves.
      Envelope back;
      back.aae = Envelope::Aae::kResp;
      back.aae_resp = replication::ServeAae(*dst.ks, *dst.trees, dst.hints.get(), env.aae_req,
                                            dst.board.get());
      EndTurn(env.to);
      Transmit(env.to, env.from, std::move(back), env.from_inc);
      return;
    }
    if (env.aae == Envelope::Aae::kResp) {
      replication::AaeSends sends;
      dst.aae->OnResponse(now_, env.aae_resp, &sends);
      SendAae(env.to, &sends);
      EndTurn(env.to);
      return;
    }
    if (msg.type == Message::Type::kPutResp && !msg.ok) Taint(env, msg);
    if (msg.aae && !IsRequest(msg)) {
      // A repair's answer goes to anti-entropy (Worker::SendAae's callback), not the
      // coordinator.
      replication::AaeSends sends;
      dst.aae->OnRecordResponse(now_, msg, &sends);
      SendAae(env.to, &sends);
      EndTurn(env.to);
      return;
    }
    if (DropsPut(env)) {
      // DEBUG REPLICA-PUT-DROP at CmdPeerRecord: acknowledged, not stored.
      Message resp;
      resp.type = Message::Type::kPutResp;
      resp.from = msg.to;
      resp.to = msg.from;
      resp.op = msg.op;
      resp.key = msg.key;
      resp.ok = true;
      ++result_.stats.dropped_puts;
      Trace(Tr::kDroppedPut, env.to, KeyCode(msg.key), msg.op);
      EndTurn(env.to);
      Send(env.to, std::move(resp), env.from_inc);
      return;
    }
    if (msg.type == Message::Type::kProbeResp) {
      // DetectFailures' probe callback: an answer brings the peer up.
      dst.health->Answered(now_, msg.from);
      EndTurn(env.to);
    } else if (msg.handoff && !IsRequest(msg)) {
      // A replayed hint's answer goes to the replay, whose deletion commits with the turn.
      dst.replay->OnResponse(now_, msg, dst.health.get());
      EndTurn(env.to);
    } else if (IsRequest(msg) || msg.type == Message::Type::kProbeReq) {
      // The replica side, as the server's DYNIS.GETREC / DYNIS.PUTREC handlers run it; the
      // answer leaves after the turn committed.
      Message resp = replication::ServeReplica(dst.ks->VnodeOf(msg.key), msg);
      // A fallback at hints-max-bytes refuses by design; any other refusal is a reused dot.
      if (msg.type == Message::Type::kPutReq && !resp.ok && resp.error != err::kHintsFull) {
        dst.conflicts_seen = dst.shared->dot_conflicts.load();
        RefusedPut(env.to, msg.key, msg.op, "from n" + std::to_string(env.from + 1));
      }
      EndTurn(env.to);
      Send(env.to, std::move(resp), env.from_inc);
    } else {
      CommandEffects fx;
      event_key_ = msg.key;
      dst.coord->OnMessage(now_, msg, &fx);
      RunEffects(env.to, &fx);
      EndTurn(env.to);
    }
  }

  // The silently dropped write (Params::drop_node): a plain replica put (no hint, no repair,
  // no replay, no anti-entropy) to the drawn node during the faults, acknowledged unstored.
  bool DropsPut(const Envelope& env) {
    const Message& msg = env.msg;
    if (!faults_ || p_.drop_node < 0 || env.to != p_.drop_node) return false;
    if (msg.type != Message::Type::kPutReq || msg.hint_for != 0 || msg.repair || msg.handoff ||
        msg.aae) {
      return false;
    }
    return rng_.Permille(p_.drop_permille);
  }

  // A replica answered a put with an error. Stores here never fail and records always decode,
  // so it refused a dot it had seen for another write (the engine's dot conflict).
  void RefusedPut(int ni, const std::string& key, uint64_t op, const std::string& from) {
    Trace(Tr::kRefusedPut, ni, key.empty() ? 0 : KeyCode(key), op);
    if (++result_.stats.refused_puts > kReportedDots) return;
    dot_violations_.push_back({Violation::Kind::kReusedDot, key,
                               "t=" + std::to_string(now_) + " n" + std::to_string(ni + 1) +
                                   " refused a put " + from + " (op " + std::to_string(op) +
                                   "): a dot it had seen for a different write"});
  }

  void Cut(int index, int delta) {
    if (!faults_) return;  // healed: the plan's remaining ends are moot
    const Params::Partition& part = p_.partition_plan[static_cast<size_t>(index)];
    std::vector<bool> in_a(static_cast<size_t>(p_.nodes), false);
    for (int a : part.side_a) in_a[static_cast<size_t>(a)] = true;
    for (int a = 0; a < p_.nodes; ++a) {
      for (int b = 0; b < p_.nodes; ++b) {
        if (!in_a[static_cast<size_t>(a)] || in_a[static_cast<size_t>(b)]) continue;
        cut_[static_cast<size_t>(a)][static_cast<size_t>(b)] += delta;
        if (!part.one_way) cut_[static_cast<size_t>(b)][static_cast<size_t>(a)] += delta;
      }
    }
    ++fault_epoch_;
    Trace(delta > 0 ? Tr::kCut : Tr::kUncut, index, part.one_way ? 1 : 0);
    if (delta > 0) {
      Event e;
      e.kind = Event::Kind::kCutEnd;
      e.index = index;
      Schedule(std::max(part.end_ms, now_), std::move(e));
    }
  }

  // A message of a client put was lost at random, refused or slow: the availability rule no
  // longer applies to its command. (Drops to crashed or cut-off nodes are not taints: they are
  // the reality the coordinator's detector had to agree with, and any change of it during the
  // command is a fault_epoch_ change.)
  void Taint(const Envelope& env, const Message& msg) {
    if (msg.handoff || msg.repair || msg.aae) return;
    std::tuple<int, uint64_t, uint64_t> k;
    if (msg.type == Message::Type::kPutReq) {
      k = {env.from, env.from_inc, msg.op};
    } else if (msg.type == Message::Type::kPutResp) {
      k = {env.to, env.to_inc, msg.op};
    } else {
      return;
    }
    auto it = owners_.find(k);
    if (it == owners_.end()) return;
    if (std::shared_ptr<CoordOp> op = it->second.lock()) op->tainted = true;
  }

  // After a turn that stored hints on node ni: every dot its hints of set keys hold, per
  // (key, target, holder). Each must reach the target (StalePrimaries).
  void NoteHints(int ni) {
    Node& n = node(ni);
    for (uint64_t target : n.hints->Targets()) {
      std::vector<kv::Keyspace::StoredHint> hints;
      bool end = false;
      Status s = n.ks->ScanHints(target, "", 1 << 20, &hints, &end);
      if (!s.ok()) Broken("ScanHints: " + s.ToString());
      for (const kv::Keyspace::StoredHint& h : hints) {
        if (IsRegister(h.user_key) && !p_.keep_clocks) continue;  // counters may be forgotten
        kv::HintValue v;
        if (!kv::DecodeHintValue(h.value, &v)) {
          Broken("a stored hint does not decode");
          continue;
        }
        std::optional<DVVSet> set = Decoded(v.record);
        if (!set) continue;
        auto& owed = owed_[h.user_key][{static_cast<NodeId>(target), ni}];
        for (const DVVSet::Entry& e : set->entries()) {
          uint64_t& c = owed[e.actor];
          c = std::max(c, e.counter);
        }
      }
    }
  }

  // Check 4a, before any read after the faults: the replay phase left no hint anywhere, and
  // every dot a hint held for a primary is counted by that primary's record, read from its
  // store directly. Only set keys (never deleted or expired: a record's counters only grow).
  // On seeds where the fragile node lost data (power loss, disk loss, FLUSHALL), hints it held
  // and records it stored may be gone with it: dots it held, or owed to it, are not checked
  // (only read repair can restore those).
  void StalePrimaries() {
    auto stale = [this](const std::string& key, const std::string& what) {
      if (++stale_reported_ <= kReportedDots) {
        avail_violations_.push_back({Violation::Kind::kStalePrimary, key, what});
      }
    };
    if (!p_.no_hints) {
      for (int i = 0; i < p_.nodes; ++i) {
        Node& n = node(i);
        if (!n.hints->Any() && n.replay->inflight() == 0) continue;
        std::string targets;
        for (const auto& [t, tot] : n.hints->All()) {
          targets += " n" + std::to_string(t) + ":" + std::to_string(tot.count);
        }
        stale("", "n" + std::to_string(i + 1) + " still holds hints (" + targets + " ) and " +
                      std::to_string(n.replay->inflight()) + " replays in flight " +
                      std::to_string(now_ - p_.fault_ms) + "ms after the heal");
      }
    }
    result_.stats.stale_checked = true;
    for (const auto& [key, per] : owed_) {
      const std::vector<NodeId> primaries = cluster::Primaries(
          ring_, KeyPartition(key, p_.partitions), static_cast<uint32_t>(p_.n_val));
      for (const auto& [who, dots] : per) {
        const auto [target, holder] = who;
        if (lossy_ && (Index(target) == p_.fragile || holder == p_.fragile)) continue;
        if (std::find(primaries.begin(), primaries.end(), target) == primaries.end()) {
          Broken("n" + std::to_string(holder + 1) + " held a hint of " + key + " for n" +
                 std::to_string(target) + ", not a primary of it");
          continue;
        }
        // Anti-entropy may have reaped a register's tombstone (which counted the hint's dots)
        // on every primary during the faults: the record, or its old counters, are gone by
        // design (kv/keyspace.h Reap). Set keys are never tombstones.
        if (IsRegister(key) && Reaped(Index(target), KeyPartition(key, p_.partitions))) continue;
        std::optional<DVVSet> rec = Decoded(Record(Index(target), key));
        if (!rec) continue;
        for (const auto& [actor, counter] : dots) {
          ++result_.stats.owed_dots;
          if (CounterOf(*rec, actor) >= counter) continue;
          stale(key, "primary n" + std::to_string(target) + " lacks dot " + actor.ToString() +
                         ":" + std::to_string(counter) + " that n" + std::to_string(holder + 1) +
                         " held as a hint for it (" + std::to_string(now_ - p_.fault_ms) +
                         "ms after the heal, before any read)");
        }
      }
    }
    // Informational: acknowledged elements on every primary without a read.
    for (const auto& [key, km] : model_) {
      const std::vector<NodeId> primaries = cluster::Primaries(
          ring_, KeyPartition(key, p_.partitions), static_cast<uint32_t>(p_.n_val));
      for (NodeId id : primaries) {
        std::optional<DVVSet> rec = Decoded(Record(Index(id), key));
        std::set<uint64_t> have;
        if (rec) {
          for (const DVVSet::Entry& e : rec->entries()) {
            for (const DVVSet::DottedValue& d : e.values) ParseElements(d.sibling.value, &have);
          }
        }
        for (uint64_t el : km.acked) {
          ++result_.stats.acked_pairs;
          result_.stats.acked_pairs_present += have.count(el);
        }
      }
    }
  }

  // Whether node ni reaped (or dropped at a reaper's request) records of partition q.
  bool Reaped(int ni, uint32_t q) {
    const auto snap = node(ni).board->Snapshot();
    auto it = snap.find(q);
    return it != snap.end() && it->second.reaped > 0;
  }

  // ---- anti-entropy alone converges ----

  // Every engine idle.
  bool AaeIdle() {
    for (Node& n : nodes_) {
      if (!n.up || !n.aae->Idle()) return false;
    }
    return true;
  }
  // For every partition, its primaries' trees built and equal.
  bool TreesAgree() {
    for (uint32_t q = 0; q < p_.partitions; ++q) {
      const std::vector<NodeId>& prim = aae_topo_.primaries[q];
      for (NodeId id : prim) {
        if (!node(Index(id)).up || !node(Index(prim[0])).up) return false;
        const kv::PartitionTrees& t = *node(Index(id)).trees;
        const kv::PartitionTrees& first = *node(Index(prim[0])).trees;
        if (!t.Ready(q) || t.tree(q).root() != first.tree(q).root()) return false;
      }
    }
    return true;
  }

  // After the settling and the stale-primary check, before any read or closing write: the
  // engines run (no client, no read repair) until quiet or kAaeConvergeMs, then every key's
  // primaries must hold byte-identical records (kNotConverged). False when the event limit
  // was hit.
  bool AntiEntropyPhase() {
    const int64_t start = now_;
    Trace(Tr::kAaePhase, 0);
    aae_on_ = true;
    bool quiet = false;
    if (!p_.no_aae) {
      // The engines run until every partition's primaries agree (an engine starts exchanges
      // every round forever, so it is seldom idle while it runs); then no new exchange starts
      // and what is in flight finishes. Quiet: idle engines, agreeing trees. What finished
      // may undo the agreement (a reap pass dropping the reaper's copy after a peer fetched
      // it back), and then the engines run again.
      const int64_t limit = now_ + kAaeConvergeMs;
      while (!quiet && now_ <= limit) {
        if (!Drain([this] { return TreesAgree(); }, limit, /*at_cron=*/true)) return false;
        aae_wind_down_ = true;
        const bool drained = Drain([this] { return AaeIdle(); }, limit);
        aae_wind_down_ = false;
        if (!drained) return false;
        quiet = AaeIdle() && TreesAgree();
        if (!quiet && cron_at_ > limit) break;
      }
    }
    aae_on_ = false;
    Trace(Tr::kAaePhase, quiet ? 1 : 2);
    if (quiet) result_.stats.aae_converge_ms = now_ - start;
    auto report = [this](const std::string& key, const std::string& what) {
      if (++not_converged_ <= kReportedDots) {
        avail_violations_.push_back({Violation::Kind::kNotConverged, key, what});
      }
    };
    const std::string after = " after " + std::to_string(now_ - start) +
                              "ms of anti-entropy alone (no read, no read repair)";
    if (!quiet && !p_.no_aae) {
      std::string busy;
      for (int i = 0; i < p_.nodes; ++i) {
        if (!node(i).aae->Idle()) {
          busy += " n" + std::to_string(i + 1) + ":" + std::to_string(node(i).aae->active());
        }
      }
      report("", "anti-entropy never went quiet" + after + " (exchanges active:" + busy + ")");
    }
    for (const std::string& key : keys_) {
      const std::vector<NodeId> primaries = cluster::Primaries(
          ring_, KeyPartition(key, p_.partitions), static_cast<uint32_t>(p_.n_val));
      const std::optional<std::string> first = Record(Index(primaries[0]), key);
      for (NodeId id : primaries) {
        const std::optional<std::string> rec = Record(Index(id), key);
        if (rec == first) continue;
        auto describe = [this](const std::optional<std::string>& r) -> std::string {
          if (!r) return "no record";
          std::optional<DVVSet> set = Decoded(r);
          if (!set) return "an undecodable record";
          std::string d;
          for (const DVVSet::Entry& e : set->entries()) {
            d += " " + e.actor.ToString() + ":" + std::to_string(e.counter) + "(" +
                 std::to_string(e.values.size()) + " values)";
          }
          return "{" + d + " }";
        };
        report(key, "primaries n" + std::to_string(primaries[0]) + " and n" +
                        std::to_string(id) + " differ" + after + ": " + describe(first) +
                        " vs " + describe(rec));
        break;
      }
    }
    return true;
  }

  // ---- coordination: the real coordinator, driven as server/cluster.cc drives it ----

  // Worker::Coordinate: the command table plans it, the coordinator runs the plan.
  void Coordinate(int ni, const std::shared_ptr<CoordOp>& op) {
    Node& n = node(ni);
    const std::vector<std::string> argv = ArgvOf(op->command);
    const CommandSpec* spec = LookupCommand(argv[0]);
    if (spec == nullptr) Fatal("the command table has no " + argv[0]);
    replication::CommandPlan plan = PlanCommand(*spec, argv, op->r, p_.w, p_.n_val);
    if (op->kind == CoordOp::Kind::kClient && op->command.cmd == Cmd::kSetCtx && faults_) {
      int reachable = 1;  // itself
      bool agrees = true;
      for (int j = 0; j < p_.nodes; ++j) {
        if (j == ni) continue;
        const bool r = node(j).up && cut_[static_cast<size_t>(ni)][static_cast<size_t>(j)] == 0 &&
                       cut_[static_cast<size_t>(j)][static_cast<size_t>(ni)] == 0;
        reachable += r ? 1 : 0;
        if (n.detector->Up(node(j).id) != r) agrees = false;
      }
      op->avail_eligible = agrees && reachable >= p_.w;
      op->avail_epoch = fault_epoch_;
    }
    CommandEffects fx;
    const uint64_t id = n.coord->Start(now_, std::move(plan), &fx);
    n.ops[id] = op;
    RunEffects(ni, &fx);
  }

  // Worker::RunEffects: sends go on the network, runs execute the command on the local
  // keyspace, replies go to whoever asked.
  void RunEffects(int ni, CommandEffects* fx) {
    Node& n = node(ni);
    while (!fx->empty()) {
      CommandEffects batch;
      batch.swap(*fx);
      for (CommandEffect& e : batch) {
        if (e.kind == CommandEffect::Kind::kSend) {
          Send(ni, std::move(e.msg));
          continue;
        }
        auto it = n.ops.find(e.command);
        if (it == n.ops.end()) continue;
        std::shared_ptr<CoordOp> op = it->second;
        if (e.kind == CommandEffect::Kind::kRun) {
          const size_t before = fx->size();
          n.coord->Run(now_, e.command, [&] { return Run(ni, *op); }, fx);
          // The put's requests: their fate decides whether the availability rule applies.
          for (size_t i = before; op->avail_eligible && i < fx->size(); ++i) {
            const CommandEffect& s = (*fx)[i];
            if (s.kind != CommandEffect::Kind::kSend || s.msg.type != Message::Type::kPutReq ||
                s.msg.repair) {
              continue;
            }
            owners_[{ni, n.inc, s.msg.op}] = op;
            op->put_ops.push_back(s.msg.op);
          }
          continue;
        }
        n.ops.erase(it);
        for (uint64_t o : op->put_ops) owners_.erase({ni, n.inc, o});
        if (op->avail_eligible && op->avail_epoch == fault_epoch_ && !op->tainted) {
          ++result_.stats.avail_eligible;
          if (!e.error.empty() && e.quorum_failed) {
            ++result_.stats.avail_failed;
            if (result_.stats.avail_failed <= kReportedDots) {
              avail_violations_.push_back(
                  {Violation::Kind::kUnavailable, op->command.key,
                   "t=" + std::to_string(now_) + " SETCTX of element " +
                       std::to_string(op->element) + " through n" + std::to_string(ni + 1) +
                       " failed (" + e.error + ") though its detector agreed with reality and it "
                       "reached W nodes, none failing, no message lost or slow"});
            }
          }
        }
        Trace(Tr::kComplete, ni, e.error.empty() ? 1 : 0, e.command);
        const bool write = op->ran && op->command.cmd != Cmd::kGet &&
                           op->command.cmd != Cmd::kGetCtx;
        if (write) {
          (e.error.empty() ? result_.stats.puts_ok : result_.stats.puts_failed)++;
        } else {
          (e.error.empty() ? result_.stats.gets_ok : result_.stats.gets_failed)++;
        }
        if (!e.error.empty()) op->reply = Reply{};
        Finish(ni, op);
      }
    }
  }

  // A kRun effect: the command on the local keyspace (a repair round's read runs nothing). The
  // coordinator replicates what it stored; the simulator keeps the structured reply itself.
  std::string Run(int ni, CoordOp& op) {
    op.ran = true;
    if (op.kind == CoordOp::Kind::kRepair) return "";
    op.reply = Execute(ni, op);
    if (p_.early_ack && op.command.cmd == Cmd::kSetCtx && op.reply.ok) {
      // The broken configuration: the client hears "ok" now, whatever the puts do. The
      // coordinator's own reply finds the client gone and is ignored.
      ReplyToClient(ni, op, op.reply);
    }
    return "";
  }

  // The command's own handler from the command table, on the node's keyspace, as a worker runs
  // a coordinated command (no client: it may have come from another node); its reply parsed.
  proto::Reply RunHandler(int ni, const Command& c) {
    Node& n = node(ni);
    const std::vector<std::string> argv = ArgvOf(c);
    const CommandSpec* spec = LookupCommand(argv[0]);
    std::string out;
    proto::ReplyWriter w(&out);
    CommandContext ctx{argv, w, *n.ks, *n.env, nullptr, spec};
    spec->handler(ctx);
    proto::ReplyParser parser;
    size_t used = 0;
    if (parser.Parse(out.data(), out.size(), &used) != proto::ReplyParser::State::kReply ||
        used != out.size()) {
      Broken(std::string(CmdName(c.cmd)) + "'s reply does not parse: " + out);
      return proto::Reply{};
    }
    return parser.reply();
  }

  // The command on the local keyspace through its real handler; writes are noted in the model
  // with the dot they left in the record.
  Reply Execute(int ni, CoordOp& op) {
    Node& n = node(ni);
    kv::Keyspace& ks = *n.ks;
    const Command& c = op.command;
    Reply r;
    r.node = ni;
    turn_keys_.insert(c.key);  // writes, and lazy expiry on reads
    if (c.cmd == Cmd::kGet || c.cmd == Cmd::kGetCtx) {
      const proto::Reply reply = RunHandler(ni, c);
      r.ok = reply.type != proto::Reply::Type::kError;
      if (c.cmd == Cmd::kGet) {
        r.found = reply.type == proto::Reply::Type::kBulk;
        if (r.found) r.value = reply.str;
      } else if (r.ok) {
        // GETCTX: [context, [value, ...]].
        if (reply.type != proto::Reply::Type::kArray || reply.elements.size() != 2) {
          Broken("GETCTX replied something other than [context, values]");
          return r;
        }
        r.ctx = reply.elements[0].str;
        for (const proto::Reply& v : reply.elements[1].elements) ParseElements(v.str, &r.elements);
      }
      return r;
    }
    std::optional<DVVSet> before = Decoded(Record(ni, c.key));
    if (!before) return r;
    // SET's handler measures PX against the keyspace's clock, which reads the same now.
    const int64_t expire_at =
        c.cmd != Cmd::kSet ? 0 : c.px_ms != 0 ? ks.NowMs() + c.px_ms : c.pxat_ms;
    const proto::Reply reply = RunHandler(ni, c);
    r.ok = reply.type != proto::Reply::Type::kError;
    if (!r.ok) return r;
    const bool existed = c.cmd == Cmd::kDel && reply.integer > 0;
    r.count = existed ? 1 : 0;

    // The dot: the record the turn stored counts one more event of this node's actor.
    const version::Actor actor = n.shared->actor;
    std::optional<DVVSet> after = Decoded(Record(ni, c.key));
    const uint64_t counter = after ? CounterOf(*after, actor) : 0;
    const bool minted = counter > CounterOf(*before, actor);
    if (c.cmd == Cmd::kSetCtx) {
      if (!minted) return r;
      NoteDot(c.key, actor, counter,
              "SETCTX element " + std::to_string(op.element) + " at t=" + std::to_string(now_) +
                  " on n" + std::to_string(ni + 1));
      auto ctx = version::DecodeContext(c.ctx);
      if (!ctx.ok()) Broken("a context from GETCTX does not decode");
      model_[c.key].stored.push_back(StoredWrite{op.element, c.value, actor, counter,
                                                 ctx.ok() ? ctx.value() : version::VersionVector{},
                                                 op.client, now_});
      return r;
    }
    RegisterWrite& w = registers_[c.key].writes[op.write - 1];
    w.ran = true;
    w.node = ni;
    w.incarnation = n.inc;
    w.seq = ++commands_run_;
    w.ran_ms = now_;
    w.expire_at_ms = expire_at;
    w.observed = before->Join();
    w.minted = minted;
    w.actor = actor;
    w.counter = counter;
    if (c.cmd == Cmd::kDel) w.deleted = existed ? 1 : 0;
    if (expire_at != 0) ++result_.stats.expiring_writes;
    if (minted) {
      NoteDot(c.key, actor, counter,
              (w.del ? std::string("DEL") : "SET " + w.value) + " by client " +
                  std::to_string(w.client) + " at t=" + std::to_string(now_) + " on n" +
                  std::to_string(ni + 1));
    }
    return r;
  }

  // The oracle of kv679: a dot names one write of a key, ever.
  void NoteDot(const std::string& key, const version::Actor& actor, uint64_t counter,
               const std::string& what) {
    // Every command runs once, so a dot already noted was minted for another write.
    auto [it, fresh] = dots_[key].emplace(std::make_pair(actor, counter), what);
    if (fresh) return;
    // The first few are reported; the statistics count them all.
    if (++result_.stats.reused_dots > kReportedDots) return;
    dot_violations_.push_back({Violation::Kind::kReusedDot, key,
                               "dot " + actor.ToString() + ":" + std::to_string(counter) +
                                   " minted for " + it->second + "\n    and again for " + what});
  }

  // Worker::FinishCoordinated: the reply (or the failure) goes to whoever asked.
  void Finish(int ni, const std::shared_ptr<CoordOp>& op) {
    Reply reply = op->reply;
    reply.node = ni;
    if (op->kind == CoordOp::Kind::kFinalRead) {
      FinalRead rd;
      rd.node = ni;
      rd.ok = reply.ok;
      rd.found = reply.found;
      rd.value = reply.value;
      rd.wall_ms = WallMs(ni);
      rd.max_wall_ms = kWallEpochMs + now_ + max_skew_;
      result_.final_registers[op->command.key].reads.push_back(rd);
      return;
    }
    if (op->kind != CoordOp::Kind::kClient) return;
    ReplyToClient(ni, *op, reply);
  }

  void ReplyToClient(int ni, const CoordOp& op, Reply reply) {
    reply.node = ni;
    Event r;
    r.kind = Event::Kind::kClientReply;
    r.client = op.client;
    r.req = op.req;
    r.reply = std::move(reply);
    Schedule(now_ + rng_.Range(0, 2), std::move(r));
  }

  // ---- clients ----

  void ScheduleClientStart(int ci) {
    Event e;
    e.kind = Event::Kind::kClientStart;
    e.client = ci;
    Schedule(now_ + rng_.Range(0, p_.think_max_ms), std::move(e));
  }

  // Sends the client's command to node ni (refused at once when ni is down).
  void Submit(int ci, int ni, Command command, uint64_t id) {
    Client& c = clients_[static_cast<size_t>(ci)];
    c.cmd = command.cmd;
    c.key = command.key;
    ++c.req;
    c.waiting = true;
    Event t;
    t.kind = Event::Kind::kClientTimeout;
    t.client = ci;
    t.req = c.req;
    Schedule(now_ + 2 * p_.timeout_ms + 50, std::move(t));
    Trace(Tr::kClient, ci, ni, c.req,
          (static_cast<uint64_t>(command.cmd) << 56) |
              (static_cast<uint64_t>(KeyCode(command.key)) << 40) | id);
    if (!node(ni).up) {
      // A client reaching a crashed node: the connection is refused quickly.
      Trace(Tr::kRefused, ci, ni, c.req);
      Event r;
      r.kind = Event::Kind::kClientReply;
      r.client = ci;
      r.req = c.req;
      r.reply.node = ni;
      Schedule(now_ + rng_.Range(1, 5), std::move(r));
      return;
    }
    auto op = std::make_shared<CoordOp>();
    op->client = ci;
    op->req = c.req;
    op->command = std::move(command);
    op->r = p_.r;
    op->write = c.write;
    op->element = c.element;
    Coordinate(ni, op);
    EndTurn(ni);
  }

  void ClientStart(int ci) {
    Client& c = clients_[static_cast<size_t>(ci)];
    // The workload runs during the fault phase only, and is bounded: set values hold every
    // element of their key, so a run's cost grows with the square of its SETCTX writes.
    const bool sets_left = c.writes < p_.writes_per_client;
    const bool registers_left = c.register_ops < p_.register_ops_per_client;
    if (now_ >= p_.fault_ms || (!sets_left && !registers_left)) return;
    c.write = 0;
    if (!sets_left || (registers_left && rng_.Permille(p_.register_permille))) {
      RegisterOp(ci);
      return;
    }
    Command cmd;
    cmd.cmd = Cmd::kGetCtx;
    cmd.key = SetKeyName(static_cast<int>(rng_.Below(static_cast<uint64_t>(p_.keys))));
    const int ni = RandomMember(cmd.key);
    Submit(ci, ni, std::move(cmd), 0);
  }

  // GET, SET (no expiry, PX, PXAT in the past) or DEL of a register key, with a fresh value.
  void RegisterOp(int ci) {
    Client& c = clients_[static_cast<size_t>(ci)];
    ++c.register_ops;
    Command cmd;
    cmd.key = RegisterName(static_cast<int>(rng_.Below(static_cast<uint64_t>(p_.registers))));
    const int ni = RandomMember(cmd.key);
    const uint64_t u = rng_.Below(100);
    if (u < 30) {
      cmd.cmd = Cmd::kGet;
    } else if (u < 85) {
      cmd.cmd = Cmd::kSet;
      if (u >= 55 && u < 80) cmd.px_ms = rng_.Range(20, p_.ttl_max_ms);
      // Already past on the coordinator's clock: the write is a delete.
      if (u >= 80) cmd.pxat_ms = WallMs(ni) - rng_.Range(1, 1000);
    } else {
      cmd.cmd = Cmd::kDel;
    }
    SubmitRegister(ci, ni, std::move(cmd));
  }

  // A register command with a fresh value; SET and DEL join the model.
  void SubmitRegister(int ci, int ni, Command cmd) {
    Client& c = clients_[static_cast<size_t>(ci)];
    const uint64_t id = next_value_++;
    c.write = 0;
    if (cmd.cmd != Cmd::kGet) {
      RegisterWrite w;
      w.client = ci;
      w.sent_ms = now_;
      w.del = cmd.cmd == Cmd::kDel;
      if (!w.del) {
        cmd.value = "v" + std::to_string(id);
        w.value = cmd.value;
        w.px_ms = cmd.px_ms;
        w.pxat_ms = cmd.pxat_ms;
      }
      RegisterModel& m = registers_[cmd.key];
      m.writes.push_back(std::move(w));
      c.write = m.writes.size();
      ++result_.stats.register_writes;
    }
    Submit(ci, ni, std::move(cmd), id);
  }

  // After the faults, once every TTL and tombstone grace has passed on every clock: most
  // register keys are written once more (a plain SET) through one replica, which may first
  // compact and may first read the key (lazy expiry). A replica that forgot the key's counters
  // then mints a dot its peers have seen, and this last write is lost for good. The other keys
  // keep the end of the fault phase as their last writes. False when the event limit was hit.
  bool ClosingWrites() {
    now_ += p_.ttl_max_ms + p_.tombstone_grace_ms + p_.SkewSpread() + 100;
    const int ci = p_.clients;
    for (const auto& [key, m] : registers_) {
      if (rng_.Permille(300)) continue;
      const int ni = RandomMember(key);
      if (rng_.Permille(500)) Compact(ni);
      for (Cmd cmd : {Cmd::kGet, Cmd::kSet}) {
        if (cmd == Cmd::kGet && rng_.Permille(300)) continue;
        Command c;
        c.cmd = cmd;
        c.key = key;
        SubmitRegister(ci, ni, std::move(c));
        if (!Drain()) return false;
      }
    }
    return true;
  }

  void OnClientReply(int ci, uint64_t req, const Reply& reply) {
    Client& c = clients_[static_cast<size_t>(ci)];
    if (!c.waiting || c.req != req) return;  // stale: the client gave up on it
    c.waiting = false;
    // y: what the client learned (elements read, found, or 1 for an acknowledged write).
    const bool read = c.cmd == Cmd::kGetCtx || c.cmd == Cmd::kGet;
    Trace(Tr::kReply, ci, reply.ok ? 1 : 0, req,
          c.cmd == Cmd::kGetCtx ? reply.elements.size()
          : read                ? (reply.found ? 1 : 0)
                                : (reply.ok ? 1 : 0));
    if (c.cmd == Cmd::kSetCtx) {
      if (reply.ok) model_[c.key].acked.insert(c.element);
    } else if (c.write != 0 && reply.ok) {
      RegisterWrite& w = registers_[c.key].writes[c.write - 1];
      w.acked = true;
      w.acked_ms = now_;
      ++result_.stats.register_acked;
    }
    if (c.cmd != Cmd::kGetCtx || !reply.ok || now_ >= p_.fault_ms) {
      ScheduleClientStart(ci);
      return;
    }
    // Merge the siblings (set union), add a fresh element, write back with the context.
    std::set<uint64_t> elems = reply.elements;
    c.element = next_element_++;
    ++c.writes;
    elems.insert(c.element);
    KeyModel& km = model_[c.key];
    km.written.insert(c.element);
    km.writers.insert(ci);
    Command cmd;
    cmd.cmd = Cmd::kSetCtx;
    cmd.key = c.key;
    cmd.ctx = reply.ctx;
    cmd.value = EncodeElements(elems);
    const int ni = rng_.Permille(500) ? reply.node : RandomMember(c.key);
    Submit(ci, ni, std::move(cmd), c.element);
  }

  // ---- after the faults ----

  std::shared_ptr<CoordOp> Get(CoordOp::Kind kind, const std::string& key) {
    auto op = std::make_shared<CoordOp>();
    op->kind = kind;
    op->command.cmd = Cmd::kGet;
    op->command.key = key;
    op->r = p_.n_val;
    return op;
  }

  // An engine get of every key through every replica (R = N), then drain. True when nothing
  // needed repair: no repair sends, no local stores, and every replica already held the same
  // record.
  bool RepairRound(bool* stuck) {
    const uint64_t repairs_before = result_.stats.repairs;
    const uint64_t stores_before = LocalMerges();
    Trace(Tr::kRound, result_.stats.repair_rounds);
    for (const std::string& key : keys_) {
      for (NodeId id : preflists_[key]) {
        Coordinate(Index(id), Get(CoordOp::Kind::kRepair, key));
        EndTurn(Index(id));
      }
    }
    *stuck = !Drain();
    if (*stuck) return false;
    if (result_.stats.repairs != repairs_before || LocalMerges() != stores_before) return false;
    for (const auto& [key, fk] : FinalState()) {
      if (!fk.converged) return false;
    }
    for (const auto& [key, fr] : RegisterConvergence()) {
      if (!fr.converged) return false;
    }
    return true;
  }

  // Merged records the coordinators stored locally after their reads (no node restarts once
  // the faults are over, so the counts only grow while repair rounds run).
  uint64_t LocalMerges() {
    uint64_t n = 0;
    for (Node& x : nodes_) n += x.up ? x.coord->local_merges() : 0;
    return n;
  }

  // Per set key: the merge of every replica's record, its siblings, and whether they agree.
  std::map<std::string, FinalKey> FinalState() {
    std::map<std::string, FinalKey> out;
    for (const auto& [key, km] : model_) {
      FinalKey& fk = out[key];
      DVVSet merged;
      bool any = false;
      for (NodeId id : preflists_[key]) {
        const std::optional<std::string> record = Record(Index(id), key);
        if (!record) continue;
        auto set = DVVSet::Decode(*record);
        if (!set.ok()) {
          fk.converged = false;
          fk.divergence = "node " + std::to_string(id) + " holds an undecodable record";
          continue;
        }
        merged.Sync(set.value());
        any = true;
      }
      if (p_.lww) {
        auto collapsed = replication::MergeRecords(merged.Encode(), merged.Encode(), true);
        if (collapsed.ok()) merged = DVVSet::Decode(collapsed.value()).value();
      }
      for (const DVVSet::Entry& e : merged.entries()) {
        for (const DVVSet::DottedValue& d : e.values) {
          fk.siblings.push_back(FinalKey::Sib{e.actor, d.counter, d.sibling.value});
        }
      }
      if (!any) continue;
      const std::string want = merged.Encode();
      for (NodeId id : preflists_[key]) {
        const std::optional<std::string> record = Record(Index(id), key);
        if (!record || *record != want) {
          fk.converged = false;
          fk.divergence = "replica " + std::to_string(id) +
                          (!record ? " lacks the key" : " holds an older record");
        }
      }
    }
    return out;
  }

  // Per register key: whether every replica holds the same record (or none).
  std::map<std::string, FinalRegister> RegisterConvergence() {
    std::map<std::string, FinalRegister> out;
    for (const auto& [key, m] : registers_) {
      FinalRegister& fr = out[key];
      const std::vector<NodeId>& pref = preflists_[key];
      const std::optional<std::string> first = Record(Index(pref[0]), key);
      for (NodeId id : pref) {
        if (Record(Index(id), key) != first) {
          fr.converged = false;
          fr.divergence = "replicas " + std::to_string(pref[0]) + " and " + std::to_string(id) +
                          " hold different records";
        }
      }
    }
    return out;
  }

  // A GET of every register key through each of its replicas (R = N), one at a time.
  void FinalReads(bool* stuck) {
    for (const auto& [key, m] : registers_) {
      for (NodeId id : preflists_[key]) {
        Coordinate(Index(id), Get(CoordOp::Kind::kFinalRead, key));
        EndTurn(Index(id));
        if (!Drain()) {
          *stuck = true;
          return;
        }
      }
    }
  }

  const Params p_;
  Rng rng_;
  bool trace_all_;
  const cluster::Ring ring_;  // every node's: membership does not change in a run
  replication::CoordinatorOptions opts_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  bool faults_ = true;
  bool lossy_ = false;  // the fragile node lost data
  int64_t max_skew_ = 0;
  uint64_t next_element_ = 1;
  uint64_t next_value_ = 1;
  uint64_t commands_run_ = 0;
  uint64_t hash_ = 0xCBF29CE484222325ull;
  std::map<std::pair<int64_t, uint64_t>, Event> queue_;  // (time, sequence): a total order
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::vector<std::vector<int>> cut_;  // cut_[from][to] > 0: messages from -> to are dropped
  std::vector<std::string> keys_;      // set keys, then register keys
  std::map<std::string, std::vector<NodeId>> preflists_;
  std::map<std::string, KeyModel> model_;
  std::map<std::string, RegisterModel> registers_;
  std::set<std::string> turn_keys_;  // keys the current turn wrote or read
  std::string event_key_;            // the key of the reply (or failure) the turn handles
  // Per set key, per actor: the highest counter a store that never loses data has held.
  std::map<std::string, std::map<version::Actor, uint64_t>> stable_;
  // Per key: the write each minted dot was minted for.
  std::map<std::string, std::map<std::pair<version::Actor, uint64_t>, std::string>> dots_;
  std::vector<Violation> dot_violations_;
  std::vector<Violation> avail_violations_;  // kUnavailable and kStalePrimary
  uint64_t stale_reported_ = 0;
  uint64_t not_converged_ = 0;
  uint64_t fault_epoch_ = 0;  // crashes, restarts and cut changes so far
  uint64_t probe_ops_ = 0;
  int64_t cron_at_ = 0;
  // The engines start exchanges and reaps (during the faults and the anti-entropy phase);
  // otherwise, and while winding down, they tick as overloaded.
  bool aae_on_ = true;
  bool aae_wind_down_ = false;
  replication::AaeTopology aae_topo_;
  // A client put's engine op (coordinator node, incarnation, op) -> its command.
  std::map<std::tuple<int, uint64_t, uint64_t>, std::weak_ptr<CoordOp>> owners_;
  // Per set key, per (target, holder node index): the highest counter per actor a committed
  // hint held.
  std::map<std::string, std::map<std::pair<NodeId, int>, std::map<version::Actor, uint64_t>>>
      owed_;
  std::vector<TraceRec> trace_;
  std::vector<std::string> broken_;
  Result result_;
};

}  // namespace

Result Run(const Params& params, bool trace_all) {
  // The units log what they see (a refused reused dot is an INVARIANT VIOLATION warning); the
  // simulator reports every such event itself, with its seed and trace.
  LogSetLevel(4);
  return Sim(params, trace_all).Run();
}

}  // namespace dynis::sim
