// The simulator's checkers and reports: see sim.h for what they require.
#include <algorithm>
#include <cstdio>

#include "sim.h"

namespace dynis::sim {

namespace {

// The first few of a list of ids, for violation details.
std::string Few(const std::vector<uint64_t>& ids) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < ids.size() && i < 8; ++i) parts.push_back(std::to_string(ids[i]));
  if (ids.size() > 8) parts.push_back("... (" + std::to_string(ids.size()) + " in all)");
  return Join(parts, ",");
}

bool Covers(const version::VersionVector& vv, const version::Actor& actor, uint64_t counter) {
  for (const auto& [a, n] : vv) {
    if (a == actor) return n >= counter;
  }
  return false;
}

}  // namespace

std::string Violation::ToString() const {
  const char* names[] = {"LOST ACKNOWLEDGED WRITE",
                         "PHANTOM",
                         "SIBLINGS",
                         "LOST WRITE",
                         "DIVERGED",
                         "NOT QUIET",
                         "BROKEN",
                         "RESURRECTED",
                         "REUSED DOT",
                         "STALE PRIMARY",
                         "UNAVAILABLE",
                         "NOT CONVERGED"};
  return std::string(names[static_cast<int>(kind)]) + (key.empty() ? "" : " key=" + key) + ": " +
         detail;
}

bool HasKind(const std::vector<Violation>& v, Violation::Kind kind) {
  return std::any_of(v.begin(), v.end(), [kind](const Violation& x) { return x.kind == kind; });
}

