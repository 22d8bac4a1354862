// Grows a fleet of idle workers in steps and reports, at each step, what the
// idle fleet costs the machine (busy CPU % of the whole machine; of the
// supervisor alone; of the supervisor and every worker, as a share of the
// machine; worker wake-ups per second) and how
// fast the supervisor still takes puts. Two configurations side by side, in
// the same run:
//   timer   every worker runs housekeeping on a 5 s timer (what every worker
//           did before idle workers stopped waking: PROBE_IDLE_OVERRIDE=1,
//           PROBE_IDLE_MS=5000)
//   events  the base idle(): an idle worker sleeps until something happens
// A watchdog SIGKILLs the fleet (the supervisor's process group; workers die
// with it) when the 1-minute load average passes 100: on this project's 2-core
// VM, 8 000 workers on the timer made the machine unusable for 15 minutes.
//
// Memory (issue 14, "lean workers"): at each step of the events run, the drop
// of MemAvailable since before the supervisor started, per worker (workers,
// their mailboxes and everything the kernel keeps for them), and what the
// mailboxes hold of /dev/shm per worker. Each new worker gets one cast after
// its put, so its mailbox has held a message and given its pages back (a
// second after its last message) by the time the fleet is measured. The
// floor, from the same run: the MemAvailable drop per process of as many bare
// processes (ready_child: C, one byte of "ready", then pause()), after the
// same idle time; the events run ends with its ratio.
//
//   idle_fleet_bench [MAX_WORKERS] [STEP] [IDLE_S] [TIMER_MAX]
//   (defaults 8000, 2000, 5, 4000: the timer configuration stops at TIMER_MAX)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

namespace {

double loadavg1() {
  std::ifstream in("/proc/loadavg");
  double l = 0;
  in >> l;
  return l;
}

std::uint64_t context_switches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::uint64_t total = 0;
  while (std::getline(in, line)) {
    for (const char* key : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"}) {
      if (line.rfind(key, 0) == 0) total += std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
    }
  }
  return total;
}

std::uint64_t mem_available_kib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key >> kib) {
    if (key == "MemAvailable:") return kib;
    in.ignore(64, '\n');
  }
  return 0;
}

