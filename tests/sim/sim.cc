// The seeded cluster simulator: see sim.h.
#include "sim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>

#include "common/hash.h"
#include "replication/engine.h"

namespace dynis::sim {

namespace {

using replication::Coordinator;
using replication::Effect;
using replication::Effects;
using replication::Message;
using replication::NodeId;
using version::DVVSet;

// Virtual time 0 is this wall-clock instant, so skewed clocks stay positive.
constexpr int64_t kWallEpochMs = 1'700'000'000'000;
// A run that has not drained after this many events is stuck (a livelock in the engine or the
// simulator): reported rather than looping forever.
constexpr uint64_t kMaxEvents = 4'000'000;
constexpr int kMaxRepairRounds = 8;
constexpr size_t kTraceTail = 60;

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::string KeyName(int i) { return "k" + std::to_string(i); }

// Set values are sorted, comma-separated element ids: the same set always has the same bytes.
std::string EncodeElements(const std::set<uint64_t>& elems) {
  std::string out;
  for (uint64_t e : elems) {
    if (!out.empty()) out.push_back(',');
    out += std::to_string(e);
  }
  return out;
}

void ParseElements(const std::string& value, std::set<uint64_t>* out) {
  uint64_t cur = 0;
  bool any = false;
  for (char ch : value) {
    if (ch == ',') {
      if (any) out->insert(cur);
      cur = 0;
      any = false;
    } else {
      cur = cur * 10 + static_cast<uint64_t>(ch - '0');
      any = true;
    }
  }
  if (any) out->insert(cur);
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
  }
  return "?";
}

bool IsRequest(const Message& m) {
  return m.type == Message::Type::kGetReq || m.type == Message::Type::kPutReq;
}

// ---- trace ----------------------------------------------------------------------------------

enum class Tr : uint8_t {
  kSend,
  kDrop,
  kDup,
  kDeliver,
  kDropDown,
  kDropCut,
  kSendFailed,
  kClientGet,
  kClientSet,
  kReply,
  kTimeout,
  kRefused,
  kCrash,
  kRestart,
  kCut,
  kUncut,
  kStoreLocal,
  kComplete,
  kHeal,
  kRound,
  kDiskLoss,
};

struct TraceRec {
  int64_t at = 0;
  Tr what = Tr::kSend;
  int64_t a = 0, b = 0;
  uint64_t x = 0, y = 0;
  std::string Format() const {
    static const char* const kNames[] = {
        "send",   "drop",   "dup",        "deliver",  "drop(down)", "drop(cut)", "sendfail",
        "GETCTX", "SETCTX", "reply",      "timeout",  "refused",    "crash",     "restart",
        "cut",    "uncut",  "storelocal", "complete", "heal",       "round",     "diskloss"};
    char buf[200];
    const char* name = kNames[static_cast<int>(what)];
    const long long t = at, na = a, nb = b;
    switch (what) {
      case Tr::kSend:
      case Tr::kDrop:
      case Tr::kDup:
      case Tr::kDeliver:
      case Tr::kDropDown:
      case Tr::kDropCut:
        // a, b: node indexes; x: op; y: type << 32 | repair
        std::snprintf(buf, sizeof(buf), "t=%lld %s n%lld->n%lld %s%s op=%llu", t, name, na + 1,
                      nb + 1, TypeName(static_cast<Message::Type>(y >> 32)),
                      (y & 1) ? "(repair)" : "", static_cast<unsigned long long>(x));
        break;
      case Tr::kClientGet:
      case Tr::kClientSet:
        // a: client; b: node index; x: request; y: key (get) or element (set)
        std::snprintf(
            buf, sizeof(buf), "t=%lld client %lld %s at n%lld req=%llu %s%llu", t, na, name, nb + 1,
            static_cast<unsigned long long>(x),
            what == Tr::kClientGet ? "key=k" : "element=", static_cast<unsigned long long>(y));
        break;
      case Tr::kReply:
        std::snprintf(buf, sizeof(buf), "t=%lld client %lld reply ok=%lld req=%llu learned=%llu", t,
                      na, nb, static_cast<unsigned long long>(x),
                      static_cast<unsigned long long>(y));
        break;
      case Tr::kTimeout:
      case Tr::kRefused:
        std::snprintf(buf, sizeof(buf), "t=%lld client %lld %s (n%lld) req=%llu", t, na, name,
                      nb + 1, static_cast<unsigned long long>(x));
        break;
      case Tr::kComplete:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld complete op=%llu ok=%lld answered=%llu", t,
                      na + 1, static_cast<unsigned long long>(x), nb,
                      static_cast<unsigned long long>(y));
        break;
      case Tr::kStoreLocal:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld storelocal k%lld op=%llu", t, na + 1, nb,
                      static_cast<unsigned long long>(x));
        break;
      case Tr::kSendFailed:
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld sendfail to n%lld op=%llu", t, na + 1, nb + 1,
                      static_cast<unsigned long long>(x));
        break;
      case Tr::kCrash:
        std::snprintf(buf, sizeof(buf), "t=%lld crash n%lld for %lldms", t, na + 1, nb);
        break;
      case Tr::kDiskLoss:
        // x: the new epoch; y: the keys the store held
        std::snprintf(buf, sizeof(buf), "t=%lld n%lld lost its disk (%llu keys), epoch %llu now", t,
                      na + 1, static_cast<unsigned long long>(y),
                      static_cast<unsigned long long>(x));
        break;
      case Tr::kRestart:
        std::snprintf(buf, sizeof(buf), "t=%lld restart n%lld", t, na + 1);
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
    }
    return buf;
  }
};

// ---- the simulated cluster ------------------------------------------------------------------

struct Envelope {
  Message msg;
  int from = 0;
  int to = 0;
  uint64_t to_inc = 0;    // the destination's incarnation the "connection" belongs to
  uint64_t from_inc = 0;  // the sender's incarnation: responses travel back on it
};

