#include "storage/store.h"

#include "common/log.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>

namespace dynis::storage {

namespace {

// The one place rocksdb::Status becomes a dynis Status.
Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound();
  if (s.IsCorruption()) return Status::Corruption("storage corruption: " + s.ToString());
  return Status::IOError("storage error: " + s.ToString());
}

// RocksDB counts perf-context statistics per thread unless told not to; on the request path
// that costs several TLS look-ups per call.
void DisablePerfCounters() {
  static thread_local bool done = false;
  if (!done) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    done = true;
  }
}

// RocksDB's info log, LOG in the data directory, written with plain write(2) whose failures
// are ignored. RocksDB's stock logger writes through a WritableFileWriter, and Debian builds
// RocksDB with assertions on: once the disk is full, the line after one it could not write
// aborts the process (WritableFileWriter::AssertFalseAndGetStatusForPrevError, reached from
// SstFileManager's free-space poll seconds after the first refused write). A line the disk has
// no room for must cost that line, not the node. The previous run's LOG is kept as LOG.old.
class InfoLog final : public rocksdb::Logger {
 public:
  static Status Open(const std::string& dir, rocksdb::InfoLogLevel level,
                     std::shared_ptr<rocksdb::Logger>* out) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create " + dir + ": " + std::strerror(errno));
    }
    const std::string path = dir + "/LOG";
    if (::rename(path.c_str(), (path + ".old").c_str()) != 0 && errno != ENOENT) {
      return Status::IOError("cannot rename " + path + ": " + std::strerror(errno));
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
    *out = std::shared_ptr<rocksdb::Logger>(new InfoLog(fd, level));
    return Status::OK();
  }
  ~InfoLog() override { ::close(fd_); }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %d ",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, ts.tv_nsec / 1000, static_cast<int>(::gettid()));
    va_list copy;
    va_copy(copy, ap);
    const int m = std::vsnprintf(line + n, sizeof(line) - n, format, copy);
    va_end(copy);
    std::string big;
    const char* text = line;
    size_t len;
    if (m < 0) {
      len = static_cast<size_t>(n);
    } else if (static_cast<size_t>(n + m) < sizeof(line) - 1) {
      len = static_cast<size_t>(n + m);
    } else {  // a long line (compaction stats): formatted again at its size
      big.assign(line, static_cast<size_t>(n));
      big.resize(static_cast<size_t>(n + m) + 1);
      std::vsnprintf(big.data() + n, static_cast<size_t>(m) + 1, format, ap);
      big.resize(static_cast<size_t>(n + m));
      text = big.data();
      len = big.size();
    }
    // One write per line (O_APPEND: lines of several threads never interleave); a failed one
    // is dropped.
    std::string out(text, len);
    if (out.empty() || out.back() != '\n') out.push_back('\n');
    const ssize_t w = ::write(fd_, out.data(), out.size());
    (void)w;
  }

 private:
  InfoLog(int fd, rocksdb::InfoLogLevel level) : rocksdb::Logger(level), fd_(fd) {}
  const int fd_;
};

class GarbageFilter : public rocksdb::CompactionFilter {
 public:
  using Fn = std::function<CompactDecision(std::string_view, std::string*)>;
  explicit GarbageFilter(Fn fn) : fn_(std::move(fn)) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string* new_value,
              bool* value_changed) const override {
    if (!fn_) return false;
    switch (fn_(std::string_view(value.data(), value.size()), new_value)) {
      case CompactDecision::kKeep:
        return false;
      case CompactDecision::kDrop:
        return true;
      case CompactDecision::kRewrite:
        *value_changed = true;
        return false;
    }
    return false;
  }
  const char* Name() const override { return "dynis.GarbageFilter"; }

 private:
  Fn fn_;
};

}  // namespace

struct Store::Impl {
  std::unique_ptr<rocksdb::Env> mem_env;  // in_memory only; declared first: it outlives db
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  rocksdb::ColumnFamilyHandle* data = nullptr;
  rocksdb::ColumnFamilyHandle* hints = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  std::unique_ptr<GarbageFilter> filter;
  mutable std::mutex err_mu;
  std::string write_error;
  std::string dir;                         // "" when in memory
  bool wal_synced_after_failure = false;  // guarded by err_mu

  rocksdb::ColumnFamilyHandle* Handle(Cf cf) const {
    switch (cf) {
      case Cf::kData:
        return data;
      case Cf::kHints:
        return hints;
      case Cf::kMeta:
        return meta;
    }
    return data;
  }
};

struct Store::Batch::Rep {
  const Store::Impl* owner;
  rocksdb::WriteBatch batch{0, 0, 0, 0};
};

