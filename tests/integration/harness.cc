#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dynis::test {

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point DeadlineIn(double s) {
  return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(s * 1e6));
}

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

struct timeval ToTimeval(double s) {
  struct timeval tv;
  tv.tv_sec = static_cast<time_t>(s);
  tv.tv_usec = static_cast<suseconds_t>((s - static_cast<double>(tv.tv_sec)) * 1e6);
  return tv;
}

std::string Quote(const std::string& s) {
  std::string r = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      r += '\\';
      r += static_cast<char>(ch);
    } else if (ch == '\r') {
      r += "\\r";
    } else if (ch == '\n') {
      r += "\\n";
    } else if (ch < 0x20 || ch >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      r += buf;
    } else {
      r += static_cast<char>(ch);
    }
  }
  return r + "\"";
}

std::string TailOf(const std::string& path, int lines) {
  std::ifstream f(path);
  if (!f) return "";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(f, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string r;
  for (const auto& l : last) r += l + "\n";
  return r;
}

}  // namespace

// --- Reply -----------------------------------------------------------------------------------

std::string Reply::Str() const {
  if (r_ == nullptr) return "";
  switch (r_->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r_->str, r_->len);
    default:
      return "";
  }
}

Reply Reply::operator[](size_t i) const {
  if (r_ == nullptr || r_->type != REDIS_REPLY_ARRAY || i >= r_->elements) return Reply();
  return Reply(root_, r_->element[i]);
}

std::vector<std::string> Reply::Strings() const {
  std::vector<std::string> r;
  for (size_t i = 0; i < Size(); i++) r.push_back((*this)[i].Str());
  return r;
}

std::string Reply::Repr() const {
  if (r_ == nullptr) return "(no reply)";
  switch (r_->type) {
    case REDIS_REPLY_STATUS:
      return "+" + Str();
    case REDIS_REPLY_ERROR:
      return "-" + Str();
    case REDIS_REPLY_STRING:
      return Quote(Str());
    case REDIS_REPLY_INTEGER:
      return ":" + std::to_string(r_->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string s = "[";
      for (size_t i = 0; i < r_->elements; i++) {
        s += i ? ", " : " ";
        s += (*this)[i].Repr();
      }
      return s + (r_->elements ? " ]" : "]");
    }
    default:
      return "(type " + std::to_string(r_->type) + ")";
  }
}

// --- Client ----------------------------------------------------------------------------------

Client::Client(const std::string& host, int port, double timeout_s) {
  ctx_.reset(redisConnectWithTimeout(host.c_str(), port, ToTimeval(timeout_s)));
  if (ctx_ && ctx_->err == 0) redisSetTimeout(ctx_.get(), ToTimeval(timeout_s));
}

std::string Client::error() const {
  if (!ctx_) return "no context";
  return ctx_->err ? std::string(ctx_->errstr) : "";
}

void Client::Append(const std::vector<std::string>& args) {
  if (!ctx_) return;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx_.get(), static_cast<int>(args.size()), argv.data(), lens.data());
}

Reply Client::GetReply() {
  if (!ctx_ || ctx_->err) return Reply();
  void* r = nullptr;
  if (redisGetReply(ctx_.get(), &r) != REDIS_OK || r == nullptr) return Reply();
  std::shared_ptr<redisReply> root(static_cast<redisReply*>(r), freeReplyObject);
  return Reply(root, root.get());
}

Reply Client::Cmd(const std::vector<std::string>& args) {
  Append(args);
  return GetReply();
}

// --- RawConn ---------------------------------------------------------------------------------

RawConn::RawConn(const std::string& host, int port, double timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_in a;
  std::memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    close(fd);
    return;
  }
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a));
  if (rc != 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) == 1 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      rc = 0;
    }
  }
  if (rc != 0) {
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
}

RawConn::~RawConn() {
  if (fd_ >= 0) close(fd_);
}

