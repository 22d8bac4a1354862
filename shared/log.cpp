#include "shared/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>

#include "shared/clock.hpp"

namespace dynmgr {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
char g_program[64] = "dynmgr";
}  // namespace

void set_log_program(std::string_view program) {
  const std::size_t n = std::min(program.size(), sizeof g_program - 1);
  program.copy(g_program, n);
  g_program[n] = '\0';
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool parse_log_level(std::string_view s, LogLevel& out) {
  if (s == "debug")
    out = LogLevel::kDebug;
  else if (s == "info")
    out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning")
    out = LogLevel::kWarn;
  else if (s == "error")
    out = LogLevel::kError;
  else if (s == "off")
    out = LogLevel::kOff;
  else
    return false;
  return true;
}

void log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  const std::string stamp = utc_timestamp(wall_ms());
  std::string line;
  line.reserve(message.size() + 96);
  line += stamp;
  line += ' ';
  line += g_program;
  line += '[';
  line += std::to_string(::getpid());
  line += "] ";
  line += kNames[static_cast<int>(level)];
  line += ": ";
  line += message;
  line += '\n';
  // One write per line keeps lines whole between processes sharing the fd.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace dynmgr
