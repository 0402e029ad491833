// PeerLink on libuv, the connection's life: connect (resolving names), the DYNIS.HELLO/AUTH
// handshake, failure and backoff, close and freeing; see peer_link.h for the contract. The
// traffic (Send, writes, replies, request timeout, failure delivery) is in peer_link_io.cc.
//
// Ownership: the PeerLink object only points at its Impl. The Impl owns four uv handles (state
// timer, request-timeout tick, failure-delivery timer, flush prepare) plus one heap Conn per
// TCP connection attempt, and counts them in refs. ~PeerLink closes everything and marks the
// Impl ownerless; the last close callback frees it. Failure callbacks queued before that still
// run: the delivery timer is closed only once the queue is empty.
//
// Reentrancy: user code (reply callbacks, on_state) may Send, Close or destroy the PeerLink.
// Every place that calls out re-checks afterwards whether the connection it was serving is
// still current (`conn`), and the Impl is never freed inside such a call (only in a close
// callback, which libuv never runs nested).
#include "transport/peer_link.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <utility>

#include "common/log.h"
#include "transport/peer_auth.h"
#include "transport/peer_link_internal.h"

namespace dynis::transport {
namespace {

constexpr size_t kMaxServerNonce = 256;

}  // namespace

using peer_link_internal::AppendRequest;
using peer_link_internal::ReleaseIfBig;

PeerLink::Impl::Impl(uv_loop_t* l, PeerLinkOptions o, std::function<void(State)> s)
    : loop(l), opts(std::move(o)), on_state(std::move(s)) {
  opts.backoff_min_ms = std::max<int64_t>(opts.backoff_min_ms, 1);
  opts.backoff_max_ms = std::max(opts.backoff_max_ms, opts.backoff_min_ms);
  backoff_next = opts.backoff_min_ms;
  const bool v6 = opts.host.find(':') != std::string::npos && opts.host[0] != '[';
  name = (v6 ? "[" + opts.host + "]" : opts.host) + ":" + std::to_string(opts.port);
  uv_timer_init(loop, &state_timer);
  uv_timer_init(loop, &tick);
  uv_timer_init(loop, &deliver);
  uv_prepare_init(loop, &flush);
  state_timer.data = tick.data = deliver.data = flush.data = this;
  refs = 4;
}

// on_state is copied before the call: the callback may destroy the PeerLink, which resets it.
void PeerLink::Impl::SetState(State s) {
  if (state == s) return;
  state = s;
  if (on_state) {
    std::function<void(State)> cb = on_state;
    cb(s);
  }
}

void PeerLink::Impl::StartConnect() {
  SetState(State::kConnecting);
  if (closed || state != State::kConnecting) return;  // on_state closed the link
  in.clear();
  parser = proto::ReplyParser();
  hs = Handshake::kHello;
  addrs.clear();
  addr_index = 0;
  connect_error.clear();
  const int64_t timeout = std::max<int64_t>(opts.connect_timeout_ms, 1);
  uv_timer_start(&state_timer, &Impl::OnStateTimer, static_cast<uint64_t>(timeout), 0);

  if (opts.port <= 0 || opts.port > 65535) {
    DeferFail("invalid port");
    return;
  }
  std::string host = opts.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(host.c_str(), opts.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(host.c_str(), opts.port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    addrs.push_back(ss);
    ConnectNext();
    return;
  }
  auto* r = new Resolve{this, {}};
  r->req.data = r;
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(opts.port);
  int rc = uv_getaddrinfo(loop, &r->req, &Impl::OnResolved, host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete r;
    DeferFail(std::string("cannot resolve host: ") + uv_strerror(rc));
    return;
  }
  refs++;
  resolving = r;
}

void PeerLink::Impl::OnResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  auto* r = static_cast<Resolve*>(req->data);
  Impl* m = r->impl;
  const bool current = m->resolving == r;
  delete r;
  if (current) {
    m->resolving = nullptr;
    if (status < 0) {
      m->Fail(std::string("cannot resolve host: ") + uv_strerror(status));
    } else {
      for (struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        sockaddr_storage ss;
        std::memset(&ss, 0, sizeof(ss));
        std::memcpy(&ss, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof(ss)));
        m->addrs.push_back(ss);
      }
      m->ConnectNext();
    }
  }
  if (res != nullptr) uv_freeaddrinfo(res);
  m->Unref();
}

