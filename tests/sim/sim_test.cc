// The seeded fault simulations of the replication engine (see sim.h), and the tests that keep
// the simulator honest: exact replay, negative controls the checker must catch (LWW merges,
// acknowledging before W, a reborn node reusing its epoch), and planted faults it must flag.
//
// Environment:
//   DYNIS_SIM_SEEDS=n        seeds per run (default 400)
//   DYNIS_SIM_FIRST_SEED=s   first seed (default 1)
//   DYNIS_SIM_SEED=s         run exactly this seed and print its parameters and statistics
//   DYNIS_SIM_LWW=1          ... in the negative-control (LWW) mode
//   DYNIS_SIM_EARLY_ACK=1    ... acknowledging SETCTX once the coordinator stored it (broken)
//   DYNIS_SIM_REUSE_EPOCH=1  ... the node that lost its disk keeping its epoch (broken)
//   DYNIS_SIM_TRACE=1        ... and print every event of it
#include "sim.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace dynis::sim {
namespace {

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

bool EnvFlag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t Acked(const Result& r) {
  size_t n = 0;
  for (const auto& kv : r.model) n += kv.second.acked.size();
  return n;
}

TEST_CASE("seeded fault runs keep every acknowledged write", "[sim][seeds]") {
  if (std::getenv("DYNIS_SIM_SEED") != nullptr) {
    // Replay one seed, loudly.
    const uint64_t seed = EnvU64("DYNIS_SIM_SEED", 1);
    const bool trace = EnvFlag("DYNIS_SIM_TRACE");
    Params p = Params::Draw(seed, EnvFlag("DYNIS_SIM_LWW"));
    p.early_ack = EnvFlag("DYNIS_SIM_EARLY_ACK");
    p.reuse_epoch = EnvFlag("DYNIS_SIM_REUSE_EPOCH");
    const Result r = Run(p, trace);
    std::printf("%s\n  %s\n  trace hash %016llx, %zu acknowledged writes\n",
                r.params.ToString().c_str(), r.stats.ToString().c_str(),
                static_cast<unsigned long long>(r.trace_hash), Acked(r));
    if (trace) {
      for (const std::string& line : r.trace_tail) std::printf("    %s\n", line.c_str());
    }
    // The final siblings of each key: which write each one is.
    for (const auto& [key, fk] : r.final_keys) {
      const KeyModel& km = r.model.at(key);
      std::printf("  %s: %zu written, %zu acknowledged, %zu siblings\n", key.c_str(),
                  km.written.size(), km.acked.size(), fk.siblings.size());
      for (const FinalKey::Sib& s : fk.siblings) {
        for (const StoredWrite& w : km.stored) {
          if (w.actor != s.actor || w.counter != s.counter) continue;
          std::printf("    dot %s:%llu element %llu by client %d at t=%lld (%s)\n",
                      s.actor.ToString().c_str(), static_cast<unsigned long long>(s.counter),
                      static_cast<unsigned long long>(w.element), w.client,
                      static_cast<long long>(w.at_ms),
                      km.acked.count(w.element) ? "acked" : "not acked");
        }
      }
      for (const StoredWrite& w : km.stored) {
        if (!w.lost_with_disk) continue;
        std::printf("    lost with the disk: dot %s:%llu element %llu by client %d at t=%lld\n",
                    w.actor.ToString().c_str(), static_cast<unsigned long long>(w.counter),
                    static_cast<unsigned long long>(w.element), w.client,
                    static_cast<long long>(w.at_ms));
      }
    }
    if (!r.ok()) std::fputs(r.Report().c_str(), stdout);
    CHECK(r.ok());
    return;
  }
  const uint64_t first = EnvU64("DYNIS_SIM_FIRST_SEED", 1);
  const uint64_t count = EnvU64("DYNIS_SIM_SEEDS", 400);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint64_t> failed;
  size_t acked = 0, crashes = 0, disk_losses = 0, lost_with_disk = 0;
  uint64_t messages = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const Result r = Run(Params::Draw(seed, /*lww=*/false));
    acked += Acked(r);
    crashes += r.stats.crashes;
    disk_losses += r.stats.disk_losses;
    lost_with_disk += r.stats.lost_with_disk;
    messages += r.stats.messages;
    if (!r.ok()) {
      failed.push_back(seed);
      std::fputs(r.Report().c_str(), stdout);
    }
  }
  std::printf(
      "sim: seeds %llu..%llu: %zu failed, %zu acknowledged writes, %llu messages, "
      "%zu crashes, %zu disk losses (%zu unacknowledged writes lost with them), %.1fs\n",
      static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1),
      failed.size(), acked, static_cast<unsigned long long>(messages), crashes, disk_losses,
      lost_with_disk, SecondsSince(t0));
  std::string failed_list;
  for (uint64_t s : failed) failed_list += " " + std::to_string(s);
  INFO("failing seeds:" << failed_list);
  CHECK(failed.empty());
}

