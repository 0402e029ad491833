#include "common/log.h"

#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace dynis {

namespace {
std::atomic<int> g_level{2};
std::atomic<int> g_fd{STDOUT_FILENO};
}  // namespace

void LogInit(const std::string& logfile) {
  if (logfile.empty()) return;
  int fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) g_fd.store(fd);
}

void LogSetLevel(int level) { g_level.store(level); }

bool LogEnabled(int level) { return level >= g_level.load(std::memory_order_relaxed); }

void LogWrite(int level, const char* fmt, ...) {
  if (!LogEnabled(level) || level > 3) return;
  static const char kMarks[] = ".-*#";
  char line[1024];
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  int n = std::snprintf(line, sizeof(line), "%d:M ", static_cast<int>(getpid()));
  n += static_cast<int>(std::strftime(line + n, sizeof(line) - n, "%d %b %Y %H:%M:%S", &tm));
  n += std::snprintf(line + n, sizeof(line) - n, ".%03d %c ", static_cast<int>(tv.tv_usec / 1000),
                     kMarks[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  n = m < 0 ? n : (n + m >= static_cast<int>(sizeof(line)) - 1 ? sizeof(line) - 2 : n + m);
  line[n++] = '\n';
  ssize_t w = ::write(g_fd.load(), line, n);
  (void)w;
}

namespace {

void WriteAll(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void OnCrash(int sig) {
  // Only async-signal-safe calls, but backtrace(): its first call may allocate, which is why
  // LogInstallCrashReport() makes it once up front.
  const int fd = g_fd.load();
  char head[128];
  int n = std::snprintf(head, sizeof(head), "%d:M # ------ dynis crashed: signal %d (%s) ------\n",
                        static_cast<int>(getpid()), sig, sigabbrev_np(sig));
  if (n > 0) WriteAll(fd, head, static_cast<size_t>(n));
  void* frames[64];
  const int depth = backtrace(frames, 64);
  backtrace_symbols_fd(frames, depth, fd);
  static const char kTail[] = "------ end of the crash report ------\n";
  WriteAll(fd, kTail, sizeof(kTail) - 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void LogInstallCrashReport() {
  void* warm[1];
  backtrace(warm, 1);  // loads libgcc now, not inside a signal handler
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnCrash;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGABRT, SIGILL}) sigaction(sig, &sa, nullptr);
#if !defined(__SANITIZE_ADDRESS__)
  // Under ASan its own report of these is the better one.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE}) sigaction(sig, &sa, nullptr);
#endif
}

}  // namespace dynis
