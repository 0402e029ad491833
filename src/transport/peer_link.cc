// PeerLink on libuv; see peer_link.h for the contract.
//
// Ownership: the PeerLink object only points at its Impl. The Impl owns four uv handles (state
// timer, request-timeout tick, failure-delivery timer, flush prepare) plus one heap Conn per
// TCP connection attempt, and counts them in refs. ~PeerLink closes everything and marks the
// Impl ownerless; the last close callback frees it. Failure callbacks queued before that still
// run: the delivery timer is closed only once the queue is empty.
//
// Writes: Send() appends the encoded request to `out` and starts the prepare handle; the
// prepare callback (just before the loop blocks for I/O) hands everything accumulated in that
// loop iteration to one uv_write. While a write is in flight, new requests accumulate in `out`
// and go out together once it completes. So N Sends between two polls cost one write syscall.
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

namespace dynis::transport {
namespace {

constexpr size_t kReadBufSize = 64 * 1024;
// Buffers that grew past this for one big request or reply are released instead of reused.
constexpr size_t kMaxRetainedBuffer = 1 << 20;
// A single uv_buf_t length is an unsigned int; huge writes go out as several buffers.
constexpr size_t kMaxBufLen = 1 << 30;
constexpr size_t kMaxServerNonce = 256;

void AppendRequest(std::string* out, const std::vector<std::string>& argv) {
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

void ReleaseIfBig(std::string* s) {
  if (s->empty() && s->capacity() > kMaxRetainedBuffer) std::string().swap(*s);
}

}  // namespace

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
  char read_buf[kReadBufSize];
};

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

void PeerLink::Impl::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Impl* m = static_cast<Conn*>(h->data)->impl;
  *buf = uv_buf_init(m->read_buf, sizeof(m->read_buf));
}

void PeerLink::Impl::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (c->closing) return;
  Impl* m = c->impl;
  if (nread < 0) {
    m->Fail(nread == UV_EOF ? std::string("connection closed by peer")
                            : std::string("read error: ") + uv_strerror(static_cast<int>(nread)));
    return;
  }
  if (nread == 0) return;
  m->Input(c, buf->base, static_cast<size_t>(nread));
}

// Parses every complete reply. Bytes are parsed straight from the read buffer when nothing is
// left over from before; only an incomplete tail is copied into `in`.
void PeerLink::Impl::Input(Conn* c, const char* p, size_t n) {
  const bool direct = in.empty();
  if (!direct) in.append(p, n);
  const char* data = direct ? p : in.data();
  const size_t len = direct ? n : in.size();
  size_t pos = 0;
  while (conn == c && pos < len) {
    size_t consumed = 0;
    proto::ReplyParser::State st = parser.Parse(data + pos, len - pos, &consumed);
    if (st == proto::ReplyParser::State::kNeedMore) break;
    if (st == proto::ReplyParser::State::kError) {
      Fail("protocol error from peer: " + parser.error());
      break;
    }
    std::string_view raw(data + pos, consumed);
    pos += consumed;
    if (state == State::kAuthenticating) {
      if (!HandshakeReply(parser.reply())) break;
      continue;
    }
    if (state != State::kReady || inflight.empty()) {
      Fail("unexpected reply from peer");
      break;
    }
    Callback cb = std::move(inflight.front().cb);
    inflight.pop_front();
    // `raw` points into `in` or the read buffer, neither of which the callback can disturb:
    // a teardown inside it leaves `in` alone and no read happens until we return.
    if (cb) cb(&parser.reply(), raw);
  }
  if (conn != c) {  // torn down meanwhile; the next connection starts with a clean slate
    in.clear();
    ReleaseIfBig(&in);
    return;
  }
  if (direct) {
    in.assign(data + pos, len - pos);
  } else {
    in.erase(0, pos);
    ReleaseIfBig(&in);
  }
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

void PeerLink::Impl::FailAllPending() {
  for (Callback& cb : waiting) failed.push_back(std::move(cb));
  waiting.clear();
  for (Inflight& f : inflight) failed.push_back(std::move(f.cb));
  inflight.clear();
  ScheduleDeliver();
}

void PeerLink::Impl::ScheduleDeliver() {
  if (failed.empty() || deliver_closing) return;
  uv_timer_start(&deliver, &Impl::OnDeliver, 0, 0);
}

void PeerLink::Impl::Write() {
  if (conn == nullptr || conn->write_active || out.empty()) return;
  if (state != State::kReady && state != State::kAuthenticating) return;
  Conn* c = conn;
  c->writing.swap(out);
  // One descriptor normally; only a write over 1 GiB needs a list.
  uv_buf_t one;
  std::vector<uv_buf_t> many;
  for (size_t off = 0; off < c->writing.size(); off += kMaxBufLen) {
    const size_t n = std::min(kMaxBufLen, c->writing.size() - off);
    uv_buf_t b = uv_buf_init(c->writing.data() + off, static_cast<unsigned>(n));
    if (off == 0) {
      one = b;
    } else {
      if (many.empty()) many.push_back(one);
      many.push_back(b);
    }
  }
  uv_buf_t* list = many.empty() ? &one : many.data();
  const unsigned count = many.empty() ? 1 : static_cast<unsigned>(many.size());
  // libuv copies the buffer descriptors; the bytes stay in c->writing until OnWrite.
  int rc =
      uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), list, count, &Impl::OnWrite);
  if (rc != 0) {
    Fail(std::string("write error: ") + uv_strerror(rc));
    return;
  }
  c->write_active = true;
}

