#include "common/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
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

}  // namespace dynis
