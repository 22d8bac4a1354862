// dynmgrctl top at 10 000 workers, against `dynmgrctl state` in the same run.
// The registry is a real segment filled by a real writer (this process is its
// "supervisor"); every worker's pid is this process, so each /proc read top
// makes is a real one. No worker processes: top reads shared memory and /proc.
//
//  * in process: one screen refresh as top's screen does it (the registry
//    read brief, filter, sort, /proc of the 40 visible rows, the frame), and
//    the floor `state` pays (a full snapshot);
//  * whole processes: `dynmgrctl top -n 3 -d 0.1` (plain text: every row, so
//    /proc of all 10 000) and `dynmgrctl state`, wall time and peak RSS.
//
//   top_bench [WORKERS] [ROUNDS]   (defaults 10000, 10)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench/bench_util.hpp"
#include "cli/top_model.hpp"
#include "cli/top_source.hpp"
#include "shared/clock.hpp"
#include "shared/process_identity.hpp"
#include "shared/registry.hpp"
#include "bench/synthetic_registry.hpp"

using namespace dynmgr;

namespace {

struct Run {
  double ms = 0;
  long max_rss_kb = 0;
  int code = -1;
};

// Runs argv with stdout on /dev/null; its wall time and its own peak RSS.
Run run_measured(const std::vector<std::string>& argv) {
  const auto t0 = bench::now_ns();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  int st = 0;
  rusage ru{};
  ::wait4(pid, &st, 0, &ru);
  Run r;
  r.ms = static_cast<double>(bench::now_ns() - t0) / 1e6;
  r.max_rss_kb = ru.ru_maxrss;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const std::uint32_t workers = argc > 1 ? static_cast<std::uint32_t>(std::stoul(argv[1])) : 10'000;
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 10;
  const std::string instance = "bench-top-" + std::to_string(::getpid());
  const Names names(instance);
  auto w = bench::create_registry(names, workers);
  if (!w) return 1;
  w->set_supervisor(::getpid(), process_start_time(::getpid()).value_or(0));
  w->set_manager_state(ManagerState::kUp);
  for (std::uint32_t i = 0; i < workers; ++i) {
    SlotRecord r;
    r.slot = *w->allocate();
    r.id = "customer-" + std::to_string(i);
    r.status = WorkerStatus::kRunning;
    r.pid = ::getpid();
    r.restarts = i % 7;
    r.started_ms = wall_ms() - i;
    r.payload = R"({"n":)" + std::to_string(i) + "}";
    (void)w->write(r);
  }
  auto reader = RegistryReader::open(names);
  if (!reader) {
    std::fprintf(stderr, "%s\n", reader.error().message.c_str());
    return 1;
  }

  // In process.
  std::vector<double> floor_ms, refresh_ms;
  cli::top::FleetSource source(instance);
  (void)source.open();
  cli::top::ProcSampler sampler;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = bench::now_ns();
    auto snap = reader->snapshot();
    floor_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);

    t0 = bench::now_ns();
    source.refresh();
    std::vector<cli::top::Row> rows;
    for (const auto& r : source.rows()) {
      if (cli::top::matches(r.id, "")) rows.push_back(r);
    }
    cli::top::sort_rows(rows, {cli::top::Column::kRestarts, true}, wall_ms());
    const std::size_t height = 50;
    const std::size_t shown = cli::top::rows_height(height);
    cli::top::Viewport view = cli::top::clamp_view({rows.size() / 2, 0}, rows.size(), shown);
    const std::uint64_t mono = mono_ms();
    for (std::size_t k = view.top; k < view.top + shown && k < rows.size(); ++k) {
      // Each row a fresh read, as at every refresh.
      sampler.fill(rows[k], mono + 1000 * static_cast<std::uint64_t>(i + 1), 500);
    }
    cli::top::FrameInput in;
    in.rows = &rows;
    in.counts = cli::top::count(source.rows());
    in.view = view;
    in.interactive = true;
    in.width = 160;
    in.height = height;
    in.now_ms = wall_ms();
    const auto frame = cli::top::compose_frame(in);
    refresh_ms.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    if (frame.size() != height) std::fprintf(stderr, "frame of %zu lines\n", frame.size());
  }
  const auto floor = bench::summarize(floor_ms);
  const auto refresh = bench::summarize(refresh_ms);
  std::printf("%u workers\n", workers);
  bench::print("floor: registry snapshot (state's read)", floor);
  bench::print("top: one screen refresh (40 rows from /proc)", refresh);
  std::printf("screen refresh / snapshot (median): %.2fx\n", refresh.median_ms / floor.median_ms);

  // Whole processes, interleaved so load changes hit both alike.
  const std::string ctl = bench::bin_dir() + "/dynmgrctl";
  std::vector<double> state_ms, top_ms;
  long state_rss = 0, top_rss = 0;
  for (int i = 0; i < std::max(3, rounds / 2); ++i) {
    const Run s = run_measured({ctl, "-n", instance, "state"});
    const Run t = run_measured({ctl, "-n", instance, "top", "-n", "3", "-d", "0.1"});
    if (s.code != 0 || t.code != 0) {
      std::fprintf(stderr, "state exit %d, top exit %d\n", s.code, t.code);
      break;
    }
    state_ms.push_back(s.ms);
    top_ms.push_back(t.ms - 200.0);  // less the two 0.1 s pauses between frames
    state_rss = std::max(state_rss, s.max_rss_kb);
    top_rss = std::max(top_rss, t.max_rss_kb);
  }
  const auto st = bench::summarize(state_ms);
  const auto tp = bench::summarize(top_ms);
  bench::print("dynmgrctl state", st);
  bench::print("dynmgrctl top -n 3 (plain, all rows; less pauses)", tp);
  std::printf("top -n 3 / state (median): %.2fx; per frame %.2fx\n", tp.median_ms / st.median_ms,
              tp.median_ms / 3 / st.median_ms);
  std::printf("peak RSS: state %ld KiB, top %ld KiB\n", state_rss, top_rss);
  w->remove_name();
  return 0;
}
