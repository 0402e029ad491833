// The worker's loop: start and stop, the mailbox between workers, the commit of each turn's
// writes before its replies, taking part in the barrier, and the cron (worker.h).
#include "server/worker.h"

#include "common/errors.h"
#include "common/log.h"
#include "server/server.h"

namespace dynis::server {

namespace {

// Records the record cache's warm-up scans per cron tick (100 ms) on each loop: 1,000,000
// records warm in a few seconds, and no tick stalls the loop for long.
constexpr size_t kCacheWarmPerTick = 20000;

}  // namespace

Worker::Worker(Server* server, int id)
    : server_(server), id_(id), keyspace_(&server->keyspace_shared(), static_cast<uint32_t>(id)) {
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &async_, &Worker::OnAsync);
  async_.data = this;
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_timer_init(&loop_, &cron_);
  cron_.data = this;
}

Worker::~Worker() {
  uv_loop_close(&loop_);
  for (auto* l : listeners_) delete l;
  for (auto* l : peer_listeners_) delete l;
}

void Worker::Start() {
  uv_prepare_start(&prepare_, &Worker::OnPrepare);
  uv_timer_start(&cron_, &Worker::OnCron, 100, 100);
  outbox_.resize(server_->worker_count());
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() { uv_async_send(&async_); }

void Worker::Post(Message msg) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_.push_back(std::move(msg));
  }
  Wake();
}

void Worker::PostBatch(std::vector<Message>* msgs) {
  if (msgs->empty()) return;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (inbox_.empty()) {
      inbox_.swap(*msgs);
    } else {
      for (auto& m : *msgs) inbox_.push_back(std::move(m));
    }
  }
  msgs->clear();
  Wake();
}

void Worker::HandleMessages() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_work_.swap(inbox_);
  }
  for (Message& m : inbox_work_) {
    if (m.kind == Message::Kind::kExec && m.coordinate) {
      Coordinate(std::move(m));
    } else if (m.kind == Message::Kind::kExec) {
      proto::ReplyWriter w(&m.slot->parts[m.part]);
      w.set_resp(m.resp);
      ExecuteSpec(nullptr, m.spec, m.argv, &w);
      DoneAfterCommit(std::move(m));
    } else if (m.kind == Message::Kind::kDone) {
      PartDone(m.client_id, m.slot);
    }
  }
  inbox_work_.clear();
}

void Worker::DoneAfterCommit(Message m) {
  Message done;
  done.kind = Message::Kind::kDone;
  done.origin = m.origin;
  done.client_id = m.client_id;
  done.slot = std::move(m.slot);
  done.part = m.part;
  done.spec = m.spec;
  done_after_commit_.push_back(std::move(done));
}

void Worker::CommitTurn() {
  // Taken first: closing a client below removes it from wrote_.
  std::vector<Client*> wrote;
  wrote.swap(wrote_);
  for (Client* c : wrote) c->wrote_this_turn_ = false;
  // Coordinated puts count their local copy only once this batch is committed; they learn how
  // it went in ReportLocalStores (not here: completing them may run more commands).
  if (!keyspace_.HasPending()) {
    // Nothing pending: their copies were in batches already committed.
    if (coordinator_) coordinator_->OnLocalCommit(Status::OK());
    return;
  }
  // The node holds data from now on: no node met later may take partitions (cluster.h).
  if (server_->cluster() != nullptr) server_->cluster()->SealBeforeData();
  server_->stats().write_batches.fetch_add(1, std::memory_order_relaxed);
  Status s = keyspace_.Commit();
  if (coordinator_) coordinator_->OnLocalCommit(s);
  if (s.ok()) return;
  // None of this turn's writes may be acknowledged: their connections are closed unanswered
  // and forwarded writes answer with the error.
  LOG_WARNING("Write batch failed, refusing writes: %s", s.message().c_str());
  for (Client* c : wrote) {
    c->out_.clear();
    c->slots_.clear();
    CloseClient(c);
  }
  std::string err = std::string("-") + err::kIoError + " " + s.message() + "\r\n";
  for (Message& m : done_after_commit_) {
    if (m.spec->flags & kCmdWrite) m.slot->parts[m.part] = err;
  }
}

