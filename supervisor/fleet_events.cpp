#include "supervisor/fleet_events.hpp"

#include <algorithm>

namespace dynmgr::fleet_events {
namespace {

namespace lc = lifecycle;

bool has(const lc::Transition& t, lc::ActionKind k) {
  return std::any_of(t.actions.begin(), t.actions.end(),
                     [k](const lc::Action& a) { return a.kind == k; });
}

// The backoff the transition arms (0: restarted at once, or none armed).
std::uint64_t backoff_delay(const lc::Transition& t) {
  for (const auto& a : t.actions) {
    if (a.kind == lc::ActionKind::kArmTimer && a.timer == lc::TimerKind::kBackoff)
      return a.delay_ms;
  }
  return 0;
}

bool restarted(const lc::Event& ev, const lc::Transition& t) {
  // A put-over's exit starts the new spec: that is a replacement, not a restart.
  if (has(t, lc::ActionKind::kApplySpec)) return false;
  if (ev.kind == lc::EventKind::kCommandExited) return has(t, lc::ActionKind::kRestartCommand);
  return t.next.phase == lc::Phase::kRestarting || t.next.phase == lc::Phase::kStarting;
}

FleetEvent make(EventType type, const std::string& id, pid_t pid) {
  FleetEvent e;
  e.type = type;
  e.id = id;
  e.pid = pid;
  return e;
}

}  // namespace

std::string removal_cause(const lc::WorkerState& before, const lc::Transition& t) {
  if (before.phase == lc::Phase::kHalting) return "halt";
  if (before.phase == lc::Phase::kReplacing) return "replace";
  if (before.phase == lc::Phase::kStarting && before.put_start) return "start_failed";
  switch (t.next.cause != lc::StopCause::kNone ? t.next.cause : before.cause) {
    case lc::StopCause::kDelete:
      return "del";
    case lc::StopCause::kShutdown:
      return "shutdown";
    case lc::StopCause::kRestartAll:
      return "restart";
    case lc::StopCause::kReplace:
    case lc::StopCause::kPassivate:  // never removes the slot
    case lc::StopCause::kNone:
      break;
  }
  return "exited";
}

std::vector<FleetEvent> observe(const std::string& id, pid_t pid, const lc::WorkerState& before,
                                const lc::Event& ev, const lc::Transition& t) {
  std::vector<FleetEvent> out;
  switch (ev.kind) {
    case lc::EventKind::kSpawned:
      out.push_back(make(EventType::kSpawned, id, pid));
      break;
    case lc::EventKind::kReady:
      if (before.phase == lc::Phase::kStarting) out.push_back(make(EventType::kReady, id, pid));
      break;
    case lc::EventKind::kHalt:
      out.push_back(make(EventType::kHalted, id, pid));
      break;
    case lc::EventKind::kReplaceId: {
      auto e = make(EventType::kReplaced, id, pid);
      if (ev.replacement) e.detail = ev.replacement->id;
      out.push_back(std::move(e));
      break;
    }
    case lc::EventKind::kCommandExited:
      // Refused: the worker's own exit follows, and is the event.
      if (!has(t, lc::ActionKind::kRestartCommand)) break;
      [[fallthrough]];
    case lc::EventKind::kExited:
    case lc::EventKind::kSpawnFailed: {
      auto e = make(EventType::kExited, id, pid);
      // A passivation leaves last_exit as it was: the exit is the event's own.
      const bool kept = t.next.phase != lc::Phase::kPassive;
      e.exit = kept && t.next.last_exit.kind != ExitInfo::Kind::kNone ? t.next.last_exit : ev.exit;
      e.uptime_ms = ev.uptime_ms;
      out.push_back(std::move(e));
      if (restarted(ev, t)) {
        auto r = make(EventType::kRestarting, id, 0);
        r.delay_ms = backoff_delay(t);
        r.restarts = t.next.restarts;
        out.push_back(std::move(r));
      } else if (t.next.phase == lc::Phase::kFailed) {
        auto f = make(EventType::kFailed, id, 0);
        f.restarts = t.next.restarts;
        f.detail = "over its restart intensity";
        for (const auto& a : t.actions) {
          const auto at = a.message.find(" failed: ");
          if (a.kind == lc::ActionKind::kLog && at != std::string::npos) {
            f.detail = a.message.substr(at + 9);
          }
        }
        out.push_back(std::move(f));
      }
      break;
    }
    default:
      break;
  }
  if (before.phase != lc::Phase::kPassive && t.next.phase == lc::Phase::kPassive &&
      before.phase != lc::Phase::kGone) {
    out.push_back(make(EventType::kPassivated, id, 0));
  }
  if (before.phase == lc::Phase::kPassive && t.next.phase == lc::Phase::kStarting) {
    auto a = make(EventType::kActivated, id, 0);
    a.detail = ev.kind == lc::EventKind::kPerformDue ? "perform"
               : ev.waiter                           ? "call"
                                                     : "mailbox";
    out.push_back(std::move(a));
  }
  if (has(t, lc::ActionKind::kRemoveSlot)) {
    auto d = make(EventType::kDeleted, id, 0);
    d.detail = removal_cause(before, t);
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<ExitRecord> exit_record(const lc::Event& ev, const lc::Transition& t,
                                      std::uint64_t now_wall_ms) {
  if (ev.kind != lc::EventKind::kExited && ev.kind != lc::EventKind::kSpawnFailed &&
      !(ev.kind == lc::EventKind::kCommandExited && has(t, lc::ActionKind::kRestartCommand)))
    return std::nullopt;
  if (has(t, lc::ActionKind::kRemoveSlot)) return std::nullopt;
  // A passivation is a clean stop the worker was asked for, not an exit.
  if (t.next.phase == lc::Phase::kPassive) return std::nullopt;
  ExitRecord x;
  x.at_ms = now_wall_ms;
  x.uptime_ms = ev.uptime_ms;
  x.exit = t.next.last_exit.kind != ExitInfo::Kind::kNone ? t.next.last_exit : ev.exit;
  x.restarted = restarted(ev, t);
  x.restart_in_ms = x.restarted ? backoff_delay(t) : 0;
  return x;
}

}  // namespace dynmgr::fleet_events
