// A connection on its worker: reading, parsing, the ordered reply slots, writing, output
// limits and closing (connection.h).
#include "server/connection.h"

#include <algorithm>

#include "common/log.h"
#include "server/server.h"

namespace dynis::server {

namespace {

// Most forwarded commands one connection may have in flight before it stops reading.
constexpr size_t kMaxInflight = 1024;

}  // namespace

Client::Client(Worker* w, uint64_t id) : ClientState(id), worker_(w) {
  proto::ParserLimits limits;
  limits.proto_max_bulk_len = w->server().config().proto_max_bulk_len();
  limits.query_buffer_limit = w->server().config().client_query_buffer_limit();
  parser_.set_limits(limits);
  created_ms = last_interaction_ms = NowMs();
}

void Worker::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Client*>(h->data);
  Worker* w = c->worker_;
  *buf = uv_buf_init(w->read_buf_, sizeof(w->read_buf_));
}

void Worker::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(s->data);
  Worker* w = c->worker_;
  if (nread < 0) {
    w->CloseClient(c);
    return;
  }
  if (nread == 0) return;
  w->server_->stats().net_input_bytes.fetch_add(nread, std::memory_order_relaxed);
  c->last_interaction_ms = NowMs();
  if (c->closing_ || c->close_after_reply) return;  // nothing after QUIT or an error runs
  c->in_.append(buf->base, nread);
  w->ProcessInput(c);
}

void Worker::ProcessInput(Client* c) {
  const Config& cfg = server_->config();
  proto::ParserLimits limits;
  limits.proto_max_bulk_len = cfg.proto_max_bulk_len();
  limits.query_buffer_limit = cfg.client_query_buffer_limit();
  c->parser_.set_limits(limits);
  size_t pos = 0;
  while (!c->closing_ && !c->close_after_reply && !c->parked_) {
    if (c->slots_.size() >= kMaxInflight) {
      c->parked_ = true;
      break;
    }
    size_t consumed = 0;
    bool auth_ok = c->authenticated;
    proto::ParseState st =
        c->parser_.Parse(c->in_.data() + pos, c->in_.size() - pos, &consumed, auth_ok);
    pos += consumed;
    if (st == proto::ParseState::kNeedMore) break;
    if (st == proto::ParseState::kCommand) {
      if (!Dispatch(c, c->parser_.argv())) break;
      continue;
    }
    if (st == proto::ParseState::kProtocolError) {
      server_->stats().protocol_errors++;
      LOG_VERBOSE("Protocol error (%s) from client: id=%llu addr=%s", c->parser_.error().c_str(),
                  static_cast<unsigned long long>(c->id()), c->addr.c_str());
      std::string err = "-ERR " + c->parser_.error() + "\r\n";
      AppendReply(c, err);
      c->close_after_reply = true;
      break;
    }
    // kQueryBufferLimit: Redis closes without a reply.
    LOG_WARNING("Closing client that reached max query buffer length: id=%llu addr=%s",
                static_cast<unsigned long long>(c->id()), c->addr.c_str());
    CloseClient(c);
    return;
  }
  c->in_.erase(0, pos);
  bool want_read = !c->parked_ && !c->closing_ && !c->close_after_reply;
  if (want_read != c->reading_ && !c->closing_) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
    if (want_read) {
      uv_read_start(stream, &Worker::OnAlloc, &Worker::OnRead);
    } else {
      uv_read_stop(stream);
    }
    c->reading_ = want_read;
  }
}

void Worker::AppendReply(Client* c, std::string_view bytes) {
  if (c->slots_.empty()) {
    c->out_.append(bytes.data(), bytes.size());
  } else {
    auto slot = std::make_shared<Slot>();
    slot->ready = true;
    slot->data.assign(bytes.data(), bytes.size());
    c->slots_.push_back(std::move(slot));
  }
  MarkDirty(c);
}

void Worker::CompleteSlots(Client* c) {
  bool any = false;
  while (!c->slots_.empty() && c->slots_.front()->ready) {
    c->out_.append(c->slots_.front()->data);
    c->slots_.pop_front();
    any = true;
  }
  if (any) MarkDirty(c);
  if (c->parked_ &&
      (c->slots_.empty() || (!c->has_parked_argv_ && c->slots_.size() < kMaxInflight))) {
    c->parked_ = false;
    if (c->has_parked_argv_) {
      c->has_parked_argv_ = false;
      std::vector<std::string> argv = std::move(c->parked_argv_);
      if (!Dispatch(c, argv) && c->parked_) return;
    }
    ProcessInput(c);
  }
}

