#include "cli/top_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "shared/clock.hpp"
#include "shared/process_identity.hpp"

namespace dynmgr::cli::top {

FleetSource::FleetSource(std::string instance)
    : instance_(std::move(instance)), names_(instance_) {}

Status FleetSource::open() {
  auto r = RegistryReader::open(names_);
  if (!r) return r.error();
  registry_.emplace(std::move(*r));
  return {};
}

void FleetSource::refresh() {
  // A new supervisor (fresh start) replaces the segment: follow it.
  if (registry_ && registry_->superseded()) registry_.reset();
  if (!registry_) {
    if (auto r = RegistryReader::open(names_)) registry_.emplace(std::move(*r));
  }
  read_events();
  if (!registry_) {
    rows_.clear();
    title_ = "instance " + instance_ + ": no supervisor running (looking again every refresh)";
    trouble_ = true;
    return;
  }
  const auto h = registry_->header();
  const bool alive = process_alive(h.supervisor_pid, h.supervisor_start_time);
  title_ = "instance " + instance_ + ": manager " + std::string(to_string(h.manager_state)) +
           ", supervisor pid " + std::to_string(h.supervisor_pid);
  if (!alive) title_ += " NOT RUNNING (no supervisor: workers await a successor)";
  trouble_ = !alive;
  auto all = registry_->snapshot(RegistryReader::Detail::kBrief);
  if (!all) {
    // A slot mid-update for a whole second: keep the last rows, say so.
    title_ += " (registry: " + all.error().message + ")";
    trouble_ = true;
    return;
  }
  rows_.clear();
  rows_.reserve(all->size());
  for (auto& s : *all) {
    Row r;
    r.id = std::move(s.id);
    r.slot = s.slot;
    r.pid = s.pid;
    r.status = s.status;
    r.busy = s.busy_since_ms != 0;
    r.restarts = s.restarts;
    r.started_ms = s.started_ms;
    r.mailbox = registry_->mailbox_depth(s.slot);
    r.last_exit = std::move(s.last_exit);
    rows_.push_back(std::move(r));
  }
}

namespace {
// "2026-11-30T10:52:15.123Z #12 a exited: ..." -> "10:52:15 #12 a exited: ..."
std::string short_event(const FleetEvent& e) {
  std::string s = event_text(e);
  if (s.size() > 24 && s[10] == 'T' && s[23] == 'Z') s = s.substr(11, 8) + s.substr(24);
  return s;
}
}  // namespace

void FleetSource::read_events() {
  if (ring_ && ring_->closed()) {
    // A clean stop, or a fresh supervisor's new ring: what is left, then the next ring.
    for (const auto& e : ring_->read(cursor_)) events_.push_back(short_event(e));
    ring_.reset();
  }
  if (!ring_) {
    auto r = EventReader::open(names_);
    if (!r) return;
    ring_.emplace(std::move(*r));
    // The last few events still held, so a new view is not blank.
    const std::uint64_t next = ring_->next_seq();
    cursor_ = std::max(ring_->oldest_seq(), next > kKeptEvents ? next - kKeptEvents : 1);
  }
  // Only the newest kKeptEvents are kept: skip ahead rather than read (and
  // format) a burst of thousands only to drop them.
  const std::uint64_t next = ring_->next_seq();
  if (next > kKeptEvents && cursor_ < next - kKeptEvents) cursor_ = next - kKeptEvents;
  for (const auto& e : ring_->read(cursor_, kKeptEvents)) {
    events_.push_back(short_event(e));
  }
  while (events_.size() > kKeptEvents) events_.pop_front();
}

std::optional<std::string> read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[4096];
  std::string out;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() >= sizeof buf) break;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fd);
  return out;
}

ProcSampler::ProcSampler()
    : ticks_per_second_(::sysconf(_SC_CLK_TCK)), page_size_(::sysconf(_SC_PAGESIZE)) {}

std::optional<std::uint64_t> ProcSampler::uptime_ticks() {
  auto text = read_small_file("/proc/uptime");
  if (!text) return std::nullopt;
  return parse_uptime_ticks(*text, ticks_per_second_);
}

void ProcSampler::fill(Row& row, std::uint64_t now_ms, std::uint64_t min_interval_ms) {
  row.cpu_percent.reset();
  row.rss_bytes.reset();
  if (row.pid <= 0) return;
  auto it = samples_.find(row.pid);
  if (it != samples_.end() && now_ms - it->second.taken_ms < min_interval_ms) {
    it->second.used_ms = now_ms;
    row.cpu_percent = it->second.cpu;
    row.rss_bytes = it->second.rss;
    return;
  }
  const std::string dir = "/proc/" + std::to_string(row.pid);
  const auto stat_text = read_small_file(dir + "/stat");
  const auto stat = stat_text ? parse_proc_stat(*stat_text) : std::nullopt;
  if (!stat) {  // gone between the registry read and now
    if (it != samples_.end()) samples_.erase(it);
    return;
  }
  Sample s;
  s.stat = *stat;
  s.taken_ms = now_ms;
  s.used_ms = now_ms;
  if (it != samples_.end() && it->second.stat.start_ticks == stat->start_ticks) {
    s.cpu = cpu_percent(it->second.stat.cpu_ticks, stat->cpu_ticks, now_ms - it->second.taken_ms,
                        ticks_per_second_);
  } else if (auto up = uptime_ticks()) {
    s.cpu = lifetime_cpu_percent(*stat, *up);
  }
  if (const auto statm = read_small_file(dir + "/statm")) {
    if (auto pages = parse_statm_resident(*statm)) {
      s.rss = *pages * static_cast<std::uint64_t>(page_size_);
    }
  }
  row.cpu_percent = s.cpu;
  row.rss_bytes = s.rss;
  samples_[row.pid] = s;
}

void ProcSampler::prune(std::uint64_t older_than_ms) {
  for (auto it = samples_.begin(); it != samples_.end();) {
    it = it->second.used_ms < older_than_ms ? samples_.erase(it) : std::next(it);
  }
}

}  // namespace dynmgr::cli::top
