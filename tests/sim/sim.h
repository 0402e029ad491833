// The deterministic, seeded cluster simulator. It runs the real units of dynis nodes and
// replaces only the network, the durability of the disk, and time.
//
// One seed fixes everything: the cluster shape (nodes, R, W, Q), the fault model and every
// random choice of the run. The run is single-threaded over virtual time (int64 ms) with its
// own PRNG, so a seed replays exactly, on any libstdc++. RocksDB's background threads decide
// nothing: a read sees every committed batch whatever they did, and the compaction filter drops
// records only inside the simulator's own Store::CompactAll() calls (below).
//
// What is real. Each node runs, as dynis-server does:
//  - a storage::Store (RocksDB, every file in its own in-memory Env);
//  - a kv::Keyspace (workers = 1: it owns every partition) over KeyspaceShared {that store, a
//    HybridClock whose wall time is the node's skewed virtual clock, the actor (node id, epoch
//    from kv::StartEpoch), Q partitions, keep_clocks}: the write rules, expiry (lazy on reads,
//    dropped values on writes), the turn buffer and Commit();
//  - the replica side, replication::ServeReplica over the keyspace's kv::Vnode, for every peer
//    request; the coordinator side, replication::Coordinator (over the same keyspace, with the
//    ring below), which stores its reads' merges through the vnode itself;
//  - plans from the real command table (commands/coordination.h PlanCommand on the argv the
//    client sends: GET, SET [PX|PXAT], DEL, GETCTX, SETCTX), so whether a command reads first
//    and its R and W are decided as in the server;
//  - preference lists from cluster::PreflistOf over cluster::Ring(Q, nodes, N), sloppy
//    (CoordinatorOptions::sloppy, unless Params::sloppy is off): the coordinator skips the
//    primaries its node's detector holds down and takes fallbacks, which keep the writes as
//    hints (PutReq with Message::hint_for; a coordinator that is itself the fallback keeps one);
//  - failure detection: per node a cluster::FailureDetector behind a PeerHealth that only
//    forwards to it (Up/Answered/Failed), given to the coordinator (Worker::Health without the
//    cluster view); its evidence is the coordinator's (answers, failed sends, the engine's
//    kUnanswered at deadlines) and the probes below;
//  - hinted handoff: per node a kv::HintLedger in its KeyspaceShared (hints_max_bytes drawn on
//    some seeds, no hint window), rebuilt from the store at every boot (HintLedger::Rebuild, as
//    Server::KeepHints does), and a replication::HintReplay (the drawn rate, timeout 3x the
//    request timeout);
//  - epochs through kv::StartEpoch / kv::RecordCleanShutdown / kv::FlushAll, and compaction
//    through the Store's compaction filter deciding with Keyspace::Compact;
//  - the record cache: per node a kv::RecordCache in its KeyspaceShared (new at every boot,
//    warmed on the cron by Keyspace::WarmCache, cleared by FLUSHALL as Server::FlushAll does;
//    the bound drawn per seed, from off to a few KB that evict all the time);
//  - anti-entropy: per node a kv::PartitionTrees in its KeyspaceShared (new at every boot, with
//    the store's reap floors (LoadReapFloors), built from the data before the node serves;
//    FLUSHALL resets it, as Server::FlushAll does), an AaeBoard for the node's life, and a
//    replication::AntiEntropy (one loop, round 2 s, no rate limits, timeout 3x the request
//    timeout, the seed's tombstone grace, reaping on) over an AaeTopology of cluster::Primaries
//    on the ring, ticked in the cron turn with the node's PeerHealth. Its DYNIS.AAE requests
//    travel the network like any message and are answered by replication::ServeAae on the
//    target (its keyspace, trees, hints and board) in the target's turn; its repairs (Message
//    with aae set) are served by ServeReplica like any replica request and their answers go to
//    AntiEntropy::OnRecordResponse; a send reported failed goes to OnSendFailed, a lost one
//    expires at its deadline. A crash Resets the engine. It runs during the faults; from the
//    heal until the stale-primary check is done, and after its own phase (below), it is paused:
//    it ticks as an overloaded loop's (nothing new starts; what is in flight finishes).
// The simulator carries the coordinator's effects as server/cluster.cc does: sends go on its
// network; a run executes the command on the local Keyspace through the method its handler
// calls (GET: GetLive; SET [PX|PXAT]: Put; DEL: Delete; GETCTX: GetSiblings; SETCTX:
// PutWithContext), inside Coordinator::Run, which replicates what it stored; replies go to the
// client. Every event a node handles is one loop turn; its end commits the keyspace and reports
// the commit to the coordinator (OnLocalCommit, ReportLocalCommits), before anything the turn
// sent is delivered. Every 100 ms (virtual) each up node runs its cron turn, as
// Worker::ClusterCron does: a kProbeReq on the network to each peer FailureDetector::
// TakeProbesDue names (answered by ServeReplica; the kProbeResp is Answered evidence), then,
// when it holds hints or replays in flight, HintReplay::OnTick and its sends. Answers to
// messages with `handoff` set go to HintReplay::OnResponse (its hint deletion commits with the
// turn), a replay send reported failed to OnSendFailed; everything else goes to the
// coordinator as before. Clients send a command to a member of the key's primaries (a server
// forwards one sent elsewhere to a member).
// Not modelled: forwarding itself, multi-key commands, membership changes, storage I/O errors,
// peer links (their handshakes and old-request timeouts are detector evidence in a server; here
// only requests, deadlines and probes are), the MEET heartbeat, hint windows.
//
// Network and crashes: message loss, duplication, delay and reordering, symmetric and one-way
// partitions, and clock skew. Messages behave like ones on TCP connections: anything addressed
// to a node that crashed after the send is dropped, and so is a response to a coordinator that
// restarted since it asked; sends to a crashed node are lost silently or (on some seeds)
// reported at once through OnSendFailed. A crash drops the node's coordinator, timers and clock
// memory, its detector (a restarted node holds every peer up) and its HintReplay (Reset); its
// hints stay in the store. It is a kill -9 (the store is intact, the restart renews the epoch: no clean-shutdown
// marker) or a clean shutdown (kv::RecordCleanShutdown first: the restart keeps the epoch).
//
// Losing data. On seeds with W >= 2 one node is fragile: only it may lose stored data, so every
// acknowledged write (stored on W >= 2 nodes) keeps a copy that nothing takes away. Its store
// follows its fsync policy: a power loss rolls it back to its state at the last sync (always:
// every batch; everysec: every virtual second; no: every 5 s, the OS writeback; and at every
// durable meta write, which syncs the shared WAL), then the node restarts through StartEpoch
// without a clean-shutdown marker. A disk loss empties it (the restart leases a fresh epoch);
// FLUSHALL (kv::FlushAll) deletes every record under a new epoch. Unacknowledged writes only it
// had seen may vanish; the model marks exactly those (StoredWrite::lost_with_disk).
// A dropped write (Params::drop_node, on some seeds): a plain replica put to one drawn node
// is acknowledged and not stored, as DEBUG REPLICA-PUT-DROP makes a server do.
// Compaction: at drawn instants a node compacts its whole store, the filter deciding with
// Keyspace::Compact at the node's virtual time (tombstone grace drawn per seed). A power loss
// rolls back the data column family only: the hints column family is kept as if synced (the
// stale-primary check below ignores the fragile node's hints on such seeds anyway).
//
// Workload. Set keys (k0, k1...): clients add unique elements through GETCTX (the siblings,
// merged by set union) and SETCTX with the context read. Register keys (r0, r1...): plain SET of
// unique values (no expiry; PX with a TTL short enough to expire during the run; PXAT already
// past, which is a delete), DEL and GET, so keys are re-written after they expired or were
// deleted. On 40 % of seeds one crash spans the end of the faults, so a node is down at the
// heal. After the fault phase the network heals and crashed nodes restart; the healed cluster
// then runs, with no client and no read, until it settles (every node holds every peer up and,
// unless replay is off, every ledger is empty with no replay in flight; at most 120 s), and
// the stale-primary check runs on the stores as they are. Then anti-entropy runs alone (no
// client, no read, no read repair) until every engine is idle and every partition's primaries
// hold equal trees (at most 60 s), and every key's primaries must hold byte-identical records
// (kNotConverged). Then, once every TTL
// and tombstone grace has passed on every clock, most register keys get a closing SET through
// one replica, which may first compact and read the key (a replica that forgot the key's
// counters then loses this last write for good). Read-repair rounds (an engine get of every key
// through every replica, R = N) run until quiet; then every replica of each register key serves
// a final GET (R = N).
//
// The checker requires:
//  - set keys, of the merge of the replicas' records: every acknowledged element is there;
//    every element and sibling was written (no phantoms); the siblings are exactly the stored
//    writes that no write's context covered (a flat "one per client" bound would be unsound: a
//    client whose read missed its own failed write writes again concurrently with it); writes
//    lost with a fragile node's data neither need to survive nor supersede anything.
//  - register keys: each final GET returns what some write x that may be visible wrote (nil
//    for a DEL, or a SET expired on some node's clock by then; nil also when no write was
//    acknowledged). x may be visible when it ran on its coordinator and no acknowledged write w
//    (a SET, or a DEL that found a value) is ordered after it: w's coordinator had counted x's
//    dot, or w ran on x's node in the same incarnation later (its HLC is larger), or w ran more
//    than the skew spread (max - min clock skew) after x (then w's HLC is larger, whatever the
//    clocks observed). Concurrent writes order by HLC in LWW, which this leaves unconstrained.
//  - no dot (actor, counter) minted for two different writes of a key, and no replica refusing
//    a put (the engine reports a reused dot it detects that way): both are kReusedDot;
//  - every replica converged to the same record, and the repair rounds went quiet.
//  - kStalePrimary (hinted handoff alone converges, before any read): after the settling, no
//    node holds a hint or a replay in flight, and for every hint of a key (target, holder) ever
//    committed (noted after every turn that stored one), the target's own record (LoadRecord,
//    not the engine) counts every dot (actor, counter) the hint held. The target is always one
//    of the key's primaries (cluster::Primaries). Hints are durable and deleted only once the
//    primary acknowledged a committed store, so nothing excuses a missing dot, except on seeds
//    where the fragile node lost data (power loss, disk loss, FLUSHALL): hints it held and
//    records it stored may be gone with it, so dots it held or was owed are not checked there
//    (read repair restores those). Not "every acknowledged element on all N primaries": a put
//    lost on its way to a primary held up leaves no hint anywhere (Dynamo's read repair and
//    anti-entropy cover that), so that share is only reported (Stats::acked_pairs*).
//  - kNotConverged (anti-entropy alone converges): after the anti-entropy phase, every key's
//    primaries hold the same bytes (LoadRecord), and the engines went quiet. Nothing excuses
//    a difference: the cluster is healed, every node up, every message delivered in time.
//    kStalePrimary does not check a register's dots on a primary that reaped tombstones in its
//    partition (a reap drops a record every primary held; its counters go with it).
//  - kUnavailable (sloppy quorum keeps writes available): a client SETCTX during the faults
//    whose coordinator, at its start, judged every peer as it really was (held up exactly the
//    peers up and reachable both ways) and reached at least W nodes with itself, with no crash,
//    restart or partition change until it completed, and none of whose put's messages was lost
//    at random, slower than half the request timeout, or refused, must not fail NOQUORUM: its
//    preference list then holds min(N, reachable) >= W reachable members, all answering within
//    the deadline. With strict quorums (Params::sloppy off) it fails whenever a primary is down.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "version/dvvset.h"

