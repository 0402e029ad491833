// Strict text-to-number parsing shared by the protocol parser, the config file and commands.
#pragma once

#include <cstdint>
#include <string_view>

namespace dynis {

// Redis's string2ll: an optional '-', then digits without leading zeros ("0" alone is fine,
// "-0" is not), no blanks or '+', and the value fits in int64.
bool ParseInt64(std::string_view s, int64_t* out);

}  // namespace dynis
