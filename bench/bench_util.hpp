#pragma once
// Helpers shared by the process-level benchmarks: timing, percentiles, and
// starting a supervisor from build/bin as a daemon.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace bench {

// Line-buffered results (they survive an interrupted run), and no death by
// SIGPIPE: `bench | head` must not kill a benchmark before it stops the
// supervisor it started (that left 3 000-worker fleets running).
inline void setup_output() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ::signal(SIGPIPE, SIG_IGN);
}

inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Summary {
  double median_ms = 0;
  double p99_ms = 0;
  double mean_ms = 0;
  std::size_t n = 0;
};

inline Summary summarize(std::vector<double> ms) {
  Summary s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.n = ms.size();
  s.median_ms = ms[ms.size() / 2];
  s.p99_ms = ms[std::min(ms.size() - 1, static_cast<std::size_t>(static_cast<double>(ms.size()) * 0.99))];
  double sum = 0;
  for (double v : ms) sum += v;
  s.mean_ms = sum / static_cast<double>(ms.size());
  return s;
}

inline void print(const char* what, const Summary& s) {
  std::printf("%-48s n=%-6zu median %8.3f ms   p99 %8.3f ms   mean %8.3f ms\n", what, s.n,
              s.median_ms, s.p99_ms, s.mean_ms);
}

// Directory of this benchmark binary (build/bin), where the examples live too.
inline std::string bin_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string p(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  return p.substr(0, p.rfind('/'));
}

// In a forked child: becomes argv (argv[0] a path), or exits 127.
[[noreturn]] inline void exec_child(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  ::execv(a[0], a.data());
  ::_exit(127);
}

// Runs argv to completion; returns its exit code.
inline int run(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(argv);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Starts the probe test manager as a daemon under `name` (log in /tmp), with
// extra supervisor flags, then those of $BENCH_PROBE_FLAGS (split on spaces):
// any bench can then measure a supervisor option, e.g. "--durability sync",
// against the defaults in the same run. False (and a message) if it did not
// come up.
inline bool start_probe(const std::string& name, const std::vector<std::string>& flags = {}) {
  std::vector<std::string> argv = {bin_dir() + "/probe", "-n", name, "--daemon", "--log-file",
                                   "/tmp/" + name + ".log", "--log-level", "error"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (const char* env = std::getenv("BENCH_PROBE_FLAGS"); env != nullptr && *env != '\0') {
    std::istringstream in(env);
    for (std::string flag; in >> flag;) argv.push_back(flag);
    std::printf("supervisor flags from BENCH_PROBE_FLAGS: %s\n", env);  // in the results
  }
  // The state database next to the log in /tmp (the same disk here), not in
  // /var/lib/dynmgr/NAME, where every run's would stay behind.
  const bool stated = std::any_of(argv.begin(), argv.end(), [](const std::string& f) {
    return f == "--state-dir" || f == "--no-state";
  });
  if (!stated) {
    argv.push_back("--state-dir");
    argv.push_back("/tmp/" + name + ".state");
  }
  if (run(argv) == 0) return true;
  std::fprintf(stderr, "unable to start probe\n");
  return false;
}

// The floor of a worker start: a bare posix_spawn of `ready_child`, which
// writes one byte to a pipe when it is up, until that byte is read; then
// SIGKILL and reap, timed apart. One entry per run after a warm-up run.
struct BareStart {
  double spawn_ready_ms;
  double kill_reap_ms;
};
// `gap_ms`: a pause (not timed) after each run, as restart_bench's GAP.
inline std::vector<BareStart> bare_starts(int runs, int gap_ms = 0) {
  const std::string child = bin_dir() + "/ready_child";
  std::vector<BareStart> out;
  for (int i = 0; i <= runs; ++i) {
    int p[2];
    if (::pipe(p) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    char* argv[] = {const_cast<char*>(child.c_str()), nullptr};
    pid_t pid = 0;
    const std::uint64_t t0 = now_ns();
    if (posix_spawn(&pid, child.c_str(), &fa, nullptr, argv, environ) != 0) std::abort();
    posix_spawn_file_actions_destroy(&fa);
    ::close(p[1]);
    char c;
    if (::read(p[0], &c, 1) != 1) std::abort();
    const std::uint64_t t1 = now_ns();
    ::close(p[0]);
    const std::uint64_t k0 = now_ns();
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    const std::uint64_t k1 = now_ns();
    if (i > 0) {
      out.push_back({static_cast<double>(t1 - t0) / 1e6, static_cast<double>(k1 - k0) / 1e6});
    }
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  return out;
}

// utime + stime of one process, from /proc/<pid>/stat (0 once it is gone).
inline double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos || close + 2 > s.size()) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the command: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Busy CPU time of the whole machine (every CPU: user + nice + system + irq +
// softirq), from /proc/stat.
inline double system_cpu_seconds() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return 0;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                            &iowait, &irq, &softirq);
  std::fclose(f);
  if (n != 7) return 0;
  return static_cast<double>(user + nice + system + irq + softirq) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace bench
