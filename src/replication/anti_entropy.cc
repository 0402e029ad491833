#include "replication/anti_entropy.h"

#include <algorithm>

#include "common/errors.h"
#include "common/log.h"
#include "storage/store.h"
#include "version/dvvset.h"

namespace dynis::replication {

using kv::HashTree;

namespace {

constexpr size_t kRepairsInflight = 64;  // per exchange

bool Owned(uint32_t p, uint32_t loop_id, uint32_t loops) { return p % loops == loop_id; }

}  // namespace

// ---- the answering side ------------------------------------------------------------------------

namespace {
AaeResponse Answer(kv::Keyspace& ks, const kv::PartitionTrees& trees,
                   const kv::HintLedger* hints, const AaeRequest& req);
}  // namespace

AaeResponse ServeAae(kv::Keyspace& ks, const kv::PartitionTrees& trees,
                     const kv::HintLedger* hints, const AaeRequest& req, AaeBoard* board) {
  AaeResponse r = Answer(ks, trees, hints, req);
  if (board != nullptr) {
    board->bytes_sent.fetch_add(PayloadBytes(r), std::memory_order_relaxed);
    if (req.type == AaeRequest::Type::kReapDrop) {
      uint64_t dropped = 0;
      for (uint8_t d : r.held) dropped += d;
      board->tombstones_reaped.fetch_add(dropped, std::memory_order_relaxed);
      if (dropped > 0) board->RecordReap(req.partition, dropped);
    }
  }
  return r;
}

namespace {

AaeResponse Answer(kv::Keyspace& ks, const kv::PartitionTrees& trees,
                   const kv::HintLedger* hints, const AaeRequest& req) {
  using Type = AaeRequest::Type;
  AaeResponse r;
  r.type = req.type;
  r.op = req.op;
  r.from = req.to;
  const uint32_t p = req.partition;
  if (p >= trees.partitions()) {
    r.ok = false;
    r.error = err::kAaeBadPartition;
    return r;
  }
  const bool tree_step = req.type == Type::kRoot || req.type == Type::kBranches ||
                         req.type == Type::kSegments;
  if (tree_step && !trees.Ready(p)) {
    r.ok = false;
    r.error = err::AaeTreeNotReady(p);
    return r;
  }
  const HashTree& t = trees.tree(p);
  switch (req.type) {
    case Type::kRoot:
      r.hashes.push_back(t.root());
      break;
    case Type::kBranches: {
      const auto b = t.Branches();
      r.hashes.assign(b.begin(), b.end());
      break;
    }
    case Type::kSegments:
      for (uint32_t b : req.items) {
        if (b >= HashTree::kFanout) continue;
        const auto segs = t.SegmentsOf(b);
        r.hashes.insert(r.hashes.end(), segs.begin(), segs.end());
      }
      break;
    case Type::kKeys: {
      std::vector<bool> wanted(HashTree::kSegments, false);
      for (uint32_t s : req.items) {
        if (s < HashTree::kSegments) wanted[s] = true;
      }
      size_t scanned = 0;
      Status s = kv::ListSegmentKeys(ks.shared().store, p, wanted, req.after, kMaxListedKeys,
                                     &r.keys, &r.truncated, &scanned);
      if (!s.ok()) {
        r.ok = false;
        r.error = err::kReplicaReadFailed;
      }
      break;
    }
    case Type::kHints:
      r.count = hints == nullptr ? 0 : static_cast<uint64_t>(hints->PartitionHintCount(p));
      break;
    case Type::kReapCheck:
    case Type::kReapDrop:
      for (const auto& [key, hash] : req.keys) {
        uint8_t yes = 0;
        if (ks.PartitionOf(key) == p) {
          if (req.type == Type::kReapDrop) {
            bool dropped = false;
            if (ks.Reap(key, hash, &dropped).ok() && dropped) yes = 1;
          } else {
            std::optional<std::string> record;
            int64_t newest = 0;
            if (ks.LoadRecord(key, &record).ok() && record &&
                HashTree::ItemHash(key, *record) == hash &&
                kv::RecordHasNoLiveValue(*record, ks.NowMs(), &newest)) {
              yes = 1;
            }
          }
        }
        r.held.push_back(yes);
      }
      break;
  }
  return r;
}

}  // namespace

size_t PayloadBytes(const AaeRequest& req) {
  size_t n = 16 + 4 * req.items.size() + req.after.size();
  for (const auto& [k, h] : req.keys) n += k.size() + 8;
  return n;
}

size_t PayloadBytes(const AaeResponse& resp) {
  size_t n = 8 + 8 * resp.hashes.size() + resp.held.size() + resp.error.size();
  for (const auto& [k, h] : resp.keys) n += k.size() + 8;
  return n;
}

// ---- the board ---------------------------------------------------------------------------------

void AaeBoard::Record(uint32_t partition, NodeId peer, Last last) {
  std::lock_guard<std::mutex> lock(mu_);
  parts_[partition].peers[peer] = std::move(last);
}

void AaeBoard::RecordReap(uint32_t partition, uint64_t reaped) {
  std::lock_guard<std::mutex> lock(mu_);
  parts_[partition].reaped += reaped;
}

std::map<uint32_t, AaeBoard::PartitionView> AaeBoard::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return parts_;
}

