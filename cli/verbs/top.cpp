// dynmgrctl top: the fleet at a glance, refreshed every -d seconds, read
// straight from shared memory (registry, per-slot counters, event ring) and
// /proc: no request to the supervisor for the display. On a terminal it is a
// full-screen ncurses view (cli/top_screen.cpp); otherwise it prints plain
// text frames, and -n N stops after N of them.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <memory>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "cli/top_model.hpp"
#include "cli/top_screen.hpp"
#include "cli/top_source.hpp"
#include "shared/clock.hpp"
#include "shared/names.hpp"

namespace dynmgr::cli {
namespace {

volatile sig_atomic_t g_stop = 0;
extern "C" void on_top_stop(int) { g_stop = 1; }

struct TopArgs {
  double delay_s = 1.0;
  std::uint64_t frames = 0;  // 0: until Ctrl-C (or q)
};

// Sleeps ms, or less if a stop signal comes.
void pause_ms(std::uint64_t ms) {
  struct timespec ts {
    static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L
  };
  while (g_stop == 0 && ::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Plain text frames: every worker (sorted by id), CPU % and RSS from /proc
// for each, the last events; a blank line between frames.
int plain_frames(top::FleetSource& source, const TopArgs& a, std::uint64_t delay_ms) {
  struct sigaction sa {};
  sa.sa_handler = on_top_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  top::ProcSampler sampler;
  for (std::uint64_t frame = 0; g_stop == 0 && (a.frames == 0 || frame < a.frames); ++frame) {
    if (frame > 0) {
      pause_ms(delay_ms);
      if (g_stop != 0) break;
      std::cout << '\n';
    }
    source.refresh();
    std::vector<top::Row> rows = source.rows();
    const std::uint64_t now = wall_ms();
    const top::SortOrder order;
    top::sort_rows(rows, order, now);
    const std::uint64_t mono = mono_ms();
    for (auto& r : rows) sampler.fill(r, mono, delay_ms / 2);
    sampler.prune(mono);
    top::FrameInput in;
    in.title = source.title();
    in.trouble = source.trouble();
    in.counts = top::count(source.rows());
    in.rows = &rows;
    in.order = order;
    in.events.assign(source.events().begin(), source.events().end());
    in.width = terminal_width();
    in.now_ms = now;
    for (const auto& line : top::compose_frame(in)) std::cout << line.text << '\n';
    std::cout.flush();
    if (!std::cout) return 1;  // the reader of our output is gone
  }
  return 0;
}

int run_top(Context& ctx, const TopArgs& a) {
  const std::string instance = ctx.instance.empty() ? default_instance_name() : ctx.instance;
  if (auto st = validate_instance_name(instance); !st) return ctx.fail("top", st.error());
  top::FleetSource source(instance);
  if (auto st = source.open(); !st) {
    if (st.error().code == Errc::kNoSupervisor) {
      return ctx.fail("top", Errc::kNoSupervisor,
                      "no supervisor running under '" + instance + "'");
    }
    return ctx.fail("top", st.error());
  }
  const auto delay_ms = static_cast<std::uint64_t>(std::llround(a.delay_s * 1000.0));
  if (::isatty(STDOUT_FILENO) && ::isatty(STDIN_FILENO)) {
    top::ScreenOptions o;
    o.delay_ms = delay_ms;
    if (a.frames > 0) o.frames = a.frames;
    // The client is connected at the first action, not before: the display
    // itself never sends the supervisor a request.
    const auto client = [&ctx, instance]() -> Result<Client*> {
      if (ctx.client) return &*ctx.client;
      Client::Options co;
      co.instance = instance;
      co.timeout = Millis(ctx.wait_ms);
      auto c = Client::connect(co);
      if (!c) return c.error();
      ctx.client.emplace(std::move(*c));
      return &*ctx.client;
    };
    o.del = [client](std::string_view id) -> Status {
      auto c = client();
      if (!c) return c.error();
      return (*c)->del(id);
    };
    o.restart = [client](std::string_view id) -> Status {
      auto c = client();
      if (!c) return c.error();
      auto r = (*c)->restart_worker(id);
      if (!r) return r.error();
      return {};
    };
    if (auto code = top::run_screen(source, o)) return *code;
  }
  return plain_frames(source, a, delay_ms);
}

}  // namespace

void add_top(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "top", "a live full-screen view of the fleet, until q (reads shared memory and /proc)");
  auto args = std::make_shared<TopArgs>();
  cmd->add_option("-d,--delay", args->delay_s, "seconds between refreshes (default 1; 0.1 to 3600)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("-n,--frames", args->frames,
                  "stop after N refreshes (plain text: N frames; -n 1 prints one frame)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{UINT64_MAX}));
  cmd->callback([&ctx, args] { ctx.exit_code = run_top(ctx, *args); });
}

}  // namespace dynmgr::cli