TEST_CASE("a seed replays exactly", "[sim]") {
  uint64_t seed = EnvU64("DYNIS_SIM_FIRST_SEED", 1) + 6;
  SECTION("a seed") {}
  SECTION("a seed that loses a disk") {
    while (!Params::Draw(seed, false).disk_loss.on) ++seed;
  }
  const Result a = Run(Params::Draw(seed, false));
  const Result b = Run(Params::Draw(seed, false));
  CHECK(a.trace_hash == b.trace_hash);
  CHECK(a.stats.ToString() == b.stats.ToString());
  CHECK(a.params.ToString() == b.params.ToString());
  CHECK(a.trace_tail == b.trace_tail);
  REQUIRE(a.final_keys.size() == b.final_keys.size());
  for (const auto& [key, fk] : a.final_keys) {
    const FinalKey& other = b.final_keys.at(key);
    REQUIRE(fk.siblings.size() == other.siblings.size());
    for (size_t i = 0; i < fk.siblings.size(); ++i) {
      CHECK(fk.siblings[i].value == other.siblings[i].value);
      CHECK(fk.siblings[i].counter == other.siblings[i].counter);
    }
  }
  // ... and the fingerprint does distinguish runs.
  CHECK(Run(Params::Draw(seed + 1, false)).trace_hash != a.trace_hash);
}

TEST_CASE("the LWW negative control is caught losing acknowledged writes", "[sim]") {
  const auto t0 = std::chrono::steady_clock::now();
  constexpr uint64_t kSeeds = 50;
  int lww_lost = 0, normal_bad = 0;
  uint64_t example = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    const Result lww = Run(Params::Draw(seed, /*lww=*/true));
    if (HasKind(lww.violations, Violation::Kind::kLostAck)) {
      ++lww_lost;
      if (example == 0) example = seed;
    }
    const Result normal = Run(Params::Draw(seed, /*lww=*/false));
    if (!normal.ok()) {
      ++normal_bad;
      std::fputs(normal.Report().c_str(), stdout);
    }
  }
  std::printf(
      "negative control: LWW lost acknowledged writes on %d of %llu seeds (first: seed "
      "%llu); DVV on %d; %.1fs\n",
      lww_lost, static_cast<unsigned long long>(kSeeds), static_cast<unsigned long long>(example),
      normal_bad, SecondsSince(t0));
  CHECK(lww_lost >= 1);
  CHECK(normal_bad == 0);
}

