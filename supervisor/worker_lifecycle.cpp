#include "supervisor/worker_lifecycle.hpp"

#include <algorithm>
#include <csignal>

#include "shared/enum_names.hpp"

namespace dynmgr::lifecycle {
namespace {

// What Manager::terminate(reason) is told (part of the API: README "Stopping").
std::string terminate_reason(StopCause c) {
  switch (c) {
    case StopCause::kDelete: return "del";
    case StopCause::kReplace: return "replace";
    case StopCause::kRestartAll: return "restart";
    case StopCause::kShutdown: return "shutdown";
    case StopCause::kPassivate: return "passivate";
    case StopCause::kNone: break;
  }
  return "terminate";
}

// Builds a Transition from the current state; every row below is one of these.
struct Builder {
  Transition t;
  const Context& ctx;

  Builder(const WorkerState& s, const Context& c) : t{s, {}, Verdict::kApplied}, ctx(c) {}

  WorkerState& s() { return t.next; }
  void add(Action a) { t.actions.push_back(std::move(a)); }
  void publish() { add(Action{ActionKind::kPublish}); }
  void spawn() { add(Action{ActionKind::kSpawn}); }
  void log(LogLevel level, std::string message) {
    Action a{ActionKind::kLog};
    a.level = level;
    a.message = std::move(message);
    add(std::move(a));
  }
  void arm(TimerKind timer, std::uint64_t delay_ms) {
    Action a{ActionKind::kArmTimer};
    a.timer = timer;
    a.delay_ms = delay_ms;
    add(std::move(a));
  }
  void signal(int sig) {
    Action a{ActionKind::kSignalGroup};
    a.signal = sig;
    add(std::move(a));
  }
  void reply(ActionKind kind, std::vector<Waiter>& waiters, std::string message = {}) {
    if (waiters.empty()) return;
    Action a{kind};
    a.waiters = std::move(waiters);
    waiters.clear();
    a.message = std::move(message);
    add(std::move(a));
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

  std::string who() const { return "worker '" + ctx.id + "'"; }

  // -------------------------------------------------------------- shared rows

  // Asks a running process to go: terminate message, then SIGTERM, then SIGKILL.
  void begin_stop(StopCause cause) {
    s().phase = cause == StopCause::kPassivate ? Phase::kPassivating : Phase::kStopping;
    s().stage = Stage::kTerminateSent;
    s().cause = cause;
    ++s().timer_token;
    publish();
    Action a{ActionKind::kSendTerminate};
    a.message = terminate_reason(cause);
    // restart ID is a put-over of the same spec, but the worker is told why.
    if (cause == StopCause::kReplace && s().replacement && s().replacement->restart) {
      a.message = "restart";
    }
    add(std::move(a));
    arm(TimerKind::kStage, ctx.terminate_timeout_ms);
  }

  // The slot is let go: answered, freed, and (replace(new_id)) handed on.
  void remove() {
    std::optional<Replacement> handed_on;
    if (s().phase == Phase::kReplacing) handed_on = std::move(s().replacement);
    s().phase = Phase::kGone;
    s().stage = Stage::kNone;
    s().replacement.reset();
    add(Action{ActionKind::kRemoveSlot});
    reply(ActionKind::kReplyDeleted, s().exit_waiters);
    reply(ActionKind::kReplyError, s().ready_waiters, who() + " was removed before it was ready");
    reply(ActionKind::kReplyError, s().activate_waiters, who() + " was removed");
    if (handed_on) {
      Action a{ActionKind::kStartReplacement};
      a.replacement = std::move(handed_on);
      add(std::move(a));
    }
  }

  // put over an existing id, once nothing runs: the same slot takes the new
  // spec with a fresh history and starts again.
  void take_replacement() {
    Action a{ActionKind::kApplySpec};
    a.replacement = std::move(s().replacement);
    s().replacement.reset();
    const ChildSpec& spec = a.replacement->spec;
    s().limits = RestartLimits{spec.restart, spec.max_restarts, spec.within_ms};
    s().on_overrun = spec.on_overrun;
    s().killed_for.reset();
    s().history = RestartHistory{};
    if (a.replacement->restart) {
      ++s().restarts;
    } else {
      s().restarts = 0;
      s().last_exit = ExitInfo{};
    }
    s().ever_ready = false;
    s().stage = Stage::kNone;
    s().cause = StopCause::kNone;
    s().perform_due_ms = 0;
    ++s().timer_token;
    const bool passive = a.replacement->passive;
    const bool restart = a.replacement->restart;
    const bool performs = spec.timeout_ms > 0;
    const std::uint64_t first_perform_in = spec.instant_perform ? 0 : spec.timeout_ms;
    add(std::move(a));  // `spec` is moved from here on
    if (passive) {
      // put --passive over it: registered, not started. Whatever waits in
      // the old mailbox is not dropped: the release starts it again.
      s().put_start = false;
      s().phase = Phase::kPassive;
      add(Action{ActionKind::kReleaseMailbox});
      publish();
      reply(ActionKind::kReplyRecord, s().ready_waiters);
      // Its first perform starts it (then on the spec's own schedule).
      if (performs) arm(TimerKind::kPerformDue, first_perform_in);
      return;
    }
    s().put_start = !restart && !s().ready_waiters.empty();
    s().phase = Phase::kStarting;
    s().activating = false;
    spawn();
  }

  // What a stop's cause means once the process is gone.
  void finish_stop() {
    if (s().cause == StopCause::kReplace && s().replacement) {
      take_replacement();
    } else {
      remove();
    }
  }

  // An exit nobody asked for: the restart policy decides.
  void apply_policy(const ExitInfo& info, std::uint64_t uptime_ms, std::uint64_t now_ms) {
    log(LogLevel::kWarn, who() + " " + info.describe());
    const auto d = decide_restart(s().limits, ctx.backoff, s().history, info.abnormal(), now_ms,
                                  uptime_ms);
    switch (d.verdict) {
      case RestartVerdict::kRestart:
        ++s().restarts;
        if (d.delay_ms == 0 && !ctx.shutting_down) {
          s().phase = Phase::kStarting;
          s().activating = false;
          spawn();
        } else {
          s().phase = Phase::kRestarting;
          publish();
          arm(TimerKind::kBackoff, d.delay_ms);
        }
        break;
      case RestartVerdict::kFailed:
        log(LogLevel::kError, who() + " failed: " + d.reason);
        s().phase = Phase::kFailed;
        publish();
        break;
      case RestartVerdict::kDone:
        s().phase = Phase::kExited;
        publish();
        break;
    }
    reply(ActionKind::kReplyError, s().ready_waiters,
          who() + " exited during start: " + info.describe());
  }

  // ---------------------------------------------------------------- events

  Transition on_spawned() {
    if (s().phase != Phase::kStarting) return invalid();
    s().activating = false;
    s().failed_activations = 0;
    publish();
    // An activation's callers: the new process and its mailbox are there.
    reply(ActionKind::kReplyRecord, s().activate_waiters);
    return done();
  }

  // A passive worker starts again (a caller, its due perform, or messages
  // found in its mailbox when it passivated).
  void activate() {
    s().phase = Phase::kStarting;
    s().stage = Stage::kNone;
    s().cause = StopCause::kNone;
    s().put_start = false;
    s().killed_for.reset();
    s().activating = true;
    ++s().timer_token;  // a perform-due timer is moot
    spawn();
  }

  // An activation whose process could not be started (README "Passivation"):
  // no process ran, so nothing crashed; the id stays passive with what it
  // holds, its callers get the reason, and what brought it up is retried
  // after the restart backoff: a due perform by its timer, messages left in
  // the mailbox by the release. Another caller may try at once.
  Transition on_activation_failed(const ExitInfo& info, std::uint64_t now_ms) {
    s().activating = false;
    ++s().failed_activations;
    ++s().timer_token;
    const std::uint32_t n = std::min<std::uint32_t>(s().failed_activations, 16);
    const std::uint64_t retry_ms = std::min<std::uint64_t>(
        static_cast<std::uint64_t>(ctx.backoff.base_ms) << (n - 1), ctx.backoff.cap_ms);
    log(LogLevel::kWarn, who() + " could not be activated, it stays passive: " + info.describe());
    reply(ActionKind::kReplyError, s().activate_waiters,
          who() + " could not be started: " + info.describe());
    reply(ActionKind::kReplyError, s().ready_waiters,
          who() + " could not be started: " + info.describe());
    s().phase = Phase::kPassive;
    s().stage = Stage::kNone;
    s().cause = StopCause::kNone;
    Action release{ActionKind::kReleaseMailbox};
    release.delay_ms = retry_ms;
    add(std::move(release));
    publish();
    if (s().perform_due_ms != 0) {
      const std::uint64_t due = s().perform_due_ms > now_ms ? s().perform_due_ms - now_ms : 0;
      arm(TimerKind::kPerformDue, std::max(due, retry_ms));
    }
    return done();
  }

  // The process has gone for passivation: the slot keeps everything but the
  // process and the mailbox. The mailbox is released before the publish: a
  // caller that sent into it as it went waits for the record to change
  // before it takes back what is left there (shared/client.cpp).
  void become_passive(std::uint64_t now_ms) {
    s().phase = Phase::kPassive;
    s().stage = Stage::kNone;
    s().cause = StopCause::kNone;
    ++s().passivations;
    add(Action{ActionKind::kReleaseMailbox});
    publish();
    if (s().perform_due_ms != 0) {
      arm(TimerKind::kPerformDue, s().perform_due_ms > now_ms ? s().perform_due_ms - now_ms : 0);
    }
  }

  Transition on_exit(ExitInfo info, std::uint64_t uptime_ms, std::uint64_t now_ms) {
    if (!has_process(s().phase)) return invalid();
    if (s().killed_for) {
      // Ended by our kill for a limit: counted as that cause (the code stays
      // the signal), whatever the worker said before.
      info.kind = s().killed_for->kind;
      info.reason = s().killed_for->reason + " (" + info.reason + ")";
      s().killed_for.reset();
      s().failing_reason.clear();
    } else if (!s().failing_reason.empty()) {
      info.reason = s().failing_reason + " (" + info.reason + ")";
      s().failing_reason.clear();
    }
    ++s().timer_token;  // no stop stage or backoff of this process fires later
    reply(ActionKind::kReplyError, s().activate_waiters,
          who() + " could not be started: " + info.describe());
    if (s().phase == Phase::kPassivating &&
        (!info.abnormal() || info.kind == ExitInfo::Kind::kUnknown ||
         s().stage != Stage::kTerminateSent)) {
      // Passivated: a stop we asked for, not an exit of the restart policy's
      // (its last exit and history stay what they were): it ended cleanly, or
      // by our SIGTERM/SIGKILL, or (adopted) with a status nobody can read.
      // Only a crash before any signal of ours counts as a crash.
      become_passive(now_ms);
      return done();
    }
    s().last_exit = info;
    switch (s().phase) {
      case Phase::kStarting:
        if (s().put_start) {
          // The put that started it fails, and takes back what it added.
          log(LogLevel::kWarn,
              who() + " exited during start, removed (its put failed): " + info.describe());
          // Removed first: the put's client reads the registry once answered.
          std::vector<Waiter> put = std::move(s().ready_waiters);
          s().ready_waiters.clear();
          s().cause = StopCause::kNone;
          remove();
          reply(ActionKind::kReplyError, put, who() + " exited during start: " + info.describe());
          break;
        }
        apply_policy(info, uptime_ms, now_ms);
        break;
      case Phase::kRunning:
      case Phase::kPassivating:  // crashed on its way out: a crash like any other
        apply_policy(info, uptime_ms, now_ms);
        break;
      case Phase::kStopping:
        finish_stop();
        break;
      default:  // kHalting, kReplacing
        remove();
        break;
    }
    return done();
  }

  Transition on_ready() {
    switch (s().phase) {
      case Phase::kStarting:
        s().phase = Phase::kRunning;
        s().put_start = false;
        s().perform_due_ms = 0;  // the process has its schedule
        [[fallthrough]];
      case Phase::kStopping:
        // A stopping worker that got ready still answers its put (the put did
        // start it); a put-over's own waiter is answered by the new process.
        s().ever_ready = true;
        publish();
        reply(ActionKind::kReplyRecord, s().ready_waiters);
        return done();
      case Phase::kRunning:
        return ignored();  // said twice; nothing new
      default:
        return invalid();
    }
  }

  Transition on_failing(const std::string& reason) {
    if (!has_process(s().phase)) return invalid();
    s().failing_reason = reason;
    return done();
  }

  Transition on_stop_requested(const Event& ev) {
    if (s().phase == Phase::kGone) return invalid();
    if (ev.cause == StopCause::kReplace) return on_put_over(ev);
    if (ev.cause == StopCause::kDelete && ev.waiter) s().exit_waiters.push_back(*ev.waiter);
    switch (s().phase) {
      case Phase::kPassivating:
        // Told to go already (terminate sent): the stop goes on from its
        // stage, and the new cause decides what follows.
        s().phase = Phase::kStopping;
        s().cause = ev.cause;
        s().replacement.reset();
        publish();
        break;
      case Phase::kStopping:
        // Already on its way out: the latest cause decides what follows.
        s().cause = ev.cause;
        s().replacement.reset();
        break;
      case Phase::kStarting:
      case Phase::kRunning:
      case Phase::kHalting:
      case Phase::kReplacing:
        s().replacement.reset();
        begin_stop(ev.cause);
        break;
      default:  // nothing runs: done at once
        ++s().timer_token;
        s().cause = ev.cause;
        remove();
        break;
    }
    return done();
  }

  Transition on_put_over(const Event& ev) {
    const bool leaving = (s().phase == Phase::kStopping && s().cause != StopCause::kReplace) ||
                         s().phase == Phase::kHalting || s().phase == Phase::kReplacing;
    if (leaving) {
      std::vector<Waiter> w;
      if (ev.waiter) w.push_back(*ev.waiter);
      reply(ActionKind::kReplyError, w, who() + " is being removed");
      return done();
    }
    if (ev.waiter) s().ready_waiters.push_back(*ev.waiter);
    s().replacement = ev.replacement;
    if (s().phase == Phase::kPassivating) {
      // On its way out already: the new spec follows once it is gone.
      s().phase = Phase::kStopping;
      s().cause = StopCause::kReplace;
      publish();
      return done();
    }
    if (s().phase == Phase::kStopping) return done();  // the latest spec wins
    if (has_process(s().phase)) {
      begin_stop(StopCause::kReplace);
    } else {
      take_replacement();
    }
    return done();
  }

  bool ending() const {
    return t.next.phase == Phase::kStopping || t.next.phase == Phase::kPassivating;
  }

  Transition on_terminate_lost() {
    if (!ending() || s().stage != Stage::kTerminateSent) return ignored();
    ++s().timer_token;  // the terminate stage's timer is moot
    s().stage = Stage::kSigtermSent;
    signal(SIGTERM);
    arm(TimerKind::kStage, ctx.kill_timeout_ms);
    return done();
  }

  Transition on_stage_timer(std::uint64_t token) {
    if (!ending() || token != s().timer_token) return ignored();
    switch (s().stage) {
      case Stage::kTerminateSent:
        log(LogLevel::kInfo, who() + " did not stop after terminate; sending SIGTERM");
        s().stage = Stage::kSigtermSent;
        signal(SIGTERM);
        arm(TimerKind::kStage, ctx.kill_timeout_ms);
        return done();
      case Stage::kSigtermSent:
        log(LogLevel::kWarn, who() + " did not stop after SIGTERM; sending SIGKILL");
        s().stage = Stage::kSigkillSent;
        signal(SIGKILL);
        return done();
      default:
        return ignored();
    }
  }

  Transition on_backoff_timer(std::uint64_t token) {
    if (s().phase != Phase::kRestarting || token != s().timer_token) return ignored();
    s().phase = Phase::kStarting;
    s().activating = false;
    spawn();
    return done();
  }

  Transition on_halt() {
    switch (s().phase) {
      case Phase::kStarting:
      case Phase::kRunning:
        s().phase = Phase::kHalting;
        publish();
        return done();
      case Phase::kStopping:  // the stop's cause decides what follows
      case Phase::kPassivating:
      case Phase::kHalting:
      case Phase::kReplacing:
        return ignored();
      default:
        return invalid();
    }
  }

  // A limit the loop watches (an overrun, max_memory) was crossed: SIGKILL to
  // the process group; the exit that follows is counted as the limit's kind
  // and the restart policy decides, as for any abnormal exit.
  Transition on_over_limit(const Event& ev) {
    switch (s().phase) {
      case Phase::kStarting:
      case Phase::kRunning:
        if (ev.limit == ExitInfo::Kind::kOverrun && s().on_overrun != OnOverrun::kKill) {
          return ignored();  // on_overrun report: handle_timeout and the event ring only
        }
        if (s().killed_for) return ignored();  // already killed; its exit is to come
        s().killed_for = ExitInfo{ev.limit, SIGKILL, ev.reason};
        log(LogLevel::kWarn, who() + " " + ev.reason + ": killing it");
        signal(SIGKILL);
        return done();
      case Phase::kStopping:  // on its way out already
      case Phase::kPassivating:
      case Phase::kHalting:
      case Phase::kReplacing:
        return ignored();
      default:
        return invalid();
    }
  }

  Transition on_replace_id(const Event& ev) {
    switch (s().phase) {
      case Phase::kStarting:
      case Phase::kRunning:
        s().phase = Phase::kReplacing;
        s().replacement = ev.replacement;
        publish();
        return done();
      case Phase::kStopping:
      case Phase::kPassivating:
      case Phase::kHalting:
      case Phase::kReplacing:
        return ignored();
      default:
        return invalid();
    }
  }

  // The worker had nothing to do for passivate_after: it is asked to go
  // (terminate "passivate", then the stop's stages), and passive once gone.
  Transition on_idle(const Event& ev, std::uint64_t now_ms) {
    switch (s().phase) {
      case Phase::kRunning:
        s().perform_due_ms = ev.next_perform_ms ? now_ms + *ev.next_perform_ms : 0;
        begin_stop(StopCause::kPassivate);
        return done();
      case Phase::kStarting:  // not ready yet: it cannot have been idle
      case Phase::kStopping:
      case Phase::kPassivating:
      case Phase::kHalting:
      case Phase::kReplacing:
        return ignored();
      default:
        return invalid();
    }
  }

  // A caller found the worker passive and is about to send to it. Exactly
  // one start however many callers ask: any phase but kPassive just answers
  // with the record, and the caller acts on what it shows.
  Transition on_activate(const Event& ev) {
    std::vector<Waiter> w;
    if (ev.waiter) w.push_back(*ev.waiter);
    switch (s().phase) {
      case Phase::kPassive:
        if (ev.waiter) s().activate_waiters.push_back(*ev.waiter);
        activate();
        return done();
      case Phase::kGone:
        return invalid();
      default:
        reply(ActionKind::kReplyRecord, w);
        return done();
    }
  }

  // The worker's command ended while the worker itself is sound (an exec
  // worker saw it while idle). The restart policy decides as for an exit, on
  // the command's status and uptime; an immediate restart happens in the same
  // process: the worker starts the command again and reports ready (a restart
  // like any other: counted, last_exit, the intensity window). Anything else
  // (a backoff delay, failed or done by policy, the supervisor stopping, a
  // worker on its way out, a put still waiting for the first start) is
  // refused: the worker ends as for a crash, and its exit is decided as every
  // exit is. The history is left as it was then, so the same decision comes out.
  Transition on_command_exited(const Event& ev, std::uint64_t now_ms) {
    if (!has_process(s().phase)) return invalid();
    const bool eligible = s().phase == Phase::kRunning ||
                          (s().phase == Phase::kStarting && !s().put_start && s().ever_ready);
    if (eligible && !ctx.shutting_down) {
      RestartHistory history = s().history;
      const auto d = decide_restart(s().limits, ctx.backoff, history, ev.exit.abnormal(), now_ms,
                                    ev.uptime_ms);
      if (d.verdict == RestartVerdict::kRestart && d.delay_ms == 0) {
        log(LogLevel::kWarn, who() + " " + ev.exit.describe() + "; restarted in place");
        s().history = std::move(history);
        ++s().restarts;
        s().last_exit = ev.exit;
        s().failing_reason.clear();
        s().phase = Phase::kStarting;
        publish();
        Action a{ActionKind::kRestartCommand};
        a.seq = ev.seq;
        add(std::move(a));
        return done();
      }
    }
    Action a{ActionKind::kRefuseRestart};
    a.seq = ev.seq;
    add(std::move(a));
    return done();
  }

  Transition on_perform_due(std::uint64_t token) {
    if (s().phase != Phase::kPassive || token != s().timer_token) return ignored();
    activate();  // perform_due_ms is now: the new process performs at once
    return done();
  }
};

}  // namespace

Transition step(const WorkerState& state, const Event& ev, std::uint64_t now_ms,
                const Context& context) {
  Builder b(state, context);
  switch (ev.kind) {
    case EventKind::kSpawned:
      return b.on_spawned();
    case EventKind::kSpawnFailed:
      // Answers a kSpawn, which only a starting worker asks for.
      if (state.phase != Phase::kStarting) return b.invalid();
      if (state.activating) return b.on_activation_failed(ev.exit, now_ms);
      return b.on_exit(ev.exit, 0, now_ms);
    case EventKind::kReady:
      return b.on_ready();
    case EventKind::kExited:
      return b.on_exit(ev.exit, ev.uptime_ms, now_ms);
    case EventKind::kFailing:
      return b.on_failing(ev.reason);
    case EventKind::kStopRequested:
      return b.on_stop_requested(ev);
    case EventKind::kTerminateLost:
      return b.on_terminate_lost();
    case EventKind::kStageTimer:
      return b.on_stage_timer(ev.token);
    case EventKind::kBackoffTimer:
      return b.on_backoff_timer(ev.token);
    case EventKind::kHalt:
      return b.on_halt();
    case EventKind::kReplaceId:
      return b.on_replace_id(ev);
    case EventKind::kOverLimit:
      return b.on_over_limit(ev);
    case EventKind::kIdle:
      return b.on_idle(ev, now_ms);
    case EventKind::kActivate:
      return b.on_activate(ev);
    case EventKind::kPerformDue:
      return b.on_perform_due(ev.token);
    case EventKind::kCommandExited:
      return b.on_command_exited(ev, now_ms);
  }
  return b.invalid();
}

Transition adopt(const ChildSpec& spec, const Found& found, std::uint64_t now_ms,
                 const Context& context) {
  WorkerState s = initial_state(spec, /*boot_child=*/false);
  s.restarts = found.restarts;
  s.last_exit = found.last_exit;
  switch (found.status) {
    case WorkerStatus::kStarting: s.phase = Phase::kStarting; break;
    case WorkerStatus::kStopping: s.phase = Phase::kRunning; break;  // stopped below
    case WorkerStatus::kHalted: s.phase = Phase::kHalting; break;
    case WorkerStatus::kRestarting: s.phase = Phase::kRestarting; break;
    case WorkerStatus::kFailed: s.phase = Phase::kFailed; break;
    case WorkerStatus::kExited: s.phase = Phase::kExited; break;
    case WorkerStatus::kPassive: s.phase = Phase::kPassive; break;
    case WorkerStatus::kPassivating: s.phase = Phase::kPassivating; break;
    default: s.phase = Phase::kRunning; break;  // running, busy
  }
  s.cause = s.phase == Phase::kPassivating ? StopCause::kPassivate : StopCause::kNone;
  s.ever_ready = s.phase != Phase::kStarting;
  Builder b(s, context);
  if (!has_process(s.phase)) {
    if (s.phase == Phase::kRestarting) {
      ++b.s().timer_token;
      b.publish();
      b.arm(TimerKind::kBackoff, 0);
    } else if (s.phase == Phase::kPassive) {
      // When its perform was due died with the predecessor: one timeout on.
      ++b.s().timer_token;
      b.publish();
      if (spec.timeout_ms > 0) {
        b.s().perform_due_ms = now_ms + spec.timeout_ms;
        b.arm(TimerKind::kPerformDue, spec.timeout_ms);
      }
    } else {
      b.publish();
    }
    return b.done();
  }
  if (!found.alive) {
    Event ev(EventKind::kExited);
    ev.exit.kind = ExitInfo::Kind::kUnknown;
    ev.exit.reason = "ended while no supervisor ran (exit status unknown)";
    if (found.status == WorkerStatus::kStopping) {
      // Its stop was a del (or a put-over whose new spec is lost): done.
      b.log(LogLevel::kInfo, b.who() + " ended while no supervisor ran; its stop is complete");
      b.remove();
      return b.done();
    }
    return step(s, ev, now_ms, context);
  }
  if (found.status == WorkerStatus::kStopping) {
    b.log(LogLevel::kWarn, b.who() + " was stopping when its supervisor died: stopping it (del)");
    b.begin_stop(StopCause::kDelete);
    return b.done();
  }
  if (found.status == WorkerStatus::kPassivating) {
    // Its terminate was sent; the stop's stages go on from here.
    b.begin_stop(StopCause::kPassivate);
    return b.done();
  }
  b.publish();
  return b.done();
}

Transition register_passive(const ChildSpec& spec, std::uint64_t now_ms, const Context& context) {
  WorkerState s = initial_state(spec, /*boot_child=*/false);
  s.phase = Phase::kPassive;
  Builder b(s, context);
  ++b.s().timer_token;
  b.publish();
  if (spec.timeout_ms > 0) {
    const std::uint64_t after = spec.instant_perform ? 0 : spec.timeout_ms;
    b.s().perform_due_ms = now_ms + after;
    b.arm(TimerKind::kPerformDue, after);
  }
  return b.done();
}

WorkerState initial_state(const ChildSpec& spec, bool boot_child) {
  WorkerState s;
  s.phase = Phase::kStarting;
  s.limits = RestartLimits{spec.restart, spec.max_restarts, spec.within_ms};
  s.on_overrun = spec.on_overrun;
  s.boot_child = boot_child;
  return s;
}

bool has_process(Phase p) noexcept {
  switch (p) {
    case Phase::kStarting:
    case Phase::kRunning:
    case Phase::kStopping:
    case Phase::kHalting:
    case Phase::kReplacing:
    case Phase::kPassivating:
      return true;
    default:
      return false;
  }
}

WorkerStatus status_of(Phase p) noexcept {
  switch (p) {
    case Phase::kStarting: return WorkerStatus::kStarting;
    case Phase::kRunning: return WorkerStatus::kRunning;
    case Phase::kStopping: return WorkerStatus::kStopping;
    case Phase::kRestarting: return WorkerStatus::kRestarting;
    case Phase::kFailed: return WorkerStatus::kFailed;
    case Phase::kExited: return WorkerStatus::kExited;
    case Phase::kHalting: return WorkerStatus::kHalted;
    case Phase::kReplacing: return WorkerStatus::kStopping;
    case Phase::kPassivating: return WorkerStatus::kPassivating;
    case Phase::kPassive: return WorkerStatus::kPassive;
    case Phase::kGone: return WorkerStatus::kFree;
  }
  return WorkerStatus::kFree;
}

std::string_view to_string(Phase p) noexcept { return enums::enum_name(p, "?"); }
std::string_view to_string(EventKind e) noexcept { return enums::enum_name(e, "?"); }
std::string_view to_string(ActionKind a) noexcept { return enums::enum_name(a, "?"); }
std::string_view to_string(StopCause c) noexcept { return enums::enum_name(c, "?"); }

}  // namespace dynmgr::lifecycle
