// Key hashing: the only unit that includes xxHash. A key's ring position is the 64-bit xxh3 of
// its bytes; the ring is split into Q equal partitions (Dynamo strategy 3).
#pragma once

#include <cstdint>
#include <string_view>

namespace dynis {

uint64_t KeyHash(std::string_view key);
// xxh3-64 of data under a seed: a second, independent hash (anti-entropy's item hashes, seeded
// by the key's own hash).
uint64_t SeededHash(std::string_view data, uint64_t seed);

// Partition of a ring position among q equal ranges: floor(hash * q / 2^64).
inline uint32_t PartitionOf(uint64_t hash, uint32_t q) {
  return static_cast<uint32_t>((static_cast<unsigned __int128>(hash) * q) >> 64);
}

inline uint32_t KeyPartition(std::string_view key, uint32_t q) {
  return PartitionOf(KeyHash(key), q);
}

}  // namespace dynis