void AaeBoard::QueueExchange(uint32_t loops, int64_t partition) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t l = 0; l < loops; l++) {
    if (partition < 0 || static_cast<uint32_t>(partition) % loops == l) {
      asked_[l].push_back(partition);
    }
  }
}

std::vector<int64_t> AaeBoard::TakeQueued(uint32_t loop) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = asked_.find(loop);
  if (it == asked_.end()) return {};
  std::vector<int64_t> out = std::move(it->second);
  asked_.erase(it);
  return out;
}

// ---- the starting side -------------------------------------------------------------------------

AntiEntropy::AntiEntropy(AaeOptions opts, kv::Keyspace* ks, kv::PartitionTrees* trees,
                         AaeBoard* board, uint32_t loop_id, uint32_t loops)
    : opts_(opts),
      ks_(ks),
      trees_(trees),
      board_(board),
      loop_id_(loop_id),
      loops_(std::max<uint32_t>(1, loops)) {}

void AntiEntropy::OnTick(int64_t now_ms, const AaeTopology& topo, PeerHealth* health,
                         bool overloaded, AaeSends* out) {
  health_ = health;
  overloaded_ = overloaded;
  finished_since_tick_ = false;
  Refill(now_ms);
  ExpireDeadlines(now_ms, out);
  BuildTrees(now_ms);
  if (topo.version != topo_hash_ || pairs_.empty()) {
    topo_hash_ = topo.version;
    pairs_.clear();
    for (uint32_t p = 0; p < topo.primaries.size(); p++) {
      if (!Owned(p, loop_id_, loops_)) continue;
      const std::vector<NodeId>& prim = topo.primaries[p];
      if (std::find(prim.begin(), prim.end(), opts_.self) == prim.end()) continue;
      for (NodeId q : prim) {
        if (q != opts_.self) pairs_.push_back(Pair{p, q});
      }
    }
  }
  if (!overloaded) {
    Schedule(now_ms, health, out);
    StartReaps(now_ms, topo, health, out);
  }
  SendRepairs(now_ms, out);
}

void AntiEntropy::BuildTrees(int64_t now_ms) {
  size_t budget = opts_.build_keys_per_tick;
  for (uint32_t p = loop_id_; p < trees_->partitions() && budget > 0; p += loops_) {
    if (!trees_->Ready(p) && !trees_->Building(p)) trees_->StartBuild(p);
    if (trees_->Ready(p) && !trees_->Building(p) && opts_.rebuild_interval_ms > 0 &&
        now_ms - trees_->built_ms(p) >= opts_.rebuild_interval_ms) {
      trees_->StartBuild(p);
    }
    if (!trees_->Building(p)) continue;
    const size_t step = std::min<size_t>(budget, 5000);
    bool done = false;
    size_t scanned = 0;
    Status s = trees_->BuildStep(ks_->shared().store, p, step, now_ms, &done, &scanned);
    if (!s.ok()) {
      LOG_WARNING("Anti-entropy: building the hash tree of partition %u failed: %s", p,
                  s.message().c_str());
      return;
    }
    budget -= std::max<size_t>(1, scanned);  // an empty partition costs a seek, not a step
  }
}

