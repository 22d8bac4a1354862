#pragma once
// dynmgrctl top, the pure part: what a frame shows, given what was read. No
// terminal, no shared memory, no /proc here: the verb (cli/verbs/top.cpp)
// reads, cli/top_screen.cpp draws, and tests/cli/top_model_test.cpp checks
// the sorting, the filter, the /proc parsing, the CPU % arithmetic and the
// column layout without either.
//
// Cost model (10 000 workers): a frame is O(n log n) in the fleet (filter and
// sort over rows that are copied out of the registry without their payloads)
// plus O(visible) in /proc reads and formatting; nothing is quadratic.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dynmgr/types.hpp"

namespace dynmgr::cli::top {

// One worker as top shows it.
struct Row {
  std::string id;
  std::uint32_t slot = 0;
  pid_t pid = 0;
  WorkerStatus status = WorkerStatus::kFree;
  bool busy = false;  // running with a perform/call in progress
  std::uint32_t restarts = 0;
  std::uint64_t started_ms = 0;  // wall ms its process started (0: none)
  std::uint64_t mailbox = 0;     // messages waiting after its last receive
  ExitInfo last_exit;
  // From /proc, for visible rows only (nullopt: not read, or no process).
  std::optional<double> cpu_percent;
  std::optional<std::uint64_t> rss_bytes;
};

// The columns, left to right. kCpu and kRss are not sort keys: they are read
// for the visible rows only, so the fleet cannot be ordered by them.
enum class Column { kId, kPid, kStatus, kRestarts, kUptime, kCpu, kRss, kMailbox, kLastExit };
inline constexpr Column kAllColumns[] = {Column::kId,     Column::kPid,      Column::kStatus,
                                         Column::kRestarts, Column::kUptime, Column::kCpu,
                                         Column::kRss,    Column::kMailbox,  Column::kLastExit};
std::string_view column_title(Column c) noexcept;  // "ID", "PID", ..., "LAST EXIT"
bool sortable(Column c) noexcept;
// The next (step +1) or previous (-1) sortable column, wrapping around.
Column next_sort_column(Column c, int step) noexcept;

struct SortOrder {
  Column column = Column::kId;
  bool descending = false;
};
// Orders rows by the column (ties by id, then slot); O(n log n).
void sort_rows(std::vector<Row>& rows, SortOrder order, std::uint64_t now_ms);
// True if filter is empty or a substring of id (bytes; case-sensitive, as ids are).
bool matches(std::string_view id, std::string_view filter) noexcept;

// What /proc/PID/stat says that top uses.
struct ProcStat {
  std::uint64_t cpu_ticks = 0;   // utime + stime (fields 14 and 15), clock ticks
  std::uint64_t start_ticks = 0;  // starttime (field 22): ticks after boot
};
// Parses a /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'. nullopt if malformed.
std::optional<ProcStat> parse_proc_stat(std::string_view text) noexcept;
// The resident pages (second field) of /proc/PID/statm; nullopt if malformed.
std::optional<std::uint64_t> parse_statm_resident(std::string_view text) noexcept;
// The first field of /proc/uptime, in ticks; nullopt if malformed.
std::optional<std::uint64_t> parse_uptime_ticks(std::string_view text, long ticks_per_second) noexcept;

// CPU % of one process (100 = one core busy) from two samples of its ticks
// taken elapsed_ms apart; nullopt when it cannot be known (no time passed,
// the counter went backwards: another process under a reused pid).
std::optional<double> cpu_percent(std::uint64_t ticks_before, std::uint64_t ticks_now,
                                  std::uint64_t elapsed_ms, long ticks_per_second) noexcept;
// The first sample's figure, as ps shows it: the process's ticks over its
// lifetime (uptime_ticks - start_ticks). nullopt for a process of no age.
std::optional<double> lifetime_cpu_percent(const ProcStat& s, std::uint64_t uptime_ticks) noexcept;

// "-" / "512K" / "12.3M" / "1.5G".
std::string format_bytes(std::optional<std::uint64_t> bytes);
// "-" / "0.0" / "12.5" / "250".
std::string format_cpu(std::optional<double> percent);
// A worker's last exit, short: "-", "exit 0", "exit 3", "SIGKILL", "spawn failed", "unknown".
std::string format_exit(const ExitInfo& e);

// Which columns fit in `width` terminal columns and how wide each is. The id
// column takes between 8 and 32 columns (what the widest visible id needs),
// the last exit what is left; when the terminal is too narrow for all of
// them, the least useful go first (last exit, mailbox, RSS, CPU %, uptime,
// restarts, pid): the id and status always stay.
struct Layout {
  struct Cell {
    Column column;
    std::size_t width;
  };
  std::vector<Cell> cells;  // separated by one space
  std::size_t total() const noexcept;
};
Layout layout_columns(std::size_t width, std::size_t widest_id);

// The column header line ("ID  PID STATUS ..."), the sort column marked with
// '^' (ascending) or 'v' (descending) after its title; at most width columns.
std::string header_line(const Layout& l, SortOrder order, std::size_t width);
// One worker's line: exactly the layout's cells, at most `width` columns.
std::string row_line(const Row& r, const Layout& l, std::uint64_t now_ms, std::size_t width);

// Counts by status ("busy" counted apart from "running").
struct Counts {
  std::size_t total = 0;
  std::size_t by_status[8] = {};  // by WorkerStatus value
  std::size_t busy = 0;
};
Counts count(const std::vector<Row>& rows) noexcept;
// "42 workers: 40 running (3 busy), 1 restarting, 1 failed" (only non-zero ones).
std::string counts_line(const Counts& c);

// What the view scrolls: the selected row and the first row shown.
struct Viewport {
  std::size_t selected = 0;
  std::size_t top = 0;
};
// Keeps the selection inside [0, rows) and on screen (`height` rows shown).
Viewport clamp_view(Viewport v, std::size_t rows, std::size_t height) noexcept;

// A line of a frame and how the screen should draw it (plain text ignores it).
enum class Style { kNormal, kTitle, kHeader, kSelected, kTrouble, kEvent, kPrompt };
struct Line {
  std::string text;
  Style style = Style::kNormal;
};

// Cuts s to at most width terminal columns ("..." when cut).
std::string fit_width(std::string_view s, std::size_t width);

}  // namespace dynmgr::cli::top

namespace dynmgr::cli::top {

// Everything one frame shows.
struct FrameInput {
  std::string title;                 // "instance X: manager up, supervisor pid 123"
  bool trouble = false;              // the title is bad news (no supervisor): drawn so
  const std::vector<Row>* rows = nullptr;  // filtered and sorted; the visible ones read from /proc
  Counts counts;                     // of the whole fleet, not only the filtered rows
  SortOrder order;
  std::string filter;                // applied
  std::optional<std::string> editing;  // the filter being typed after '/'
  Viewport view;
  std::vector<std::string> events;   // event lines, oldest first
  std::string status;                // the status line (a prompt, an action's result)
  bool interactive = false;          // the help line and the selection
  std::size_t width = 80;
  std::size_t height = 0;            // 0: every row (plain text)
  std::uint64_t now_ms = 0;
};
// How many rows a screen of `height` lines shows (at least 1).
std::size_t rows_height(std::size_t height) noexcept;
// How many event lines a screen of `height` lines shows (0 on a short one).
std::size_t events_height(std::size_t height) noexcept;
// The frame, top to bottom; every line at most width columns, and with a
// height, exactly `height` lines.
std::vector<Line> compose_frame(const FrameInput& in);

}  // namespace dynmgr::cli::top
