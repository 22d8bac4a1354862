#include "shared/metrics.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "shared/clock.hpp"
#include "shared/enum_names.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr {
namespace {

// A label value: backslash, double quote and newline escaped.
void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

class Writer {
 public:
  Writer(const std::string& instance, std::size_t workers) {
    inst_ = "instance=\"";
    append_escaped(inst_, instance);
    inst_ += '"';
    // Room for everything up front: growing a multi-megabyte string copies it
    // again at each doubling, and each new block faults its pages in.
    out_.reserve(8192 + workers * (14 * (inst_.size() + 48) + 700));
  }

  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  // name{instance="..",<extra>} value
  void sample(std::string_view name, std::string_view extra, std::uint64_t v) {
    head(name, extra);
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    out_.append(buf, static_cast<std::size_t>(n));
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view extra, double v) {
    head(name, extra);
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.9g", v);
    out_.append(buf, static_cast<std::size_t>(n));
    out_ += '\n';
  }
  // A worker's sample: id="<id>" plus extra.
  void worker(std::string_view name, const std::string& id, std::string_view extra,
              std::uint64_t v) {
    label_ = "id=\"";
    append_escaped(label_, id);
    label_ += '"';
    if (!extra.empty()) {
      label_ += ',';
      label_ += extra;
    }
    sample(name, label_, v);
  }
  void worker(std::string_view name, const std::string& id, double v) {
    label_ = "id=\"";
    append_escaped(label_, id);
    label_ += '"';
    sample(name, label_, v);
  }

  std::string take() { return std::move(out_); }

 private:
  void head(std::string_view name, std::string_view extra) {
    out_ += name;
    out_ += '{';
    out_ += inst_;
    if (!extra.empty()) {
      out_ += ',';
      out_ += extra;
    }
    out_ += "} ";
  }
  std::string out_;
  std::string inst_;
  std::string label_;
};

struct ProcessUsage {
  bool ok = false;
  double cpu_seconds = 0;
  std::uint64_t rss_bytes = 0;
};

// utime + stime (fields 14, 15 of /proc/PID/stat) and the resident set size.
ProcessUsage process_usage(pid_t pid) {
  ProcessUsage u;
  if (pid <= 0) return u;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return u;
  std::istringstream in(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  unsigned long long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return u;
  u.ok = true;
  u.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  u.rss_bytes = resident * static_cast<unsigned long long>(::sysconf(_SC_PAGESIZE));
  return u;
}

void histogram(Writer& w, const char* name, const std::uint64_t (&buckets)[kDurationBuckets],
               std::uint64_t sum_us) {
  std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t b = 0; b < kDurationBuckets; ++b) {
    cumulative += buckets[b];
    if (b + 1 < kDurationBuckets) {
      std::snprintf(le, sizeof le, "le=\"%g\"", kDurationBounds[b]);
    } else {
      std::snprintf(le, sizeof le, "le=\"+Inf\"");
    }
    w.sample(bucket, le, cumulative);
  }
  w.sample(std::string(name) + "_sum", "", static_cast<double>(sum_us) / 1e6);
  w.sample(std::string(name) + "_count", "", cumulative);
}

}  // namespace

