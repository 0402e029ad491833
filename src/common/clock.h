// Wall time helpers and the node's hybrid logical clock (HLC).
//
// HLC timestamps are (unix_ms << 16) | logical: they follow wall time but never go backwards
// and never repeat on one node, so last-write-wins among siblings is deterministic. Safe to call
// from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

namespace dynis {

int64_t NowMs();   // unix time in milliseconds
int64_t NowUs();   // unix time in microseconds
int64_t MonoMs();  // monotonic milliseconds, for timeouts

// The wall time comes from NowMs() unless another source is given: the simulator runs each
// node's clock (and so expiry and LWW order) over its own skewed virtual time.
class HybridClock {
 public:
  HybridClock() : wall_(NowMs) {}
  explicit HybridClock(std::function<int64_t()> wall) : wall_(std::move(wall)) {}

  // This node's wall time in unix ms: what expiry and TTLs are measured against.
  int64_t WallMs() const { return wall_(); }
  // A new timestamp greater than every one this clock returned or observed.
  uint64_t Now();
  // Moves the clock past a timestamp seen from elsewhere (a stored version, a peer).
  void Observe(uint64_t ts);
  static int64_t PhysicalMs(uint64_t ts) { return static_cast<int64_t>(ts >> 16); }

 private:
  std::function<int64_t()> wall_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace dynis
