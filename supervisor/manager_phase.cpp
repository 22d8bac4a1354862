#include "supervisor/manager_phase.hpp"

#include "shared/enum_names.hpp"

namespace dynmgr::manager_phase {
namespace {

struct Builder {
  Transition t;

  explicit Builder(const State& s) : t{s, {}, Verdict::kApplied} {}

  State& s() { return t.next; }
  void add(ActionKind kind) { t.actions.push_back(Action{kind}); }
  void set_state(ManagerState st) {
    Action a{ActionKind::kSetState};
    a.state = st;
    t.actions.push_back(std::move(a));
  }
  void stop_all(lifecycle::StopCause cause) {
    Action a{ActionKind::kStopAll};
    a.cause = cause;
    t.actions.push_back(std::move(a));
  }
  void reply(ActionKind kind, std::vector<Waiter>& waiters) {
    if (waiters.empty()) return;
    Action a{kind};
    a.waiters = std::move(waiters);
    waiters.clear();
    t.actions.push_back(std::move(a));
  }
  void reply_one(ActionKind kind, const std::optional<Waiter>& w) {
    std::vector<Waiter> one;
    if (w) one.push_back(*w);
    reply(kind, one);
  }
  Transition ignored() {
    t.verdict = Verdict::kIgnored;
    t.actions.clear();
    return std::move(t);
  }
  Transition invalid() {
    t.verdict = Verdict::kInvalid;
    t.actions.clear();
    return std::move(t);
  }
  Transition done() { return std::move(t); }

  void begin_restart() {
    s().phase = Phase::kRestarting;
    s().restart_asked = false;
    set_state(ManagerState::kStarting);
    stop_all(lifecycle::StopCause::kRestartAll);
  }

  Transition on_boot() {
    if (s().phase != Phase::kIdle) return invalid();
    s().phase = Phase::kStarting;
    set_state(ManagerState::kStarting);
    add(ActionKind::kBootChildren);
    return done();
  }

  Transition on_boot_settled() {
    switch (s().phase) {
      case Phase::kStarting:
        s().phase = Phase::kUp;
        set_state(ManagerState::kUp);
        reply(ActionKind::kReplyUp, s().restart_waiters);
        if (!s().announced) {
          s().announced = true;
          add(ActionKind::kAnnounceReady);
        }
        if (s().restart_asked) begin_restart();
        return done();
      case Phase::kIdle:
        return invalid();
      default:
        return ignored();  // up already, or boot children of a phase that moved on
    }
  }

  Transition on_restart_requested(const std::optional<Waiter>& w) {
    switch (s().phase) {
      case Phase::kStarting:
      case Phase::kUp:
        if (w) s().restart_waiters.push_back(*w);
        begin_restart();
        return done();
      case Phase::kRestarting:
        if (w) s().restart_waiters.push_back(*w);
        return done();
      case Phase::kStopping:
      case Phase::kDown:
        reply_one(ActionKind::kReplyStopping, w);
        return done();
      case Phase::kIdle:
        return invalid();
    }
    return invalid();
  }

  Transition on_restart_asked() {
    switch (s().phase) {
      case Phase::kUp:
        begin_restart();
        return done();
      case Phase::kStarting:
      case Phase::kRestarting:
        s().restart_asked = true;  // once `up` is reached
        return done();
      default:
        return ignored();  // stopping: nothing to restart
    }
  }

  Transition on_workers_gone() {
    switch (s().phase) {
      case Phase::kRestarting:
        s().phase = Phase::kStarting;
        set_state(ManagerState::kStarting);
        add(ActionKind::kBootChildren);
        return done();
      case Phase::kStopping: {
        s().phase = Phase::kDown;
        Action a{ActionKind::kFinish};
        a.waiters = std::move(s().stop_waiters);
        s().stop_waiters.clear();
        t.actions.push_back(std::move(a));
        return done();
      }
      default:
        return ignored();  // the last worker was deleted
    }
  }

  Transition on_shutdown(const std::optional<Waiter>& w) {
    switch (s().phase) {
      case Phase::kStopping:
        if (w) s().stop_waiters.push_back(*w);
        return done();
      case Phase::kDown:
        return ignored();
      default:
        if (w) s().stop_waiters.push_back(*w);
        s().phase = Phase::kStopping;
        set_state(ManagerState::kDown);
        reply(ActionKind::kReplyStopping, s().restart_waiters);
        stop_all(lifecycle::StopCause::kShutdown);
        return done();
    }
  }
};

}  // namespace

Transition step(const State& state, const Event& ev) {
  Builder b(state);
  switch (ev.kind) {
    case EventKind::kBoot:
      return b.on_boot();
    case EventKind::kBootSettled:
      return b.on_boot_settled();
    case EventKind::kRestartRequested:
      return b.on_restart_requested(ev.waiter);
    case EventKind::kRestartAsked:
      return b.on_restart_asked();
    case EventKind::kWorkersGone:
      return b.on_workers_gone();
    case EventKind::kShutdownRequested:
      return b.on_shutdown(ev.waiter);
  }
  return b.invalid();
}

std::string_view to_string(Phase p) noexcept { return enums::enum_name(p, "?"); }
std::string_view to_string(EventKind e) noexcept { return enums::enum_name(e, "?"); }
std::string_view to_string(ActionKind a) noexcept { return enums::enum_name(a, "?"); }

}  // namespace dynmgr::manager_phase