void Worker::OnAsync(uv_async_t* a) {
  auto* w = static_cast<Worker*>(a->data);
  w->ServicePause();
  if (w->server_->shutdown_.load() && !w->stopping_) {
    w->Shutdown();
    return;
  }
  w->HandleMessages();
}

void Worker::OnPrepare(uv_prepare_t* p) {
  auto* w = static_cast<Worker*>(p->data);
  w->CommitTurn();
  // Coordinated writes learn that their local copies are committed (or not). What that
  // completes may run more commands; their writes are committed too before any reply leaves.
  while (w->ReportLocalStores()) w->CommitTurn();
  // Replies to other workers' requests leave only now that their writes are stored.
  if (!w->done_after_commit_.empty()) {
    std::vector<std::vector<Message>> by_origin(w->server_->worker_count());
    for (Message& m : w->done_after_commit_) by_origin[m.origin].push_back(std::move(m));
    w->done_after_commit_.clear();
    for (int i = 0; i < w->server_->worker_count(); i++) {
      w->server_->worker(i).PostBatch(&by_origin[i]);
    }
  }
  for (int i = 0; i < static_cast<int>(w->outbox_.size()); i++) {
    if (!w->outbox_[i].empty()) w->server_->worker(i).PostBatch(&w->outbox_[i]);
  }
  std::vector<Client*> dirty;
  dirty.swap(w->dirty_);
  for (Client* c : dirty) {
    c->dirty_ = false;
    w->FlushClient(c);
  }
}

void Worker::OnCron(uv_timer_t* t) {
  auto* w = static_cast<Worker*>(t->data);
  const Config& cfg = w->server_->config();
  int64_t now = NowMs();
  int64_t timeout_ms = static_cast<int64_t>(cfg.timeout_s()) * 1000;
  // Closing a client removes it from clients_, so walk a copy.
  std::vector<Client*> clients;
  clients.reserve(w->clients_.size());
  for (auto& [id, c] : w->clients_) clients.push_back(c);
  if (w->server_->cluster() != nullptr && !w->stopping_) w->ClusterCron(now);
  if (kv::RecordCache* cache = w->keyspace_.shared().cache) {
    cache->Tick(now);
    w->keyspace_.WarmCache(kCacheWarmPerTick);
  }
  for (Client* c : clients) {
    if (c->kill_requested) {
      w->CloseClient(c);
    } else if (timeout_ms > 0 && !c->peer_port && c->slots_.empty() && c->writing_.empty() &&
               now - c->last_interaction_ms > timeout_ms) {
      LOG_VERBOSE("Closing idle client id=%llu", static_cast<unsigned long long>(c->id()));
      w->CloseClient(c);
    } else {
      w->CheckOutputLimits(c, now);
    }
  }
}

void Worker::ServicePause() {
  Server& s = *server_;
  if (!s.pause_requested_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> lock(s.pause_mu_);
  if (!s.pause_requested_ || s.pause_owner_ == id_) return;
  uint64_t gen = s.pause_gen_;
  lock.unlock();
  CommitTurn();  // our writes become visible to the worker that paused us
  lock.lock();
  if (s.pause_gen_ != gen || !s.pause_requested_) return;
  s.paused_++;
  s.pause_cv_.notify_all();
  s.pause_cv_.wait(lock, [&] { return s.pause_gen_ != gen || !s.pause_requested_; });
  lock.unlock();
  // CLIENT KILL may have marked our clients while we waited.
  std::vector<Client*> killed;
  for (auto& [id, c] : clients_) {
    if (c->kill_requested) killed.push_back(c);
  }
  for (Client* c : killed) CloseClient(c);
}

void Worker::Shutdown() {
  stopping_ = true;
  for (auto* l : listeners_) uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
  for (auto* l : peer_listeners_) uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
  CloseLinks();
  HandleMessages();
  CommitTurn();
  std::vector<Client*> all;
  for (auto& [id, c] : clients_) all.push_back(c);
  for (Client* c : all) {
    // Best effort: what is already computed goes out before the socket closes.
    if (!c->out_.empty() && c->writing_.empty()) {
      uv_buf_t buf = uv_buf_init(c->out_.data(), static_cast<unsigned>(c->out_.size()));
      uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp_), &buf, 1);
    }
    CloseClient(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&cron_), nullptr);
}

}  // namespace dynis::server
