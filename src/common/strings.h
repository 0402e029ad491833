// Strict parsing of numbers and addresses shared by the protocol parser, the config file,
// commands and the cluster.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynis {

// Redis's string2ll: an optional '-', then digits without leading zeros ("0" alone is fine,
// "-0" is not), no blanks or '+', and the value fits in int64.
bool ParseInt64(std::string_view s, int64_t* out);
// A decimal without sign or leading zeros, 0 to 2^64-1.
bool ParseUint64(std::string_view s, uint64_t* out);

// Splits "host:port" (a cluster seed): the host is a name or IPv4 address (letters, digits,
// '.', '-', '_') or an IPv6 address in brackets ("[::1]:17001", "[fe80::1%eth0]:17001"),
// never empty; the port is ParseInt64's syntax, 1 to 65535. *host gets the address without
// its brackets. InvalidArgument with the reason (a sentence fragment such as "the ':port' is
// missing") on anything else; *host and *port are then untouched.
Status ParseHostPort(std::string_view text, std::string* host, int* port);

}  // namespace dynis
