// The one translation unit that instantiates Catch2's runner for the integration tests.
// Run with DYNIS_SERVER=/path/to/dynis-server (fallback build/release/dynis-server).
//
// GCC 12 at -O1 with the sanitizers reports a false -Wmaybe-uninitialized inside libstdc++'s
// <regex> (used by Catch2's runner); -Werror would turn it into a build failure.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