Store::Batch::Batch(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::Batch::Batch(Batch&&) noexcept = default;
Store::Batch& Store::Batch::operator=(Batch&&) noexcept = default;
Store::Batch::~Batch() = default;

void Store::Batch::Put(Cf cf, std::string_view key, std::string_view value) {
  // WriteBatch only fails on a size limit, and ours has none (max_bytes 0).
  rep_->batch
      .Put(rep_->owner->Handle(cf), rocksdb::Slice(key.data(), key.size()),
           rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}

void Store::Batch::Delete(Cf cf, std::string_view key) {
  rep_->batch.Delete(rep_->owner->Handle(cf), rocksdb::Slice(key.data(), key.size()))
      .PermitUncheckedError();
}

size_t Store::Batch::size() const { return static_cast<size_t>(rep_->batch.Count()); }

struct Store::Snapshot::Rep {
  rocksdb::DB* db;
  const rocksdb::Snapshot* snapshot;
};

Store::Snapshot::Snapshot(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::Snapshot::~Snapshot() { rep_->db->ReleaseSnapshot(rep_->snapshot); }

struct Store::RangeIterator::Rep {
  // The bounds' bytes must outlive the iterator that points at them: declared first.
  std::string start, end;
  rocksdb::Slice lower, upper;
  std::unique_ptr<rocksdb::Iterator> it;
};

Store::RangeIterator::RangeIterator(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::RangeIterator::~RangeIterator() = default;
bool Store::RangeIterator::Valid() const { return rep_->it->Valid(); }
std::string_view Store::RangeIterator::key() const {
  rocksdb::Slice k = rep_->it->key();
  return std::string_view(k.data(), k.size());
}
std::string_view Store::RangeIterator::value() const {
  rocksdb::Slice v = rep_->it->value();
  return std::string_view(v.data(), v.size());
}
void Store::RangeIterator::Next() { rep_->it->Next(); }
Status Store::RangeIterator::status() const { return FromRocks(rep_->it->status()); }

std::string DataKey(uint32_t partition, std::string_view key) {
  assert(partition < kMaxPartitions);
  std::string k;
  k.reserve(2 + key.size());
  k.push_back(static_cast<char>((partition >> 8) & 0xff));
  k.push_back(static_cast<char>(partition & 0xff));
  k.append(key.data(), key.size());
  return k;
}

std::string PartitionStart(uint32_t partition) { return DataKey(partition, ""); }

std::string PartitionEnd(uint32_t partition) {
  if (partition + 1 >= kMaxPartitions) return "";
  return DataKey(partition + 1, "");
}

std::string HintKey(uint64_t target, uint32_t partition, std::string_view key) {
  std::string k = HintTargetStart(target);
  k.append(DataKey(partition, key));
  return k;
}

std::string HintTargetStart(uint64_t target) {
  std::string k(8, '\0');
  for (int i = 0; i < 8; i++) k[i] = static_cast<char>((target >> (56 - 8 * i)) & 0xff);
  return k;
}

std::string HintTargetEnd(uint64_t target) {
  if (target == UINT64_MAX) return "";
  return HintTargetStart(target + 1);
}

uint64_t HintTargetOf(std::string_view hint_key) {
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = (t << 8) | static_cast<uint8_t>(hint_key[i]);
  return t;
}

namespace {

rocksdb::DBOptions DbOptions() {
  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = true;
  // An older DB gains the column families it lacks (hints) instead of failing to open.
  db_opts.create_missing_column_families = true;
  db_opts.max_background_jobs = 2;
  db_opts.bytes_per_sync = 1 << 20;
  db_opts.keep_log_file_num = 5;
  db_opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  return db_opts;
}

// `data` is read by point lookups: bloom filters (in the memtable too), a hash index in data
// blocks, a shared LRU cache. No compression: values are small and CPU is the scarce resource.
rocksdb::ColumnFamilyOptions DataCfOptions(const StoreOptions& options,
                                           const rocksdb::CompactionFilter* filter) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  table.whole_key_filtering = true;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;

  rocksdb::ColumnFamilyOptions data_opts;
  data_opts.write_buffer_size = options.write_buffer_bytes;
  data_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  data_opts.compaction_filter = filter;
  data_opts.memtable_whole_key_filtering = true;
  data_opts.memtable_prefix_bloom_size_ratio = 0.02;
  data_opts.level_compaction_dynamic_level_bytes = true;
  data_opts.compression = rocksdb::kNoCompression;
  data_opts.bottommost_compression = rocksdb::kNoCompression;
  return data_opts;
}

}  // namespace

StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store());
  store->impl_ = std::make_unique<Impl>();
  store->fsync_.store(options.fsync);
  Impl& im = *store->impl_;
  im.filter = std::make_unique<GarbageFilter>(options.compact);

  // Compactions run at low CPU priority: on a small machine they otherwise take the core an
  // event loop needs and show up as request tail latency. Flushes keep normal priority so
  // writes never stall behind a starved flush.
  rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);

  rocksdb::DBOptions db_opts = DbOptions();
  if (options.in_memory) {
    im.mem_env.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    db_opts.env = im.mem_env.get();
  } else {
    Status log = InfoLog::Open(options.dir, db_opts.info_log_level, &db_opts.info_log);
    if (!log.ok()) return Status::IOError("cannot open storage at " + options.dir + ": " + log.message());
  }
  im.dir = options.in_memory ? std::string() : options.dir;
  // Hints and meta are small, written rarely and read in bulk or once: RocksDB's defaults.
  rocksdb::ColumnFamilyOptions small_opts;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, small_opts},
      {"data", DataCfOptions(options, im.filter.get())},
      {"hints", small_opts},
      {"meta", small_opts},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, options.dir, cfs, &handles, &raw);
  if (!s.ok())
    return Status::IOError("cannot open storage at " + options.dir + ": " + s.ToString());
  im.db.reset(raw);
  im.default_cf = handles[0];
  im.data = handles[1];
  im.hints = handles[2];
  im.meta = handles[3];
  return store;
}

