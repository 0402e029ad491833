#include "common/hash.h"

#include <xxhash.h>

namespace dynis {

uint64_t KeyHash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace dynis