namespace dynis::sim {

// xoshiro256** seeded through splitmix64, with its own bounded draws: std::*_distribution
// output differs across standard libraries, which would break replay.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  uint64_t Below(uint64_t n);             // uniform in [0, n); n > 0
  int64_t Range(int64_t lo, int64_t hi);  // uniform in [lo, hi]; lo <= hi
  bool Permille(int64_t p) { return static_cast<int64_t>(Below(1000)) < p; }

 private:
  uint64_t s_[4];
};

enum class Fsync : uint8_t { kAlways, kEverySec, kNo };

// Repair rounds after the faults before a run counts as never going quiet.
inline constexpr int kMaxRepairRounds = 8;

struct Params {
  uint64_t seed = 0;
  // The negative control: the coordinators' merges keep one LWW sibling, and so does every
  // record a node stores (collapsed at the end of each turn).
  bool lww = false;
  // Broken configurations the tests must catch; never drawn. early_ack: a SETCTX is
  // acknowledged as soon as its coordinator stored it, whatever the engine completes (acking
  // before W). reuse_epoch: a node never renews its epoch (after a crash, a lost disk or
  // FLUSHALL it mints under the old one: kv679).
  bool early_ack = false;
  bool reuse_epoch = false;
  // KeyspaceShared::keep_clocks: a record whose values are all gone stays as a clock-only
  // record. false is the negative control (the keyspace forgets the key's counters).
  bool keep_clocks = true;
  // CoordinatorOptions::sloppy: preference lists take fallbacks for primaries the coordinator's
  // failure detector holds down. false is the availability control (strict lists).
  bool sloppy = true;
  // The hinted-handoff control: fallbacks still keep hints, but no node ever replays them
  // (HintReplay never ticks). Primaries that missed writes stay stale (kStalePrimary).
  bool no_hints = false;
  // The anti-entropy control: the trees are kept, but no engine ever ticks. Replicas a write
  // missed (a dropped write, a lost disk) stay different (kNotConverged).
  bool no_aae = false;