bool HasKind(const std::vector<Violation>& v, Violation::Kind kind, const std::string& prefix) {
  return std::any_of(v.begin(), v.end(), [&](const Violation& x) {
    return x.kind == kind && x.key.compare(0, prefix.size(), prefix) == 0;
  });
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

// ---- register keys --------------------------------------------------------------------------

std::string RegisterWrite::ToString() const {
  std::string s = del ? "DEL" : "SET " + value;
  if (px_ms != 0) s += " PX " + std::to_string(px_ms);
  if (pxat_ms != 0) s += " PXAT " + std::to_string(pxat_ms) + " (past)";
  s += " by client " + std::to_string(client) + " sent t=" + std::to_string(sent_ms);
  if (ran) {
    s += ", ran t=" + std::to_string(ran_ms) + " on n" + std::to_string(node + 1);
    if (minted) {
      s += " as dot " + actor.ToString() + ":" + std::to_string(counter);
    } else {
      s += " (no dot stored)";
    }
    if (expire_at_ms != 0) s += " expiring at " + std::to_string(expire_at_ms);
    if (del) s += deleted > 0 ? " (found a value)" : " (found none)";
  } else {
    s += ", never ran";
  }
  s += acked ? ", acked t=" + std::to_string(acked_ms) : ", not acked";
  return s;
}

std::vector<Violation> CheckRegisters(const std::map<std::string, RegisterModel>& model,
                                      const std::map<std::string, FinalRegister>& final_regs,
                                      int64_t skew_spread_ms) {
  std::vector<Violation> out;
  static const RegisterModel kEmptyModel;
  for (const auto& [key, fr] : final_regs) {
    const auto mit = model.find(key);
    const RegisterModel& m = mit == model.end() ? kEmptyModel : mit->second;
    if (!fr.converged) out.push_back({Violation::Kind::kDiverged, key, fr.divergence});

    // x is ordered before w: whatever the merges did, w's version beats x's (see sim.h). Each
    // rule implies that w ran after x (a reused dot could make w's context name an x that ran
    // later), so the order has no cycles and some acknowledged write is always visible.
    auto before = [skew_spread_ms](const RegisterWrite& x, const RegisterWrite& w) {
      if (x.seq >= w.seq) return false;
      if (x.minted && Covers(w.observed, x.actor, x.counter)) return true;
      if (x.node == w.node && x.incarnation == w.incarnation) return true;
      return w.ran_ms > x.ran_ms + skew_spread_ms;
    };
    // The writes a final read may see, and why the others may not.
    std::vector<const RegisterWrite*> visible;
    std::map<const RegisterWrite*, const RegisterWrite*> hidden_by;
    bool any_ordering = false;
    for (const RegisterWrite& x : m.writes) {
      if (x.Orders()) any_ordering = true;
      if (!x.ran) continue;
      const RegisterWrite* hider = nullptr;
      for (const RegisterWrite& w : m.writes) {
        if (&w != &x && w.Orders() && before(x, w)) {
          hider = &w;
          break;
        }
      }
      if (hider == nullptr) {
        visible.push_back(&x);
      } else {
        hidden_by[&x] = hider;
      }
    }
    auto visible_list = [&visible]() {
      std::string s;
      for (size_t i = 0; i < visible.size() && i < 6; ++i) s += "\n      " + visible[i]->ToString();
      if (visible.size() > 6) s += "\n      ... (" + std::to_string(visible.size()) + " in all)";
      return s.empty() ? std::string(" none") : s;
    };

    for (const FinalRead& rd : fr.reads) {
      const std::string via = "the final GET through n" + std::to_string(rd.node + 1);
      if (!rd.ok) {
        out.push_back({Violation::Kind::kBroken, key, via + " failed on a healed cluster"});
        continue;
      }
      if (!rd.found) {
        bool explained = !any_ordering;
        for (const RegisterWrite* x : visible) {
          explained =
              explained || x->del || (x->expire_at_ms != 0 && x->expire_at_ms <= rd.max_wall_ms);
        }
        if (!explained) {
          out.push_back(
              {Violation::Kind::kLostAck, key,
               via + " returns nil; the writes it may see are all live SETs:" + visible_list()});
        }
        continue;
      }
      const RegisterWrite* x = nullptr;
      for (const RegisterWrite& w : m.writes) {
        if (!w.del && w.value == rd.value) x = &w;
      }
      if (x == nullptr || !x->ran) {
        out.push_back({Violation::Kind::kPhantom, key,
                       via + " returns '" + rd.value + "', which no coordinator wrote"});
        continue;
      }
      if (x->expire_at_ms != 0 && x->expire_at_ms <= rd.wall_ms) {
        out.push_back({Violation::Kind::kResurrected, key,
                       via + " returns an expired value (its clock " + std::to_string(rd.wall_ms) +
                           "): " + x->ToString()});
        continue;
      }
      auto h = hidden_by.find(x);
      if (h != hidden_by.end()) {
        out.push_back({Violation::Kind::kResurrected, key,
                       via + " returns " + x->ToString() + "\n    which this acknowledged write " +
                           "replaced: " + h->second->ToString() +
                           "\n    the writes it may see:" + visible_list()});
      }
    }
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
         " (clean " + std::to_string(clean_shutdowns) +
         ") power-losses=" + std::to_string(power_losses) +
         " disklost=" + std::to_string(disk_losses) + " flushall=" + std::to_string(flushalls) +
         " (writes only they saw: " + std::to_string(lost_with_disk) +
         ") compactions=" + std::to_string(compactions) + " (dropped " + std::to_string(compacted) +
         ") register-writes=" + std::to_string(register_acked) + "/" +
         std::to_string(register_writes) + " expiring=" + std::to_string(expiring_writes) +
         " reused-dots=" + std::to_string(reused_dots) +
         " refused-puts=" + std::to_string(refused_puts) +
         " sendfail=" + std::to_string(send_failed) + "\n  probes=" + std::to_string(probes) +
         " detector-transitions=" + std::to_string(detector_transitions) +
         " fallback-puts=" + std::to_string(fallback_puts) +
         " hints stored=" + std::to_string(hints_stored) +
         " dropped=" + std::to_string(hints_dropped) + " sent=" + std::to_string(hints_sent) +
         " replayed=" + std::to_string(hints_replayed) +
         " replay-ms=" + std::to_string(replay_ms) +
         " stale-check=" + (stale_checked ? std::to_string(owed_dots) + " dots" : "skipped") +
         " acked-on-primaries=" + std::to_string(acked_pairs_present) + "/" +
         std::to_string(acked_pairs) + " availability=" +
         std::to_string(avail_eligible - avail_failed) + "/" + std::to_string(avail_eligible) +
         "\n  aae: requests=" + std::to_string(aae_requests) +
         " repairs-sent=" + std::to_string(aae_records) +
         " exchanges=" + std::to_string(aae_exchanges) + " (failed " +
         std::to_string(aae_exchanges_failed) + ") keys-repaired=" + std::to_string(aae_repaired) +
         " reaped=" + std::to_string(aae_reaped) +
         " converge-ms=" + std::to_string(aae_converge_ms) +
         " dropped-puts=" + std::to_string(dropped_puts) +
         " rounds=" + std::to_string(repair_rounds) +
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
       (params.keep_clocks ? "" : " DYNIS_SIM_NO_KEEP_CLOCKS=1") +
       (params.sloppy ? "" : " DYNIS_SIM_STRICT=1") + (params.no_hints ? " DYNIS_SIM_NO_HINTS=1" : "") +
       (params.no_aae ? " DYNIS_SIM_NO_AAE=1" : "") +
       " build/release/tests/sim-tests '[seeds]'   (DYNIS_SIM_TRACE=1 prints every event)\n";
  return s;
}

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

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& s : parts) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace dynis::sim
