// PeerLink's traffic (see peer_link.h for the contract, peer_link.cc for the connection's life):
// Send and its queues, batched writes, parsing replies and matching them to their callbacks,
// the request timeout, and delivering failures from the loop.
//
// Writes: Send() appends the encoded request to `out` and starts the prepare handle; the
// prepare callback (just before the loop blocks for I/O) hands everything accumulated in that
// loop iteration to one uv_write. While a write is in flight, new requests accumulate in `out`
// and go out together once it completes. So N Sends between two polls cost one write syscall.
#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "transport/peer_link.h"
#include "transport/peer_link_internal.h"

namespace dynis::transport {
namespace {

// A single uv_buf_t length is an unsigned int; huge writes go out as several buffers.
constexpr size_t kMaxBufLen = 1 << 30;

}  // namespace

using peer_link_internal::AppendRequest;
using peer_link_internal::ReleaseIfBig;

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

}  // namespace dynis::transport
