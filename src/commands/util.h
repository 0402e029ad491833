// Small helpers shared by command handlers: Redis's strict number parsing and argument checks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"  // ParseInt64

namespace dynis {

inline constexpr char kRedisVersion[] = "7.0.15";
inline constexpr char kDynisVersion[] = "0.1.0";

// Redis string2ld: a finite or infinite long double, no spaces, not NaN.
bool ParseLongDouble(std::string_view s, long double* out);
bool ParseDouble(std::string_view s, double* out);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Names set by CLIENT SETNAME / SETINFO: printable ASCII without spaces.
bool ValidClientName(std::string_view s);

}  // namespace dynis