TEST_CASE("acknowledging before W is caught once a disk can be lost", "[sim]") {
  // With durable storage this bug is invisible: the coordinator's own store keeps every write it
  // acknowledged, and the repair rounds spread it. Losing that store exposes the missing copies.
  const auto t0 = std::chrono::steady_clock::now();
  const int seeds = static_cast<int>(EnvU64("DYNIS_SIM_EARLY_ACK_SEEDS", 30));
  int runs = 0, early_lost = 0, normal_bad = 0;
  uint64_t example = 0, last = 0;
  for (uint64_t seed = 1; runs < seeds; ++seed) {
    Params p = Params::Draw(seed, /*lww=*/false);
    if (!p.disk_loss.on) continue;
    ++runs;
    last = seed;
    const Result normal = Run(p);
    if (!normal.ok()) {
      ++normal_bad;
      std::fputs(normal.Report().c_str(), stdout);
    }
    p.early_ack = true;
    const Result early = Run(p);
    if (HasKind(early.violations, Violation::Kind::kLostAck)) {
      ++early_lost;
      if (example == 0) {
        example = seed;
        for (const Violation& v : early.violations) {
          if (v.kind == Violation::Kind::kLostAck) std::printf("  e.g. %s\n", v.ToString().c_str());
        }
      }
    }
  }
  std::printf(
      "negative control: acking before W lost acknowledged writes on %d of %d disk-loss seeds "
      "(1..%llu; first: seed %llu); the engine on %d; %.1fs\n",
      early_lost, runs, static_cast<unsigned long long>(last),
      static_cast<unsigned long long>(example), normal_bad, SecondsSince(t0));
  CHECK(early_lost >= 1);
  CHECK(normal_bad == 0);
}

TEST_CASE("a reborn node reusing its old epoch is caught", "[sim]") {
  // riak's kv679: the node that lost its data mints dots other replicas have already seen (and
  // maybe superseded), so its new writes are taken for old ones and dropped on merge.
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kSeeds = 60;
  int runs = 0, caught = 0;
  uint64_t example = 0;
  for (uint64_t seed = 1; runs < kSeeds; ++seed) {
    Params p = Params::Draw(seed, /*lww=*/false);
    if (!p.disk_loss.on) continue;
    ++runs;
    p.reuse_epoch = true;
    const Result r = Run(p);
    if (!r.ok()) {
      ++caught;
      if (example == 0) {
        example = seed;
        std::printf("  e.g. %s\n", r.violations[0].ToString().c_str());
      }
    }
  }
  std::printf(
      "negative control: reusing the epoch caught on %d of %d disk-loss seeds (first: seed %llu); "
      "%.1fs\n",
      caught, runs, static_cast<unsigned long long>(example), SecondsSince(t0));
  CHECK(caught >= 1);
}

// ---- the checker on planted faults ------------------------------------------------------------

std::string WithoutElement(const std::string& value, uint64_t e) {
  std::string out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    const std::string part = value.substr(start, comma - start);
    if (!part.empty() && part != std::to_string(e)) {
      if (!out.empty()) out.push_back(',');
      out += part;
    }
    start = comma + 1;
  }
  return out;
}

// A clean run with acknowledged writes to plant faults in.
Result CleanRunWithAcks(std::string* key, uint64_t* element) {
  for (uint64_t seed = 1;; ++seed) {
    Result r = Run(Params::Draw(seed, false));
    REQUIRE(r.ok());
    for (const auto& [k, km] : r.model) {
      if (!km.acked.empty() && !r.final_keys.at(k).siblings.empty()) {
        *key = k;
        *element = *km.acked.rbegin();
        return r;
      }
    }
  }
}

