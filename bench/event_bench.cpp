// The event ring (`dynmgrctl watch`), in one run:
//  * ring: EventWriter::publish of N events, alone and with a reader process
//    that follows every one (futex waits), against the floor of the same loop
//    doing only what publish cannot avoid: one FUTEX_WAKE syscall per event.
//  * latency: a probe worker SIGKILLed; how long until a watcher (an
//    EventReader waiting in this process) sees its `exited` event, against the
//    floor of the same kill on a direct child of this process seen by waitid.
//
//   event_bench [EVENTS] [KILLS]   (defaults 1000000, 30)
#include <linux/futex.h>
#include <sys/syscall.h>

#include <atomic>
#include <climits>
#include <iostream>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"
#include "shared/event_ring.hpp"

using namespace dynmgr;

namespace {

double publish_rate(const Names& names, std::uint64_t n, bool with_reader) {
  auto w = EventWriter::create(names, 4096);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    std::exit(1);
  }
  pid_t reader = -1;
  if (with_reader) {
    reader = ::fork();
    if (reader == 0) {
      auto r = EventReader::open(names);
      if (!r) ::_exit(1);
      std::uint64_t cursor = 1;
      while (cursor <= n) {
        r->read(cursor, 4096);
        if (cursor <= n) r->wait(cursor, std::chrono::milliseconds(100));
      }
      ::_exit(0);
    }
  }
  FleetEvent e;
  e.type = EventType::kExited;
  e.id = "worker-0042";
  e.pid = 1234;
  e.exit.kind = ExitInfo::Kind::kSignaled;
  e.exit.code = 9;
  e.exit.reason = "killed by SIGKILL";
  const auto t0 = bench::now_ns();
  for (std::uint64_t i = 0; i < n; ++i) w->publish(e);
  const double s = static_cast<double>(bench::now_ns() - t0) / 1e9;
  if (reader > 0) {
    int st = 0;
    ::waitpid(reader, &st, 0);
  }
  w->remove_name();
  return static_cast<double>(n) / s;
}

double wake_floor_rate(std::uint64_t n) {
  std::atomic<std::uint32_t> word{0};
  const auto t0 = bench::now_ns();
  for (std::uint64_t i = 0; i < n; ++i) {
    word.store(static_cast<std::uint32_t>(i), std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
              nullptr, 0);
  }
  return static_cast<double>(n) / (static_cast<double>(bench::now_ns() - t0) / 1e9);
}

// kill(SIGKILL) -> the `exited` event visible to a waiting reader, in ms.
std::vector<double> watch_latency(const std::string& name, int kills) {
  std::vector<double> ms;
  auto c = Client::connect(Client::Options{name, Millis(10'000)});
  if (!c) return ms;
  ChildSpec spec;
  spec.timeout_ms = 0;
  spec.max_restarts = 100'000;  // never `failed` within the run
  if (!c->put("victim", spec)) return ms;
  auto r = EventReader::open(Names(name));
  if (!r) return ms;
  pid_t previous = 0;
  for (int i = 0; i < kills; ++i) {
    // Running again under a new pid (the previous kill's restart is over).
    pid_t pid = 0;
    for (int tries = 0; tries < 10'000 && pid <= 0; ++tries) {
      auto g = c->get("victim");
      if (g && g->status == WorkerStatus::kRunning && g->pid != previous) pid = g->pid;
      if (pid <= 0) ::usleep(1000);  // a bench, not a test: polling is fine
    }
    previous = pid;
    if (pid <= 0) break;
    std::uint64_t cursor = r->next_seq();
    const auto t0 = bench::now_ns();
    ::kill(pid, SIGKILL);
    bool seen = false;
    while (!seen) {
      for (const auto& e : r->read(cursor)) {
        if (e.type == EventType::kExited && e.pid == pid) seen = true;
      }
      if (!seen) r->wait(cursor, std::chrono::milliseconds(1000));
    }
    ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  return ms;
}

std::vector<double> reap_floor(int kills) {
  std::vector<double> ms;
  for (int i = 0; i < kills; ++i) {
    const pid_t child = ::fork();
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    siginfo_t si{};
    const auto t0 = bench::now_ns();
    ::kill(child, SIGKILL);
    ::waitid(P_PID, static_cast<id_t>(child), &si, WEXITED);
    ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const std::uint64_t events = argc > 1 ? std::stoull(argv[1]) : 1'000'000;
  const int kills = argc > 2 ? std::stoi(argv[2]) : 30;
  const Names names("bench-ring-" + std::to_string(::getpid()));

  const double floor = wake_floor_rate(events);
  const double alone = publish_rate(names, events, false);
  const double followed = publish_rate(names, events, true);
  std::printf("%-48s %12.0f events/s\n", "floor: store + FUTEX_WAKE", floor);
  std::printf("%-48s %12.0f events/s  (%.2fx the floor)\n", "ring: publish, nobody reading", alone,
              alone / floor);
  std::printf("%-48s %12.0f events/s  (%.2fx the floor)\n", "ring: publish, one reader following",
              followed, followed / floor);

  const std::string name = "bench-watch-" + std::to_string(::getpid());
  if (!bench::start_probe(name, {"--backoff-base", "1", "--backoff-cap", "5"})) return 1;
  const auto floor_reap = bench::summarize(reap_floor(kills));
  const auto watch = bench::summarize(watch_latency(name, kills));
  bench::run({bench::bin_dir() + "/dynmgrctl", "-n", name, "stop"});
  bench::print("floor: SIGKILL -> waitid of a direct child", floor_reap);
  bench::print("watch: SIGKILL -> `exited` event seen", watch);
  if (floor_reap.median_ms > 0) {
    std::printf("watch latency / reap floor (median): %.1fx\n",
                watch.median_ms / floor_reap.median_ms);
  }
  return 0;
}