struct ClientReply {
  bool ok = false;
  bool is_get = false;
  std::set<uint64_t> elements;  // get: union of the siblings' elements
  std::string ctx;              // get: EncodeContext(merged.Join())
  int node = 0;
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
    kRestart,
    kCutStart,
    kCutEnd,
    kEndFaults,
    kDiskLoss,
  };
  Kind kind = Kind::kDeliver;
  int node = -1;
  uint64_t inc = 0;
  int client = -1;
  uint64_t req = 0;
  int index = 0;  // plan index (crash, partition)
  Envelope env;
  ClientReply reply;
};

struct Node {
  NodeId id = 0;
  version::Actor actor;
  bool up = true;
  uint64_t inc = 1;
  uint64_t hlc_last = 0;
  std::map<std::string, std::string> store;  // durable: survives crashes
  std::unique_ptr<Coordinator> coord;
  struct Pending {
    int client = -1;  // -1: a repair-round get
    uint64_t req = 0;
    bool is_get = false;
    std::string key;
    uint64_t element = 0;
  };
  std::map<uint64_t, Pending> pending;  // by op id
  std::set<int64_t> ticks;              // scheduled tick times
};

struct Client {
  uint64_t req = 0;
  bool waiting = false;
  bool is_get = false;
  std::string key;
  uint64_t element = 0;
  int writes = 0;  // SETCTX attempts so far
};

class Sim {
 public:
  Sim(const Params& p, bool trace_all)
      : p_(p), rng_(p.seed ^ 0xD1B54A32D192ED03ull), trace_all_(trace_all) {
    replication::Options opts;
    opts.timeout_ms = p.timeout_ms;
    opts.lww_merge = p.lww;
    for (int i = 0; i < p.nodes; ++i) {
      Node n;
      n.id = static_cast<NodeId>(i + 1);
      n.actor = version::Actor{n.id, 1};
      n.coord = std::make_unique<Coordinator>(n.id, opts);
      nodes_.push_back(std::move(n));
    }
    clients_.resize(static_cast<size_t>(p.clients));
    cut_.assign(static_cast<size_t>(p.nodes), std::vector<int>(static_cast<size_t>(p.nodes), 0));
    // Claim: partition q belongs to claim_[q % S], a seed-drawn permutation of the nodes.
    Rng claim_rng(p.seed ^ 0x2545F4914F6CDD1Dull);
    for (int i = 0; i < p.nodes; ++i) claim_.push_back(i);
    for (int i = p.nodes - 1; i > 0; --i) {
      std::swap(claim_[static_cast<size_t>(i)],
                claim_[static_cast<size_t>(claim_rng.Below(static_cast<uint64_t>(i) + 1))]);
    }
    for (int k = 0; k < p.keys; ++k) {
      const std::string key = KeyName(k);
      preflists_[key] = ComputePreflist(key);
      model_[key];
    }
  }