Store::~Store() {
  if (!impl_ || !impl_->db) return;
  if (write_failed_.load()) {
    // RocksDB's log writer saw the error: its flush and sync paths would hit Debian's
    // assertion (SyncWal below). What was acknowledged is in the WAL; the next start replays it.
    Status synced = SyncWal();
    if (!synced.ok()) LOG_WARNING("%s", synced.message().c_str());
  } else {
    // Flush memtables so the next start does not replay a long WAL, then close cleanly.
    rocksdb::FlushOptions fo;
    impl_->db->Flush(fo, {impl_->data, impl_->hints, impl_->meta}).PermitUncheckedError();
    impl_->db->SyncWAL().PermitUncheckedError();
  }
  for (auto* h : {impl_->default_cf, impl_->data, impl_->hints, impl_->meta}) {
    impl_->db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  impl_->db->Close().PermitUncheckedError();
}

Status Store::Get(std::string_view key, std::string* value) {
  return Get(Cf::kData, key, value);
}

Status Store::Get(Cf cf, std::string_view key, std::string* value) {
  DisablePerfCounters();
  static const rocksdb::ReadOptions ro;
  return FromRocks(
      impl_->db->Get(ro, impl_->Handle(cf), rocksdb::Slice(key.data(), key.size()), value));
}

Store::Batch Store::NewBatch() {
  auto rep = std::make_unique<Batch::Rep>();
  rep->owner = impl_.get();
  return Batch(std::move(rep));
}

Status Store::Write(const std::function<void(const WriteVisitor&)>& each) {
  Batch batch = NewBatch();
  each([&](std::string_view key, const std::string* value) {
    if (value != nullptr) {
      batch.Put(Cf::kData, key, *value);
    } else {
      batch.Delete(Cf::kData, key);
    }
  });
  return Write(batch);
}

// The one write path: the write_failed_ latch, the test hook, the fsync policy.
Status Store::Write(const Batch& batch) {
  DisablePerfCounters();
  if (write_failed_.load()) return Status::IOError(write_error());
  if (batch.rep_->owner != impl_.get()) {
    return Status::InvalidArgument("storage batch written to a store that did not make it");
  }
  RETURN_IF_ERROR(TakeCommitFault());
  rocksdb::WriteOptions wo;
  wo.sync = fsync_.load() == Fsync::kAlways;
  rocksdb::Status s = impl_->db->Write(wo, &batch.rep_->batch);
  if (!s.ok()) return FailWrites("storage write failed: " + s.ToString());
  return Status::OK();
}

Status Store::TakeCommitFault() {
  if (!has_faults_.load()) return Status::OK();
  CommitFault fault;
  {
    std::lock_guard<std::mutex> lock(faults_mu_);
    if (faults_.empty()) return Status::OK();
    fault = faults_.front();
    faults_.pop_front();
    has_faults_.store(!faults_.empty());
  }
  if (fault.kind == CommitFault::Kind::kFail) {
    return FailWrites("storage write failed: IO error: injected by DEBUG COMMIT-FAULT FAIL");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(fault.delay_ms));
  return Status::OK();
}

Status Store::FailWrites(const std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->err_mu);
  if (!write_failed_.load()) impl_->write_error = reason;
  write_failed_.store(true);
  return Status::IOError(reason);
}

void Store::AddCommitFaults(CommitFault fault, int count) {
  std::lock_guard<std::mutex> lock(faults_mu_);
  for (int i = 0; i < count; i++) faults_.push_back(fault);
  has_faults_.store(!faults_.empty());
}

void Store::ClearCommitFaults() {
  std::lock_guard<std::mutex> lock(faults_mu_);
  faults_.clear();
  has_faults_.store(false);
}