void AntiEntropy::Refill(int64_t now_ms) {
  const double dt = last_refill_ms_ == 0 ? 0 : static_cast<double>(now_ms - last_refill_ms_);
  last_refill_ms_ = now_ms;
  auto refill = [dt](double* tokens, int64_t rate) {
    if (rate <= 0) {
      *tokens = 1e18;
      return;
    }
    *tokens = std::min<double>(*tokens + static_cast<double>(rate) * dt / 1000.0,
                               static_cast<double>(rate));
  };
  refill(&scan_tokens_, opts_.exchange_rate);
  refill(&repair_tokens_, opts_.repair_rate);
}

void AntiEntropy::Schedule(int64_t now_ms, PeerHealth* health, AaeSends* out) {
  // One exchange per partition at a time: a partition that differs from two peers (a wiped
  // node's) is repaired from the first, and the second then finds little left to do, instead
  // of both fetching the same keys at once.
  auto busy = [&](uint32_t partition) {
    auto same = exchanges_.lower_bound(Pair{partition, 0});
    return same != exchanges_.end() && same->first.partition == partition;
  };
  auto startable = [&](const Pair& pair) {
    return !busy(pair.partition) && (health == nullptr || health->Up(pair.peer)) &&
           trees_->Ready(pair.partition);
  };
  // Asked for now (DYNIS AAE EXCHANGE): ahead of the schedule, twice the concurrency.
  // A pair whose partition is busy waits its turn; one whose peer is down or whose tree is
  // not built is dropped (the schedule comes back to it).
  for (size_t n = urgent_.size(); n > 0 && exchanges_.size() < 2 * opts_.concurrency &&
                                  scan_tokens_ > 0;
       n--) {
    const Pair pair = urgent_.front();
    urgent_.pop_front();
    if (startable(pair)) {
      urgent_set_.erase(pair);
      Start(now_ms, pair, out);
    } else if (health != nullptr && health->Up(pair.peer) && trees_->Ready(pair.partition)) {
      urgent_.push_back(pair);
    } else {
      urgent_set_.erase(pair);
    }
  }
  if (pairs_.empty()) return;
  const int64_t interval =
      std::max<int64_t>(1, opts_.round_ms / static_cast<int64_t>(pairs_.size()));
  // Behind (a pause, an overload, a slow peer, ticks coarser than the interval): catch up at
  // most a second's worth of starts, and never more than half a round's (no pair twice).
  const int64_t backlog = std::min<int64_t>(1000, opts_.round_ms / 2);
  if (next_start_ms_ == 0) next_start_ms_ = now_ms;  // the first round starts now
  if (next_start_ms_ < now_ms - backlog) next_start_ms_ = now_ms - backlog;
  while (now_ms >= next_start_ms_ && exchanges_.size() < opts_.concurrency && scan_tokens_ > 0) {
    bool started = false;
    // A pair that cannot start now (its peer held down, a tree not built, itself running:
    // asked for now) is passed over; one whose partition is being exchanged with another peer
    // waits for it (it is next in line).
    for (size_t tries = 0; tries < pairs_.size() && !started; tries++) {
      const Pair pair = pairs_[cursor_ % pairs_.size()];
      if (busy(pair.partition) && exchanges_.count(pair) == 0) return;
      cursor_++;
      if (startable(pair)) started = Start(now_ms, pair, out);
    }
    next_start_ms_ += interval;
    if (!started) break;
  }
}

bool AntiEntropy::Start(int64_t now_ms, const Pair& pair, AaeSends* out) {
  Exchange& x = exchanges_[pair];
  x = Exchange();
  x.pair = pair;
  x.started_ms = now_ms;
  AaeRequest req;
  req.type = AaeRequest::Type::kRoot;
  Ask(now_ms, x, std::move(req), out);
  return true;
}

