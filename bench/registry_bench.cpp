// Registry benchmarks (DESIGN §8: `state --json` with 10 000 workers ≤ 100 ms):
//  * BM_Snapshot            full-registry snapshot() with 10 000 slots in use
//  * BM_SnapshotUnderWrites the same while another process rewrites slots
//                           at full speed (seqlock retries included)
//  * BM_ReadOneSlot         one seqlock-checked read
//  * BM_FindById            find() of a random id among 10 000 (the id index)
//  * BM_WriterUpdate        RegistryWriter::write of a slot with a small payload
// Each run uses its own instance name and removes its segment afterwards.

#include "shared/registry.hpp"

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

using dynmgr::Names;
using dynmgr::RegistryConfig;
using dynmgr::RegistryReader;
using dynmgr::RegistryWriter;
using dynmgr::SlotRecord;

constexpr std::uint32_t kWorkers = 10'000;

Names bench_names(const char* what) {
  return Names("bench" + std::to_string(::getpid()) + what);
}

SlotRecord record(std::uint32_t slot, std::uint64_t n) {
  SlotRecord r;
  r.slot = slot;
  r.id = "worker-" + std::to_string(slot);
  r.status = dynmgr::WorkerStatus::kRunning;
  r.pid = 10000 + static_cast<pid_t>(slot);
  r.payload = R"({"count":)" + std::to_string(n) + "}";
  r.value = std::to_string(n);
  return r;
}

// A registry with `used` slots filled, as a supervisor would publish it.
struct Fixture {
  Names names;
  std::unique_ptr<RegistryWriter> writer;
  std::unique_ptr<RegistryReader> reader;

  Fixture(const char* what, std::uint32_t used) : names(bench_names(what)) {
    RegistryConfig cfg;  // defaults: max_payload 4096
    cfg.capacity = kWorkers;
    auto w = RegistryWriter::create(names, cfg);
    if (!w) std::abort();
    writer = std::make_unique<RegistryWriter>(std::move(*w));
    for (std::uint32_t i = 0; i < used; ++i) {
      auto slot = writer->allocate();
      if (!slot || !writer->write(record(*slot, i))) std::abort();
    }
    auto r = RegistryReader::open(names);
    if (!r) std::abort();
    reader = std::make_unique<RegistryReader>(std::move(*r));
  }
  ~Fixture() { writer->remove_name(); }
};

void BM_Snapshot(benchmark::State& state) {
  Fixture f("snap", kWorkers);
  std::size_t slots = 0;
  for (auto _ : state) {
    auto snap = f.reader->snapshot();
    if (!snap) {
      state.SkipWithError("snapshot failed");
      break;
    }
    slots += snap->size();
    benchmark::DoNotOptimize(snap);
  }
  state.counters["slots"] = static_cast<double>(kWorkers);
  state.counters["snapshots/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
  state.counters["slots/s"] = benchmark::Counter(static_cast<double>(slots), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Snapshot)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SnapshotUnderWrites(benchmark::State& state) {
  Fixture f("snapw", kWorkers);
  auto* stop = static_cast<std::atomic<int>*>(
      ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (stop) std::atomic<int>(0);
  const pid_t writer = ::fork();
  if (writer == 0) {
    // Rewrites every slot round-robin at full speed until told to stop.
    for (std::uint64_t n = 0; stop->load(std::memory_order_relaxed) == 0; ++n) {
      (void)f.writer->write(record(static_cast<std::uint32_t>(n % kWorkers), n));
    }
    ::_exit(0);
  }
  for (auto _ : state) {
    auto snap = f.reader->snapshot();
    if (!snap) {
      state.SkipWithError("snapshot failed");
      break;
    }
    benchmark::DoNotOptimize(snap);
  }
  stop->store(1);
  ::waitpid(writer, nullptr, 0);
  ::munmap(stop, sizeof(std::atomic<int>));
  state.counters["snapshots/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                     benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SnapshotUnderWrites)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadOneSlot(benchmark::State& state) {
  Fixture f("read", 64);
  std::uint32_t i = 0;
  for (auto _ : state) {
    auto r = f.reader->read(i++ & 63);
    benchmark::DoNotOptimize(r);
  }
  state.counters["reads/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadOneSlot);

void BM_FindById(benchmark::State& state) {
  Fixture f("find", kWorkers);
  std::uint32_t i = 0;
  for (auto _ : state) {
    i = (i * 2654435761U + 1) % kWorkers;  // all over the table
    auto r = f.reader->find("worker-" + std::to_string(i));
    if (!r) {
      state.SkipWithError("find failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.counters["finds/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FindById);

void BM_WriterUpdate(benchmark::State& state) {
  Fixture f("write", 1024);
  // Prebuilt records: the benchmark measures the publish, not string building.
  std::vector<SlotRecord> recs;
  for (std::uint32_t i = 0; i < 1024; ++i) recs.push_back(record(i, i));
  std::uint32_t i = 0;
  for (auto _ : state) {
    if (!f.writer->write(recs[i++ & 1023])) state.SkipWithError("write failed");
  }
  state.counters["updates/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_WriterUpdate);

}  // namespace

BENCHMARK_MAIN();