void PeerLink::Impl::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  if (c->closing) return;  // cancelled by the teardown; OnConnClosed frees the Conn
  Impl* m = c->impl;
  c->write_active = false;
  c->writing.clear();
  ReleaseIfBig(&c->writing);
  if (status < 0) {
    m->Fail(std::string("write error: ") + uv_strerror(status));
    return;
  }
  if (!m->out.empty()) m->ScheduleFlush();
}

void PeerLink::Impl::OnFlush(uv_prepare_t* p) {
  Impl* m = static_cast<Impl*>(p->data);
  uv_prepare_stop(p);
  m->Write();
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

// One repeating timer instead of one per request: replies come back in order, so only the
// oldest request's age matters.
void PeerLink::Impl::OnTick(uv_timer_t* t) {
  Impl* m = static_cast<Impl*>(t->data);
  if (m->state != State::kReady || m->inflight.empty()) return;
  const uint64_t age = uv_now(m->loop) - m->inflight.front().sent_ms;
  if (static_cast<int64_t>(age) >= m->opts.request_timeout_ms) {
    m->Fail("no reply within " + std::to_string(m->opts.request_timeout_ms) + " ms");
  }
}

// Callbacks queued after this batch started (a callback sending while in backoff) wait for the
// next iteration, so a callback that keeps re-sending cannot starve the loop.
void PeerLink::Impl::OnDeliver(uv_timer_t* t) {
  Impl* m = static_cast<Impl*>(t->data);
  std::deque<Callback> batch;
  batch.swap(m->failed);
  for (Callback& cb : batch) {
    if (cb) cb(nullptr, std::string_view());
  }
  m->MaybeFinish();
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

void PeerLink::Send(const std::vector<std::string>& argv, Callback cb) {
  Impl& m = *impl_;
  switch (m.state) {
    case State::kReady:
      AppendRequest(&m.out, argv);
      m.inflight.push_back(Impl::Inflight{std::move(cb), uv_now(m.loop)});
      m.ScheduleFlush();
      return;
    case State::kConnecting:
    case State::kAuthenticating:
      if (m.waiting.size() < m.opts.max_queued) {
        AppendRequest(&m.queued_out, argv);
        m.waiting.push_back(std::move(cb));
        return;
      }
      break;
    case State::kBackoff:
    case State::kClosed:
      break;
  }
  m.failed.push_back(std::move(cb));
  m.ScheduleDeliver();
}

void PeerLink::Close() { impl_->Close(); }

PeerLink::State PeerLink::state() const { return impl_->state; }
const PeerLinkOptions& PeerLink::options() const { return impl_->opts; }
size_t PeerLink::pending() const { return impl_->waiting.size() + impl_->inflight.size(); }
uint64_t PeerLink::failures() const { return impl_->failures; }

}  // namespace dynis::transport
