#pragma once
// dynmgrctl top on a terminal: the ncurses loop (keys, selection, scrolling,
// the y/n confirmation of restart and del). The only file that includes
// ncurses; cli/top_model.hpp composes what it draws.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "cli/top_source.hpp"
#include "shared/error.hpp"

namespace dynmgr::cli::top {

struct ScreenOptions {
  std::uint64_t delay_ms = 1000;         // between refreshes
  std::optional<std::uint64_t> frames;   // stop after this many refreshes
  // What r and d do to the selected worker (requests to the supervisor; they
  // block the screen for at most --wait).
  std::function<Status(std::string_view id)> restart;
  std::function<Status(std::string_view id)> del;
};

// Runs until q, SIGINT, SIGTERM or `frames` refreshes; the terminal is
// restored on every path. Returns the exit code, or nullopt when the terminal
// could not be set up (an unknown $TERM): the caller falls back to plain text.
std::optional<int> run_screen(FleetSource& source, const ScreenOptions& options);

}  // namespace dynmgr::cli::top
