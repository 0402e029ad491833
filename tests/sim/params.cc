// The simulator's PRNG and the parameters each seed draws: see sim.h.
#include <algorithm>

#include "sim.h"

namespace dynis::sim {

namespace {

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

const char* FsyncName(Fsync f) {
  switch (f) {
    case Fsync::kAlways:
      return "always";
    case Fsync::kEverySec:
      return "everysec";
    case Fsync::kNo:
      return "no";
  }
  return "?";
}

}  // namespace

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
  p.keys = static_cast<int>(rng.Range(1, 3));
  p.registers = static_cast<int>(rng.Range(1, 4));
  p.register_permille = static_cast<int>(rng.Range(300, 700));
  p.timeout_ms = rng.Range(150, 800);
  p.fault_ms = rng.Range(5000, 30000);
  // A set value holds every element of its key, so a run's cost grows with the square of its
  // SETCTX writes; register operations cost the same each.
  p.writes_per_client = static_cast<int>(rng.Range(20, 150));
  p.register_ops_per_client = static_cast<int>(rng.Range(50, 300));
  p.ttl_max_ms = rng.Range(100, 2000);
  // Bursty clients (heavy contention, done early) or clients paced to spread their operations
  // over the whole fault phase.
  p.think_max_ms = rng.Permille(500)
                       ? rng.Range(0, 80)
                       : 2 * p.fault_ms / (p.writes_per_client + p.register_ops_per_client);

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
    c.clean = rng.Permille(300);
    p.crash_plan.push_back(c);
  }
  // No skew, a little (the ordering checks of register keys are strict), or a lot.
  const int64_t skew = rng.Permille(300) ? 0 : rng.Permille(500) ? 30 : 3000;
  for (int n = 0; n < p.nodes; ++n) p.skew_ms.push_back(rng.Range(-skew, skew));

  // With W = 1 one lost store may hold the only copy of an acknowledged write: nothing is lost
  // there. Otherwise one node may lose data, in every way at once.
  const int64_t fsync = rng.Below(10);
  p.fsync = fsync < 2 ? Fsync::kAlways : fsync < 8 ? Fsync::kEverySec : Fsync::kNo;
  if (p.w >= 2 && rng.Permille(700)) {
    p.fragile = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    const int n_power = static_cast<int>(rng.Range(0, p.fault_ms / 5000));
    for (int i = 0; i < n_power; ++i) {
      Crash c;
      c.at_ms = rng.Range(0, p.fault_ms - 1);
      c.down_ms = rng.Range(20, 3000);
      c.node = p.fragile;
      p.power_plan.push_back(c);
    }
    if (rng.Permille(400)) {
      p.disk_loss.on = true;
      p.disk_loss.at_ms = rng.Range(0, p.fault_ms - 1);
      p.disk_loss.down_ms = rng.Range(20, 3000);
      p.disk_loss.node = p.fragile;
      // Late in a partition that cuts the fragile node's sends: it coordinated writes that
      // could not replicate, so the loss takes the only copy of some (unacknowledged, with a
      // correct engine) writes. A random instant mostly finds it holding nothing unique.
      std::vector<const Partition*> cutting;
      for (const Partition& part : p.partition_plan) {
        if (std::find(part.side_a.begin(), part.side_a.end(), p.fragile) != part.side_a.end()) {
          cutting.push_back(&part);
        }
      }
      if (!cutting.empty() && rng.Permille(500)) {
        const Partition& part = *cutting[static_cast<size_t>(rng.Below(cutting.size()))];
        p.disk_loss.at_ms = rng.Range(std::max(part.start_ms, part.end_ms - 300), part.end_ms - 1);
      }
    }
    if (rng.Permille(200)) p.flushall_plan.push_back(rng.Range(0, p.fault_ms - 1));
  }
  const int n_compactions = static_cast<int>(rng.Range(0, p.fault_ms / 1500));
  for (int i = 0; i < n_compactions; ++i) {
    Compaction c;
    c.at_ms = rng.Range(0, p.fault_ms - 1);
    c.node = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    p.compaction_plan.push_back(c);
  }
  p.tombstone_grace_ms = rng.Range(0, 3000);
  // Drawn last, so the draws above stay what they were for every seed.
  // A node down at the heal (restarted by it): what it missed must come back through hints
  // before any read, as no client reads after the faults.
  if (rng.Permille(400)) {
    Crash c;
    c.at_ms = std::max<int64_t>(0, p.fault_ms - rng.Range(300, 3000));
    c.down_ms = 3000;
    c.node = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    c.clean = rng.Permille(300);
    p.crash_plan.push_back(c);
  }
  if (rng.Permille(150)) p.hints_max_bytes = static_cast<uint64_t>(rng.Range(200, 4000));
  if (rng.Permille(500)) p.replay_rate_per_s = rng.Range(2, 200);
  // The dropped write. Its ack counts toward W, so an acknowledged write may be stored on one
  // node fewer than acknowledged it (the coordinator's own copy always counts and is real):
  // with no fragile node every acknowledged write still has a copy nothing takes away; with a
  // fragile node only W = 3 leaves one (at most one ack dropped, at most one on the fragile
  // node), and the dropping node is never the fragile one. Elsewhere (W = 2 with a fragile
  // node) the only surviving copy could be on the node that then loses its disk.
  if ((p.fragile < 0 || p.w >= 3) && rng.Permille(350)) {
    do {
      p.drop_node = static_cast<int>(rng.Below(static_cast<uint64_t>(p.nodes)));
    } while (p.drop_node == p.fragile);
    p.drop_permille = static_cast<int>(rng.Range(50, 500));
  }
  // The record cache: off on some seeds, so small on others that it evicts all the time (an
  // entry is charged about 150 bytes), large enough for every key on the rest.
  const uint64_t cache_draw = rng.Below(10);
  if (cache_draw < 2) {
    p.cache_max_bytes = 0;
  } else if (cache_draw < 6) {
    p.cache_max_bytes = static_cast<uint64_t>(rng.Range(300, 3000));
  } else {
    p.cache_max_bytes = 1 << 20;
  }
  p.cache_random = rng.Permille(500);
  p.cache_warm_per_tick = static_cast<size_t>(rng.Range(1, 64));
  return p;
}

