#pragma once
// dynmgrctl top, the reading part: the fleet from the registry, the last
// events from the event ring, CPU % and RSS from /proc. Nothing here asks the
// supervisor anything; a supervisor that goes away (or is replaced) is
// followed, like `watch` does: the source says so and opens the new
// segments when they appear.

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/top_model.hpp"
#include "shared/event_ring.hpp"
#include "shared/names.hpp"
#include "shared/registry.hpp"

namespace dynmgr::cli::top {

class FleetSource {
 public:
  explicit FleetSource(std::string instance);
  // Opens the registry once: kNoSupervisor (or another error) if there is none
  // to show. refresh() never fails: it reports trouble in the title instead.
  Status open();
  // Reads every worker (without payloads: a fixed cost per slot), the header
  // and the new events. O(slots in use).
  void refresh();

  const std::vector<Row>& rows() const { return rows_; }
  const std::string& title() const { return title_; }
  bool trouble() const { return trouble_; }
  // Event lines (time, seq, id, what), oldest first; at most kKeptEvents.
  const std::deque<std::string>& events() const { return events_; }
  const std::string& instance() const { return instance_; }

  static constexpr std::size_t kKeptEvents = 32;

 private:
  void read_events();
  std::string instance_;
  Names names_;
  std::optional<RegistryReader> registry_;
  std::optional<EventReader> ring_;
  std::uint64_t cursor_ = 0;
  std::vector<Row> rows_;
  std::string title_;
  bool trouble_ = false;
  std::deque<std::string> events_;
};

// CPU % and RSS of the rows on screen. The first sample of a process gives
// its lifetime average (as ps shows it); later ones the share since the
// previous sample, provided it is at least min_interval_ms old (a redraw for
// a key press reuses the last figures). Samples of processes not looked at
// for a while are dropped, so memory follows what is shown, not the fleet.
class ProcSampler {
 public:
  ProcSampler();
  void fill(Row& row, std::uint64_t now_mono_ms, std::uint64_t min_interval_ms);
  // Drops samples not used since before `older_than_mono_ms`.
  void prune(std::uint64_t older_than_mono_ms);
  std::size_t size() const { return samples_.size(); }

 private:
  struct Sample {
    ProcStat stat;
    std::uint64_t taken_ms = 0;  // monotonic
    std::uint64_t used_ms = 0;
    std::optional<double> cpu;
    std::optional<std::uint64_t> rss;
  };
  std::optional<std::uint64_t> uptime_ticks();
  long ticks_per_second_;
  long page_size_;
  std::unordered_map<pid_t, Sample> samples_;
};

// A small file read whole (at most 4 KiB: /proc/PID/stat, statm, /proc/uptime).
std::optional<std::string> read_small_file(const std::string& path);

}  // namespace dynmgr::cli::top
