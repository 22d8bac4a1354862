// What containment costs a worker's start (README "Containment"): the same
// probe supervisor with --containment none, subreaper and cgroup, interleaved
// in one run so drift affects all alike. Per mode:
//   put      a new id -> `running` (Client::put returns once it is ready)
//   restart  SIGKILL of the worker -> its replacement `running`
//   del      the reply to del (the supervisor ends the leaf as it reaps)
//
//   containment_bench [N]   (N puts, restarts and dels per mode; default 150)
#include <iostream>
#include <thread>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"
#include "shared/names.hpp"
#include "shared/registry.hpp"

namespace {

struct Times {
  std::vector<double> put, restart, del;
};

void measure(const std::string& mode, int n, Times& t) {
  const std::string name = "benchcontain" + mode + std::to_string(::getpid());
  if (!bench::start_probe(
          name, {"--containment", mode, "--no-state", "--no-logs", "--healthy-uptime", "0"})) {
    std::exit(1);
  }
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) std::abort();
  auto reader = dynmgr::RegistryReader::open(dynmgr::Names(name));
  if (!reader) std::abort();
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.max_restarts = 1'000'000;
  spec.within_ms = 1;
  for (int i = 0; i < n; ++i) {
    const std::string id = "w" + std::to_string(i);
    std::uint64_t t0 = bench::now_ns();
    auto rec = client->put(id, spec);
    if (!rec) {
      std::cerr << mode << ": " << rec.error().message << "\n";
      std::exit(1);
    }
    t.put.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    t0 = bench::now_ns();
    ::kill(rec->pid, SIGKILL);
    for (;;) {
      auto r = reader->read(rec->slot);
      if (r && r->pid != rec->pid && r->pid > 0 && r->status == dynmgr::WorkerStatus::kRunning) {
        break;
      }
      std::this_thread::yield();
    }
    t.restart.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    t0 = bench::now_ns();
    if (auto st = client->del(id); !st) {
      std::cerr << mode << ": del: " << st.error().message << "\n";
      std::exit(1);
    }
    t.del.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  (void)client->stop();
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int n = argc > 1 ? std::atoi(argv[1]) : 150;
  const std::vector<std::string> modes = {"none", "subreaper", "cgroup"};
  std::vector<Times> times(modes.size());
  for (int round = 0; round < 3; ++round) {
    for (std::size_t m = 0; m < modes.size(); ++m) measure(modes[m], n / 3, times[m]);
  }
  std::vector<bench::Summary> put, restart, del;
  for (std::size_t m = 0; m < modes.size(); ++m) {
    put.push_back(bench::summarize(times[m].put));
    restart.push_back(bench::summarize(times[m].restart));
    del.push_back(bench::summarize(times[m].del));
    bench::print(("put     --containment " + modes[m]).c_str(), put.back());
    bench::print(("restart --containment " + modes[m]).c_str(), restart.back());
    bench::print(("del     --containment " + modes[m]).c_str(), del.back());
  }
  for (std::size_t m = 1; m < modes.size(); ++m) {
    std::printf("ratio (median) %s / none: put %.2fx, restart %.2fx, del %.2fx\n", modes[m].c_str(),
                put[m].median_ms / put[0].median_ms, restart[m].median_ms / restart[0].median_ms,
                del[m].median_ms / del[0].median_ms);
  }
  return 0;
}
