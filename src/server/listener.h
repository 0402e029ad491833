// Listening sockets. Every worker opens its own SO_REUSEPORT socket on the same port, so the
// kernel spreads new connections over the loops; Worker::ListenOn and the accept callback
// live in listener.cc.
#pragma once

#include <string>

namespace dynis::server {

// A listening socket with SO_REUSEPORT (every worker accepts on the same port); -1 and *err.
int OpenListener(const std::string& addr, int port, int backlog, bool exclusive_probe,
                 std::string* err);

}  // namespace dynis::server