void AntiEntropy::Ask(int64_t now_ms, Exchange& x, AaeRequest req, AaeSends* out) {
  req.from = opts_.self;
  req.to = x.pair.peer;
  req.partition = x.pair.partition;
  req.op = NextOp();
  x.waiting_op = req.op;
  Pending& p = pending_[req.op];
  p.kind = Pending::kExchange;
  p.pair = x.pair;
  p.deadline_ms = now_ms + opts_.timeout_ms;
  board_->bytes_sent.fetch_add(PayloadBytes(req), std::memory_order_relaxed);
  out->aae.push_back(std::move(req));
}

void AntiEntropy::OnResponse(int64_t now_ms, const AaeResponse& resp, AaeSends* out) {
  HandleResponse(now_ms, resp, out);
  ScheduleAfterFinish(now_ms, out);
}

void AntiEntropy::ScheduleAfterFinish(int64_t now_ms, AaeSends* out) {
  // An exchange ended: the next ones due start now, not at the next tick, so a round's pace
  // does not depend on the tick (a round of 512 pairs in 5 s is 100 starts a second).
  if (!finished_since_tick_ || overloaded_) return;
  finished_since_tick_ = false;
  Refill(now_ms);
  Schedule(now_ms, health_, out);
}

void AntiEntropy::HandleResponse(int64_t now_ms, const AaeResponse& resp, AaeSends* out) {
  auto it = pending_.find(resp.op);
  if (it == pending_.end()) return;  // past its deadline
  const Pending p = it->second;
  pending_.erase(it);
  if (p.kind == Pending::kReap) {
    auto r = reaps_.find(p.pair.partition);
    if (r != reaps_.end()) ReapAnswer(now_ms, r->second, p.pair.peer, &resp, out);
    return;
  }
  auto x = exchanges_.find(p.pair);
  if (x == exchanges_.end() || x->second.waiting_op != resp.op) return;
  x->second.waiting_op = 0;
  if (!resp.ok) {
    Finish(now_ms, p.pair, "failed: " + resp.error);
    return;
  }
  Advance(now_ms, x->second, resp, out);
}

void AntiEntropy::Advance(int64_t now_ms, Exchange& x, const AaeResponse& resp, AaeSends* out) {
  const uint32_t p = x.pair.partition;
  if (!trees_->Ready(p)) {
    Finish(now_ms, x.pair, "failed: this node's tree is being built");
    return;
  }
  const HashTree& mine = trees_->tree(p);
  constexpr uint32_t kFanout = HashTree::kFanout;
  switch (x.step) {
    case Step::kRoot: {
      if (resp.hashes.size() != 1) return Finish(now_ms, x.pair, "failed: bad answer");
      if (resp.hashes[0] == mine.root()) {
        board_->exchanges_agreed.fetch_add(1, std::memory_order_relaxed);
        return Finish(now_ms, x.pair, "agreed");
      }
      x.step = Step::kBranches;
      AaeRequest req;
      req.type = AaeRequest::Type::kBranches;
      return Ask(now_ms, x, std::move(req), out);
    }
    case Step::kBranches: {
      if (resp.hashes.size() != kFanout) return Finish(now_ms, x.pair, "failed: bad answer");
      std::array<uint64_t, kFanout> theirs{};
      std::copy(resp.hashes.begin(), resp.hashes.end(), theirs.begin());
      x.branches = mine.DiffBranches(theirs);
      if (x.branches.empty()) return Finish(now_ms, x.pair, "agreed");
      x.step = Step::kSegments;
      AaeRequest req;
      req.type = AaeRequest::Type::kSegments;
      req.items = x.branches;
      return Ask(now_ms, x, std::move(req), out);
    }
    case Step::kSegments: {
      if (resp.hashes.size() != kFanout * x.branches.size()) {
        return Finish(now_ms, x.pair, "failed: bad answer");
      }
      x.segments.clear();
      for (size_t i = 0; i < x.branches.size(); i++) {
        std::array<uint64_t, kFanout> theirs{};
        std::copy(resp.hashes.begin() + static_cast<std::ptrdiff_t>(i * kFanout),
                  resp.hashes.begin() + static_cast<std::ptrdiff_t>((i + 1) * kFanout),
                  theirs.begin());
        for (uint32_t s : mine.DiffSegments(x.branches[i], theirs)) x.segments.push_back(s);
      }
      if (x.segments.empty()) return Finish(now_ms, x.pair, "agreed");
      return AskKeys(now_ms, x, out);
    }
    case Step::kKeys:
      if (!Compare(x, resp)) return Finish(now_ms, x.pair, "failed: listing this node's keys");
      x.step = Step::kRepair;
      return SendRepairs(now_ms, out);
    case Step::kRepair:
      return;
  }
}

