#pragma once
// One-line logs on stderr: "<time> <program>[<pid>] <level>: <message>".
// Thread-safe (one write(2) per line). The daemon's messages follow the shape
// "unable to <verb> <object>: <reason>" for failures.

#include <string_view>

namespace dynmgr {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_program(std::string_view program);
void set_log_level(LogLevel level);
LogLevel log_level();
bool parse_log_level(std::string_view s, LogLevel& out);
void log(LogLevel level, std::string_view message);

inline void log_debug(std::string_view m) { if (log_level() <= LogLevel::kDebug) log(LogLevel::kDebug, m); }
inline void log_info(std::string_view m) { log(LogLevel::kInfo, m); }
inline void log_warn(std::string_view m) { log(LogLevel::kWarn, m); }
inline void log_error(std::string_view m) { log(LogLevel::kError, m); }

}  // namespace dynmgr
