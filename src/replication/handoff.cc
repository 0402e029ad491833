#include "replication/handoff.h"

#include <algorithm>

#include "kv/hints.h"

namespace dynis::replication {

HintReplay::HintReplay(HandoffOptions opts, kv::Keyspace* ks) : opts_(opts), ks_(ks) {}

size_t HintReplay::Tokens(int64_t now_ms) {
  if (opts_.rate_per_s <= 0) return opts_.batch;
  if (last_tick_ms_ != 0 && now_ms > last_tick_ms_) {
    tokens_ += static_cast<double>(opts_.rate_per_s) * static_cast<double>(now_ms - last_tick_ms_) /
               1000.0;
  }
  // At most one second's worth accumulates: a long idle stretch is not a licence to burst.
  tokens_ = std::min(tokens_, static_cast<double>(std::max<int64_t>(opts_.rate_per_s, 1)));
  last_tick_ms_ = now_ms;
  return static_cast<size_t>(tokens_);
}

void HintReplay::OnTick(int64_t now_ms, PeerHealth* health, std::vector<Message>* sends) {
  // Replays nobody answered: failed, so that their target backs off and resends.
  std::vector<uint64_t> late;
  for (const auto& [op, f] : inflight_) {
    if (now_ms - f.sent_ms >= opts_.timeout_ms) late.push_back(op);
  }
  for (uint64_t op : late) Failed(now_ms, op, /*unreachable=*/true, health);

  size_t tokens = Tokens(now_ms);
  const kv::HintLedger* ledger = ks_->shared().hints;
  if (ledger == nullptr || !ledger->Any()) return;
  for (uint64_t id : ledger->Targets()) {
    if (tokens == 0) break;
    if (id == opts_.self || (health != nullptr && !health->Up(id))) continue;
    Target& t = targets_[id];
    if (t.inflight > 0 || now_ms < t.retry_at_ms) continue;
    std::vector<kv::Keyspace::StoredHint> hints;
    bool end = false;
    const size_t want = std::min(tokens, opts_.batch);
    if (!ks_->ScanHints(id, t.cursor, want, &hints, &end).ok()) continue;
    t.cursor = end ? std::string() : (hints.empty() ? t.cursor : hints.back().hint_key);
    for (kv::Keyspace::StoredHint& h : hints) {
      auto skip = t.skip.find(h.hint_key);
      if (skip != t.skip.end() && now_ms < skip->second.until_ms) continue;
      kv::HintValue v;
      if (!kv::DecodeHintValue(h.value, &v)) continue;  // unreadable: kept, never sent
      Message m;
      m.type = Message::Type::kPutReq;
      m.from = opts_.self;
      m.to = id;
      m.op = next_op_++;
      m.key = h.user_key;
      m.record = std::move(v.record);
      m.handoff = true;
      sends->push_back(std::move(m));
      Inflight& f = inflight_[sends->back().op];
      f.target = id;
      f.hint_key = std::move(h.hint_key);
      f.user_key = std::move(h.user_key);
      f.value = std::move(h.value);
      f.sent_ms = now_ms;
      t.inflight++;
      tokens--;
      if (opts_.rate_per_s > 0) tokens_ -= 1;
    }
  }
}

void HintReplay::OnResponse(int64_t now_ms, const Message& resp, PeerHealth* health) {
  auto it = inflight_.find(resp.op);
  if (it == inflight_.end() || resp.from != it->second.target) return;
  if (!resp.ok) {
    Failed(now_ms, resp.op, /*unreachable=*/false, health);
    return;
  }
  if (health != nullptr) health->Answered(now_ms, resp.from);
  Inflight f = std::move(it->second);
  inflight_.erase(it);
  Target& t = targets_[f.target];
  t.inflight--;
  t.backoff_ms = 0;
  t.skip.erase(f.hint_key);
  ks_->VnodeOf(f.user_key).TakeHintIfUnchanged(f.target, f.user_key, f.value);
}

void HintReplay::OnSendFailed(int64_t now_ms, uint64_t op, PeerHealth* health) {
  Failed(now_ms, op, /*unreachable=*/true, health);
}

void HintReplay::Failed(int64_t now_ms, uint64_t op, bool unreachable, PeerHealth* health) {
  auto it = inflight_.find(op);
  if (it == inflight_.end()) return;
  Inflight f = std::move(it->second);
  inflight_.erase(it);
  Target& t = targets_[f.target];
  t.inflight--;
  kv::HintLedger* ledger = ks_->shared().hints;
  // A replay that never left (the caller's link not back yet, health == nullptr) is no failure
  // of the target's; it only waits.
  if (ledger != nullptr && (health != nullptr || !unreachable)) {
    ledger->replay_failures.fetch_add(1, std::memory_order_relaxed);
  }
  if (unreachable) {
    // The whole target waits, and the scan starts over: every hint not acknowledged is sent
    // again. One unreachable round backs off once: the rest of its batch failing with it (up
    // to `batch` sends at the same moment) must not double the backoff per hint, which took
    // it to backoff_max_ms at the first failed batch.
    if (now_ms >= t.retry_at_ms) {
      t.backoff_ms = std::clamp(t.backoff_ms * 2, opts_.backoff_min_ms, opts_.backoff_max_ms);
      t.retry_at_ms = now_ms + t.backoff_ms;
    }
    t.cursor.clear();
    if (health != nullptr) health->Failed(now_ms, f.target, "a hint replay went unanswered");
  } else {
    // Refused: this hint waits for its own backoff (doubling per refusal of it, not per
    // hint of the round), the others go on after a short pause of the target, so a primary
    // refusing everything (an I/O error) is not sent the whole rate meanwhile.
    Skip& skip = t.skip[f.hint_key];
    skip.backoff_ms = std::clamp(skip.backoff_ms * 2, opts_.backoff_min_ms, opts_.backoff_max_ms);
    skip.until_ms = now_ms + skip.backoff_ms;
    t.retry_at_ms = std::max(t.retry_at_ms, now_ms + opts_.backoff_min_ms);
  }
}

bool HintReplay::Idle(NodeId target) const {
  auto it = targets_.find(target);
  return it == targets_.end() || it->second.inflight == 0;
}

void HintReplay::Reset() {
  inflight_.clear();
  targets_.clear();
  tokens_ = 0;
  last_tick_ms_ = 0;
}

}  // namespace dynis::replication