void AntiEntropy::AskKeys(int64_t now_ms, Exchange& x, AaeSends* out) {
  // A listing scans the partition (from the page's start) on both sides.
  scan_tokens_ -= 2.0 * static_cast<double>(trees_->keys(x.pair.partition));
  if (x.next_after.empty()) {  // the first page: these segments are compared
    board_->segments_compared.fetch_add(x.segments.size(), std::memory_order_relaxed);
  }
  x.step = Step::kKeys;
  x.more = false;
  AaeRequest req;
  req.type = AaeRequest::Type::kKeys;
  req.items = x.segments;
  req.after = x.next_after;
  Ask(now_ms, x, std::move(req), out);
}

bool AntiEntropy::Compare(Exchange& x, const AaeResponse& resp) {
  std::vector<bool> wanted(HashTree::kSegments, false);
  for (uint32_t s : x.segments) wanted[s] = true;
  std::vector<std::pair<std::string, uint64_t>> mine;
  bool truncated = false;
  size_t scanned = 0;
  if (!kv::ListSegmentKeys(ks_->shared().store, x.pair.partition, wanted, x.next_after,
                           kMaxListedKeys, &mine, &truncated, &scanned)
           .ok()) {
    return false;
  }
  const auto& theirs = resp.keys;
  // A truncated list says nothing past its last key: compare only up to the smaller bound.
  const std::string* bound = nullptr;
  if (resp.truncated && !theirs.empty()) bound = &theirs.back().first;
  if (truncated && !mine.empty() && (bound == nullptr || mine.back().first < *bound)) {
    bound = &mine.back().first;
  }
  // What lies past the bound is the next page's.
  x.more = bound != nullptr;
  if (x.more) x.next_after = *bound;
  auto in_bound = [bound](const std::string& k) { return bound == nullptr || k <= *bound; };
  size_t i = 0, j = 0;
  while (i < mine.size() || j < theirs.size()) {
    Repair r;
    if (j == theirs.size() || (i < mine.size() && mine[i].first < theirs[j].first)) {
      r.key = mine[i].first;
      r.mine = mine[i++].second;
    } else if (i == mine.size() || theirs[j].first < mine[i].first) {
      r.key = theirs[j].first;
      r.theirs = theirs[j++].second;
    } else {
      r.key = mine[i].first;
      r.mine = mine[i++].second;
      r.theirs = theirs[j++].second;
      if (r.mine == r.theirs) continue;
    }
    if (in_bound(r.key)) x.todo.push_back(std::move(r));
  }
  board_->keys_compared.fetch_add(mine.size() + theirs.size(), std::memory_order_relaxed);
  return true;
}

