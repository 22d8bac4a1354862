#pragma once
// Per-worker log files (README "Worker logs"): their names, their line format
// and the collector's socket. Shared by the log collector (the only writer),
// the supervisor (which finds or starts the collector) and `dynmgrctl logs`
// (a reader of the files, never a client of anyone).
//
// A file holds one record per line:
//   2026-11-30T07:30:00.123456Z out text of the line
// time (UTC, microseconds, always 27 bytes), one space, the stream tag, one
// space, the line as the worker wrote it (without its newline). Tags:
//   out, err     a whole line of stdout / stderr
//   out+, err+   a piece of a line longer than kMaxLineBytes: the next record
//                of the same stream continues it
//   out-, err-   the stream ended (EOF) in the middle of a line: its last,
//                unterminated piece, as written
//   log          a note of the collector's own (lines dropped on a full disk)
//
// File names: the worker id, escaped (escape_id), plus ".log"; rotated ones
// ".log.1" (newest) .. ".log.N". An escaped name longer than kMaxEscapedName
// is cut and ends in "~<16 hex of a hash of the id>"; the id itself is then
// kept in "<name>.id" next to it, so every name can be turned back into its id.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr::logfiles {

inline constexpr std::size_t kMaxLineBytes = 64 * 1024;  // longer lines are cut in pieces
inline constexpr std::size_t kMaxEscapedName = 200;      // + ".log.NNNN" stays under NAME_MAX
inline constexpr const char* kSocketName = ".collector.sock";
inline constexpr const char* kLockName = ".collector.lock";
inline constexpr const char* kCollectorRoleFlag = "--dynmgr-log-collector";
inline constexpr std::size_t kTimeBytes = 27;  // 2026-11-30T07:30:00.123456Z

// Reversible: [A-Za-z0-9._-] and the bytes of non-ASCII UTF-8 characters
// (>= 0x80) stay; every other byte becomes %XX (upper-case hex), and so does a
// '.' that starts the id (no hidden files, no "." or ".."). So '/', '%', '~',
// space and control bytes never appear raw in a name.
std::string escape_id(std::string_view id);
// nullopt for a name escape_id cannot have produced.
std::optional<std::string> unescape_id(std::string_view name);

// The current file's name for id ("<escaped>.log"), without a directory.
std::string file_name(std::string_view id);
// True when file_name(id) is a hashed (cut) name whose id lives in "<name>.id".
bool name_is_hashed(std::string_view id);
// Rotated file k (1 = newest): "<current>.k".
std::string rotated_name(const std::string& current, unsigned k);

// One record, parsed. stream: "out" or "err" or "log"; partial: the tag had
// '+' or '-'.
struct Record {
  std::string time;          // as in the file
  std::int64_t time_us = 0;  // microseconds since the epoch
  std::string stream;
  bool partial = false;
  std::string line;
};
std::optional<Record> parse_record(std::string_view text);

// "2026-11-30T07:30:00.123456Z" for a wall-clock time in microseconds.
std::string format_time(std::int64_t unix_us);
// RFC 3339 ("2026-11-30T07:30:00Z", "...:00.5+02:00", a date-time with a space
// or 'T'), or a relative age ("90s", "10m", "2h", "1d") before now_us.
// nullopt when it is neither.
std::optional<std::int64_t> parse_since(std::string_view text, std::int64_t now_us);

}  // namespace dynmgr::logfiles