  Result Run() {
    for (size_t i = 0; i < p_.partition_plan.size(); ++i) {
      Event e;
      e.kind = Event::Kind::kCutStart;
      e.index = static_cast<int>(i);
      Schedule(p_.partition_plan[i].start_ms, std::move(e));
    }
    for (size_t i = 0; i < p_.crash_plan.size(); ++i) {
      Event e;
      e.kind = Event::Kind::kCrash;
      e.index = static_cast<int>(i);
      Schedule(p_.crash_plan[i].at_ms, std::move(e));
    }
    for (int c = 0; c < p_.clients; ++c) {
      Event e;
      e.kind = Event::Kind::kClientStart;
      e.client = c;
      Schedule(rng_.Range(0, p_.think_max_ms), std::move(e));
    }
    if (p_.disk_loss.on) {
      Event e;
      e.kind = Event::Kind::kDiskLoss;
      Schedule(p_.disk_loss.at_ms, std::move(e));
    }
    Event end;
    end.kind = Event::Kind::kEndFaults;
    Schedule(p_.fault_ms, std::move(end));

    bool stuck = !Drain();
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
    result_.violations = Check(result_.model, result_.final_keys, quiet);
    if (stuck) {
      result_.violations.push_back(
          Violation{Violation::Kind::kNotQuiet, "", "event limit reached: the run never drained"});
    }
    for (const std::string& what : broken_) {
      result_.violations.push_back(Violation{Violation::Kind::kBroken, "", what});
    }
    // The final stores join the fingerprint: runs that move the same messages but keep
    // different data (the negative control) must not collide.
    for (const Node& n : nodes_) {
      for (const auto& [key, record] : n.store) {
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

  // Something that cannot happen with a correct engine (e.g. a record that does not decode).
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

  std::vector<NodeId> ComputePreflist(const std::string& key) const {
    const uint32_t part = KeyPartition(key, p_.partitions);
    std::vector<NodeId> out;
    for (uint32_t i = 0; i < p_.partitions && static_cast<int>(out.size()) < p_.n_val; ++i) {
      const int owner = claim_[((part + i) % p_.partitions) % static_cast<uint32_t>(p_.nodes)];
      const NodeId id = nodes_[static_cast<size_t>(owner)].id;
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
    return out;
  }

  static int Index(NodeId id) { return static_cast<int>(id) - 1; }
  Node& node(int i) { return nodes_[static_cast<size_t>(i)]; }
  static int KeyIndex(const std::string& key) {
    return static_cast<int>(std::strtol(key.c_str() + 1, nullptr, 10));  // "k<index>"
  }

  uint64_t Hlc(Node& n) {
    const int64_t wall = kWallEpochMs + now_ + p_.skew_ms[static_cast<size_t>(Index(n.id))];
    const uint64_t phys = static_cast<uint64_t>(wall) << 16;
    n.hlc_last = std::max(n.hlc_last + 1, phys);
    return n.hlc_last;
  }

  // Runs events until none is left. False when the event limit was hit.
  bool Drain() {
    while (!queue_.empty()) {
      if (++result_.stats.events > kMaxEvents) return false;
      auto nh = queue_.extract(queue_.begin());
      now_ = nh.key().first;
      Handle(nh.mapped());
    }
    return true;
  }

  void Handle(Event& e) {
    switch (e.kind) {
      case Event::Kind::kDeliver:
        Deliver(e.env);
        break;
      case Event::Kind::kSendFailed: {
        Node& n = node(e.node);
        if (!n.up || n.inc != e.inc) break;
        Trace(Tr::kSendFailed, e.node, Index(e.env.msg.to), e.env.msg.op);
        ++result_.stats.send_failed;
        Effects fx;
        n.coord->OnSendFailed(now_, e.env.msg.op, e.env.msg.to, &fx);
        Apply(e.node, &fx);
        break;
      }
      case Event::Kind::kTick: {
        Node& n = node(e.node);
        if (!n.up || n.inc != e.inc) break;
        n.ticks.erase(static_cast<int64_t>(e.req));
        Effects fx;
        n.coord->OnTick(now_, &fx);
        Apply(e.node, &fx);
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
        ClientReply failed;
        failed.is_get = c.is_get;
        OnClientReply(e.client, e.req, failed);
        break;
      }
      case Event::Kind::kCrash: {
        const Params::Crash& c = p_.crash_plan[static_cast<size_t>(e.index)];
        Crash(c.node, c.down_ms);
        break;
      }
      case Event::Kind::kDiskLoss:
        LoseDisk();
        break;
      case Event::Kind::kRestart: {
        Node& n = node(e.node);
        if (!faults_ || n.up || n.inc != e.inc) break;
        n.up = true;
        Trace(Tr::kRestart, e.node);
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

  // ---- network ----

  // `to_inc` is the destination incarnation for responses (the requester's); requests open a
  // "connection" to the destination's current incarnation.
  void Send(int from, Message msg, std::optional<uint64_t> to_inc = std::nullopt) {
    ++result_.stats.messages;
    if (msg.type == Message::Type::kPutReq && msg.repair) ++result_.stats.repairs;
    const int to = Index(msg.to);
    Node& dst = node(to);
    Envelope env;
    env.from = from;
    env.to = to;
    env.to_inc = to_inc.has_value() ? *to_inc : dst.inc;
    env.from_inc = node(from).inc;
    const uint64_t tag = (static_cast<uint64_t>(msg.type) << 32) | (msg.repair ? 1u : 0u);
    if (!dst.up) {
      // A refused connection is reported at once on some seeds; otherwise the request is just
      // lost and the coordinator times out.
      if (faults_ && IsRequest(msg) && rng_.Permille(p_.fast_fail_permille)) {
        Event e;
        e.kind = Event::Kind::kSendFailed;
        e.node = from;
        e.inc = node(from).inc;
        e.env = std::move(env);
        e.env.msg = std::move(msg);
        Schedule(now_ + rng_.Range(0, 2), std::move(e));
      } else {
        Trace(Tr::kDropDown, from, to, msg.op, tag);
        ++result_.stats.dropped;
      }
      return;
    }
    if (faults_ && rng_.Permille(p_.loss_permille)) {
      Trace(Tr::kDrop, from, to, msg.op, tag);
      ++result_.stats.dropped;
      return;
    }
    int copies = 1;
    if (faults_ && rng_.Permille(p_.dup_permille)) {
      copies = 2;
      ++result_.stats.duplicated;
      Trace(Tr::kDup, from, to, msg.op, tag);
    }
    Trace(Tr::kSend, from, to, msg.op, tag);
    env.msg = std::move(msg);
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
      Event e;
      e.kind = Event::Kind::kDeliver;
      e.env = env;
      Schedule(now_ + delay, std::move(e));
    }
  }

  void Deliver(const Envelope& env) {
    Node& dst = node(env.to);
    const Message& msg = env.msg;
    const uint64_t tag = (static_cast<uint64_t>(msg.type) << 32) | (msg.repair ? 1u : 0u);
    if (!dst.up || dst.inc != env.to_inc) {
      Trace(Tr::kDropDown, env.from, env.to, msg.op, tag);
      ++result_.stats.dropped;
      return;
    }
    if (cut_[static_cast<size_t>(env.from)][static_cast<size_t>(env.to)] > 0) {
      Trace(Tr::kDropCut, env.from, env.to, msg.op, tag);
      ++result_.stats.dropped;
      return;
    }
    Trace(Tr::kDeliver, env.from, env.to, msg.op, tag);
    if (IsRequest(msg)) {
      auto it = dst.store.find(msg.key);
      std::optional<std::string> local;
      if (it != dst.store.end()) local = it->second;
      replication::ReplicaStep step = replication::HandleRequest(msg, local, p_.lww);
      // Storage is synchronous here: durable before the response leaves.
      if (step.store.has_value()) {
        dst.store[msg.key] = std::move(*step.store);
        NoteStored(env.to, msg.key);
      }
      Send(env.to, std::move(step.response), env.from_inc);
    } else {
      Effects fx;
      dst.coord->OnMessage(now_, msg, &fx);
      Apply(env.to, &fx);
    }
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
    Trace(delta > 0 ? Tr::kCut : Tr::kUncut, index, part.one_way ? 1 : 0);
    if (delta > 0) {
      Event e;
      e.kind = Event::Kind::kCutEnd;
      e.index = index;
      Schedule(std::max(part.end_ms, now_), std::move(e));
    }
  }

  void Crash(int ni, int64_t down_ms) {
    Node& n = node(ni);
    if (!faults_ || !n.up) return;
    // Volatile state goes: in-flight operations, timers, the HLC's memory. The store stays.
    n.up = false;
    ++n.inc;
    n.coord->Reset();
    n.pending.clear();
    n.ticks.clear();
    n.hlc_last = 0;
    ++result_.stats.crashes;
    Trace(Tr::kCrash, ni, down_ms);
    Event e;
    e.kind = Event::Kind::kRestart;
    e.node = ni;
    e.inc = n.inc;
    Schedule(now_ + down_ms, std::move(e));
  }

  // The node crashes (unless it is down already) and its store is gone; it restarts empty under
  // its next epoch. What the lost store had seen is kept for the model (MarkLostWithDisk).
  void LoseDisk() {
    const Params::DiskLoss& d = p_.disk_loss;
    if (!faults_) return;
    Crash(d.node, d.down_ms);
    Node& n = node(d.node);
    for (const auto& [key, record] : n.store) {
      auto set = DVVSet::Decode(record);
      if (!set.ok()) {
        Broken("a stored record does not decode");
        continue;
      }
      for (const DVVSet::Entry& e : set->entries()) lost_seen_[key][e.actor] = e.counter;
    }
    const uint64_t keys = n.store.size();
    n.store.clear();
    // A new epoch is leased before the node coordinates again: none of its new dots can collide
    // with one the lost disk minted (and other replicas still hold).
    if (!p_.reuse_epoch) ++n.actor.epoch;
    disk_lost_ = true;
    ++result_.stats.disk_losses;
    Trace(Tr::kDiskLoss, d.node, 0, n.actor.epoch, keys);
  }

  // Records, on disk-loss seeds, the highest dot per actor that any store other than the lost
  // one (before its loss) has counted for key. A correct engine never forgets a counted dot, so
  // tracking every store ever written (not just the final ones) keeps the model strict: a write
  // some surviving store once saw must not vanish.
  void NoteStored(int ni, const std::string& key) {
    if (!p_.disk_loss.on || (ni == p_.disk_loss.node && !disk_lost_)) return;
    auto set = DVVSet::Decode(node(ni).store.at(key));
    if (!set.ok()) return;  // FinalState and the engine report undecodable records
    std::map<version::Actor, uint64_t>& seen = seen_elsewhere_[key];
    for (const DVVSet::Entry& e : set->entries()) {
      uint64_t& c = seen[e.actor];
      c = std::max(c, e.counter);
    }
  }

  // The stored writes whose dot the lost disk had counted and no other store ever did: their
  // every copy (and every effect of their contexts) was on that disk.
  void MarkLostWithDisk() {
    if (!disk_lost_) return;
    for (auto& [key, km] : model_) {
      const auto& lost = lost_seen_[key];
      const auto& seen = seen_elsewhere_[key];
      for (StoredWrite& w : km.stored) {
        auto l = lost.find(w.actor);
        auto s = seen.find(w.actor);
        if (l != lost.end() && l->second >= w.counter &&
            (s == seen.end() || s->second < w.counter)) {
          w.lost_with_disk = true;
          ++result_.stats.lost_with_disk;
        }
      }
    }
  }

  void Heal() {
    faults_ = false;
    for (auto& row : cut_) std::fill(row.begin(), row.end(), 0);
    for (int i = 0; i < p_.nodes; ++i) {
      if (!node(i).up) {
        node(i).up = true;
        Trace(Tr::kRestart, i);
      }
    }
    Trace(Tr::kHeal);
  }

  // ---- a node applying its engine's effects ----

  void Apply(int ni, Effects* fx) {
    Node& n = node(ni);
    for (Effect& e : *fx) {
      switch (e.kind) {
        case Effect::Kind::kSend:
          Send(ni, std::move(e.msg));
          break;
        case Effect::Kind::kStoreLocal: {
          Trace(Tr::kStoreLocal, ni, KeyIndex(e.key), e.op);
          ++store_locals_;
          MergeLocal(ni, e.key, e.record);
          break;
        }
        case Effect::Kind::kComplete:
          Complete(ni, e);
          break;
      }
    }
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

  void MergeLocal(int ni, const std::string& key, const std::string& record) {
    Node& n = node(ni);
    auto it = n.store.find(key);
    if (it == n.store.end()) {
      n.store.emplace(key, record);
    } else {
      auto merged = replication::MergeRecords(it->second, record, p_.lww);
      if (!merged.ok())
        return Broken("kStoreLocal record does not merge: " + merged.status().ToString());
      it->second = std::move(merged).value();
    }
    NoteStored(ni, key);
  }

  void Complete(int ni, const Effect& e) {
    Node& n = node(ni);
    Trace(Tr::kComplete, ni, e.outcome.ok ? 1 : 0, e.op, static_cast<uint64_t>(e.outcome.answered));
    auto it = n.pending.find(e.op);
    if (it == n.pending.end()) return;
    const Node::Pending pend = it->second;
    n.pending.erase(it);
    if (pend.is_get) {
      (e.outcome.ok ? result_.stats.gets_ok : result_.stats.gets_failed)++;
    } else {
      (e.outcome.ok ? result_.stats.puts_ok : result_.stats.puts_failed)++;
    }
    if (pend.client < 0) return;  // a repair-round get
    Event r;
    r.kind = Event::Kind::kClientReply;
    r.client = pend.client;
    r.req = pend.req;
    r.reply.ok = e.outcome.ok;
    r.reply.is_get = pend.is_get;
    r.reply.node = ni;
    if (pend.is_get && e.outcome.ok) {
      // GETCTX answers from the local store, which kStoreLocal brought up to the merge.
      auto st = n.store.find(pend.key);
      if (st != n.store.end()) {
        auto set = DVVSet::Decode(st->second);
        if (!set.ok()) return Broken("a stored record does not decode");
        for (const version::Sibling* s : set->Values()) ParseElements(s->value, &r.reply.elements);
        r.reply.ctx = version::EncodeContext(set->Join());
      }
    }
    Schedule(now_ + rng_.Range(0, 2), std::move(r));
  }

  // ---- clients ----

  void ScheduleClientStart(int ci) {
    Event e;
    e.kind = Event::Kind::kClientStart;
    e.client = ci;
    Schedule(now_ + rng_.Range(0, p_.think_max_ms), std::move(e));
  }

  void Await(int ci) {
    Client& c = clients_[static_cast<size_t>(ci)];
    c.waiting = true;
    Event t;
    t.kind = Event::Kind::kClientTimeout;
    t.client = ci;
    t.req = c.req;
    Schedule(now_ + 2 * p_.timeout_ms + 50, std::move(t));
  }

  // A client reaching a crashed node: the connection is refused quickly.
  void Refuse(int ci, int ni) {
    Client& c = clients_[static_cast<size_t>(ci)];
    Trace(Tr::kRefused, ci, ni, c.req);
    Event r;
    r.kind = Event::Kind::kClientReply;
    r.client = ci;
    r.req = c.req;
    r.reply.ok = false;
    r.reply.is_get = c.is_get;
    Schedule(now_ + rng_.Range(1, 5), std::move(r));
  }

  void ClientStart(int ci) {
    Client& c = clients_[static_cast<size_t>(ci)];
    // The workload runs during the fault phase only, and is bounded: values hold every element
    // of their key, so a run's cost grows with the square of its writes.
    if (now_ >= p_.fault_ms || c.writes >= p_.writes_per_client) return;
    c.key = KeyName(static_cast<int>(rng_.Below(static_cast<uint64_t>(p_.keys))));
    c.is_get = true;
    ++c.req;
    const int ni = static_cast<int>(rng_.Below(static_cast<uint64_t>(p_.nodes)));
    Await(ci);
    Trace(Tr::kClientGet, ci, ni, c.req, static_cast<uint64_t>(KeyIndex(c.key)));
    if (!node(ni).up) {
      Refuse(ci, ni);
      return;
    }
    StartGet(ni, c.key, p_.r, ci, c.req);
  }

  void StartGet(int ni, const std::string& key, int r, int client, uint64_t req) {
    Node& n = node(ni);
    std::optional<std::string> local;
    auto it = n.store.find(key);
    if (it != n.store.end()) local = it->second;
    Effects fx;
    const uint64_t op = n.coord->StartGet(now_, key, preflists_[key], r, std::move(local), &fx);
    n.pending[op] = Node::Pending{client, req, true, key, 0};
    Apply(ni, &fx);
  }

  void OnClientReply(int ci, uint64_t req, const ClientReply& reply) {
    Client& c = clients_[static_cast<size_t>(ci)];
    if (!c.waiting || c.req != req) return;  // stale: the client gave up on it
    c.waiting = false;
    // y: what the client learned (elements read, or 1 for an acknowledged write).
    Trace(Tr::kReply, ci, reply.ok ? 1 : 0, req,
          reply.is_get ? reply.elements.size() : (reply.ok ? 1 : 0));
    KeyModel& km = model_[c.key];
    if (!reply.is_get) {
      if (reply.ok) km.acked.insert(c.element);
      ScheduleClientStart(ci);
      return;
    }
    if (!reply.ok || now_ >= p_.fault_ms) {
      ScheduleClientStart(ci);
      return;
    }
    // Merge the siblings (set union), add a fresh element, write back with the context.
    std::set<uint64_t> elems = reply.elements;
    c.element = next_element_++;
    ++c.writes;
    elems.insert(c.element);
    km.written.insert(c.element);
    km.writers.insert(ci);
    c.is_get = false;
    ++c.req;
    const int ni = rng_.Permille(500)
                       ? reply.node
                       : static_cast<int>(rng_.Below(static_cast<uint64_t>(p_.nodes)));
    Await(ci);
    Trace(Tr::kClientSet, ci, ni, c.req, c.element);
    if (!node(ni).up) {
      Refuse(ci, ni);
      return;
    }
    SetCtx(ni, ci, reply.ctx, EncodeElements(elems));
  }

  // SETCTX at a coordinator: Update the local record with the client's context, store it, put.
  void SetCtx(int ni, int ci, const std::string& ctx_bytes, std::string value) {
    Node& n = node(ni);
    Client& c = clients_[static_cast<size_t>(ci)];
    DVVSet set;
    auto it = n.store.find(c.key);
    if (it != n.store.end()) {
      auto decoded = DVVSet::Decode(it->second);
      if (!decoded.ok()) return Broken("a stored record does not decode");
      set = std::move(decoded).value();
    }
    auto ctx = version::DecodeContext(ctx_bytes);
    if (!ctx.ok()) return Broken("a context from GETCTX does not decode");
    const version::VersionVector vv = ctx.value();
    // The write must win LWW over what this node holds (the HLC observes the stored versions).
    for (const version::Sibling* s : set.Values()) n.hlc_last = std::max(n.hlc_last, s->hlc);
    version::Sibling sib;
    sib.value = value;
    sib.hlc = Hlc(n);
    sib.writer = n.id;
    const uint64_t counter = set.Update(vv, sib, n.actor);
    std::string record = set.Encode();
    if (p_.lww) {
      // The negative control resolves locally by LWW too.
      auto collapsed = replication::MergeRecords(record, record, /*lww=*/true);
      if (collapsed.ok()) record = std::move(collapsed).value();
    }
    n.store[c.key] = record;
    NoteStored(ni, c.key);
    model_[c.key].stored.push_back(
        StoredWrite{c.element, std::move(value), n.actor, counter, vv, ci, now_});
    if (p_.early_ack) {
      // The broken configuration: the client hears "ok" now, whatever the put does. The
      // engine's own completion finds the client gone and is ignored.
      Event r;
      r.kind = Event::Kind::kClientReply;
      r.client = ci;
      r.req = c.req;
      r.reply.ok = true;
      r.reply.node = ni;
      Schedule(now_ + rng_.Range(0, 2), std::move(r));
    }
    Effects fx;
    const uint64_t op =
        n.coord->StartPut(now_, c.key, preflists_[c.key], p_.w, std::move(record), &fx);
    n.coord->OnLocalStored(now_, op, true, &fx);  // the simulated store is durable at once
    n.pending[op] = Node::Pending{ci, c.req, false, c.key, c.element};
    Apply(ni, &fx);
  }

  // ---- after the faults ----

  // One get of every key through every node (R = N), then drain. True when nothing needed
  // repair: no repair sends, no local stores, and every replica already held the same record.
  bool RepairRound(bool* stuck) {
    const uint64_t repairs_before = result_.stats.repairs;
    const uint64_t stores_before = store_locals_;
    Trace(Tr::kRound, result_.stats.repair_rounds);
    for (int k = 0; k < p_.keys; ++k) {
      for (int i = 0; i < p_.nodes; ++i) StartGet(i, KeyName(k), p_.n_val, -1, 0);
    }
    *stuck = !Drain();
    if (*stuck) return false;
    if (result_.stats.repairs != repairs_before || store_locals_ != stores_before) return false;
    for (const auto& [key, fk] : FinalState()) {
      if (!fk.converged) return false;
    }
    return true;
  }

  // Per key: the merge of every replica's record, its siblings, and whether the replicas agree.
  std::map<std::string, FinalKey> FinalState() {
    std::map<std::string, FinalKey> out;
    for (int k = 0; k < p_.keys; ++k) {
      const std::string key = KeyName(k);
      FinalKey& fk = out[key];
      DVVSet merged;
      bool any = false;
      // The replicas only: what non-member coordinators stored must have reached them by now
      // (the repair rounds read through every node, merging its local record in).
      for (NodeId id : preflists_[key]) {
        const Node& n = nodes_[static_cast<size_t>(Index(id))];
        auto it = n.store.find(key);
        if (it == n.store.end()) continue;
        auto set = DVVSet::Decode(it->second);
        if (!set.ok()) {
          fk.converged = false;
          fk.divergence = "node " + std::to_string(n.id) + " holds an undecodable record";
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
        const Node& n = nodes_[static_cast<size_t>(Index(id))];
        auto it = n.store.find(key);
        if (it == n.store.end() || it->second != want) {
          fk.converged = false;
          fk.divergence = "replica " + std::to_string(id) +
                          (it == n.store.end() ? " lacks the key" : " holds an older record");
        }
      }
    }
    return out;
  }

  const Params p_;
  Rng rng_;
  bool trace_all_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  bool faults_ = true;
  bool disk_lost_ = false;
  uint64_t next_element_ = 1;
  uint64_t store_locals_ = 0;
  uint64_t hash_ = 0xCBF29CE484222325ull;
  std::map<std::pair<int64_t, uint64_t>, Event> queue_;  // (time, sequence): a total order
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  std::vector<std::vector<int>> cut_;  // cut_[from][to] > 0: messages from -> to are dropped
  std::vector<int> claim_;
  std::map<std::string, std::vector<NodeId>> preflists_;
  std::map<std::string, KeyModel> model_;
  // Per key, per actor: the counter the lost store held, and the highest any other store held.
  std::map<std::string, std::map<version::Actor, uint64_t>> lost_seen_;
  std::map<std::string, std::map<version::Actor, uint64_t>> seen_elsewhere_;
  std::vector<TraceRec> trace_;
  std::vector<std::string> broken_;
  Result result_;
};

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& s : parts) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// The first few of a list of ids, for violation details.
std::string Few(const std::vector<uint64_t>& ids) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < ids.size() && i < 8; ++i) parts.push_back(std::to_string(ids[i]));
  if (ids.size() > 8) parts.push_back("... (" + std::to_string(ids.size()) + " in all)");
  return Join(parts, ",");
}

}  // namespace

// ---- Rng ------------------------------------------------------------------------------------

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) s = SplitMix(&x);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t Rng::Below(uint64_t n) {
  // Rejection sampling: draws below 2^64 mod n would bias the low residues.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = Next();
    if (r >= threshold) return r % n;
  }
}

int64_t Rng::Range(int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
}

// ---- Params ---------------------------------------------------------------------------------

Params Params::Draw(uint64_t seed, bool lww) {
  Params p;
  p.seed = seed;
  p.lww = lww;
  Rng rng(seed);
  p.nodes = static_cast<int>(rng.Range(3, 5));
  p.n_val = 3;
  if (rng.Permille(500)) {
    p.r = p.w = 2;  // the default, most of the time
  } else {
    p.r = static_cast<int>(rng.Range(1, 3));
    p.w = static_cast<int>(rng.Range(1, 3));
  }
  p.partitions = static_cast<uint32_t>(rng.Range(8, 32));
  p.clients = static_cast<int>(rng.Range(2, 6));
  p.keys = static_cast<int>(rng.Range(1, 4));
  p.timeout_ms = rng.Range(150, 800);
  p.fault_ms = rng.Range(5000, 30000);
  p.writes_per_client = static_cast<int>(rng.Range(30, 300));
  // Bursty clients (heavy contention, done early) or clients paced to spread their writes over
  // the whole fault phase.
  p.think_max_ms = rng.Permille(500) ? rng.Range(0, 80) : 2 * p.fault_ms / p.writes_per_client;

  p.loss_permille = rng.Permille(150) ? 0 : static_cast<int>(rng.Range(0, 200));
  p.dup_permille = static_cast<int>(rng.Range(0, 150));
  p.delay_min_ms = rng.Range(0, 10);
  p.delay_max_ms = p.delay_min_ms + rng.Range(0, 120);
  p.slow_permille = static_cast<int>(rng.Range(0, 40));
  p.slow_max_ms = rng.Range(p.timeout_ms, 3 * p.timeout_ms);
  p.fast_fail_permille = static_cast<int>(rng.Range(0, 1000));

  const int n_parts = static_cast<int>(rng.Range(0, p.fault_ms / 2000));
  for (int i = 0; i < n_parts; ++i) {
    Partition part;
    part.start_ms = rng.Range(0, p.fault_ms - 1);
    part.end_ms = std::min(p.fault_ms, part.start_ms + rng.Range(50, 3000));
    part.one_way = rng.Permille(400);
    // A nonempty proper subset of the nodes on side A.
    const uint64_t mask = 1 + rng.Below((uint64_t{1} << p.nodes) - 2);
    for (int n = 0; n < p.nodes; ++n) {
      if (mask & (uint64_t{1} << n)) part.side_a.push_back(n);
    }
    p.partition_plan.push_back(std::move(part));
  }
  const int n_crashes = static_cast<int>(rng.Range(0, p.fault_ms / 2500));
  for (int i = 0; i < n_crashes; ++i) {
    Crash c;
    c.at_ms = rng.Range(0, p.fault_ms - 1);
    c.down_ms = rng.Range(20, 3000);
    c.node = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    p.crash_plan.push_back(c);
  }
  const bool skewed = rng.Permille(700);
  for (int n = 0; n < p.nodes; ++n) p.skew_ms.push_back(skewed ? rng.Range(-3000, 3000) : 0);
  // Drawn last, so the plans above stay what they were before disk losses existed. With W = 1
  // one lost disk may hold the only copy of an acknowledged write: no disk loss there.
  if (p.w >= 2 && rng.Permille(400)) {
    p.disk_loss.on = true;
    p.disk_loss.at_ms = rng.Range(0, p.fault_ms - 1);
    p.disk_loss.down_ms = rng.Range(20, 3000);
    p.disk_loss.node = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    if (!p.partition_plan.empty() && rng.Permille(500)) {
      // Late in a partition, on a node of the side whose sends are cut: it coordinated writes
      // that could not replicate, so the loss takes the only copy of some (unacknowledged, with
      // a correct engine) writes. A random instant mostly finds a node holding nothing unique.
      const Partition& part =
          p.partition_plan[static_cast<size_t>(rng.Below(p.partition_plan.size()))];
      p.disk_loss.at_ms = rng.Range(std::max(part.start_ms, part.end_ms - 300), part.end_ms - 1);
      p.disk_loss.node = part.side_a[static_cast<size_t>(rng.Below(part.side_a.size()))];
    }
  }
  return p;
}

std::string Params::ToString() const {
  std::string s =
      "seed=" + std::to_string(seed) + (lww ? " lww" : "") + (early_ack ? " early-ack" : "") +
      (reuse_epoch ? " reuse-epoch" : "") + " nodes=" + std::to_string(nodes) +
      " N=" + std::to_string(n_val) + " R=" + std::to_string(r) + " W=" + std::to_string(w) +
      " Q=" + std::to_string(partitions) + " clients=" + std::to_string(clients) +
      " keys=" + std::to_string(keys) + " writes/client<=" + std::to_string(writes_per_client) +
      " timeout=" + std::to_string(timeout_ms) + "ms faults=" + std::to_string(fault_ms) +
      "ms think<=" + std::to_string(think_max_ms) + "ms\n  loss=" + std::to_string(loss_permille) +
      "/1000 dup=" + std::to_string(dup_permille) + "/1000 delay=" + std::to_string(delay_min_ms) +
      ".." + std::to_string(delay_max_ms) + "ms slow=" + std::to_string(slow_permille) +
      "/1000 (+<=" + std::to_string(slow_max_ms) +
      "ms) fastfail=" + std::to_string(fast_fail_permille) + "/1000\n  skew=";
  std::vector<std::string> skews;
  for (int64_t k : skew_ms) skews.push_back(std::to_string(k));
  s += Join(skews, ",") + "ms\n  partitions:";
  for (const Partition& part : partition_plan) {
    std::vector<std::string> a;
    for (int n : part.side_a) a.push_back(std::to_string(n + 1));
    s += " [" + std::to_string(part.start_ms) + ".." + std::to_string(part.end_ms) + " {" +
         Join(a, ",") + (part.one_way ? "}->rest]" : "}|rest]");
  }
  s += "\n  crashes:";
  for (const Crash& c : crash_plan) {
    s += " [node " + std::to_string(c.node + 1) + " at " + std::to_string(c.at_ms) + " for " +
         std::to_string(c.down_ms) + "]";
  }
  s += "\n  disk loss: ";
  if (disk_loss.on) {
    s += "node " + std::to_string(disk_loss.node + 1) + " at " + std::to_string(disk_loss.at_ms) +
         " for " + std::to_string(disk_loss.down_ms) + " (restarts empty, " +
         (reuse_epoch ? "same epoch)" : "new epoch)");
  } else {
    s += "none";
  }
  return s;
}

// ---- checker --------------------------------------------------------------------------------

std::string Violation::ToString() const {
  const char* names[] = {"LOST ACKNOWLEDGED WRITE",
                         "PHANTOM",
                         "SIBLINGS",
                         "LOST WRITE",
                         "DIVERGED",
                         "NOT QUIET",
                         "BROKEN"};
  return std::string(names[static_cast<int>(kind)]) + (key.empty() ? "" : " key=" + key) + ": " +
         detail;
}

bool HasKind(const std::vector<Violation>& v, Violation::Kind kind) {
  return std::any_of(v.begin(), v.end(), [kind](const Violation& x) { return x.kind == kind; });
}

std::vector<Violation> Check(const std::map<std::string, KeyModel>& model,
                             const std::map<std::string, FinalKey>& final_keys, bool quiet) {
  std::vector<Violation> out;
  static const KeyModel kEmptyModel;
  static const FinalKey kEmptyFinal;
  std::set<std::string> keys;
  for (const auto& kv : model) keys.insert(kv.first);
  for (const auto& kv : final_keys) keys.insert(kv.first);
  for (const std::string& key : keys) {
    const auto mit = model.find(key);
    const KeyModel& km = mit == model.end() ? kEmptyModel : mit->second;
    const auto fit = final_keys.find(key);
    const FinalKey& fk = fit == final_keys.end() ? kEmptyFinal : fit->second;

    std::set<uint64_t> present;
    for (const FinalKey::Sib& s : fk.siblings) ParseElements(s.value, &present);

    std::vector<uint64_t> lost;
    for (uint64_t e : km.acked) {
      if (!present.count(e)) lost.push_back(e);
    }
    if (!lost.empty()) {
      std::string first;
      for (const StoredWrite& w : km.stored) {
        if (w.element != lost[0]) continue;
        first = "; element " + std::to_string(w.element) + " was written by client " +
                std::to_string(w.client) + " at t=" + std::to_string(w.at_ms) + " through n" +
                std::to_string(w.actor.node_id) + " as dot " + w.actor.ToString() + ":" +
                std::to_string(w.counter) +
                (w.lost_with_disk ? ", which only the lost disk saw" : "");
      }
      out.push_back({Violation::Kind::kLostAck, key,
                     std::to_string(lost.size()) + " of " + std::to_string(km.acked.size()) +
                         " acknowledged elements missing: " + Few(lost) + first});
    }
    std::vector<uint64_t> phantom;
    for (uint64_t e : present) {
      if (!km.written.count(e)) phantom.push_back(e);
    }
    if (!phantom.empty()) {
      out.push_back(
          {Violation::Kind::kPhantom, key, "never-written elements present: " + Few(phantom)});
    }

    // Siblings against the causal model. A stored write is superseded iff some write's context
    // covers its dot; the surviving siblings must be exactly the unsuperseded writes.
    // A write lost with the disk superseded nothing that survived: every state that knew of its
    // context also knew of its dot, and none but the lost disk did.
    std::map<version::Actor, uint64_t> covered;
    for (const StoredWrite& w : km.stored) {
      if (w.lost_with_disk) continue;
      for (const auto& [actor, n] : w.ctx) covered[actor] = std::max(covered[actor], n);
    }
    auto superseded = [&covered](const version::Actor& a, uint64_t counter) {
      auto it = covered.find(a);
      return it != covered.end() && it->second >= counter;
    };
    std::map<std::pair<version::Actor, uint64_t>, const StoredWrite*> by_dot;
    size_t concurrent = 0;
    for (const StoredWrite& w : km.stored) {
      by_dot[{w.actor, w.counter}] = &w;
      if (!w.lost_with_disk && !superseded(w.actor, w.counter)) ++concurrent;
    }
    std::vector<uint64_t> unknown, stale;
    std::set<std::pair<version::Actor, uint64_t>> final_dots;
    for (const FinalKey::Sib& s : fk.siblings) {
      final_dots.insert({s.actor, s.counter});
      auto it = by_dot.find({s.actor, s.counter});
      // A write the model says only the lost disk saw cannot be anywhere now.
      if (it == by_dot.end() || it->second->value != s.value || it->second->lost_with_disk) {
        unknown.push_back(s.counter);
      } else if (superseded(s.actor, s.counter)) {
        stale.push_back(it->second->element);
      }
    }
    if (!unknown.empty()) {
      out.push_back({Violation::Kind::kPhantom, key,
                     "siblings no coordinator stored (dot counters): " + Few(unknown)});
    }
    if (!stale.empty() || fk.siblings.size() > concurrent) {
      out.push_back({Violation::Kind::kSiblings, key,
                     std::to_string(fk.siblings.size()) + " siblings for " +
                         std::to_string(concurrent) +
                         " concurrent writes; superseded yet alive: " + Few(stale)});
    }
    std::vector<uint64_t> vanished;
    for (const StoredWrite& w : km.stored) {
      if (!w.lost_with_disk && !superseded(w.actor, w.counter) &&
          !final_dots.count({w.actor, w.counter})) {
        vanished.push_back(w.element);
      }
    }
    if (!vanished.empty()) {
      out.push_back({Violation::Kind::kLostWrite, key,
                     "stored writes that nothing superseded are gone: " + Few(vanished)});
    }
    if (!fk.converged) out.push_back({Violation::Kind::kDiverged, key, fk.divergence});
  }
  if (!quiet) {
    out.push_back({Violation::Kind::kNotQuiet, "",
                   "read-repair rounds still repairing after " + std::to_string(kMaxRepairRounds)});
  }
  return out;
}

// ---- results --------------------------------------------------------------------------------

std::string Stats::ToString() const {
  return "events=" + std::to_string(events) + " msgs=" + std::to_string(messages) +
         " dropped=" + std::to_string(dropped) + " dup=" + std::to_string(duplicated) +
         " gets=" + std::to_string(gets_ok) + "/" + std::to_string(gets_ok + gets_failed) +
         " puts=" + std::to_string(puts_ok) + "/" + std::to_string(puts_ok + puts_failed) +
         " repairs=" + std::to_string(repairs) + " crashes=" + std::to_string(crashes) +
         " disklost=" + std::to_string(disk_losses) +
         " (writes only it saw: " + std::to_string(lost_with_disk) + ")" +
         " sendfail=" + std::to_string(send_failed) + " rounds=" + std::to_string(repair_rounds) +
         " max_siblings=" + std::to_string(max_final_siblings);
}

std::string Result::Report() const {
  std::string s = "SIMULATION FAILED: seed " + std::to_string(params.seed) + "\n  " +
                  params.ToString() + "\n  " + stats.ToString() + "\n";
  for (const Violation& v : violations) s += "  " + v.ToString() + "\n";
  char hash[32];
  std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(trace_hash));
  s += "  trace (hash " + std::string(hash) + "), last events:\n";
  for (const std::string& line : trace_tail) s += "    " + line + "\n";
  s += "  replay: DYNIS_SIM_SEED=" + std::to_string(params.seed) +
       (params.lww ? " DYNIS_SIM_LWW=1" : "") + (params.early_ack ? " DYNIS_SIM_EARLY_ACK=1" : "") +
       (params.reuse_epoch ? " DYNIS_SIM_REUSE_EPOCH=1" : "") +
       " build/release/tests/sim-tests '[seeds]'   (DYNIS_SIM_TRACE=1 prints every event)\n";
  return s;
}

Result Run(const Params& params, bool trace_all) { return Sim(params, trace_all).Run(); }

}  // namespace dynis::sim