  int nodes = 3;
  int n_val = 3;
  int r = 2;
  int w = 2;
  uint32_t partitions = 16;
  int clients = 3;
  int keys = 2;                 // set keys k0..
  int registers = 2;            // register keys r0..
  int register_permille = 500;  // share of client operations on register keys
  int64_t timeout_ms = 500;     // engine Options.timeout_ms
  int64_t fault_ms = 10000;     // length of the fault phase (clients stop starting work after it)
  int64_t think_max_ms = 50;    // client pause between operations
  int writes_per_client = 100;  // each client stops SETCTX after this many attempts
  int register_ops_per_client = 100;  // ... and register operations after this many
  int64_t ttl_max_ms = 1000;          // SET PX draws its TTL in [20, ttl_max_ms]

  int loss_permille = 0;
  int dup_permille = 0;
  int64_t delay_min_ms = 1;
  int64_t delay_max_ms = 10;
  int slow_permille = 0;       // messages that get an extra delay past the engine timeout
  int64_t slow_max_ms = 0;     // ... of up to this many ms
  int fast_fail_permille = 0;  // sends to a crashed node reported by OnSendFailed, not silence

  struct Partition {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    bool one_way = false;     // only side_a -> side_b is cut
    std::vector<int> side_a;  // node indexes; side_b is the rest
  };
  std::vector<Partition> partition_plan;
  struct Crash {
    int64_t at_ms = 0;
    int64_t down_ms = 0;
    int node = 0;
    bool clean = false;  // a clean shutdown (RecordCleanShutdown), not a kill -9
  };
  std::vector<Crash> crash_plan;
  std::vector<int64_t> skew_ms;  // per node: its wall clock minus true time

