// libFuzzer target for command dispatch: the whole request path (parser, routing between
// io-threads, command handlers, keyspace, RocksDB) of a real dynis server running in this
// process. Each input is sent on a fresh loopback connection; the server must answer or close,
// never crash, hang or trip a sanitizer. Inputs that would stop the server (SHUTDOWN) or lock
// later inputs out (requirepass) are skipped.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/log.h"
#include "config/config.h"
#include "server/server.h"

namespace {

int g_port = 0;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

void StartServer() {
  char tmpl[] = "/tmp/dynis-fuzz-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  g_port = FreePort();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto* config = new dynis::Config();
  dynis::Status s =
      config->ApplyArgs({"--port", std::to_string(g_port), "--dir", dir + "/data", "--io-threads",
                         "2", "--loglevel", "warning", "--logfile", dir + "/log"});
  if (!s.ok()) {
    std::fprintf(stderr, "config: %s\n", s.message().c_str());
    std::abort();
  }
  dynis::LogInit(config->logfile());
  auto* server = new dynis::server::Server(config);
  s = server->Init();
  if (!s.ok()) {
    std::fprintf(stderr, "init: %s\n", s.message().c_str());
    std::abort();
  }
  std::thread([server] { server->Run(); }).detach();
}

bool Contains(const std::string& hay, const char* needle) {
  std::string h = hay;
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return h.find(needle) != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool started = (StartServer(), true);
  (void)started;
  std::string input(reinterpret_cast<const char*>(data), size);
  if (Contains(input, "shutdown") || Contains(input, "requirepass") ||
      Contains(input, "maxclients") || Contains(input, "debug")) {
    return -1;
  }
  int fd = -1;
  for (int attempt = 0; attempt < 200 && fd < 0; attempt++) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(g_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd);
      fd = -1;
      usleep(10000);
    }
  }
  if (fd < 0) std::abort();  // the server died
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = send(fd, input.data() + off, input.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) break;  // an incomplete command waits for bytes: give up
    if (recv(fd, buf, sizeof(buf), 0) <= 0) break;
  }
  close(fd);
  return 0;
}