// Bytes of /dev/shm the instance's mailboxes (not their bells) hold.
std::uint64_t mailbox_bytes(const std::string& instance) {
  std::uint64_t total = 0;
  for (const auto& f : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string n = f.path().filename();
    if (n.find("." + instance + ".mbox.") == std::string::npos ||
        n.find(".bell") != std::string::npos) {
      continue;
    }
    struct stat st {};
    if (::stat(f.path().c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

struct Config {
  const char* label;
  bool timer;
  int max_workers;
};

// KiB of MemAvailable per bare process, `n` of them idle for `idle_s`.
double bare_process_kib(int n, int idle_s) {
  const std::string child = bench::bin_dir() + "/ready_child";
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return 0;
  const std::uint64_t avail0 = mem_available_kib();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 3);
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    char* argv[] = {const_cast<char*>(child.c_str()), nullptr};
    pid_t pid = 0;
    if (::posix_spawn(&pid, child.c_str(), &fa, nullptr, argv, environ) != 0) break;
    pids.push_back(pid);
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  char c;
  for (std::size_t ready = 0; ready < pids.size() && ::read(p[0], &c, 1) == 1;) ++ready;
  ::close(p[0]);
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));  // as idle as the fleet, then read
  const std::uint64_t avail = mem_available_kib();
  for (pid_t pid : pids) ::kill(pid, SIGKILL);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  return pids.empty() || avail0 <= avail ? 0 : static_cast<double>(avail0 - avail) / pids.size();
}

// Returns the last step's KiB per worker.
double run(const Config& cfg, int step, int idle_s) {
  if (cfg.timer) {
    ::setenv("PROBE_IDLE_OVERRIDE", "1", 1);
    ::setenv("PROBE_IDLE_MS", "5000", 1);
  } else {
    ::unsetenv("PROBE_IDLE_OVERRIDE");
    ::unsetenv("PROBE_IDLE_MS");
  }
  const std::string name = "benchidle" + std::to_string(::getpid()) + (cfg.timer ? "t" : "e");
  const std::uint64_t avail0 = mem_available_kib();
  if (!bench::start_probe(name, {"--max-workers", std::to_string(cfg.max_workers + 16)})) return 0;
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(15000)});
  if (!client) return 0;
  double last_per_worker = 0;
  const pid_t sup = client->header().supervisor_pid;
  std::atomic<bool> done{false};
  std::atomic<bool> tripped{false};
  std::thread watchdog([&] {
    while (!done) {
      if (loadavg1() > 100) {
        tripped = true;
        ::kill(-sup, SIGKILL);
        ::kill(sup, SIGKILL);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // watchdog period
    }
  });
  std::printf("== %s\n%8s %10s %12s %10s %11s %14s %10s %12s %12s\n", cfg.label, "workers",
              "puts/s", "idle CPU %", "sup CPU %", "dynmgr CPU %", "wake-ups/s", "load1",
              "KiB/worker", "mbox KiB/w");
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.payload = dynmgr::json::object{{"n", 0}};
  std::vector<pid_t> pids;
  for (int n = 0; n < cfg.max_workers && !tripped;) {
    const int block = std::min(step, cfg.max_workers - n);
    std::atomic<int> next{n};
    std::atomic<int> failed{0};
    std::vector<pid_t> got(static_cast<std::size_t>(block));
    const std::uint64_t t0 = bench::now_ns();
    std::vector<std::thread> putters;
    for (int c = 0; c < 2; ++c) {
      putters.emplace_back([&] {
        auto cl = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(15000)});
        if (!cl) return;
        for (int i = next++; i < n + block && !tripped; i = next++) {
          auto r = cl->put("w" + std::to_string(i), spec);
          if (r) got[static_cast<std::size_t>(i - n)] = r->pid; else ++failed;
          if (r && !cfg.timer) (void)cl->cast("w" + std::to_string(i), dynmgr::json::array{"noop"});
        }
      });
    }
    for (auto& t : putters) t.join();
    const double put_s = static_cast<double>(bench::now_ns() - t0) / 1e9;
    n += block;
    for (pid_t p : got) if (p > 0) pids.push_back(p);
    if (tripped) break;
    // The last casts' mailboxes give their pages back a second later.
    if (!cfg.timer) std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // see above
    std::uint64_t sw0 = 0;
    double fleet0 = 0;
    for (pid_t p : pids) sw0 += context_switches(p);
    for (pid_t p : pids) fleet0 += bench::process_cpu_seconds(p);
    // The window holds only the sleep: this process's reads of every
    // worker's /proc files (10 000 of each) are outside it.
    const double cpu0 = bench::system_cpu_seconds();
    const double sup0 = bench::process_cpu_seconds(sup);
    const std::uint64_t w0 = bench::now_ns();
    std::this_thread::sleep_for(std::chrono::seconds(idle_s));  // measuring an idle period
    const double wall = static_cast<double>(bench::now_ns() - w0) / 1e9;
    const double cpu1 = bench::system_cpu_seconds();
    const double sup1 = bench::process_cpu_seconds(sup);
    std::uint64_t sw1 = 0;
    double fleet1 = 0;
    for (pid_t p : pids) sw1 += context_switches(p);
    for (pid_t p : pids) fleet1 += bench::process_cpu_seconds(p);
    // The supervisor and every worker: what dynmgr itself costs, apart from
    // the kernel's own threads (on the development VM, DAMON's kdamond
    // monitors physical memory and its CPU grows with the memory in use).
    const double dynmgr_pct = ((sup1 - sup0) + (fleet1 - fleet0)) /
                              (wall * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN))) * 100;
    const double cpu_pct =
        (cpu1 - cpu0) / (wall * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN))) * 100;
    const double sup_pct = (sup1 - sup0) / wall * 100;
    const std::uint64_t avail = mem_available_kib();
    const double per_worker = avail0 > avail ? static_cast<double>(avail0 - avail) / n : 0;
    const double mbox = static_cast<double>(mailbox_bytes(name)) / 1024 / n;
    last_per_worker = per_worker;
    std::printf("%8d %10.0f %12.2f %10.2f %11.2f %14.0f %10.1f %12.1f %12.1f%s\n", n, block / put_s,
                cpu_pct, sup_pct, dynmgr_pct, static_cast<double>(sw1 - sw0) / wall, loadavg1(),
                per_worker, mbox, failed > 0 ? "  (some puts failed)" : "");
    std::fflush(stdout);
  }
  done = true;
  watchdog.join();
  if (tripped) {
    std::printf("   stopped by the watchdog: load average over 100\n");
    bench::run({bench::bin_dir() + "/dynmgrctl", "-n", name, "stop"});
    return 0;
  }
  auto stopper = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(120000)});
  if (stopper) (void)stopper->stop();
  return last_per_worker;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int max_workers = argc > 1 ? std::atoi(argv[1]) : 8000;
  const int step = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int idle_s = argc > 3 ? std::atoi(argv[3]) : 5;
  const int timer_max = argc > 4 ? std::atoi(argv[4]) : 4000;
  run(Config{"timer: housekeeping every 5 s in every worker (before)", true,
             std::min(max_workers, timer_max)},
      step, idle_s);
  const double bare = bare_process_kib(max_workers, idle_s);
  std::printf("== floor: %d bare processes (ready_child, in pause()): %.1f KiB/process\n",
              max_workers, bare);
  const double per_worker =
      run(Config{"events: the base idle(), idle workers never wake (now)", false, max_workers},
          step, idle_s);
  if (bare > 0 && per_worker > 0) {
    std::printf("ratio KiB/worker / bare process: %.2fx   (target: <= 200 KiB per worker)\n",
                per_worker / bare);
  }
  return 0;
}
