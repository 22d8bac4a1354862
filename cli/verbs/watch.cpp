// dynmgrctl watch: the instance's life-cycle events as they happen, read from
// the event ring in shared memory (shared/event_ring.hpp): no request to the
// supervisor, however many watch. Runs until SIGINT or SIGTERM (exit 0), and
// follows the instance across supervisor restarts, like `tail -F`.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <optional>

#include "cli/context.hpp"
#include "shared/event_ring.hpp"
#include "shared/names.hpp"

namespace dynmgr::cli {
namespace {

volatile sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

// No SA_RESTART: the futex wait returns at once with EINTR.
void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

constexpr auto kWaitStep = std::chrono::milliseconds(200);

struct WatchArgs {
  std::string id;
  std::uint64_t since = 0;  // 0: only what happens from now on
};

int watch(Context& ctx, const WatchArgs& a) {
  const std::string instance = ctx.instance.empty() ? default_instance_name() : ctx.instance;
  if (auto st = validate_instance_name(instance); !st) return ctx.fail("watch", st.error());
  if (!a.id.empty()) {
    if (auto st = validate_id(a.id); !st) return ctx.fail("watch", st.error());
  }
  const Names names(instance);
  auto opened = EventReader::open(names);
  if (!opened) {
    if (opened.error().code == Errc::kNoSupervisor) {
      return ctx.fail("watch", Errc::kNoSupervisor,
                      "no supervisor running under '" + instance + "' (no event ring)");
    }
    return ctx.fail("watch", opened.error());
  }
  std::optional<EventReader> ring(std::move(*opened));
  std::uint64_t cursor = a.since != 0 ? a.since : ring->next_seq();
  catch_stop_signals();
  while (g_stop == 0) {
    if (ring) {
      for (const auto& e : ring->read(cursor)) {
        if (!a.id.empty() && e.type != EventType::kMissed && e.id != a.id) continue;
        std::cout << (ctx.json ? event_json(e) : event_text(e)) << '\n';
      }
      std::cout.flush();
      if (!std::cout) return 1;  // the reader of our output is gone
      if (ring->closed()) {
        // A clean stop (or a new supervisor's new ring): drain what is
        // left, then look for the next ring from its first event.
        for (const auto& e : ring->read(cursor)) {
          if (!a.id.empty() && e.type != EventType::kMissed && e.id != a.id) continue;
          std::cout << (ctx.json ? event_json(e) : event_text(e)) << '\n';
        }
        std::cout.flush();
        ring.reset();
        cursor = 1;
        continue;
      }
      ring->wait(cursor, kWaitStep);
    } else {
      auto next = EventReader::open(names);
      if (next) {
        ring.emplace(std::move(*next));
        continue;
      }
      // Nothing to wait on: look again after a step (or at the stop signal).
      struct timespec ts {
        0, static_cast<long>(kWaitStep.count()) * 1'000'000L
      };
      ::nanosleep(&ts, nullptr);
    }
  }
  return 0;
}

}  // namespace

void add_watch(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "watch", "print life-cycle events as they happen, until Ctrl-C (reads shared memory)");
  auto args = std::make_shared<WatchArgs>();
  cmd->add_option("ID", args->id, "only this worker's events");
  cmd->add_option("--since", args->since,
                  "start at this event number (seq) instead of now; 1: every event still held")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{UINT64_MAX}));
  cmd->callback([&ctx, args] { ctx.exit_code = watch(ctx, *args); });
}

}  // namespace dynmgr::cli