// Tries the resolved addresses in order until one connect starts; an asynchronous failure
// moves on to the next address (OnConnect), the last one fails the attempt.
void PeerLink::Impl::ConnectNext() {
  while (addr_index < addrs.size()) {
    auto* c = new Conn;
    c->impl = this;
    uv_tcp_init(loop, &c->tcp);
    refs++;
    c->tcp.data = c;
    c->connect_req.data = c;
    c->write_req.data = c;
    conn = c;
    const auto* sa = reinterpret_cast<const sockaddr*>(&addrs[addr_index]);
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, sa, &Impl::OnConnect);
    if (rc == 0) return;
    connect_error = uv_strerror(rc);
    DropConn();
    addr_index++;
  }
  DeferFail(addrs.empty() ? std::string("host resolved to no address")
                          : "cannot connect: " + connect_error);
}

void PeerLink::Impl::OnConnect(uv_connect_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  if (c->closing) return;
  Impl* m = c->impl;
  if (status < 0) {
    m->connect_error = uv_strerror(status);
    m->DropConn();
    m->addr_index++;
    m->ConnectNext();
    return;
  }
  m->Connected();
}

void PeerLink::Impl::Connected() {
  uv_tcp_nodelay(&conn->tcp, 1);
  // Notices a silently vanished peer on an idle link; busy links have the request timeout.
  uv_tcp_keepalive(&conn->tcp, 1, 60);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), &Impl::OnAlloc, &Impl::OnRead);
  if (rc != 0) {
    Fail(std::string("cannot read: ") + uv_strerror(rc));
    return;
  }
  link_nonce = RandomNonce();
  hs = Handshake::kHello;
  AppendRequest(&out, {"DYNIS.HELLO", opts.cluster, link_nonce});
  ScheduleFlush();
  SetState(State::kAuthenticating);
}

// Returns whether the connection survived.
bool PeerLink::Impl::HandshakeReply(const proto::Reply& r) {
  using Type = proto::Reply::Type;
  if (r.type == Type::kError) {
    Fail(std::string("peer refused ") + (hs == Handshake::kHello ? "DYNIS.HELLO" : "DYNIS.AUTH") +
         ": " + r.str);
    return false;
  }
  if (hs == Handshake::kHello) {
    if (r.type != Type::kArray || r.elements.size() != 2 || r.elements[0].type != Type::kBulk ||
        r.elements[1].type != Type::kBulk || r.elements[0].str.empty() ||
        r.elements[0].str.size() > kMaxServerNonce) {
      Fail("malformed DYNIS.HELLO reply");
      return false;
    }
    const std::string& server_nonce = r.elements[0].str;
    const std::string expected =
        PeerProof(opts.secret, "server", opts.cluster, link_nonce, server_nonce);
    if (!ConstantTimeEquals(expected, r.elements[1].str)) {
      Fail("peer failed authentication (different cluster-secret?)");
      return false;
    }
    AppendRequest(&out, {"DYNIS.AUTH",
                         PeerProof(opts.secret, "link", opts.cluster, server_nonce, link_nonce)});
    ScheduleFlush();
    hs = Handshake::kAuth;
    return true;
  }
  if (r.type != Type::kStatus || r.str != "OK") {
    Fail("unexpected DYNIS.AUTH reply");
    return false;
  }
  Conn* c = conn;
  Ready();
  return conn == c;
}

void PeerLink::Impl::Ready() {
  backoff_next = opts.backoff_min_ms;
  if (!last_logged.empty()) {
    LOG_NOTICE("Peer link to %s is up again", name.c_str());
    last_logged.clear();
  } else {
    LOG_VERBOSE("Peer link to %s is up", name.c_str());
  }
  uv_timer_stop(&state_timer);
  // Requests that waited for the connection count their age from now: the connect timeout
  // bounded the wait so far.
  const uint64_t now = uv_now(loop);
  out.append(queued_out);
  queued_out.clear();
  ReleaseIfBig(&queued_out);
  for (Callback& cb : waiting) inflight.push_back(Inflight{std::move(cb), now});
  waiting.clear();
  if (!out.empty()) ScheduleFlush();
  const int64_t every = std::clamp<int64_t>(opts.request_timeout_ms / 4, 1, 100);
  uv_timer_start(&tick, &Impl::OnTick, static_cast<uint64_t>(every), static_cast<uint64_t>(every));
  SetState(State::kReady);
}

