// The deterministic, seeded cluster simulator of the replication engine.
//
// One seed fixes everything: the cluster shape (nodes, R, W, Q), the fault model (message loss,
// duplication, delay and reordering, symmetric and one-way partitions, crashes and restarts,
// clock skew) and every random choice of the run. The run is single-threaded over virtual
// time (int64 ms) with its own PRNG, so a seed replays exactly, on any libstdc++.
//
// Model of the cluster: each node has a durable store (key -> encoded DVVSet), a Coordinator,
// an actor (node id, epoch 1) and an HLC over its skewed wall clock. A crash drops the node's
// coordinator state, timers and HLC memory; its store survives. Messages behave like ones on
// TCP connections: anything addressed to a node that crashed after the send is dropped, and so
// is a response to a coordinator that restarted since it asked. Sends to a crashed node are
// either lost silently or (on some seeds) reported at once through OnSendFailed.
//
// Disk loss: on some seeds with W >= 2, one node crashes and loses its whole store, and comes
// back empty under a new, larger actor epoch (dynis leases a fresh epoch when its data
// directory is gone, so the reborn node never mints a dot it minted before: riak's kv679).
// Durable storage alone could never catch a coordinator that acknowledges before W replicas
// stored the write (its own store always keeps it); losing one disk can. At most one disk per
// seed, and only with W >= 2: every acknowledged write then lives on two nodes, so one loss
// must never take an acknowledged element away. Unacknowledged writes that only the lost disk
// had seen may legitimately vanish; the model marks exactly those (StoredWrite::lost_with_disk).
//
// Workload: clients add unique elements to set-valued keys through GETCTX (a get at a random
// node), a local merge of the siblings, and SETCTX (an Update at a random node with the context
// read, then a put). After the fault phase the network heals, crashed nodes restart, and
// read-repair rounds (a get of every key through every node, R = N) run until quiet. The
// checker then requires, per key, of the merge of the replicas' records:
//  - every acknowledged element is in the final merged value (the union of its siblings);
//  - every element of the final value was written (no phantoms), and every sibling is one of
//    the values a coordinator actually stored;
//  - the siblings are exactly the concurrent writes: the stored writes that no client's context
//    covered (so their number stays within the number of concurrent writers). A flat bound of
//    "at most one sibling per client" would be unsound: a client whose read missed its own
//    failed write writes again concurrently with it. Writes lost with a disk neither need to
//    survive nor supersede anything: their contexts never left the lost disk;
//  - every replica converged to the same record, and the repair rounds went quiet.
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

struct Params {
  uint64_t seed = 0;
  bool lww = false;  // the negative control: merges and local writes keep one LWW sibling
  // Broken configurations the tests must catch; never drawn. early_ack: a SETCTX is
  // acknowledged as soon as its coordinator stored it, whatever the engine completes (acking
  // before W). reuse_epoch: the node that lost its disk keeps its old epoch (kv679).
  bool early_ack = false;
  bool reuse_epoch = false;

  int nodes = 3;
  int n_val = 3;
  int r = 2;
  int w = 2;
  uint32_t partitions = 16;
  int clients = 3;
  int keys = 2;
  int64_t timeout_ms = 500;     // engine Options.timeout_ms
  int64_t fault_ms = 10000;     // length of the fault phase (clients stop starting work after it)
  int64_t think_max_ms = 50;    // client pause between operations
  int writes_per_client = 100;  // each client stops after this many SETCTX attempts

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
  };
  std::vector<Crash> crash_plan;
  std::vector<int64_t> skew_ms;  // per node: its wall clock minus true time
  // At most one per seed, only when W >= 2: the node crashes at at_ms, its store is gone, and it
  // restarts after down_ms (or at the heal) empty, under its next actor epoch.
  struct DiskLoss {
    bool on = false;
    int64_t at_ms = 0;
    int64_t down_ms = 0;
    int node = 0;
  };
  DiskLoss disk_loss;

  // Draws every parameter of a seed.
  static Params Draw(uint64_t seed, bool lww);
  std::string ToString() const;
};

// ---- the model the checker compares against ---------------------------------------------------

// A SETCTX applied at a coordinator: the dot DVVSet::Update gave it and the context it carried.
struct StoredWrite {
  uint64_t element = 0;
  std::string value;
  version::Actor actor;
  uint64_t counter = 0;
  version::VersionVector ctx;
  int client = 0;
  int64_t at_ms = 0;
  // Only the disk that was lost ever saw this write (no other store, before or after, counted
  // its dot): it may be gone, and its context superseded nothing that survived.
  bool lost_with_disk = false;
};

struct KeyModel {
  std::set<uint64_t> written;  // every element a client tried to write
  std::set<uint64_t> acked;    // elements whose SETCTX completed ok
  std::vector<StoredWrite> stored;
  std::set<int> writers;  // clients that wrote the key
};

// What the checker sees of a key at the end.
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

struct Violation {
  enum class Kind { kLostAck, kPhantom, kSiblings, kLostWrite, kDiverged, kNotQuiet, kBroken };
  Kind kind;
  std::string key;
  std::string detail;
  std::string ToString() const;
};

std::vector<Violation> Check(const std::map<std::string, KeyModel>& model,
                             const std::map<std::string, FinalKey>& final_keys, bool quiet);

bool HasKind(const std::vector<Violation>& v, Violation::Kind kind);

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
  uint64_t disk_losses = 0;
  uint64_t lost_with_disk = 0;  // stored writes that only the lost disk had seen
  uint64_t send_failed = 0;
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
  bool quiet = false;
  std::vector<std::string> trace_tail;  // the last events, formatted

  bool ok() const { return violations.empty(); }
  // The failure report: seed, parameters, violations, trace tail and how to replay.
  std::string Report() const;
};

// Runs one seed. trace_all keeps the whole trace in trace_tail (for replay by hand).
Result Run(const Params& params, bool trace_all = false);

}  // namespace dynis::sim
