// Logging in Redis's format: "pid:role dd Mon yyyy hh:mm:ss.mmm <level-char> message", where the
// level char is '.' debug, '-' verbose, '*' notice, '#' warning. Thread-safe; each line is one
// write(2) so lines from several loops never interleave.
#pragma once

#include <string>

namespace dynis {

void LogInit(const std::string& logfile);  // "" = stdout
void LogSetLevel(int level);               // 0 debug, 1 verbose, 2 notice, 3 warning, 4 nothing
bool LogEnabled(int level);
void LogWrite(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// On SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (a failed assertion, ours or a library's):
// writes the signal and the stack to the log, then dies of the signal as it would have. As
// Redis's bug report does, so that a crash seen once (in CI, on a user's machine) says where.
void LogInstallCrashReport();

#define LOG_DEBUG(...) ::dynis::LogWrite(0, __VA_ARGS__)
#define LOG_VERBOSE(...) ::dynis::LogWrite(1, __VA_ARGS__)
#define LOG_NOTICE(...) ::dynis::LogWrite(2, __VA_ARGS__)
#define LOG_WARNING(...) ::dynis::LogWrite(3, __VA_ARGS__)

}  // namespace dynis
