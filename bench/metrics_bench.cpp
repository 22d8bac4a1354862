// One scrape of an instance's Prometheus metrics (shared/metrics.hpp) at
// 10 000 workers, against the floor of reading the same registry (snapshot,
// what `dynmgrctl state` does) in the same run. The registry is a real
// segment filled by a real writer; the workers' counters are stored as
// workers store them. No processes: a scrape reads shared memory only.
//
//   metrics_bench [WORKERS] [ROUNDS]   (defaults 10000, 20)
#include <cstdio>

#include "bench/bench_util.hpp"
#include "shared/metrics.hpp"
#include "shared/registry.hpp"
#include "bench/synthetic_registry.hpp"

using namespace dynmgr;

int main(int argc, char** argv) {
  bench::setup_output();
  const std::uint32_t workers = argc > 1 ? static_cast<std::uint32_t>(std::stoul(argv[1])) : 10'000;
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 20;
  const Names names("bench-metrics-" + std::to_string(::getpid()));
  auto w = bench::create_registry(names, workers);
  if (!w) return 1;
  const auto h = w->header();
  for (std::uint32_t i = 0; i < workers; ++i) {
    SlotRecord r;
    r.slot = *w->allocate();
    r.id = "customer-" + std::to_string(i);
    r.status = WorkerStatus::kRunning;
    r.pid = 100000 + static_cast<pid_t>(i);
    r.payload = R"({"n":)" + std::to_string(i) + "}";
    (void)w->write(r);
    auto words = WorkerWords::open(names, r.slot, h.capacity, h.words_stride);
    if (!words) return 1;
    for (int k = 0; k < 3; ++k) words->count_work(Work::kCall, 150 + k * 1000);
    words->count_work(Work::kPerform, 2000);
  }
  auto reader = RegistryReader::open(names);
  std::vector<double> render_ms, snapshot_ms;
  std::size_t bytes = 0;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = bench::now_ns();
    auto snap = reader->snapshot();
    snapshot_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    t0 = bench::now_ns();
    const std::string text = render_metrics(*reader, names.instance());
    render_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    bytes = text.size();
  }
  // What a one-shot reader (`dynmgrctl state`) pays: a fresh mapping each
  // time, so every page it reads faults in. The worker-owned words are a page
  // per slot (a worker maps its own page and nothing else), so a cold
  // snapshot faults one more page per worker than the dense slot headers
  // alone; the floor is the same cold snapshot with the words object absent.
  auto cold = [&] {
    std::vector<double> ms;
    for (int i = 0; i < rounds; ++i) {
      auto t0 = bench::now_ns();
      auto r = RegistryReader::open(names);
      auto snap = r->snapshot();
      ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    }
    return bench::summarize(ms);
  };
  const auto cold_words = cold();
  const std::string words_path = Names::shm_path(names.words());
  const std::string words_kept = words_path + ".bench";
  (void)std::rename(words_path.c_str(), words_kept.c_str());
  const auto cold_floor = cold();
  (void)std::rename(words_kept.c_str(), words_path.c_str());
  w->remove_name();
  const auto floor = bench::summarize(snapshot_ms);
  const auto scrape = bench::summarize(render_ms);
  std::printf("%u workers, %zu bytes of metrics\n", workers, bytes);
  bench::print("floor: registry snapshot", floor);
  bench::print("scrape: render_metrics", scrape);
  std::printf("scrape / snapshot (median): %.2fx\n", scrape.median_ms / floor.median_ms);
  bench::print("floor: cold snapshot, no words object", cold_floor);
  bench::print("cold snapshot with the words (a page per worker)", cold_words);
  std::printf("cold snapshot with words / without (median): %.2fx\n",
              cold_words.median_ms / cold_floor.median_ms);
  return 0;
}
