#pragma once
// A process is identified by (pid, start time), never by pid alone: pids are
// reused, start times (clock ticks since boot, /proc/<pid>/stat field 22) are not.

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace dynmgr {

// Start time of pid in clock ticks since boot, or nullopt if it does not exist.
std::optional<std::uint64_t> process_start_time(pid_t pid) noexcept;

// The parent of pid (/proc/<pid>/stat field 4), or nullopt if it does not exist.
std::optional<pid_t> parent_pid(pid_t pid) noexcept;

// True if pid exists, is not a zombie, and started at start_time (0 = any).
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

// Resident memory in bytes of pid and every descendant it has (each one's
// /proc/<pid>/statm resident pages; children from /proc/<pid>/task/*/children),
// or nullopt if pid does not exist. Shared pages count once per process, as in
// PM2's max_memory_restart and ps's RSS. Reads /proc only; never blocks.
std::optional<std::uint64_t> process_tree_rss(pid_t pid);

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  static ProcessIdentity self() noexcept;
};

}  // namespace dynmgr