size_t Store::queued_commit_faults() const {
  std::lock_guard<std::mutex> lock(faults_mu_);
  return faults_.size();
}

std::string Store::write_error() const {
  std::lock_guard<std::mutex> lock(impl_->err_mu);
  return impl_->write_error;
}

Status Store::SyncWal() {
  if (!write_failed_.load()) return FromRocks(impl_->db->SyncWAL());
  // After a failed write RocksDB's WAL writer holds the error, and SyncWAL on it fails
  // Debian's assertion (WritableFileWriter::SyncWithoutFlush). Writes stopped with it, so one
  // fsync of every WAL file, by path, makes durable what was acknowledged before; later calls
  // have nothing left to do.
  std::lock_guard<std::mutex> lock(impl_->err_mu);
  if (impl_->wal_synced_after_failure || impl_->dir.empty()) return Status::OK();
  impl_->wal_synced_after_failure = true;
  DIR* d = ::opendir(impl_->dir.c_str());
  if (d == nullptr) return Status::IOError("cannot list " + impl_->dir + ": " + std::strerror(errno));
  Status result = Status::OK();
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    const std::string path = impl_->dir + "/" + name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      result = Status::IOError("cannot fsync " + path + ": " + std::strerror(errno));
    }
    if (fd >= 0) ::close(fd);
  }
  ::closedir(d);
  return result;
}

Status Store::DeleteAllData() {
  if (write_failed_.load()) return Status::IOError(write_error());
  // Every DataKey starts with a 2-byte partition id, so ["", "\xff\xff\xff") covers them all.
  std::string end(3, '\xff');
  rocksdb::WriteOptions wo;
  wo.sync = fsync_.load() == Fsync::kAlways;
  rocksdb::Status s = impl_->db->DeleteRange(wo, impl_->data, rocksdb::Slice(), end);
  if (!s.ok()) return FromRocks(s);
  return Status::OK();
}

Status Store::CompactAll() {
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(impl_->db->CompactRange(co, impl_->data, nullptr, nullptr));
}

std::unique_ptr<Store::Snapshot> Store::NewSnapshot() {
  auto rep = std::make_unique<Snapshot::Rep>();
  rep->db = impl_->db.get();
  rep->snapshot = impl_->db->GetSnapshot();
  return std::unique_ptr<Snapshot>(new Snapshot(std::move(rep)));
}

std::unique_ptr<Store::RangeIterator> Store::NewRangeIterator(Cf cf, std::string_view start,
                                                              std::string_view end,
                                                              const Snapshot* snapshot) {
  auto rep = std::make_unique<RangeIterator::Rep>();
  rep->start.assign(start.data(), start.size());
  rep->end.assign(end.data(), end.size());
  rep->lower = rocksdb::Slice(rep->start);
  rep->upper = rocksdb::Slice(rep->end);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  // The bounds let RocksDB skip whole files and stop at the range's end instead of reading on
  // into the next partition.
  ro.iterate_lower_bound = &rep->lower;
  if (!end.empty()) ro.iterate_upper_bound = &rep->upper;
  if (snapshot != nullptr) ro.snapshot = snapshot->rep_->snapshot;
  rep->it.reset(impl_->db->NewIterator(ro, impl_->Handle(cf)));
  rep->it->Seek(rep->lower);
  return std::unique_ptr<RangeIterator>(new RangeIterator(std::move(rep)));
}

Status Store::Scan(std::string_view start,
                   const std::function<bool(std::string_view, std::string_view)>& fn) {
  std::unique_ptr<RangeIterator> it = NewRangeIterator(Cf::kData, start, "");
  for (; it->Valid(); it->Next()) {
    if (!fn(it->key(), it->value())) break;
  }
  return it->status();
}

Status Store::GetMeta(std::string_view name, std::string* value) {
  return Get(Cf::kMeta, name, value);
}

Status Store::PutMetaDurably(std::string_view name, std::string_view value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->db->Put(wo, impl_->meta, rocksdb::Slice(name.data(), name.size()),
                                  rocksdb::Slice(value.data(), value.size())));
}

uint64_t Store::EstimateKeys() {
  uint64_t n = 0;
  impl_->db->GetIntProperty(impl_->data, "rocksdb.estimate-num-keys", &n);
  return n;
}

uint64_t Store::DiskBytes() {
  uint64_t n = 0;
  impl_->db->GetIntProperty(impl_->data, "rocksdb.total-sst-files-size", &n);
  return n;
}

uint64_t Store::MemtableBytes() {
  uint64_t n = 0;
  impl_->db->GetIntProperty(impl_->data, "rocksdb.cur-size-all-mem-tables", &n);
  return n;
}

}  // namespace dynis::storage