int64_t Params::SkewSpread() const {
  if (skew_ms.empty()) return 0;
  return *std::max_element(skew_ms.begin(), skew_ms.end()) -
         *std::min_element(skew_ms.begin(), skew_ms.end());
}

std::string Params::ToString() const {
  std::string s =
      "seed=" + std::to_string(seed) + (lww ? " lww" : "") + (early_ack ? " early-ack" : "") +
      (reuse_epoch ? " reuse-epoch" : "") + (keep_clocks ? "" : " no-keep-clocks") +
      (sloppy ? "" : " strict-quorum") + (no_hints ? " no-hints" : "") + (no_aae ? " no-aae" : "") +
      " nodes=" + std::to_string(nodes) + " N=" + std::to_string(n_val) +
      " R=" + std::to_string(r) + " W=" + std::to_string(w) + " Q=" + std::to_string(partitions) +
      " clients=" + std::to_string(clients) + " keys=" + std::to_string(keys) +
      " registers=" + std::to_string(registers) + " (" + std::to_string(register_permille) +
      "/1000 of ops) writes/client<=" + std::to_string(writes_per_client) +
      " register-ops/client<=" + std::to_string(register_ops_per_client) +
      " ttl<=" + std::to_string(ttl_max_ms) + "ms timeout=" + std::to_string(timeout_ms) +
      "ms faults=" + std::to_string(fault_ms) + "ms think<=" + std::to_string(think_max_ms) +
      "ms\n  loss=" + std::to_string(loss_permille) + "/1000 dup=" + std::to_string(dup_permille) +
      "/1000 delay=" + std::to_string(delay_min_ms) + ".." + std::to_string(delay_max_ms) +
      "ms slow=" + std::to_string(slow_permille) + "/1000 (+<=" + std::to_string(slow_max_ms) +
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
  auto crashes = [&s](const std::vector<Crash>& plan) {
    for (const Crash& c : plan) {
      s += " [node " + std::to_string(c.node + 1) + " at " + std::to_string(c.at_ms) + " for " +
           std::to_string(c.down_ms) + (c.clean ? " clean]" : "]");
    }
  };
  s += "\n  crashes:";
  crashes(crash_plan);
  s += "\n  fsync " + std::string(FsyncName(fsync)) + ", fragile node: ";
  if (fragile < 0) {
    s += "none";
  } else {
    s += std::to_string(fragile + 1) + "; power losses:";
    crashes(power_plan);
    s += "; disk loss: ";
    if (disk_loss.on) {
      s += "at " + std::to_string(disk_loss.at_ms) + " for " + std::to_string(disk_loss.down_ms);
    } else {
      s += "none";
    }
    s += "; FLUSHALL:";
    for (int64_t t : flushall_plan) s += " at " + std::to_string(t);
  }
  s += "\n  compactions:";
  for (const Compaction& c : compaction_plan) {
    s += " [node " + std::to_string(c.node + 1) + " at " + std::to_string(c.at_ms) + "]";
  }
  s += " tombstone-grace=" + std::to_string(tombstone_grace_ms) + "ms";
  s += "\n  hints-max-bytes=" + std::to_string(hints_max_bytes) +
       " replay-rate=" + std::to_string(replay_rate_per_s) + "/s cache-max-bytes=" +
       std::to_string(cache_max_bytes) + (cache_random ? " (random)" : " (lru)") +
       " warm/tick=" + std::to_string(cache_warm_per_tick) + " dropped writes: ";
  if (drop_node < 0) {
    s += "none";
  } else {
    s += "node " + std::to_string(drop_node + 1) + " " + std::to_string(drop_permille) + "/1000";
  }
  return s;
}

}  // namespace dynis::sim