RawConn& RawConn::operator=(RawConn&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

bool RawConn::Send(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t off = 0;
  auto deadline = DeadlineIn(kReplyTimeoutS);
  while (off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      struct pollfd p = {fd_, POLLOUT, 0};
      if (RemainingMs(deadline) == 0) return false;
      poll(&p, 1, RemainingMs(deadline));
      continue;
    }
    return false;
  }
  return true;
}

long RawConn::ReadSome(std::string* out, Clock::time_point deadline) {
  for (;;) {
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -2;
    int left = RemainingMs(deadline);
    if (left == 0) return -1;
    struct pollfd p = {fd_, POLLIN, 0};
    poll(&p, 1, left);
  }
}

std::string RawConn::ReadUntilClose(double timeout_s, bool* closed) {
  std::string data;
  auto deadline = DeadlineIn(timeout_s);
  *closed = false;
  if (fd_ < 0) return data;
  for (;;) {
    long n = ReadSome(&data, deadline);
    if (n > 0) continue;
    *closed = n == 0 || n == -2;
    return data;
  }
}

std::string RawConn::ReadAtLeast(size_t want, double timeout_s) {
  std::string data;
  auto deadline = DeadlineIn(timeout_s);
  while (fd_ >= 0 && data.size() < want) {
    if (ReadSome(&data, deadline) <= 0) break;
  }
  return data;
}

std::string RawConn::ReadUntil(const std::string& needle, double timeout_s) {
  std::string data;
  auto deadline = DeadlineIn(timeout_s);
  while (fd_ >= 0 && data.find(needle) == std::string::npos) {
    if (ReadSome(&data, deadline) <= 0) break;
  }
  return data;
}

bool RawConn::WaitClosed(double timeout_s) {
  bool closed = false;
  ReadUntilClose(timeout_s, &closed);
  return closed;
}

std::string SendRawReadAll(int port, const std::string& bytes, double timeout_s, bool* closed,
                           const std::string& host) {
  RawConn c(host, port);
  *closed = false;
  if (!c.connected()) return "";
  c.Send(bytes);  // the server may close before everything is sent: read what it answered
  return c.ReadUntilClose(timeout_s, closed);
}

// --- helpers ---------------------------------------------------------------------------------