  // The one node that may lose stored data (-1: none; only when W >= 2), and how.
  int fragile = -1;
  Fsync fsync = Fsync::kEverySec;
  std::vector<Crash> power_plan;  // power losses of the fragile node (node == fragile)
  // The fragile node crashes at at_ms, its store is gone, and it restarts after down_ms (or at
  // the heal) empty, under a new epoch.
  struct DiskLoss {
    bool on = false;
    int64_t at_ms = 0;
    int64_t down_ms = 0;
    int node = 0;
  };
  DiskLoss disk_loss;
  std::vector<int64_t> flushall_plan;  // FLUSHALL on the fragile node
  struct Compaction {
    int64_t at_ms = 0;
    int node = 0;
  };
  std::vector<Compaction> compaction_plan;
  int64_t tombstone_grace_ms = 1000;  // Keyspace::Compact's grace for tombstones
  // Hinted handoff: KeyspaceShared::hints_max_bytes per target (0: unlimited; a fallback over
  // it refuses the put) and HandoffOptions::rate_per_s (0: unlimited).
  uint64_t hints_max_bytes = 0;
  int64_t replay_rate_per_s = 0;
  // The record cache (kv::RecordCache, new at every boot like the server's): its bound
  // (0: off; a few KB: constant eviction, partitions losing completeness) and policy, and the
  // records its warm-up scans per tick (WarmCache runs on the node's cron, between turns).
  uint64_t cache_max_bytes = 0;
  bool cache_random = false;
  size_t cache_warm_per_tick = 16;
  // The silently dropped write (the server's DEBUG REPLICA-PUT-DROP): during the faults, a
  // plain replica put (no hint_for, not a read repair, replay or anti-entropy repair) to node
  // drop_node is acknowledged +OK and not stored, drop_permille of the time (-1: never). The
  // ack still counts toward W, so an acknowledged write may live on one node fewer: drawn
  // only where that cannot lose it (see Draw).
  int drop_node = -1;
  int drop_permille = 0;

