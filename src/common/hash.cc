#include "common/hash.h"

#include <xxhash.h>

namespace dynis {

uint64_t KeyHash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint64_t SeededHash(std::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace dynis