TEST_CASE("the checker flags a planted loss, phantom, extra sibling and divergence", "[sim]") {
  std::string key;
  uint64_t element = 0;
  const Result r = CleanRunWithAcks(&key, &element);
  REQUIRE(Check(r.model, r.final_keys, true).empty());

  SECTION("an acknowledged element dropped from the final value") {
    auto final_keys = r.final_keys;
    for (FinalKey::Sib& s : final_keys[key].siblings) s.value = WithoutElement(s.value, element);
    const auto v = Check(r.model, final_keys, true);
    CHECK(HasKind(v, Violation::Kind::kLostAck));
  }
  SECTION("an element nobody wrote") {
    auto final_keys = r.final_keys;
    final_keys[key].siblings[0].value += ",999999999";
    const auto v = Check(r.model, final_keys, true);
    CHECK(HasKind(v, Violation::Kind::kPhantom));
    CHECK_FALSE(HasKind(v, Violation::Kind::kLostAck));
  }
  SECTION("a sibling no coordinator stored") {
    auto final_keys = r.final_keys;
    FinalKey::Sib extra = final_keys[key].siblings[0];
    extra.counter += 1000;
    final_keys[key].siblings.push_back(extra);
    CHECK(HasKind(Check(r.model, final_keys, true), Violation::Kind::kPhantom));
  }
  SECTION("a superseded write surviving as a sibling") {
    const KeyModel& km = r.model.at(key);
    const StoredWrite* old = nullptr;
    for (const StoredWrite& w : km.stored) {
      bool alive = false;
      for (const FinalKey::Sib& s : r.final_keys.at(key).siblings) {
        alive = alive || (s.actor == w.actor && s.counter == w.counter);
      }
      if (!alive) old = &w;
    }
    if (old != nullptr) {  // some write was superseded (any run with two writes to the key)
      auto final_keys = r.final_keys;
      final_keys[key].siblings.push_back(FinalKey::Sib{old->actor, old->counter, old->value});
      CHECK(HasKind(Check(r.model, final_keys, true), Violation::Kind::kSiblings));
    }
  }
  SECTION("a sibling the run lost without acknowledging") {
    auto final_keys = r.final_keys;
    final_keys[key].siblings.pop_back();
    CHECK(HasKind(Check(r.model, final_keys, true), Violation::Kind::kLostWrite));
  }
  SECTION("a write only the lost disk saw may vanish and supersede nothing, unless acked") {
    // A write coordinated by a node that then lost its disk, before any other store saw it. Its
    // context covers a surviving sibling, as the client's read did.
    KeyModel km = r.model.at(key);
    const FinalKey::Sib& alive = r.final_keys.at(key).siblings[0];
    StoredWrite lost;
    lost.element = 999999999;
    lost.value = "999999999";
    lost.actor = version::Actor{99, 1};
    lost.counter = 1;
    lost.ctx = {{alive.actor, alive.counter}};
    lost.lost_with_disk = true;
    km.written.insert(lost.element);
    km.stored.push_back(lost);
    auto model = r.model;
    model[key] = km;
    CHECK(Check(model, r.final_keys, true).empty());
    // Had any other store seen it, it would have to survive, and its context would bury `alive`.
    model[key].stored.back().lost_with_disk = false;
    auto v = Check(model, r.final_keys, true);
    CHECK(HasKind(v, Violation::Kind::kLostWrite));
    CHECK(HasKind(v, Violation::Kind::kSiblings));
    // Acknowledged, it must survive a single lost disk however it was stored.
    model[key].stored.back().lost_with_disk = true;
    model[key].acked.insert(lost.element);
    CHECK(HasKind(Check(model, r.final_keys, true), Violation::Kind::kLostAck));
    // ... and it cannot both be lost with the disk and be a sibling.
    model[key].acked.erase(lost.element);
    auto final_keys = r.final_keys;
    final_keys[key].siblings.push_back(FinalKey::Sib{lost.actor, lost.counter, lost.value});
    CHECK(HasKind(Check(model, final_keys, true), Violation::Kind::kPhantom));
  }
  SECTION("replicas that disagree, repairs that never end") {
    auto final_keys = r.final_keys;
    final_keys[key].converged = false;
    CHECK(HasKind(Check(r.model, final_keys, true), Violation::Kind::kDiverged));
    CHECK(HasKind(Check(r.model, r.final_keys, false), Violation::Kind::kNotQuiet));
  }
}

TEST_CASE("the bounded draws are uniform enough and deterministic", "[sim]") {
  Rng a(42), b(42);
  for (int i = 0; i < 1000; ++i) REQUIRE(a.Next() == b.Next());
  Rng r(7);
  int counts[5] = {};
  for (int i = 0; i < 50000; ++i) ++counts[r.Below(5)];
  for (int c : counts) CHECK((c > 9500 && c < 10500));
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = r.Range(-3, 3);
    CHECK((v >= -3 && v <= 3));
  }
}

}  // namespace
}  // namespace dynis::sim