void AntiEntropy::SendRepairs(int64_t now_ms, AaeSends* out) {
  std::vector<Pair> finished;
  for (auto& [pair, x] : exchanges_) {
    if (x.step != Step::kRepair) continue;
    while (!x.todo.empty() && x.repairs_inflight < kRepairsInflight && repair_tokens_ >= 1) {
      Repair r = std::move(x.todo.front());
      x.todo.pop_front();
      repair_tokens_ -= 1;
      Message m;
      m.from = opts_.self;
      m.to = pair.peer;
      m.op = NextOp();
      m.key = r.key;
      m.aae = true;
      Pending p;
      p.pair = pair;
      p.key = r.key;
      p.deadline_ms = now_ms + opts_.timeout_ms;
      if (r.theirs == 0) {
        // Only here: ours goes there.
        std::optional<std::string> record;
        if (!ks_->LoadRecord(r.key, &record).ok() || !record) continue;
        m.type = Message::Type::kPutReq;
        m.record = std::move(*record);
        p.kind = Pending::kRepairPut;
      } else {
        m.type = Message::Type::kGetReq;
        p.kind = Pending::kRepairGet;
      }
      board_->bytes_sent.fetch_add(m.key.size() + m.record.size() + 16,
                                   std::memory_order_relaxed);
      pending_[m.op] = std::move(p);
      x.repairs_inflight++;
      out->records.push_back(std::move(m));
    }
    if (x.todo.empty() && x.repairs_inflight == 0) {
      if (x.more) {
        AskKeys(now_ms, x, out);  // the next page of the listing
      } else {
        finished.push_back(pair);
      }
    }
  }
  for (const Pair& pair : finished) Finish(now_ms, pair, "repaired");
}

void AntiEntropy::OnRecordResponse(int64_t now_ms, const Message& resp, AaeSends* out) {
  HandleRecordResponse(now_ms, resp, out);
  ScheduleAfterFinish(now_ms, out);
}

void AntiEntropy::HandleRecordResponse(int64_t now_ms, const Message& resp, AaeSends* out) {
  auto it = pending_.find(resp.op);
  if (it == pending_.end()) return;
  const Pending p = it->second;
  pending_.erase(it);
  auto xi = exchanges_.find(p.pair);
  if (xi == exchanges_.end()) return;
  Exchange& x = xi->second;
  x.repairs_inflight--;
  if (!resp.ok) {
    x.failed_repairs++;
  } else if (p.kind == Pending::kRepairGet) {
    // Theirs merged into ours (DVVSet sync), then the merge goes back unless they hold it.
    if (resp.found) ks_->VnodeOf(p.key).Put(p.key, resp.record);
    std::optional<std::string> merged;
    const bool sent_back =
        ks_->LoadRecord(p.key, &merged).ok() && merged &&
        (!resp.found || HashTree::ItemHash(p.key, *merged) != HashTree::ItemHash(p.key, resp.record));
    if (sent_back) {
      Message m;
      m.type = Message::Type::kPutReq;
      m.from = opts_.self;
      m.to = p.pair.peer;
      m.op = NextOp();
      m.key = p.key;
      m.record = std::move(*merged);
      m.aae = true;
      Pending put = p;
      put.kind = Pending::kRepairPut;
      put.deadline_ms = now_ms + opts_.timeout_ms;
      board_->bytes_sent.fetch_add(m.key.size() + m.record.size() + 16,
                                   std::memory_order_relaxed);
      pending_[m.op] = std::move(put);
      x.repairs_inflight++;
      out->records.push_back(std::move(m));
      return;
    }
    x.repaired++;
    board_->keys_repaired.fetch_add(1, std::memory_order_relaxed);
  } else {
    x.repaired++;
    board_->keys_repaired.fetch_add(1, std::memory_order_relaxed);
  }
  SendRepairs(now_ms, out);
}

void AntiEntropy::Finish(int64_t now_ms, const Pair& pair, const std::string& result) {
  auto it = exchanges_.find(pair);
  if (it == exchanges_.end()) return;
  finished_since_tick_ = true;
  const Exchange& x = it->second;
  AaeBoard::Last last;
  last.at_ms = now_ms;
  last.took_ms = now_ms - x.started_ms;
  last.segments = x.segments.size();
  last.repaired = x.repaired;
  last.result = result;
  if (result.rfind("failed", 0) == 0) {
    board_->exchanges_failed.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (x.failed_repairs > 0) last.result = "repaired, " + std::to_string(x.failed_repairs) +
                                            " repairs failed";
    board_->exchanges.fetch_add(1, std::memory_order_relaxed);
  }
  board_->Record(pair.partition, pair.peer, std::move(last));
  exchanges_.erase(it);
}