  // Draws every parameter of a seed.
  static Params Draw(uint64_t seed, bool lww);
  std::string ToString() const;
  int64_t SkewSpread() const;  // max - min of skew_ms
};

// ---- the model the checker compares against ---------------------------------------------------

// A SETCTX applied at a coordinator: the dot it got and the context it carried.
struct StoredWrite {
  uint64_t element = 0;
  std::string value;
  version::Actor actor;
  uint64_t counter = 0;
  version::VersionVector ctx;
  int client = 0;
  int64_t at_ms = 0;
  // Only the fragile node's lost data ever counted this write's dot (no other store did, and the
  // fragile node's final store does not): it may be gone, and its context superseded nothing
  // that survived.
  bool lost_with_disk = false;
};

struct KeyModel {
  std::set<uint64_t> written;  // every element a client tried to write
  std::set<uint64_t> acked;    // elements whose SETCTX completed ok
  std::vector<StoredWrite> stored;
  std::set<int> writers;  // clients that wrote the key
};

// What the checker sees of a set key at the end.
struct FinalKey {
  struct Sib {
    version::Actor actor;
    uint64_t counter = 0;
    std::string value;
  };
  std::vector<Sib> siblings;  // of the merge of every replica's record
  bool converged = true;      // every preference-list member holds exactly that merge
  std::string divergence;
};

// A SET or DEL of a register key, from the client's send to its reply.
struct RegisterWrite {
  bool del = false;
  std::string value;    // SET: unique in the run
  int64_t px_ms = 0;    // SET PX: the TTL (0: none)
  int64_t pxat_ms = 0;  // SET PXAT: absolute unix ms, already past (0: none)
  int client = 0;
  int64_t sent_ms = 0;
  // At its coordinator, if it ran there:
  bool ran = false;
  int node = 0;  // index
  uint64_t incarnation = 0;
  uint64_t seq = 0;                 // order of commands run, over the whole cluster
  int64_t ran_ms = 0;               // true time
  int64_t expire_at_ms = 0;         // SET: absolute expiry on the coordinator's clock (0: none)
  version::VersionVector observed;  // the context of the coordinator's record before it
  bool minted = false;              // it left a dot in the record the coordinator stored
  version::Actor actor;
  uint64_t counter = 0;
  int64_t deleted = -1;  // DEL: 1 when it found a live value, 0 when not
  // At the client:
  bool acked = false;
  int64_t acked_ms = 0;
  // An acknowledged SET, or DEL that found a value: what later reads must not see through.
  bool Orders() const { return acked && ran && (!del || deleted > 0); }
  std::string ToString() const;
};

struct RegisterModel {
  std::vector<RegisterWrite> writes;
};

// A final GET of a register key through one replica.
struct FinalRead {
  int node = 0;
  bool ok = false;  // the read reached R = N
  bool found = false;
  std::string value;
  int64_t wall_ms = 0;      // the reader's clock when it read
  int64_t max_wall_ms = 0;  // the fastest node clock then (what expiry may have used)
};

struct FinalRegister {
  std::vector<FinalRead> reads;
  bool converged = true;  // before the reads: every replica held the same record
  std::string divergence;
};

struct Violation {
  enum class Kind {
    kLostAck,      // an acknowledged write is gone (set element; register SET read as nil)
    kPhantom,      // something nobody wrote
    kSiblings,     // superseded values alive, or more siblings than concurrent writes
    kLostWrite,    // a stored write nothing superseded is gone
    kDiverged,     // replicas disagree after repair
    kNotQuiet,     // repair never finishes
    kBroken,       // cannot happen with a correct node (e.g. a record that does not decode)
    kResurrected,  // a register read returns a value an acknowledged write replaced
    kReusedDot,    // one dot minted for two writes, or a replica refusing a put for it
    kStalePrimary,  // after the replay phase: a primary lacks a dot a hint held for it, or
                    // hints were never drained
    kUnavailable,   // a SETCTX failed NOQUORUM though its coordinator could reach W nodes
    kNotConverged,  // anti-entropy alone left a key's primaries holding different records
  };
  Kind kind;
  std::string key;
  std::string detail;
  std::string ToString() const;
};

std::vector<Violation> Check(const std::map<std::string, KeyModel>& model,
                             const std::map<std::string, FinalKey>& final_keys, bool quiet);
// skew_spread_ms: Params::SkewSpread() of the run.
std::vector<Violation> CheckRegisters(const std::map<std::string, RegisterModel>& model,
                                      const std::map<std::string, FinalRegister>& final_regs,
                                      int64_t skew_spread_ms);