void Worker::MarkDirty(Client* c) {
  if (!c->dirty_) {
    c->dirty_ = true;
    dirty_.push_back(c);
  }
}

bool Worker::OverHardOutputLimit(Client* c) {
  int64_t hard = server_->config().output_limit_normal_hard();
  if (hard <= 0 || static_cast<int64_t>(c->output_bytes()) <= hard) return false;
  LOG_WARNING("Client id=%llu addr=%s closed for overcoming of output buffer limits.",
              static_cast<unsigned long long>(c->id()), c->addr.c_str());
  server_->stats().output_limit_disconnections++;
  CloseClient(c);
  return true;
}

void Worker::FlushClient(Client* c) {
  if (c->closing_) return;
  // Checked before anything else: a client that does not read keeps a write in flight while
  // its replies pile up behind it.
  if (OverHardOutputLimit(c)) return;
  if (!c->writing_.empty() || c->out_.empty()) {
    if (c->out_.empty() && c->writing_.empty() && c->close_after_reply && c->slots_.empty()) {
      CloseClient(c);
    }
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
  uv_buf_t buf = uv_buf_init(c->out_.data(), static_cast<unsigned>(c->out_.size()));
  int n = uv_try_write(stream, &buf, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    CloseClient(c);
    return;
  }
  server_->stats().net_output_bytes.fetch_add(n, std::memory_order_relaxed);
  if (static_cast<size_t>(n) == c->out_.size()) {
    c->out_.clear();
    if (c->close_after_reply && c->slots_.empty()) CloseClient(c);
    return;
  }
  c->writing_.assign(c->out_, n, std::string::npos);
  c->out_.clear();
  c->write_req_.data = c;
  uv_buf_t wbuf = uv_buf_init(c->writing_.data(), static_cast<unsigned>(c->writing_.size()));
  uv_write(&c->write_req_, stream, &wbuf, 1, &Worker::OnWrite);
}

void Worker::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<Client*>(req->data);
  Worker* w = c->worker_;
  if (status == UV_ECANCELED) return;  // closing: OnClose frees the client
  w->server_->stats().net_output_bytes.fetch_add(c->writing_.size(), std::memory_order_relaxed);
  c->writing_.clear();
  if (status < 0) {
    w->CloseClient(c);
    return;
  }
  // Reply bytes are written only by the flush that follows the turn's commit (OnPrepare):
  // out_ may hold the reply of a write read in this same poll, whose batch is not committed
  // yet. That flush also closes after the last reply and applies the output limits.
  if (!c->out_.empty() || c->close_after_reply) w->MarkDirty(c);
}

void Worker::CloseClient(Client* c) {
  if (c->closing_) return;
  c->closing_ = true;
  clients_.erase(c->id());
  server_->connected_clients()--;
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  if (c->wrote_this_turn_) {
    wrote_.erase(std::remove(wrote_.begin(), wrote_.end(), c), wrote_.end());
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), &Worker::OnClose);
}

void Worker::OnClose(uv_handle_t* h) { delete static_cast<Client*>(h->data); }

void Worker::CheckOutputLimits(Client* c, int64_t now_ms) {
  if (OverHardOutputLimit(c)) return;
  const Config& cfg = server_->config();
  int64_t soft = cfg.output_limit_normal_soft();
  int64_t secs = cfg.output_limit_normal_soft_seconds();
  if (soft <= 0 || static_cast<int64_t>(c->output_bytes()) <= soft) {
    c->soft_limit_since_ms_ = 0;
    return;
  }
  if (c->soft_limit_since_ms_ == 0) {
    c->soft_limit_since_ms_ = now_ms;
  } else if (now_ms - c->soft_limit_since_ms_ >= secs * 1000) {
    LOG_WARNING("Client id=%llu addr=%s closed for overcoming of output buffer limits.",
                static_cast<unsigned long long>(c->id()), c->addr.c_str());
    server_->stats().output_limit_disconnections++;
    CloseClient(c);
  }
}

}  // namespace dynis::server
