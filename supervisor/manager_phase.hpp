#pragma once
// The manager's phase as a pure state machine, in the style of the worker life
// cycle (supervisor/worker_lifecycle.hpp):
//
//   step(state, event) -> Transition{next state, actions}
//
//   kIdle        before boot
//   kStarting    children_specs() are starting           registry: starting
//   kUp          every boot child is ready (or gave up)   registry: up
//   kRestarting  `restart`: every worker is stopping, then boot again (starting)
//   kStopping    shutdown: every worker is stopping       registry: down
//   kDown        every worker is gone; the loop ends
//
// handle_state_change() may answer "restart": the loop reports that as
// kRestartAsked, which restarts at once when `up` and is kept until `up` is
// reached otherwise (as Tarearbol's :restart answer).

#include "shared/types.hpp"
#include "supervisor/worker_lifecycle.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace dynmgr::manager_phase {

using lifecycle::Waiter;

enum class Phase : std::uint8_t { kIdle, kStarting, kUp, kRestarting, kStopping, kDown };
BOOST_DESCRIBE_ENUM(Phase, kIdle, kStarting, kUp, kRestarting, kStopping, kDown)
inline constexpr int kPhaseCount = lifecycle::kCount<Phase>;

struct State {
  Phase phase = Phase::kIdle;
  bool restart_asked = false;    // handle_state_change answered restart
  bool announced = false;        // on_ready has run (first `up` only)
  std::vector<Waiter> restart_waiters;
  std::vector<Waiter> stop_waiters;
};

enum class EventKind : std::uint8_t {
  kBoot,              // the supervisor has started: boot children_specs()
  kBootSettled,       // every boot child is ready, or no longer starting
  kRestartRequested,  // a client's `restart` (waiter)
  kRestartAsked,      // handle_state_change answered restart
  kWorkersGone,       // no worker is left
  kShutdownRequested, // a stop signal or a client's `stop` (waiter, optional)
};
BOOST_DESCRIBE_ENUM(EventKind, kBoot, kBootSettled, kRestartRequested, kRestartAsked, kWorkersGone,
                    kShutdownRequested)
inline constexpr int kEventKindCount = lifecycle::kCount<EventKind>;

struct Event {
  Event() = default;
  explicit Event(EventKind k, std::optional<Waiter> w = std::nullopt) : kind(k), waiter(std::move(w)) {}
  EventKind kind = EventKind::kBoot;
  std::optional<Waiter> waiter;
};

enum class ActionKind : std::uint8_t {
  kSetState,       // publish `state` and call handle_state_change (only if it changed)
  kBootChildren,   // start children_specs() (and the pool's members)
  kStopAll,        // ask every worker to stop (cause)
  kReplyUp,        // answer waiters "up"
  kReplyStopping,  // answer waiters with an error: the supervisor is stopping
  kAnnounceReady,  // the daemon is ready (once)
  kFinish,         // leave the loop; remove every object, then answer waiters "stopped"
};
BOOST_DESCRIBE_ENUM(ActionKind, kSetState, kBootChildren, kStopAll, kReplyUp, kReplyStopping,
                    kAnnounceReady, kFinish)

struct Action {
  Action() = default;
  explicit Action(ActionKind k) : kind(k) {}
  ActionKind kind = ActionKind::kSetState;
  ManagerState state = ManagerState::kUnknown;         // kSetState
  lifecycle::StopCause cause = lifecycle::StopCause::kNone;  // kStopAll
  std::vector<Waiter> waiters;                         // kReply*, kFinish
};

using lifecycle::Verdict;

struct Transition {
  State next;
  std::vector<Action> actions;
  Verdict verdict = Verdict::kApplied;
};

Transition step(const State& state, const Event& event);

std::string_view to_string(Phase p) noexcept;
std::string_view to_string(EventKind e) noexcept;
std::string_view to_string(ActionKind a) noexcept;

}  // namespace dynmgr::manager_phase
