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

// -v / --version and -h / --help, alone or first: true when one was answered.
bool PrintVersionOrHelp(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "-v" || args[0] == "--version")) {
    std::printf("dynis-server v=0.1.0 (Redis 7.0.15 compatible)\n");
    return true;
  }
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    Usage();
    return true;
  }
  return false;
}

void PrintConfigError(const dynis::Status& s) {
  std::fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n%s\n", s.message().c_str());
}

// The config file (a first argument that is not a --flag), then the flags over it, then the
// cross-field checks. False, with the error printed, when any of them fails.
bool LoadConfig(const std::vector<std::string>& args, dynis::Config* config,
                std::string* config_file) {
  size_t first_flag = 0;
  if (!args.empty() && args[0].rfind("--", 0) != 0) {
    *config_file = args[0];
    first_flag = 1;
    dynis::Status s = config->LoadFile(*config_file);
    if (!s.ok()) {
      PrintConfigError(s);
      return false;
    }
  }
  std::vector<std::string> flags(args.begin() + first_flag, args.end());
  dynis::Status s = config->ApplyArgs(flags);
  if (s.ok()) s = config->Validate();
  if (!s.ok()) {
    PrintConfigError(s);
    return false;
  }
  return true;
}

void StartLogging(const dynis::Config& config, const std::string& config_file) {
  dynis::LogInit(config.logfile());
  dynis::LogInstallCrashReport();
  dynis::LogSetLevel(static_cast<int>(config.loglevel()));
  LOG_NOTICE("dynis 0.1.0 starting, pid=%d", static_cast<int>(getpid()));
  if (config_file.empty()) {
    LOG_WARNING(
        "no config file specified, using the default config. In order to specify a "
        "config file use ./dynis-server /path/to/dynis.conf");
  }
}

// Every thread inherits this mask; Server::Run takes SIGTERM/SIGINT with sigtimedwait.
void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void WritePidfile(const dynis::Config& config) {
  if (!config.pidfile().empty()) {
    std::ofstream pf(config.pidfile());
    pf << getpid() << "\n";
  }
}

// Initializes the server and runs it until shutdown; the exit status. The pid file is removed
// after a clean run only.
int RunServer(dynis::Config* config, const std::string& config_file, const char* executable) {
  dynis::server::Server server(config);
  server.set_config_file(config_file);
  server.set_executable(executable);
  dynis::Status s = server.Init();
  if (!s.ok()) {
    LOG_WARNING("%s", s.message().c_str());
    return 1;
  }
  server.Run();
  if (!config->pidfile().empty()) unlink(config->pidfile().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (PrintVersionOrHelp(args)) return 0;
  dynis::Config config;
  std::string config_file;
  if (!LoadConfig(args, &config, &config_file)) return 1;
  StartLogging(config, config_file);
  BlockShutdownSignals();
  WritePidfile(config);
  return RunServer(&config, config_file, argv[0]);
}