void AntiEntropy::ExpireDeadlines(int64_t now_ms, AaeSends* out) {
  std::vector<uint64_t> late;
  for (const auto& [op, p] : pending_) {
    if (p.deadline_ms <= now_ms) late.push_back(op);
  }
  for (uint64_t op : late) OnSendFailed(now_ms, op, out);
}

void AntiEntropy::OnSendFailed(int64_t now_ms, uint64_t op, AaeSends* out) {
  auto it = pending_.find(op);
  if (it == pending_.end()) return;
  const Pending p = it->second;
  pending_.erase(it);
  if (p.kind == Pending::kReap) {
    auto r = reaps_.find(p.pair.partition);
    if (r != reaps_.end()) ReapAnswer(now_ms, r->second, p.pair.peer, nullptr, out);
    return;
  }
  auto x = exchanges_.find(p.pair);
  if (x == exchanges_.end()) return;
  if (p.kind == Pending::kExchange) {
    if (x->second.waiting_op == op) Finish(now_ms, p.pair, "failed: no answer");
    return;
  }
  x->second.repairs_inflight--;
  x->second.failed_repairs++;
}

size_t AntiEntropy::ExchangeNow(const AaeTopology& topo, std::optional<uint32_t> partition) {
  size_t queued = 0;
  for (uint32_t p = 0; p < topo.primaries.size(); p++) {
    if (!Owned(p, loop_id_, loops_) || (partition && *partition != p)) continue;
    const std::vector<NodeId>& prim = topo.primaries[p];
    if (std::find(prim.begin(), prim.end(), opts_.self) == prim.end()) continue;
    for (NodeId q : prim) {
      if (q == opts_.self) continue;
      queued++;
      if (urgent_set_.insert(Pair{p, q}).second) urgent_.push_back(Pair{p, q});
    }
  }
  return queued;
}

void AntiEntropy::Reset() {
  exchanges_.clear();
  reaps_.clear();
  pending_.clear();
  urgent_.clear();
  urgent_set_.clear();
  health_ = nullptr;
  overloaded_ = true;  // until the next tick says otherwise
  finished_since_tick_ = false;
}

// ---- reaping -----------------------------------------------------------------------------------

void AntiEntropy::StartReaps(int64_t now_ms, const AaeTopology& topo, PeerHealth* health,
                             AaeSends* out) {
  if (!opts_.reap || !reaps_.empty() || scan_tokens_ <= 0) return;
  const kv::HintLedger* ledger = ks_->shared().hints;
  for (uint32_t p = loop_id_; p < topo.primaries.size() && scan_tokens_ > 0; p += loops_) {
    const std::vector<NodeId>& prim = topo.primaries[p];
    if (prim.empty() || prim[0] != opts_.self || !trees_->Ready(p)) continue;
    int64_t& last = last_reap_ms_[p];
    if (last != 0 && now_ms - last < opts_.round_ms) continue;
    last = now_ms;
    if (trees_->keys(p) == 0) continue;
    if (ledger != nullptr && ledger->PartitionHasHints(p)) continue;
    // Every member must be able to say it holds no hint for the partition.
    bool all_up = true;
    for (NodeId m : topo.members) {
      if (m != opts_.self && health != nullptr && !health->Up(m)) all_up = false;
    }
    if (!all_up) continue;
    ReapPass r;
    r.partition = p;
    scan_tokens_ -= static_cast<double>(trees_->keys(p));
    auto it = ks_->shared().store->NewRangeIterator(
        storage::Cf::kData, storage::PartitionStart(p), storage::PartitionEnd(p));
    for (; it->Valid() && r.candidates.size() < opts_.reap_batch; it->Next()) {
      int64_t newest = 0;
      if (!kv::RecordHasNoLiveValue(it->value(), ks_->NowMs(), &newest)) continue;
      if (newest + opts_.tombstone_grace_ms > ks_->NowMs()) continue;
      const std::string_view key = storage::UserKeyOf(it->key());
      r.candidates.emplace_back(std::string(key), HashTree::ItemHash(key, it->value()));
    }
    if (r.candidates.empty()) continue;
    board_->reap_candidates.fetch_add(r.candidates.size(), std::memory_order_relaxed);
    for (NodeId q : prim) {
      if (q != opts_.self) r.peers.push_back(q);
    }
    for (NodeId m : topo.members) {
      if (m != opts_.self) r.members.push_back(m);
    }
    r.confirmed.assign(r.candidates.size(), 1);
    ReapPass& pass = reaps_[p] = std::move(r);
    ReapNextStage(now_ms, pass, out);
    return;  // one pass at a time
  }
}

