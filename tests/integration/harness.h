// The integration-test harness: real dynis-server processes on loopback, each in a fresh
// temporary directory on a free port, plus the clients that talk to them.
//
//   TestServer srv({"--requirepass", "secret"});   // started, answers PING
//   Client c = srv.Connect();
//   REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
//   srv.Kill9(); srv.Restart();
//
// Everything is bounded in time: server start, hiredis calls (a timeout on every context),
// raw-socket reads (a deadline), and WaitFor() polls a condition instead of sleeping. The
// binary comes from $DYNIS_SERVER (fallback build/release/dynis-server).
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace dynis::test {

// Generous defaults: the suite also runs against an ASan+UBSan server (~3x slower).
inline constexpr double kStartTimeoutS = 30;
inline constexpr double kReplyTimeoutS = 15;

// A view of one hiredis reply (or one element of it); it shares ownership of the whole tree.
class Reply {
 public:
  Reply() = default;
  Reply(std::shared_ptr<redisReply> root, redisReply* node) : root_(std::move(root)), r_(node) {}

  bool ok() const { return r_ != nullptr; }  // false when the connection failed
  int type() const { return r_ ? r_->type : -1; }
  bool IsNil() const { return type() == REDIS_REPLY_NIL; }
  bool IsError() const { return type() == REDIS_REPLY_ERROR; }
  bool IsArray() const { return type() == REDIS_REPLY_ARRAY; }
  // The text of a status, error or bulk string reply.
  std::string Str() const;
  long long Int() const { return r_ && r_->type == REDIS_REPLY_INTEGER ? r_->integer : 0; }
  size_t Size() const { return r_ && r_->type == REDIS_REPLY_ARRAY ? r_->elements : 0; }
  Reply operator[](size_t i) const;
  // The array's elements' texts.
  std::vector<std::string> Strings() const;
  // A compact, exact rendering for assertions: +OK, -ERR text, "bulk", :42, (nil),
  // [ "a", :1, (nil) ], or (no reply) when the connection failed.
  std::string Repr() const;

 private:
  std::shared_ptr<redisReply> root_;
  redisReply* r_ = nullptr;
};

// An RAII hiredis connection with a read/write timeout.
class Client {
 public:
  Client() = default;
  Client(const std::string& host, int port, double timeout_s = kReplyTimeoutS);
  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) noexcept = default;

  bool connected() const { return ctx_ != nullptr && ctx_->err == 0; }
  std::string error() const;  // hiredis's error text, "" when none
  redisContext* get() { return ctx_.get(); }

  // Sends one command (binary-safe arguments) and waits for its reply.
  Reply Cmd(const std::vector<std::string>& args);
  // Pipelining: queue commands, then read their replies one by one.
  void Append(const std::vector<std::string>& args);
  Reply GetReply();

 private:
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  std::unique_ptr<redisContext, Free> ctx_;
};

// A plain TCP socket for byte-exact protocol tests.
class RawConn {
 public:
  RawConn() = default;
  RawConn(const std::string& host, int port, double timeout_s = kReplyTimeoutS);
  ~RawConn();
  RawConn(RawConn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RawConn& operator=(RawConn&& o) noexcept;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Sends every byte; false when the peer closed or reset the connection.
  bool Send(const std::string& bytes);
  // Reads until the server closes the connection or the deadline passes. `*closed` tells
  // which (a reset counts as closed).
  std::string ReadUntilClose(double timeout_s, bool* closed);
  // Reads until the data received so far has at least `n` bytes, or the server closes, or the
  // deadline passes; returns what was received.
  std::string ReadAtLeast(size_t n, double timeout_s);
  // Reads until `needle` appears in the received data (same stop conditions).
  std::string ReadUntil(const std::string& needle, double timeout_s);
  // True when the server closed the connection within the deadline (discarding data).
  bool WaitClosed(double timeout_s);

 private:
  // Reads what is available within the remaining time. Returns bytes read, 0 on EOF, -1 on
  // timeout, -2 on error (reset).
  long ReadSome(std::string* out, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
};

// Connects, sends `bytes`, and reads everything until the server closes (or the deadline).
std::string SendRawReadAll(int port, const std::string& bytes, double timeout_s, bool* closed,
                           const std::string& host = "127.0.0.1");

// Polls `cond` every few milliseconds until it holds or the time is up.
bool WaitFor(const std::function<bool()>& cond, double timeout_s);

// The io-thread owning `key` (DYNIS PARTITION), -1 on error.
int IoThreadOf(Client& c, const std::string& key);
// `n` keys named prefix<i> owned by io-thread `thread`.
std::vector<std::string> KeysOnThread(Client& c, const std::string& prefix, int thread, int n);

// A loopback TCP port nobody listens on right now (bind port 0, read it back).
int FreePort();

class TestServer {
 public:
  // Starts the server with `--port P --dir D/data --logfile D/server.log --io-threads 2` and
  // the extra `--option value` arguments, and waits until it answers PING.
  explicit TestServer(std::vector<std::string> extra_args = {});
  // The same on a port chosen by the caller (a cluster's nodes must know each other's ports
  // before they start); no retry on another port.
  TestServer(int port, std::vector<std::string> extra_args);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  Client Connect(double timeout_s = kReplyTimeoutS) const;
  RawConn ConnectRaw(double timeout_s = kReplyTimeoutS) const;

  // SIGKILL, then reap.
  void Kill9();
  // SIGTERM, wait (bounded) for the exit; returns the exit status (128+signal when killed by
  // one, -1 when it did not exit in time, in which case it is killed).
  int Stop(double timeout_s = kStartTimeoutS);
  // Waits (bounded) for an exit the server initiates itself (SHUTDOWN). Same return values.
  int WaitExit(double timeout_s = kStartTimeoutS);
  // Starts again on the same port and directory (after Kill9/Stop/WaitExit).
  void Restart();
  // SIGSTOP / SIGCONT; Pause returns once the process is stopped.
  void Pause();
  void Resume();

  // The last `lines` lines of the server log, for failure messages.
  std::string LogTail(int lines = 30) const;

 private:
  // Makes the directory and launches on `port` (0: a free one), trying `attempts` times.
  void Start(int port, int attempts);
  // Spawns the process and waits for PING; false (process reaped) when it did not come up.
  bool Launch(std::string* why);
  // Reaps the child if it exited; returns its status as Stop() does, or -2 if still running.
  int Reap(bool block, double timeout_s);

  std::vector<std::string> extra_args_;
  std::string binary_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace dynis::test
