// 10 000 workers (DESIGN.md §8): time to put them (several clients in parallel,
// each put synchronous), supervisor RSS, supervisor idle CPU, `state --json`
// whole-process time, time to del them all.
//
//   fleet_bench [WORKERS] [CLIENTS]   (defaults 10000, 4)
#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

#include <fcntl.h>
#include <cstring>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace {

long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  }
  return -1;
}

template <class F>
double parallel(int workers, int clients, const std::string& name, F op) {
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const std::uint64_t t0 = bench::now_ns();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(15000)});
      if (!client) {
        ++failures;
        return;
      }
      for (int i = next++; i < workers; i = next++) {
        if (!op(*client, i)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failures > 0) std::cerr << failures << " operation(s) failed\n";
  return static_cast<double>(bench::now_ns() - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int workers = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int clients = argc > 2 ? std::atoi(argv[2]) : 4;
  const int idle_s = argc > 3 ? std::atoi(argv[3]) : 10;
  const std::string name = "benchfleet" + std::to_string(::getpid());
  const std::string bin = bench::bin_dir();
  if (!bench::start_probe(name, {"--max-workers", std::to_string(workers + 16)})) return 1;
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) return 1;
  const pid_t sup = client->header().supervisor_pid;
  const long rss_empty = status_kb(sup, "VmRSS:");

  // Issue 14's floor for a put's CPU: a bare posix_spawn + ready round trip,
  // measured here, in the same run.
  std::vector<double> floor_ms;
  for (const auto& b : bench::bare_starts(200)) floor_ms.push_back(b.spawn_ready_ms);
  const double floor = bench::summarize(floor_ms).median_ms;

  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.payload = dynmgr::json::object{{"n", 0}};
  const double sup_cpu0 = bench::process_cpu_seconds(sup);
  const double sys_cpu0 = bench::system_cpu_seconds();
  const double put_s = parallel(workers, clients, name, [&](dynmgr::Client& c, int i) {
    return static_cast<bool>(c.put("w" + std::to_string(i), spec));
  });
  std::printf("put %d workers with %d clients: %.2f s (%.0f puts/s)   (target <= 10 s)\n", workers,
              clients, put_s, workers / put_s);
  const double sup_put_cpu = bench::process_cpu_seconds(sup) - sup_cpu0;
  std::printf("   CPU while putting: supervisor %.2f s, whole machine %.2f s of %.2f s available\n",
              sup_put_cpu, bench::system_cpu_seconds() - sys_cpu0,
              put_s * static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN)));
  const double per_put_ms = sup_put_cpu * 1000 / workers;
  std::printf(
      "   supervisor CPU per put: %.3f ms = %.2fx a bare posix_spawn + ready round trip "
      "(%.3f ms, median of 200)   (target <= 2x)\n",
      per_put_ms, per_put_ms / floor, floor);
  std::printf("supervisor RSS: %ld KiB empty, %ld KiB with %d workers (peak %ld KiB)   (target <= 65536 KiB)\n",
              rss_empty, status_kb(sup, "VmRSS:"), workers, status_kb(sup, "VmHWM:"));

  // Idle CPU over 10 s with every worker idle.
  const double c0 = bench::process_cpu_seconds(sup);
  const std::uint64_t w0 = bench::now_ns();
  std::this_thread::sleep_for(std::chrono::seconds(idle_s));  // measuring an idle period, not synchronising
  const double idle_pct = (bench::process_cpu_seconds(sup) - c0) /
                          (static_cast<double>(bench::now_ns() - w0) / 1e9) * 100;
  std::printf("supervisor idle CPU with %d workers: %.2f %%   (target <= 1 %%)\n", workers, idle_pct);

  std::vector<double> state_ms;
  for (int i = 0; i < 10; ++i) {
    const std::uint64_t t0 = bench::now_ns();
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      const std::string ctl = bin + "/dynmgrctl";
      ::execl(ctl.c_str(), ctl.c_str(), "-n", name.c_str(), "--json", "state", nullptr);
      ::_exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    state_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  bench::print("dynmgrctl --json state (whole process)", bench::summarize(state_ms));
  std::printf("   (target <= 100 ms with 10 000 workers)\n");

  const double del_s = parallel(workers, clients, name, [&](dynmgr::Client& c, int i) {
    return static_cast<bool>(c.del("w" + std::to_string(i)));
  });
  std::printf("del %d workers with %d clients: %.2f s (%.0f dels/s)\n", workers, clients, del_s,
              workers / del_s);
  (void)client->stop();
  return 0;
}
