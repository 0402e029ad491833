// PeerLink: one outgoing connection from one event loop to another node's cluster port.
// Authenticates (peer_auth.h), then pipelines requests: each request is a RESP array of bulk
// strings, replies come back in order and are matched to their callbacks first in, first out.
//
// States: connecting -> authenticating -> ready; any failure (refused connect, bad proof,
// protocol error, peer closed, or the oldest request unanswered for request_timeout_ms: a
// paused or wedged peer) fails every pending request, closes the socket and enters backoff
// (doubling from backoff_min_ms to backoff_max_ms), after which it reconnects on its own.
// Requests sent while connecting/authenticating wait (up to max_queued); requests sent in
// backoff fail at once. Callbacks never run inside Send(): failures are delivered from the
// loop (a zero timer), so callers may send from within callbacks and effects handlers.
//
// Thread rule: a PeerLink is used only by its loop's thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/reply_parser.h"

namespace dynis::transport {

struct PeerLinkOptions {
  std::string host;  // numeric IPv4/IPv6 or a name resolved with getaddrinfo at connect
  int port = 0;
  std::string secret;
  std::string cluster;  // cluster name, checked by the server
  int64_t connect_timeout_ms = 1000;
  int64_t request_timeout_ms = 3000;
  int64_t backoff_min_ms = 100;
  int64_t backoff_max_ms = 2000;
  size_t max_queued = 1 << 20;  // requests waiting while connecting
};

class PeerLink {
 public:
  enum class State { kConnecting, kAuthenticating, kReady, kBackoff, kClosed };
  // reply: the parsed reply (errors included, as Reply::Type::kError), raw: its bytes.
  // reply == nullptr: the request failed (not delivered, or no answer: connection lost).
  using Callback = std::function<void(const proto::Reply* reply, std::string_view raw)>;

  // Starts connecting at once. on_state (optional) runs on every state change.
  PeerLink(uv_loop_t* loop, PeerLinkOptions opts, std::function<void(State)> on_state = {});
  // Close()s; the libuv handles are freed by the loop afterwards (the loop must run).
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  void Send(const std::vector<std::string>& argv, Callback cb);
  // Fails every pending request (callbacks run from the loop) and stops for good.
  void Close();

  State state() const;
  const PeerLinkOptions& options() const;
  size_t pending() const;     // requests waiting for a reply or a connection
  uint64_t failures() const;  // connections lost or refused so far
  // How long the oldest request written and not answered yet has waited (0: none): the
  // failure detector's evidence of a paused peer, long before the link gives up on it.
  int64_t OldestRequestAgeMs() const;

 private:
  struct Impl;
  Impl* impl_;  // owned by the loop once closing: freed in the last close callback
};

}  // namespace dynis::transport