std::string render_metrics(const RegistryReader& registry, const std::string& instance) {
  const RegistryHeaderInfo h = registry.header();
  Writer w(instance, h.used);
  const bool alive = registry.supervisor_alive();

  w.family("dynmgr_supervisor_up", "gauge", "1 while the instance's supervisor process runs.");
  w.sample("dynmgr_supervisor_up", "", std::uint64_t{alive ? 1U : 0U});
  w.family("dynmgr_manager_state", "gauge", "The manager's state: 1 for the current one.");
  for (const auto& e : enums::kTable<ManagerState>) {
    if (e.value == ManagerState::kUnknown) continue;
    const std::string label = "state=\"" + std::string(e.name.view()) + "\"";
    w.sample("dynmgr_manager_state", label, std::uint64_t{h.manager_state == e.value ? 1U : 0U});
  }
  const ProcessUsage usage = alive ? process_usage(h.supervisor_pid) : ProcessUsage{};
  if (usage.ok) {
    w.family("dynmgr_supervisor_resident_memory_bytes", "gauge",
             "Resident memory of the supervisor process.");
    w.sample("dynmgr_supervisor_resident_memory_bytes", "", usage.rss_bytes);
    w.family("dynmgr_supervisor_cpu_seconds_total", "counter",
             "CPU time (user + system) of the supervisor process.");
    w.sample("dynmgr_supervisor_cpu_seconds_total", "", usage.cpu_seconds);
  }
  w.family("dynmgr_registry_capacity", "gauge", "Worker slots (--max-workers).");
  w.sample("dynmgr_registry_capacity", "", std::uint64_t{h.capacity});
  w.family("dynmgr_dropped_frames_total", "counter",
           "Malformed frames the supervisor dropped from its control queue.");
  w.sample("dynmgr_dropped_frames_total", "", h.dropped_frames);
  w.family("dynmgr_adopted_workers", "gauge",
           "Live workers the current supervisor adopted at start.");
  w.sample("dynmgr_adopted_workers", "", std::uint64_t{h.adopted});
  w.family("dynmgr_containment", "gauge",
           "What ends the processes a worker starts (--containment): 1 for the current one.");
  for (const Containment c : {Containment::kCgroup, Containment::kSubreaper, Containment::kNone}) {
    const std::string label = "mode=\"" + std::string(to_string(c)) + "\"";
    w.sample("dynmgr_containment", label, std::uint64_t{h.containment == c ? 1U : 0U});
  }

  const PersistenceInfo& p = h.persistence;
  w.family("dynmgr_persistence_enabled", "gauge", "1 if the instance keeps a state database.");
  w.sample("dynmgr_persistence_enabled", "", std::uint64_t{p.state != Persistence::kOff ? 1U : 0U});
  if (p.state != Persistence::kOff) {
    w.family("dynmgr_persistence_ok", "gauge", "0 while the state database is failing.");
    w.sample("dynmgr_persistence_ok", "", std::uint64_t{p.state == Persistence::kOk ? 1U : 0U});
    w.family("dynmgr_persistence_pending_changes", "gauge", "Changes not yet committed.");
    w.sample("dynmgr_persistence_pending_changes", "", p.pending);
    w.family("dynmgr_persistence_last_commit_timestamp_seconds", "gauge",
             "Wall time of the last successful commit (0: none yet).");
    w.sample("dynmgr_persistence_last_commit_timestamp_seconds", "",
             static_cast<double>(p.last_commit_ms) / 1000.0);
    w.family(
        "dynmgr_persistence_lag_seconds", "gauge",
        "How long the oldest uncommitted change has waited, at most (0 when none is pending).");
    const std::uint64_t now = wall_ms();
    const double lag = p.pending == 0 || p.last_commit_ms == 0 || now < p.last_commit_ms
                           ? 0.0
                           : static_cast<double>(now - p.last_commit_ms) / 1000.0;
    w.sample("dynmgr_persistence_lag_seconds", "", lag);
  }

  auto snap = registry.snapshot();
  const std::vector<SlotRecord> none;
  const std::vector<SlotRecord>& workers = snap ? *snap : none;
  std::vector<WorkerStats> stats;
  stats.reserve(workers.size());
  for (const auto& r : workers) stats.push_back(registry.stats(r.slot));

  w.family("dynmgr_workers", "gauge", "Workers by status (busy: running, inside a callback).");
  std::map<std::string_view, std::uint64_t> by_status;
  for (const auto& e : enums::kTable<WorkerStatus>) {
    if (e.value != WorkerStatus::kFree) by_status[e.name.view()] = 0;
  }
  by_status["busy"] = 0;
  for (const auto& r : workers) ++by_status[display_status(r)];
  for (const auto& [status, n] : by_status) {
    w.sample("dynmgr_workers", "status=\"" + std::string(status) + "\"", n);
  }

  // Per worker, labelled by id.
  w.family("dynmgr_worker_restarts_total", "counter", "Restarts of the worker since it was put.");
  for (const auto& r : workers)
    w.worker("dynmgr_worker_restarts_total", r.id, "", std::uint64_t{r.restarts});
  w.family("dynmgr_worker_passivations_total", "counter",
           "Times the worker was passivated (stopped for idleness) since it was put.");
  for (const auto& r : workers)
    w.worker("dynmgr_worker_passivations_total", r.id, "", r.passivations);
  w.family("dynmgr_worker_exits_total", "counter",
           "Exits of the worker's processes by kind (exited, signaled, spawn_failed, unknown, "
           "overrun, max_memory).");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    for (std::size_t k = 1; k < kExitKinds; ++k) {
      const std::string kind =
          "kind=\"" + std::string(to_string(static_cast<ExitInfo::Kind>(k))) + "\"";
      w.worker("dynmgr_worker_exits_total", workers[i].id, kind, stats[i].exits[k]);
    }
  }
  w.family("dynmgr_worker_performs_total", "counter", "Performs the worker finished.");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    w.worker("dynmgr_worker_performs_total", workers[i].id, "", stats[i].performs);
  }
  w.family("dynmgr_worker_calls_total", "counter", "Calls the worker answered.");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    w.worker("dynmgr_worker_calls_total", workers[i].id, "", stats[i].calls);
  }
  w.family("dynmgr_worker_casts_total", "counter", "Casts the worker handled.");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    w.worker("dynmgr_worker_casts_total", workers[i].id, "", stats[i].casts);
  }
  w.family("dynmgr_worker_busy_seconds_total", "counter",
           "Time the worker spent inside perform, call and cast.");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    w.worker("dynmgr_worker_busy_seconds_total", workers[i].id,
             static_cast<double>(stats[i].busy_us) / 1e6);
  }
  w.family("dynmgr_worker_mailbox_depth", "gauge",
           "Messages waiting in the worker's mailbox (sampled by the worker at most every 50 ms).");
  for (std::size_t i = 0; i < workers.size(); ++i) {
    w.worker("dynmgr_worker_mailbox_depth", workers[i].id, "", stats[i].mailbox_depth);
  }

  // Durations, over every worker of the instance.
  WorkerStats total;
  for (const auto& s : stats) {
    total.perform_us += s.perform_us;
    total.call_us += s.call_us;
    for (std::size_t b = 0; b < kDurationBuckets; ++b) {
      total.perform_buckets[b] += s.perform_buckets[b];
      total.call_buckets[b] += s.call_buckets[b];
    }
  }
  w.family("dynmgr_perform_duration_seconds", "histogram", "How long performs took.");
  histogram(w, "dynmgr_perform_duration_seconds", total.perform_buckets, total.perform_us);
  w.family("dynmgr_call_duration_seconds", "histogram",
           "How long calls took inside the worker (from its receive to its answer).");
  histogram(w, "dynmgr_call_duration_seconds", total.call_buckets, total.call_us);
  return w.take();
}

}  // namespace dynmgr
