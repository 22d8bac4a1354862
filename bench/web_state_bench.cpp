// The body of the web dashboard's GET /api/state at 10 000 workers: the
// registry read as Client::state() reads it, the `state --json` document
// (shared/state_json.hpp) and its serialization, against the floor of the
// snapshot alone in the same run. A real registry segment filled by a real
// writer; no processes, no HTTP (the socket adds a copy to the kernel).
//
//   web_state_bench [WORKERS] [ROUNDS]   (defaults 10000, 20)
#include "bench/bench_util.hpp"
#include "shared/json.hpp"
#include "shared/registry.hpp"
#include "bench/synthetic_registry.hpp"
#include "shared/state_json.hpp"

using namespace dynmgr;

int main(int argc, char** argv) {
  bench::setup_output();
  const std::uint32_t workers = argc > 1 ? static_cast<std::uint32_t>(std::stoul(argv[1])) : 10'000;
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 20;
  const Names names("bench-webstate-" + std::to_string(::getpid()));
  auto w = bench::create_registry(names, workers);
  if (!w) return 1;
  for (std::uint32_t i = 0; i < workers; ++i) {
    SlotRecord r;
    r.slot = *w->allocate();
    r.id = "customer-" + std::to_string(i);
    r.status = WorkerStatus::kRunning;
    r.pid = 100000 + static_cast<pid_t>(i);
    r.payload = R"({"n":)" + std::to_string(i) + "}";
    (void)w->write(r);
  }
  auto reader = RegistryReader::open(names);
  std::vector<double> state_ms, snapshot_ms;
  std::size_t bytes = 0;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = bench::now_ns();
    auto snap = reader->snapshot();
    snapshot_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    t0 = bench::now_ns();
    auto again = reader->snapshot();
    std::vector<WorkerInfo> all(again->begin(), again->end());  // as Client::state()
    const std::string body = to_json(state_json(InstanceInfo{}, names.instance(), all));
    state_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    bytes = body.size();
  }
  w->remove_name();
  const auto floor = bench::summarize(snapshot_ms);
  const auto state = bench::summarize(state_ms);
  std::printf("%u workers, %zu bytes of /api/state\n", workers, bytes);
  bench::print("floor: registry snapshot", floor);
  bench::print("/api/state: snapshot + state_json + serialize", state);
  std::printf("/api/state / snapshot (median): %.2fx\n", state.median_ms / floor.median_ms);
  return 0;
}