bool WaitFor(const std::function<bool()>& cond, double timeout_s) {
  auto deadline = DeadlineIn(timeout_s);
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int IoThreadOf(Client& c, const std::string& key) {
  Reply r = c.Cmd({"DYNIS", "PARTITION", key});
  for (size_t i = 0; i + 1 < r.Size(); i += 2) {
    if (r[i].Str() == "io-thread") return static_cast<int>(r[i + 1].Int());
  }
  return -1;
}

std::vector<std::string> KeysOnThread(Client& c, const std::string& prefix, int thread, int n) {
  std::vector<std::string> keys;
  for (int i = 0; static_cast<int>(keys.size()) < n && i < 100000; i++) {
    std::string k = prefix + std::to_string(i);
    if (IoThreadOf(c, k) == thread) keys.push_back(k);
  }
  return keys;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  struct sockaddr_in a;
  std::memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// --- TestServer ------------------------------------------------------------------------------

TestServer::TestServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  // Another process may take the free port between our probe and the server's bind: retry.
  Start(0, 3);
}

TestServer::TestServer(int port, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  Start(port, 1);
}

void TestServer::Start(int port, int attempts) {
  const char* env = std::getenv("DYNIS_SERVER");
  binary_ = env != nullptr && *env ? env : "build/release/dynis-server";
  if (access(binary_.c_str(), X_OK) != 0) {
    throw std::runtime_error("dynis-server not found at " + binary_ + " (set DYNIS_SERVER)");
  }
  char tmpl[] = "/tmp/dynis-itest.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::string why;
  for (int attempt = 0; attempt < attempts; attempt++) {
    port_ = port != 0 ? port : FreePort();
    if (Launch(&why)) return;
  }
  std::string log = LogTail();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  throw std::runtime_error("dynis-server did not start: " + why + "\n" + log);
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    if (paused_) kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  if (std::getenv("DYNIS_TEST_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  } else {
    std::fprintf(stderr, "keeping %s\n", dir_.c_str());
  }
}

bool TestServer::Launch(std::string* why) {
  std::vector<std::string> args = {binary_,
                                   "--port",
                                   std::to_string(port_),
                                   "--dir",
                                   dir_ + "/data",
                                   "--logfile",
                                   dir_ + "/server.log",
                                   "--io-threads",
                                   "2"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string err_path = dir_ + "/stderr.log";
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *why = "fork failed";
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
    if (getppid() != parent) _exit(127);
    int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  // Ready when PING gets an answer (+PONG, or -NOAUTH when a password is required).
  auto deadline = DeadlineIn(kStartTimeoutS);
  while (Clock::now() < deadline) {
    int st = Reap(false, 0);
    if (st != -2) {
      *why = "exited with status " + std::to_string(st);
      return false;
    }
    RawConn c("127.0.0.1", port_, 1.0);
    if (c.connected() && c.Send("PING\r\n")) {
      std::string r = c.ReadUntil("\r\n", 2.0);
      if (r.rfind("+PONG", 0) == 0 || r.rfind("-NOAUTH", 0) == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *why = "no PING reply within " + std::to_string(kStartTimeoutS) + "s";
  kill(pid_, SIGKILL);
  Reap(true, 10);
  return false;
}

int TestServer::Reap(bool block, double timeout_s) {
  if (pid_ <= 0) return -1;
  auto deadline = DeadlineIn(timeout_s);
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      paused_ = false;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return -1;
    }
    if (!block || Clock::now() >= deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Client TestServer::Connect(double timeout_s) const { return Client("127.0.0.1", port_, timeout_s); }

RawConn TestServer::ConnectRaw(double timeout_s) const {
  return RawConn("127.0.0.1", port_, timeout_s);
}

void TestServer::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  Reap(true, kStartTimeoutS);
}

int TestServer::Stop(double timeout_s) {
  if (pid_ <= 0) return -1;
  if (paused_) Resume();
  kill(pid_, SIGTERM);
  int st = Reap(true, timeout_s);
  if (st == -2) {
    kill(pid_, SIGKILL);
    Reap(true, 10);
    return -1;
  }
  return st;
}

int TestServer::WaitExit(double timeout_s) {
  int st = Reap(true, timeout_s);
  if (st == -2) {
    kill(pid_, SIGKILL);
    Reap(true, 10);
    return -1;
  }
  return st;
}

void TestServer::Restart() {
  if (pid_ > 0) Kill9();
  std::string why;
  // After a kill the port may linger briefly (the kernel releases listeners at once, but be
  // tolerant): a couple of attempts on the same port.
  for (int attempt = 0; attempt < 3; attempt++) {
    if (Launch(&why)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error("dynis-server did not restart: " + why + "\n" + LogTail());
}

void TestServer::Pause() {
  if (pid_ <= 0) return;
  kill(pid_, SIGSTOP);
  paused_ = true;
  // Wait until the kernel reports it stopped (state T in /proc/pid/stat).
  WaitFor(
      [&] {
        std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
        std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        size_t p = all.rfind(')');
        return p != std::string::npos && p + 2 < all.size() && all[p + 2] == 'T';
      },
      5);
}

void TestServer::Resume() {
  if (pid_ <= 0) return;
  kill(pid_, SIGCONT);
  paused_ = false;
}

std::string TestServer::LogTail(int lines) const {
  return "--- server.log (" + dir_ + ")\n" + TailOf(dir_ + "/server.log", lines) + "--- stderr\n" +
         TailOf(dir_ + "/stderr.log", lines);
}

}  // namespace dynis::test