// Every failure of a connection or an attempt ends here: pending requests fail, the socket
// closes, backoff starts. Logged when the reason differs from the last one logged, so a peer
// that stays down produces one line rather than one per retry.
void PeerLink::Impl::Fail(std::string why) {
  if (closed) return;
  failures++;
  if (why != last_logged) {
    LOG_WARNING("Peer link to %s: %s", name.c_str(), why.c_str());
    last_logged = std::move(why);
  }
  TearDown();
  FailAllPending();
  const int64_t delay = backoff_next;
  backoff_next = std::min(delay * 2, opts.backoff_max_ms);
  uv_timer_start(&state_timer, &Impl::OnStateTimer, static_cast<uint64_t>(delay), 0);
  SetState(State::kBackoff);
}

// For failures found while starting an attempt: reported from the loop like the others, so
// on_state never runs inside the constructor.
void PeerLink::Impl::DeferFail(std::string why) {
  deferred_error = std::move(why);
  uv_timer_start(&state_timer, &Impl::OnStateTimer, 0, 0);
}

void PeerLink::Impl::TearDown() {
  if (resolving != nullptr) {
    // Its callback still runs (with UV_EAI_CANCELED if the cancel won) and frees it.
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolving->req));
    resolving = nullptr;
  }
  DropConn();
  uv_timer_stop(&tick);
  out.clear();
  ReleaseIfBig(&out);
  queued_out.clear();
  ReleaseIfBig(&queued_out);
}

void PeerLink::Impl::DropConn() {
  if (conn == nullptr) return;
  conn->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), &Impl::OnConnClosed);
  conn = nullptr;
}

void PeerLink::Impl::OnStateTimer(uv_timer_t* t) {
  Impl* m = static_cast<Impl*>(t->data);
  if (!m->deferred_error.empty()) {
    std::string why;
    why.swap(m->deferred_error);
    m->Fail(std::move(why));
    return;
  }
  switch (m->state) {
    case State::kConnecting:
      m->Fail(m->connect_error.empty()
                  ? "connect timed out"
                  : "connect timed out (last error: " + m->connect_error + ")");
      break;
    case State::kAuthenticating:
      m->Fail("handshake timed out");
      break;
    case State::kBackoff:
      m->StartConnect();
      break;
    case State::kReady:
    case State::kClosed:
      break;
  }
}

void PeerLink::Impl::Close() {
  if (closed) return;
  closed = true;
  TearDown();
  FailAllPending();
  deferred_error.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&state_timer), &Impl::OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), &Impl::OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush), &Impl::OnHandleClosed);
  SetState(State::kClosed);
}

// The delivery timer outlives Close() for as long as the PeerLink exists (Sends after Close
// still fail through it) and until the queued failures ran.
void PeerLink::Impl::MaybeFinish() {
  if (!owner_gone || !failed.empty() || deliver_closing) return;
  deliver_closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&deliver), &Impl::OnHandleClosed);
}

void PeerLink::Impl::Unref() {
  if (--refs == 0 && owner_gone) delete this;
}

void PeerLink::Impl::OnConnClosed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  Impl* m = c->impl;
  delete c;
  m->Unref();
}

void PeerLink::Impl::OnHandleClosed(uv_handle_t* h) { static_cast<Impl*>(h->data)->Unref(); }

PeerLink::PeerLink(uv_loop_t* loop, PeerLinkOptions opts, std::function<void(State)> on_state)
    : impl_(new Impl(loop, std::move(opts), std::move(on_state))) {
  impl_->StartConnect();
}

PeerLink::~PeerLink() {
  // The owner is going away: telling it about kClosed could reach into a half-destroyed object.
  impl_->on_state = nullptr;
  impl_->Close();
  impl_->owner_gone = true;
  impl_->MaybeFinish();
}

void PeerLink::Close() { impl_->Close(); }

PeerLink::State PeerLink::state() const { return impl_->state; }
const PeerLinkOptions& PeerLink::options() const { return impl_->opts; }
size_t PeerLink::pending() const { return impl_->waiting.size() + impl_->inflight.size(); }
uint64_t PeerLink::failures() const { return impl_->failures; }
int64_t PeerLink::OldestRequestAgeMs() const {
  if (impl_->inflight.empty()) return 0;
  return static_cast<int64_t>(uv_now(impl_->loop) - impl_->inflight.front().sent_ms);
}

}  // namespace dynis::transport
