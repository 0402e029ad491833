#include "common/clock.h"

#include <chrono>

namespace dynis {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t NowUs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t MonoMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

uint64_t HybridClock::Now() {
  uint64_t phys = static_cast<uint64_t>(wall_()) << 16;
  uint64_t last = last_.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = phys > last ? phys : last + 1;
    if (last_.compare_exchange_weak(last, next, std::memory_order_relaxed)) return next;
  }
}

void HybridClock::Observe(uint64_t ts) {
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (ts > last && !last_.compare_exchange_weak(last, ts, std::memory_order_relaxed)) {
  }
}

}  // namespace dynis
