#include "server/server.h"

#include <signal.h>

#include <chrono>

#include "common/log.h"
#include "kv/epoch.h"

namespace dynis::server {

void Stats::Reset() {
  for (auto* a : {&connections_received, &commands_processed, &rejected_connections, &keyspace_hits,
                  &keyspace_misses, &net_input_bytes, &net_output_bytes, &forwarded_commands,
                  &barriers, &write_batches, &protocol_errors, &output_limit_disconnections}) {
    a->store(0);
  }
}

Server::Server(Config* config) : config_(config) {}

Server::~Server() = default;

void Server::ApplyConfig() {
  const Config& cfg = *config_;
  ks_shared_.max_object_size = cfg.max_object_size();
  ks_shared_.sibling_warn = static_cast<uint32_t>(cfg.sibling_warn());
  ks_shared_.sibling_max = static_cast<uint32_t>(cfg.sibling_max());
  ks_shared_.hints_max_bytes = static_cast<uint64_t>(cfg.hints_max_bytes());
  if (cache_) {
    cache_->set_policy(cfg.cache_policy_random() ? kv::CachePolicy::kRandom : kv::CachePolicy::kLru);
    cache_->set_max_bytes(static_cast<uint64_t>(cfg.cache_max_bytes()));
  }
  LogSetLevel(static_cast<int>(cfg.loglevel()));
  if (store_) store_->set_fsync(static_cast<storage::Fsync>(static_cast<int>(cfg.fsync())));
}

void Server::WalSyncLoop() {
  std::unique_lock<std::mutex> lock(wal_mu_);
  while (!shutdown_.load()) {
    wal_cv_.wait_for(lock, std::chrono::seconds(1));
    if (config_->fsync() == FsyncPolicy::kEverySec) {
      Status s = store_->SyncWal();
      if (!s.ok()) LOG_WARNING("fsync of the write-ahead log failed: %s", s.message().c_str());
      last_save_s_ = NowMs() / 1000;
    }
  }
}

void Server::Run() {
  for (auto& w : workers_) w->Start();
  wal_thread_ = std::thread([this] { WalSyncLoop(); });
  LOG_NOTICE("Server initialized: %d io-threads, %u partitions, node %s epoch %llu", worker_count(),
             ks_shared_.partitions, node_id_.c_str(), static_cast<unsigned long long>(epoch_));
  LOG_NOTICE("Ready to accept connections tcp");

  // Signals are blocked in every thread (main() does it before any starts) and taken here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  struct timespec ts = {0, 100 * 1000 * 1000};
  while (!shutdown_.load()) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      LOG_WARNING("Received %s scheduling shutdown...", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      RequestShutdown();
    }
  }
  LOG_NOTICE("User requested shutdown...");
  for (auto& w : workers_) w->Join();
  {
    std::lock_guard<std::mutex> lock(wal_mu_);
    wal_cv_.notify_all();
  }
  if (wal_thread_.joinable()) wal_thread_.join();
  workers_.clear();
  // Last: every batch of this run precedes the synced marker in the WAL. After a write error
  // the run did not end cleanly and the next one leases a new epoch.
  if (!store_->write_failed()) {
    Status s = kv::RecordCleanShutdown(store_.get(), epoch_);
    if (!s.ok()) LOG_WARNING("Could not record the clean shutdown: %s", s.message().c_str());
  }
  store_.reset();  // flushes memtables, syncs the WAL, closes RocksDB
  LOG_NOTICE("dynis is now ready to exit, bye bye...");
}

void Server::RequestShutdown() {
  shutdown_.store(true);
  for (auto& w : workers_) w->Wake();
  {
    // A worker waiting in PauseOthers for one that is stopping must give up.
    std::lock_guard<std::mutex> lock(pause_mu_);
  }
  pause_cv_.notify_all();
}

bool Server::PauseOthers(Worker& self) {
  stats_.barriers++;
  while (!barrier_mu_.try_lock()) {
    if (shutdown_.load()) return false;
    self.ServicePause();
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(pause_mu_);
  pause_owner_ = self.id();
  pause_gen_++;
  paused_ = 0;
  pause_requested_.store(true, std::memory_order_release);
  lock.unlock();
  for (auto& w : workers_) {
    if (w.get() != &self) w->Wake();
  }
  lock.lock();
  int others = worker_count() - 1;
  pause_cv_.wait(lock, [&] { return paused_ >= others || shutdown_.load(); });
  if (paused_ >= others) return true;
  // Shutting down: stopped workers will never pause; release those that did.
  pause_requested_.store(false, std::memory_order_release);
  pause_owner_ = -1;
  lock.unlock();
  pause_cv_.notify_all();
  barrier_mu_.unlock();
  return false;
}

void Server::ResumeOthers() {
  {
    std::lock_guard<std::mutex> lock(pause_mu_);
    pause_requested_.store(false, std::memory_order_release);
    pause_owner_ = -1;
  }
  pause_cv_.notify_all();
  barrier_mu_.unlock();
}

}  // namespace dynis::server
