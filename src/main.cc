// dynis-server [config-file] [--option value ...], like redis-server.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/log.h"
#include "config/config.h"
#include "server/server.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "Usage: ./dynis-server [/path/to/dynis.conf] [options]\n"
               "       ./dynis-server -v or --version\n"
               "       ./dynis-server -h or --help\n\n"
               "Examples:\n"
               "       ./dynis-server (run the server with default config)\n"
               "       ./dynis-server conf/dynis.conf\n"
               "       ./dynis-server --port 7777\n"
               "       ./dynis-server conf/dynis.conf --loglevel verbose\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "-v" || args[0] == "--version")) {
    std::printf("dynis-server v=0.1.0 (Redis 7.0.15 compatible)\n");
    return 0;
  }
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    Usage();
    return 0;
  }

  dynis::Config config;
  std::string config_file;
  size_t first_flag = 0;
  if (!args.empty() && args[0].rfind("--", 0) != 0) {
    config_file = args[0];
    first_flag = 1;
    dynis::Status s = config.LoadFile(config_file);
    if (!s.ok()) {
      std::fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n%s\n", s.message().c_str());
      return 1;
    }
  }
  std::vector<std::string> flags(args.begin() + first_flag, args.end());
  dynis::Status s = config.ApplyArgs(flags);
  if (s.ok()) s = config.Validate();
  if (!s.ok()) {
    std::fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n%s\n", s.message().c_str());
    return 1;
  }

  dynis::LogInit(config.logfile());
  dynis::LogSetLevel(static_cast<int>(config.loglevel()));
  LOG_NOTICE("dynis 0.1.0 starting, pid=%d", static_cast<int>(getpid()));
  if (config_file.empty()) {
    LOG_WARNING(
        "no config file specified, using the default config. In order to specify a "
        "config file use ./dynis-server /path/to/dynis.conf");
  }

  // Every thread inherits this mask; Server::Run takes SIGTERM/SIGINT with sigtimedwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (!config.pidfile().empty()) {
    std::ofstream pf(config.pidfile());
    pf << getpid() << "\n";
  }

  dynis::server::Server server(&config);
  server.set_config_file(config_file);
  server.set_executable(argv[0]);
  s = server.Init();
  if (!s.ok()) {
    LOG_WARNING("%s", s.message().c_str());
    return 1;
  }
  server.Run();
  if (!config.pidfile().empty()) unlink(config.pidfile().c_str());
  return 0;
}
