#include "shared/process_identity.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <string>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dynmgr {

namespace {
struct StatFields {
  char state = '?';
  pid_t parent = 0;
  std::uint64_t start_time = 0;
};

std::optional<StatFields> read_stat(pid_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses: skip to the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return std::nullopt;
  ++p;
  StatFields out;
  if (p[0] == ' ' && p[1] != '\0') out.state = p[1];
  // After ')' come fields 3.. separated by spaces; ppid is field 4, starttime 22.
  int field = 2;
  while (*p != '\0' && field < 22) {
    if (*p == ' ') {
      ++field;
      if (field == 4) out.parent = static_cast<pid_t>(std::strtol(p + 1, nullptr, 10));
    }
    ++p;
  }
  if (field != 22) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(p, &end, 10);
  if (end == p) return std::nullopt;
  out.start_time = static_cast<std::uint64_t>(v);
  return out;
}
}  // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) noexcept {
  const auto st = read_stat(pid);
  if (!st) return std::nullopt;
  return st->start_time;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  const auto st = read_stat(pid);
  if (!st) return false;
  if (st->state == 'Z' || st->state == 'X') return false;  // exited, not yet reaped
  return start_time == 0 || st->start_time == start_time;
}

std::optional<pid_t> parent_pid(pid_t pid) noexcept {
  const auto st = read_stat(pid);
  if (!st) return std::nullopt;
  return st->parent;
}

ProcessIdentity ProcessIdentity::self() noexcept {
  const pid_t pid = ::getpid();
  return ProcessIdentity{pid, process_start_time(pid).value_or(0)};
}

namespace {

std::optional<std::uint64_t> resident_bytes(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/statm", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  unsigned long long size = 0;
  unsigned long long resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return std::nullopt;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Appends the children of every thread of pid.
void children_of(pid_t pid, std::vector<pid_t>& out) {
  char dir_path[64];
  std::snprintf(dir_path, sizeof dir_path, "/proc/%d/task", static_cast<int>(pid));
  DIR* dir = ::opendir(dir_path);
  if (dir == nullptr) return;
  while (const dirent* d = ::readdir(dir)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    const std::string path = std::string(dir_path) + "/" + d->d_name + "/children";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string text;
    char buf[512];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    const char* p = text.c_str();
    char* end = nullptr;
    for (long v = std::strtol(p, &end, 10); end != p; v = std::strtol(p, &end, 10)) {
      if (v > 0) out.push_back(static_cast<pid_t>(v));
      p = end;
    }
  }
  ::closedir(dir);
}

}  // namespace

std::optional<std::uint64_t> process_tree_rss(pid_t pid) {
  auto total = resident_bytes(pid);
  if (!total) return std::nullopt;
  std::vector<pid_t> todo;
  children_of(pid, todo);
  // Bounded: a fork bomb must not keep the loop here.
  for (std::size_t i = 0; i < todo.size() && i < 4096; ++i) {
    if (auto r = resident_bytes(todo[i])) *total += *r;
    children_of(todo[i], todo);
  }
  return total;
}

}  // namespace dynmgr