bool HasKind(const std::vector<Violation>& v, Violation::Kind kind);
// ... on a key whose name starts with `prefix` ("k": set keys, "r": register keys).
bool HasKind(const std::vector<Violation>& v, Violation::Kind kind, const std::string& prefix);

struct Stats {
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t gets_ok = 0;
  uint64_t gets_failed = 0;
  uint64_t puts_ok = 0;
  uint64_t puts_failed = 0;
  uint64_t repairs = 0;
  uint64_t crashes = 0;
  uint64_t clean_shutdowns = 0;
  uint64_t power_losses = 0;
  uint64_t disk_losses = 0;
  uint64_t flushalls = 0;
  uint64_t compactions = 0;
  uint64_t compacted = 0;       // records the compaction filter dropped
  uint64_t lost_with_disk = 0;  // stored writes that only the fragile node's lost data had seen
  uint64_t register_writes = 0;
  uint64_t register_acked = 0;
  uint64_t expiring_writes = 0;  // SET PX / PXAT that ran
  uint64_t reused_dots = 0;
  uint64_t refused_puts = 0;  // replicas answering a put with an error
  uint64_t send_failed = 0;
  // Failure detection, sloppy quorum and hinted handoff.
  uint64_t probes = 0;                // kProbeReq sent
  uint64_t detector_transitions = 0;  // up <-> down judgements, every node
  uint64_t fallback_puts = 0;         // kPutReq sent to a fallback (hint_for set)
  uint64_t hints_stored = 0;          // HintLedger::stored, every node (new or merged)
  uint64_t hints_dropped = 0;         // HintLedger::dropped (over hints-max-bytes)
  uint64_t hints_sent = 0;            // replays HintReplay sent
  uint64_t hints_replayed = 0;        // HintLedger::replayed (delivered and deleted)
  int64_t replay_ms = -1;             // from the heal until every ledger was empty (-1: never)
  bool stale_checked = false;         // the kStalePrimary dot check ran (no node lost data)
  uint64_t owed_dots = 0;             // dots hints owed to primaries, checked
  uint64_t acked_pairs = 0;           // (acked set element, primary) pairs after the replay...
  uint64_t acked_pairs_present = 0;   // ... and those present (informational, no check)
  uint64_t avail_eligible = 0;        // SETCTX the availability rule applies to ...
  uint64_t avail_failed = 0;          // ... that failed anyway
  // Anti-entropy, every node over the whole run.
  uint64_t aae_requests = 0;          // DYNIS.AAE requests sent
  uint64_t aae_records = 0;           // repairs sent (GETREC / PUTREC with aae set)
  uint64_t aae_exchanges = 0;         // completed (AaeBoard::exchanges)
  uint64_t aae_exchanges_failed = 0;
  uint64_t aae_repaired = 0;          // AaeBoard::keys_repaired
  uint64_t aae_reaped = 0;            // AaeBoard::tombstones_reaped
  int64_t aae_converge_ms = -1;       // the anti-entropy phase until quiet (-1: never)
  uint64_t dropped_puts = 0;          // replica puts acknowledged unstored (Params::drop_node)
  int repair_rounds = 0;
  size_t max_final_siblings = 0;
  std::string ToString() const;
};

struct Result {
  Params params;
  Stats stats;
  uint64_t trace_hash = 0;
  std::vector<Violation> violations;
  std::map<std::string, KeyModel> model;
  std::map<std::string, FinalKey> final_keys;
  std::map<std::string, RegisterModel> registers;
  std::map<std::string, FinalRegister> final_registers;
  bool quiet = false;
  std::vector<std::string> trace_tail;  // the last events, formatted

  bool ok() const { return violations.empty(); }
  // The failure report: seed, parameters, violations, trace tail and how to replay.
  std::string Report() const;
};

// Runs one seed. trace_all keeps the whole trace in trace_tail (for replay by hand).
Result Run(const Params& params, bool trace_all = false);

// Shared by the simulator's files. A set key's value: its sorted element ids, comma-separated,
// so the same set always has the same bytes.
std::string EncodeElements(const std::set<uint64_t>& elems);
void ParseElements(const std::string& value, std::set<uint64_t>* out);
std::string Join(const std::vector<std::string>& parts, const char* sep);

}  // namespace dynis::sim