void AntiEntropy::ReapNextStage(int64_t now_ms, ReapPass& r, AaeSends* out) {
  const uint32_t p = r.partition;
  auto ask = [&](const std::vector<NodeId>& to, AaeRequest::Type type,
                 const std::vector<std::pair<std::string, uint64_t>>& keys) {
    for (NodeId q : to) {
      AaeRequest req;
      req.type = type;
      req.from = opts_.self;
      req.to = q;
      req.partition = p;
      req.keys = keys;
      req.op = NextOp();
      Pending& pend = pending_[req.op];
      pend.kind = Pending::kReap;
      pend.pair = Pair{p, q};
      pend.deadline_ms = now_ms + opts_.timeout_ms;
      r.waiting.insert(q);
      board_->bytes_sent.fetch_add(PayloadBytes(req), std::memory_order_relaxed);
      out->aae.push_back(std::move(req));
    }
  };
  while (r.waiting.empty()) {
    if (r.failed) {
      reaps_.erase(p);
      return;
    }
    if (r.stage == 0) {
      // Stage 0 is asked on entry: the members' hint counts.
      r.stage = 1;
      ask(r.members, AaeRequest::Type::kHints, {});
      continue;
    }
    if (r.stage == 1) {
      r.stage = 2;
      ask(r.peers, AaeRequest::Type::kReapCheck, r.candidates);
      continue;
    }
    if (r.stage == 2) {
      std::vector<std::pair<std::string, uint64_t>> confirmed;
      for (size_t i = 0; i < r.candidates.size(); i++) {
        if (r.confirmed[i]) confirmed.push_back(r.candidates[i]);
      }
      if (confirmed.empty()) {
        reaps_.erase(p);
        return;
      }
      r.candidates = std::move(confirmed);
      r.stage = 3;
      ask(r.peers, AaeRequest::Type::kReapDrop, r.candidates);
      continue;
    }
    // Stage 3 answered (whatever each said): the copy here goes last.
    uint64_t reaped = 0;
    for (const auto& [key, hash] : r.candidates) {
      bool dropped = false;
      if (ks_->Reap(key, hash, &dropped).ok() && dropped) reaped++;
    }
    board_->tombstones_reaped.fetch_add(reaped, std::memory_order_relaxed);
    board_->RecordReap(p, reaped);
    reaps_.erase(p);
    return;
  }
}

void AntiEntropy::ReapAnswer(int64_t now_ms, ReapPass& r, NodeId from, const AaeResponse* resp,
                             AaeSends* out) {
  r.waiting.erase(from);
  if (resp == nullptr || !resp->ok) {
    // Hints and checks must all answer; the drops need not (a replica that kept its copy
    // gets it back from here, later).
    if (r.stage < 3) r.failed = true;
  } else if (r.stage == 1) {
    if (resp->count > 0) r.failed = true;
  } else if (r.stage == 2) {
    if (resp->held.size() != r.candidates.size()) {
      r.failed = true;
    } else {
      for (size_t i = 0; i < r.candidates.size(); i++) r.confirmed[i] &= resp->held[i];
    }
  }
  ReapNextStage(now_ms, r, out);
}

}  // namespace dynis::replication
