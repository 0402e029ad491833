// PeerLink's internals shared by its two files, private to src/transport: PeerLink::Impl (its
// uv handles, the current connection, the request queues) and the request encoding.
// peer_link.cc owns the connection's life: connect, handshake, failure and backoff, close.
// peer_link_io.cc owns the traffic: Send, writes, reading replies and matching them to their
// callbacks, the request timeout, and delivering failures from the loop.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "proto/reply_parser.h"
#include "transport/peer_link.h"

namespace dynis::transport {
namespace peer_link_internal {

constexpr size_t kReadBufSize = 64 * 1024;
// Buffers that grew past this for one big request or reply are released instead of reused.
constexpr size_t kMaxRetainedBuffer = 1 << 20;

inline void AppendRequest(std::string* out, const std::vector<std::string>& argv) {
  out->push_back('*');
  out->append(std::to_string(argv.size()));
  out->append("\r\n");
  for (const std::string& a : argv) {
    out->push_back('$');
    out->append(std::to_string(a.size()));
    out->append("\r\n");
    out->append(a);
    out->append("\r\n");
  }
}

inline void ReleaseIfBig(std::string* s) {
  if (s->empty() && s->capacity() > kMaxRetainedBuffer) std::string().swap(*s);
}

}  // namespace peer_link_internal

struct PeerLink::Impl {
  // One TCP connection attempt. Heap-allocated because a closing uv_tcp_t cannot be reused
  // before its close callback, while the next attempt may start earlier.
  struct Conn {
    Impl* impl;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    std::string writing;  // bytes owned by the write in flight
    bool write_active = false;
    bool closing = false;  // torn down: late connect/write callbacks are ignored
  };
  struct Resolve {
    Impl* impl;
    uv_getaddrinfo_t req;
  };
  struct Inflight {
    Callback cb;
    uint64_t sent_ms;
  };
  enum class Handshake { kHello, kAuth };

  Impl(uv_loop_t* l, PeerLinkOptions o, std::function<void(State)> s);

  void SetState(State s);
  void StartConnect();
  void ConnectNext();
  void Connected();
  void Input(Conn* c, const char* p, size_t n);
  bool HandshakeReply(const proto::Reply& r);
  void Ready();
  void Fail(std::string why);
  void DeferFail(std::string why);
  void TearDown();
  void DropConn();
  void FailAllPending();
  void ScheduleFlush() { uv_prepare_start(&flush, &Impl::OnFlush); }
  void ScheduleDeliver();
  void Write();
  void Close();
  void MaybeFinish();
  void Unref();

  static void OnStateTimer(uv_timer_t* t);
  static void OnTick(uv_timer_t* t);
  static void OnDeliver(uv_timer_t* t);
  static void OnFlush(uv_prepare_t* p);
  static void OnResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnConnClosed(uv_handle_t* h);
  static void OnHandleClosed(uv_handle_t* h);

  uv_loop_t* loop;
  PeerLinkOptions opts;
  std::function<void(State)> on_state;
  std::string name;  // host:port, for logs
  State state = State::kConnecting;
  bool closed = false;      // Close() ran: no more connections, Sends fail
  bool owner_gone = false;  // ~PeerLink ran: free once every handle is closed
  int refs = 0;             // open handles (own and Conns) + resolves in flight
  uint64_t failures = 0;
  int64_t backoff_next;
  std::string deferred_error;  // a failure found synchronously, delivered by state_timer
  std::string last_logged;     // last failure reason logged; cleared by a successful handshake

  uv_timer_t state_timer;  // connect+handshake deadline, end of backoff, deferred failure
  uv_timer_t tick;         // repeating while ready: the oldest request's age
  uv_timer_t deliver;      // zero timer draining `failed`
  uv_prepare_t flush;      // writes `out` once per loop iteration
  bool deliver_closing = false;

  Conn* conn = nullptr;          // the current connection, if any
  Resolve* resolving = nullptr;  // the current name resolution, if any
  std::vector<sockaddr_storage> addrs;
  size_t addr_index = 0;
  std::string connect_error;
  Handshake hs = Handshake::kHello;
  std::string link_nonce;

  std::string out;         // bytes for the socket not yet handed to uv_write
  std::string queued_out;  // requests sent before ready, in order
  std::deque<Callback> waiting;
  std::deque<Inflight> inflight;
  std::deque<Callback> failed;  // to be called with nullptr from the loop
  std::string in;               // unparsed reply bytes
  proto::ReplyParser parser;
  char read_buf[peer_link_internal::kReadBufSize];
};

}  // namespace dynis::transport
