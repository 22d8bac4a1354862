// The supervisor loop: what workers report (ready, updates, halt, replace-id,
// last words), how they end (the watcher's exits, reaping), and the life
// cycle's actions carried out on them (spawn, terminate, signal, timers,
// publish, replies, removal).

#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "shared/log.hpp"
#include "shared/process_identity.hpp"
#include "shared/stop_signals.hpp"
#include "shared/worker_args.hpp"
#include "supervisor/fleet_events.hpp"
#include "supervisor/spawner.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

namespace lc = lifecycle;
namespace mp = manager_phase;

ExitInfo exit_from_siginfo(const siginfo_t& si) {
  int status = 0;
  if (si.si_code == CLD_EXITED) {
    status = (si.si_status & 0xff) << 8;
  } else {
    status = si.si_status & 0x7f;
    if (si.si_code == CLD_DUMPED) status |= 0x80;
  }
  return ExitInfo::from_wait_status(status);
}

}  // namespace

// ------------------------------------------------------------ worker reports

void Supervisor::Loop::handle_worker(const Frame& f) {
  auto m = protocol::parse_worker_message(f);
  if (!m) {
    log_warn("dropped a malformed worker message: " + m.error().message);
    return;
  }
  Entry* e = fleet_.find(m->slot);
  if (e == nullptr || e->rec.incarnation != m->incarnation || e->rec.pid != m->pid)
    return;  // stale
  lc::Event ev;
  switch (m->kind) {
    case MessageKind::kWorkerReady:
      ev.kind = lc::EventKind::kReady;
      break;
    case MessageKind::kWorkerUpdate:
    case MessageKind::kWorkerCommitReply: {
      // Data, not life cycle: committed whatever the phase.
      Status st = apply_update(*e, *m);
      if (m->kind == MessageKind::kWorkerCommitReply) {
        const Waiter w{m->reply_to, m->reply_request_id};
        if (st) {
          reply(w, protocol::reply_ok(w.request_id, m->reply));
        } else {
          reply_error(w, st.error().code, st.error().message);
        }
      }
      return;
    }
    case MessageKind::kWorkerFailing:
      ev.kind = lc::EventKind::kFailing;
      ev.reason = m->reason;
      break;
    case MessageKind::kWorkerIdle:
      ev.kind = lc::EventKind::kIdle;
      ev.next_perform_ms = m->next_perform_ms;
      break;
    case MessageKind::kWorkerHalt:
      ev.kind = lc::EventKind::kHalt;
      break;
    case MessageKind::kWorkerCommandExited:
      if (!m->exit) return;
      ev.kind = lc::EventKind::kCommandExited;
      ev.exit = *m->exit;
      ev.uptime_ms = m->uptime_ms;
      ev.seq = m->seq;
      break;
    case MessageKind::kWorkerReplaceId: {
      ev.kind = lc::EventKind::kReplaceId;
      ChildSpec spec = e->spec;
      spec.payload = m->payload.value_or(nullptr);
      ev.replacement = lc::Replacement{m->new_id, std::move(spec)};
      break;
    }
    default:
      return;
  }
  feed(e->rec.slot, e->rec.incarnation, std::move(ev));
  // A worker is up: the next restart's spare is made now, off its path.
  if (m->kind == MessageKind::kWorkerReady) keep_spare();
}

Status Supervisor::Loop::apply_update(Entry& e, const protocol::WorkerMessage& m) {
  SlotRecord next = e.rec;
  if (m.payload) next.payload = to_json(*m.payload);
  if (m.value) next.value = to_json(*m.value);
  if (m.timeout_ms) next.timeout_ms = *m.timeout_ms;
  if (auto st = reg_->write(next); !st) {
    log_error("unable to store the update of worker '" + e.id + "': " + st.error().message);
    (void)reg_->write(e.rec);  // keep the last good record published
    return st;
  }
  e.rec = std::move(next);
  if (m.timeout_ms) overruns_.changed(e);  // a value or payload changes nothing there
  if (m.payload) e.spec.payload = *m.payload;  // a restart starts from the committed payload
  if (m.timeout_ms) e.spec.timeout_ms = *m.timeout_ms;
  // --durability sync: on disk before a commit-reply goes out (batch: queued).
  if (m.payload || m.value) persist_update(e);
  return {};
}

// ------------------------------------------------------------ exits

void Supervisor::Loop::handle_wake() {
  for (;;) {
    auto ev = watcher_.drain();
    // A worker's last messages (ready, update, halt, replace) were queued before
    // it exited, so they are in the control queue now, possibly behind this
    // wake (another exit's). Handle them before reaping: reaped first, they
    // would be dropped as stale and a halt taken for a crash.
    const bool more = !ev.exited.empty() && drain_control();
    for (int sig : ev.signals) {
      log_info(std::string("received SIG") + (sigabbrev_np(sig) ? sigabbrev_np(sig) : "?"));
      if (is_stop_signal(sig)) feed_manager(mp::Event(mp::EventKind::kShutdownRequested));
      if (sig == SIGUSR2) reexec(std::nullopt);
    }
    for (pid_t pid : ev.unwatchable) {
      // Without a pidfd its exit would go unnoticed: end it now (its process
      // group too) and treat it as an exit.
      log_error("killing worker pid " + std::to_string(pid) + ": it cannot be watched");
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      reap(pid);
    }
    for (pid_t pid : ev.exited) reap(pid);
    if (!more) return;
  }
}

// Dispatches what is already in the control queue, without waiting and at
// most one queue's depth of it. Wakes found there are not nested: returns
// true if one was consumed, so the caller takes the watcher's events again.
bool Supervisor::Loop::drain_control() {
  bool woken = false;
  for (std::uint32_t i = 0; i < opt_.registry.control_depth; ++i) {
    auto f = control_->try_receive();
    if (!f || !*f) break;
    if ((*f)->kind == MessageKind::kWake) {
      woken = true;
      continue;
    }
    dispatch(**f);
  }
  return woken;
}

// Reaps a child the watcher saw exit (or that was just killed).
void Supervisor::Loop::reap(pid_t pid) {
  const auto slot = fleet_.take_pid(pid);
  Entry* adopted = slot ? fleet_.find(*slot) : nullptr;
  if (adopted != nullptr && adopted->rec.pid == pid && !adopted->child) {
    // Not our child: init reaped it, its status is lost and its pid may
    // already be someone else's (no group kill).
    lc::Event ev(lc::EventKind::kExited);
    ev.exit.kind = ExitInfo::Kind::kUnknown;
    ev.exit.reason = "exit status unknown (adopted from a supervisor that died)";
    ev.uptime_ms = adopted->started_mono ? mono_ms() - adopted->started_mono : 0;
    adopted->rec.pid = 0;
    adopted->rec.pid_start_time = 0;
    adopted->child = true;  // whatever is spawned next is ours
    end_leaf(slot, pid);    // a leaf is named by slot and pid: no reuse can hit another's
    overruns_.changed(*adopted);
    ev.pid = pid;
    feed(adopted->rec.slot, adopted->rec.incarnation, std::move(ev));
    return;
  }
  // The process is a zombie now: its pid (and so its process group id) cannot
  // be reused until we reap it, so this kill reaches only its own leftovers.
  ::kill(-pid, SIGKILL);
  siginfo_t si{};
  // Our own child, by pid: never a global wait that could take another
  // library's child.
  if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED) != 0) {
    log_error("unable to reap worker pid " + std::to_string(pid) + ": " + std::strerror(errno));
  }
  // Everything it started, in whatever session or group: its cgroup leaf.
  end_leaf(slot, pid);
  Entry* e = slot ? fleet_.find(*slot) : nullptr;
  if (e == nullptr || e->rec.pid != pid) return;
  lc::Event ev(lc::EventKind::kExited);
  ev.exit = exit_from_siginfo(si);
  ev.uptime_ms = e->started_mono ? mono_ms() - e->started_mono : 0;
  e->rec.pid = 0;
  e->rec.pid_start_time = 0;
  overruns_.changed(*e);
  ev.pid = pid;
  feed(e->rec.slot, e->rec.incarnation, std::move(ev));
}

// What an applied transition means outside the machine: an exit's entry in
// the registry's history and the database, recorded here, and the events
// `watch` shows, returned for step_worker to publish once the registry shows
// the change.
std::vector<FleetEvent> Supervisor::Loop::note_transition(Entry& e, const lc::WorkerState& before,
                                                          const lc::Event& ev,
                                                          const lc::Transition& t) {
  const pid_t pid = ev.kind == lc::EventKind::kExited ? ev.pid : e.rec.pid;
  auto events = fleet_events::observe(e.id, pid, before, ev, t);
  if (auto x = fleet_events::exit_record(ev, t, wall_ms())) {
    if (auto st = reg_->record_exit(e.rec.slot, *x); !st) {
      log_error("unable to record the exit of worker '" + e.id + "': " + st.error().message);
    }
    persist_exit(e, *x);
  }
  return events;
}

// ------------------------------------------------------------ actions

// Carries out one action of a worker's transition. Returns false if the
// action needs the slot's entry and it is gone (the rest are skipped).
bool Supervisor::Loop::carry_out(std::uint32_t slot, lc::Action& a) {
  switch (a.kind) {  // actions that outlive the slot
    case lc::ActionKind::kReplyError:
      for (const auto& w : a.waiters) reply_error(w, Errc::kFailed, a.message);
      return true;
    case lc::ActionKind::kReplyDeleted:
      for (const auto& w : a.waiters) reply(w, protocol::reply_ok(w.request_id, "deleted"));
      return true;
    case lc::ActionKind::kStartReplacement:
      start_replacement(std::move(*a.replacement));
      return true;
    case lc::ActionKind::kLog:
      (a.level == lc::LogLevel::kError  ? log_error
       : a.level == lc::LogLevel::kWarn ? log_warn
                                        : log_info)(a.message);
      return true;
    default:
      break;
  }
  Entry* e = fleet_.find(slot);
  if (e == nullptr) return false;
  switch (a.kind) {
    case lc::ActionKind::kSpawn:
      spawn(*e);
      break;
    case lc::ActionKind::kSendTerminate:
      send_terminate(*e, a.message);
      break;
    case lc::ActionKind::kSignalGroup:
      if (e->rec.pid > 0) ::kill(-e->rec.pid, a.signal);
      break;
    case lc::ActionKind::kArmTimer: {
      const auto kind = a.timer == lc::TimerKind::kStage     ? Timer::Kind::kStage
                        : a.timer == lc::TimerKind::kBackoff ? Timer::Kind::kBackoff
                                                             : Timer::Kind::kPerformDue;
      timers_.arm(a.delay_ms, Timer{kind, slot, e->rec.incarnation, e->life.timer_token});
      break;
    }
    case lc::ActionKind::kApplySpec:
      apply_spec(*e, std::move(a.replacement->spec));
      persist(*e);
      break;
    case lc::ActionKind::kPublish:
      publish(*e);
      break;
    case lc::ActionKind::kReplyRecord:
      for (const auto& w : a.waiters) reply_record(w, e->rec);
      break;
    case lc::ActionKind::kRemoveSlot:
      remove(slot);
      break;
    case lc::ActionKind::kReleaseMailbox:
      release_mailbox(*e, a.delay_ms);
      break;
    case lc::ActionKind::kRestartCommand:
    case lc::ActionKind::kRefuseRestart:
      // The worker waits for this word (worker_runtime.cpp, restart_in_place)
      // and SIGURG ends its wait; its PDEATHSIG is SIGURG too, which it tells
      // apart by its parent pid.
      reg_->set_command_verdict(slot,
                                a.seq << 1 | (a.kind == lc::ActionKind::kRestartCommand ? 1U : 0U));
      if (e->rec.pid > 0) ::kill(e->rec.pid, SIGURG);
      break;
    default:
      break;
  }
  return true;
}

void Supervisor::Loop::send_terminate(Entry& e, const std::string& reason) {
  // Priority 1: ahead of the calls and casts already waiting. A full mailbox
  // is retried until the terminate stage's own timeout escalates to SIGTERM.
  // A passivation's goes behind them (priority 0): what was sent before it is
  // handled by this process, what comes after it by the next.
  const unsigned priority = reason == "passivate" ? 0 : 1;
  const auto sent = outbox_.send(names_.mailbox(e.rec.slot, e.rec.mailbox_generation),
                                 protocol::make_terminate(reason),
                                 Deadline::after(Millis(opt_.terminate_timeout_ms)), priority);
  if (sent == Outbox::Sent::kNever) {
    // No way to ask politely: the machine goes straight to SIGTERM.
    inbox_.push_back(
        PendingEvent{e.rec.slot, e.rec.incarnation, lc::Event(lc::EventKind::kTerminateLost)});
  }
}

// The process is gone for passivation (or a put --passive took its place):
// the mailbox goes, and nothing sent to it is lost. It is unlinked first, then
// emptied, then the record published (the machine's order): a caller whose
// send landed after the unlink finds the name gone, waits for the record to
// change and then takes out and forwards what is still in the old queue
// itself (shared/client.cpp); what landed before is taken out here, put in a
// new mailbox in the same order, and the worker is started again for it,
// restart_after_ms from now (a failed activation's retry: not at once).
void Supervisor::Loop::release_mailbox(Entry& e, std::uint64_t restart_after_ms) {
  if (!e.mailbox_live) return;
  const std::string name = names_.mailbox(e.rec.slot, e.rec.mailbox_generation);
  auto q = Queue::open(name);
  outbox_.forget(name);
  Queue::remove(name);
  e.mailbox_live = false;
  std::vector<Frame> left;
  for (std::uint32_t i = 0; q && i < opt_.registry.mailbox_depth; ++i) {
    auto f = q->try_receive();
    if (!f || !*f) break;
    // A terminate is for the process that is gone, never for the next one.
    if ((*f)->kind == MessageKind::kCall || (*f)->kind == MessageKind::kCast) {
      left.push_back(std::move(**f));
    }
  }
  if (left.empty()) return;
  const std::uint64_t generation = ++mailbox_counter_;
  auto fresh = create_mailbox(e, generation);
  if (!fresh) {
    log_error("worker '" + e.id + "': unable to keep " + std::to_string(left.size()) +
              " message(s) sent while it passivated: " + fresh.error().message);
    return;
  }
  e.rec.mailbox_generation = generation;
  e.mailbox_live = true;
  for (const Frame& f : left) {
    // As many as the old one held: they fit without waiting.
    if (auto st = fresh->send(f, Deadline::now()); !st) {
      log_error("worker '" + e.id + "': unable to keep a message sent while it passivated: " +
                st.error().message);
    }
  }
  if (restart_after_ms != 0) {
    log_info("worker '" + e.id + "': " + std::to_string(left.size()) +
             " message(s) wait in its mailbox; starting it again in " +
             std::to_string(restart_after_ms) + " ms");
    timers_.arm(restart_after_ms, Timer{Timer::Kind::kActivate, e.rec.slot, e.rec.incarnation, 0});
    return;
  }
  log_info("worker '" + e.id + "': " + std::to_string(left.size()) +
           " message(s) arrived while it passivated; starting it again");
  inbox_.push_back(
      PendingEvent{e.rec.slot, e.rec.incarnation, lc::Event(lc::EventKind::kActivate)});
}

void Supervisor::Loop::spawn(Entry& e) {
  e.overrun_reported = 0;
  const auto fail = [&](std::string reason, int code) {
    lc::Event failed(lc::EventKind::kSpawnFailed);
    failed.exit.kind = ExitInfo::Kind::kSpawnFailed;
    failed.exit.code = code;
    failed.exit.reason = std::move(reason);
    log_error("unable to spawn worker '" + e.id + "': " + failed.exit.reason);
    inbox_.push_back(PendingEvent{e.rec.slot, e.rec.incarnation, std::move(failed)});
  };
  if (!e.mailbox_live) {
    // A passive worker's activation: its mailbox comes back first, under a
    // new generation (the process reads it from the record at attach).
    const std::uint64_t generation = ++mailbox_counter_;
    auto q = create_mailbox(e, generation);
    if (!q) return fail("unable to create its mailbox: " + q.error().message, 0);
    e.rec.mailbox_generation = generation;
    e.mailbox_live = true;
    // Published before the process exists: it reads the generation from the
    // record as it attaches, and the spawn's own publish came later (a worker
    // quick to attach found the released mailbox's name: "no queue ...").
    if (auto st = reg_->write(e.rec); !st) {
      return fail("unable to publish its new mailbox: " + st.error().message, 0);
    }
  }
  // Its words page, allocated now: the worker's first store into a sparse
  // page of a full /dev/shm would be a SIGBUS.
  if (auto st = reg_->reserve_words(e.rec.slot); !st) return fail(st.error().message, ENOSPC);
  const std::vector<std::string> argv = worker_argv(
      opt_.worker_executable, WorkerArgs{names_.instance(), e.rec.slot, e.rec.incarnation,
                                         ::getpid(), worker_containment()});
  std::vector<std::string> env = {"DYNMGR_NAME=" + names_.instance(), "DYNMGR_WORKER_ID=" + e.id};
  // An activated passive worker keeps its perform schedule (README "Passivation").
  if (e.life.perform_due_ms != 0) {
    const std::uint64_t now = mono_ms();
    env.push_back(std::string(kFirstPerformEnv) + "=" +
                  std::to_string(e.life.perform_due_ms > now ? e.life.perform_due_ms - now : 0));
  }
  if (!e.spec.options.empty()) env.push_back("DYNMGR_WORKER_OPTIONS=" + to_json(e.spec.options));
  // Set by the worker itself before any manager code (worker/limits.hpp).
  if (!e.spec.rlimits.empty()) {
    env.push_back("DYNMGR_WORKER_RLIMITS=" + to_json(json::value(e.spec.rlimits.to_json())));
  }
  // Dropped to by the worker itself, after it attached and before any manager
  // callback (worker/identity.hpp). Only root switches; a supervisor that is
  // not root only ever accepted its own identity (check_run_as).
  const bool wants_identity = !e.spec.user.empty() || !e.spec.group.empty();
  if (wants_identity && !e.rec.run_as) {
    return fail("user '" + e.spec.user + "' / group '" + e.spec.group + "' did not resolve",
                EINVAL);
  }
  if (e.rec.run_as && ::geteuid() == 0) {
    env.push_back(std::string(kRunAsEnv) + "=" + std::to_string(e.rec.run_as->uid) + ":" +
                  std::to_string(e.rec.run_as->gid));
  }
  // Its stdout and stderr: pipes read by the log collector (the write ends
  // are closed here when `stdio` goes, after the spawn gave them to the worker).
  const auto stdio = logs_ ? logs_->open_for(e.id) : std::nullopt;
  SpawnFds fds;
  if (stdio) fds.dup = {{stdio->out(), STDOUT_FILENO}, {stdio->err(), STDERR_FILENO}};
  // A restart after an exit takes the template's spare, if it has one.
  const bool restart = e.life.ever_ready && !e.life.activating;
  auto sp = start_worker_process(argv, env, fds, restart);
  lc::Event ev(lc::EventKind::kSpawned);
  if (!sp) {
    log_error("unable to spawn worker '" + e.id + "': " + sp.error().message);
    ev.kind = lc::EventKind::kSpawnFailed;
    ev.exit.kind = ExitInfo::Kind::kSpawnFailed;
    ev.exit.reason = sp.error().message;
  } else {
    e.rec.pid = sp->pid;
    e.rec.pid_start_time = process_start_time(sp->pid).value_or(0);
    e.rec.started_ms = wall_ms();
    e.started_mono = mono_ms();
    fleet_.add_pid(sp->pid, e.rec.slot);
    watcher_.watch(sp->pid);
    overruns_.changed(e);
    log_debug("started worker '" + e.id + "' (pid " + std::to_string(sp->pid) + ")");
  }
  inbox_.push_back(PendingEvent{e.rec.slot, e.rec.incarnation, std::move(ev)});
}

Result<SpawnedProcess> Supervisor::Loop::start_worker_process(const std::vector<std::string>& argv,
                                                              const std::vector<std::string>& env,
                                                              const SpawnFds& fds, bool restart) {
  if (opt_.worker_template && !template_ && template_failures_ < kTemplateTries) {
    auto t = WorkerTemplate::start(opt_.worker_executable, names_.instance(),
                                   Deadline::after(std::chrono::seconds(5)));
    if (t) {
      template_.emplace(std::move(*t));
      log_info("started the worker template (pid " + std::to_string(template_->pid()) + ")");
    } else if (++template_failures_ == kTemplateTries) {
      log_warn("worker template: " + t.error().message + "; workers are started with exec");
    } else {
      log_warn("worker template: " + t.error().message);
    }
  }
  if (template_ && restart) {
    if (auto sp = template_->spawn_spare(argv, env, fds)) return *sp;
  }
  if (template_) {
    bool broken = false;
    auto sp = template_->spawn(argv, env, fds, Deadline::after(std::chrono::seconds(5)), broken);
    if (sp || !broken) return sp;
    // Its own failure, not the worker's: this worker is exec'd, the next
    // spawn starts a new template.
    log_warn("worker template (pid " + std::to_string(template_->pid()) +
             "): " + sp.error().message + "; starting this worker with exec");
    template_.reset();
    ++template_failures_;
  }
  return spawn_process(opt_.worker_executable, argv, env, fds);
}

// The template's spare (README "Worker start"), asked for when there is none:
// at a worker's ready, so that the fork and the spare's warm-up run while no
// start waits on them (nor the loop: the answer is read at the next start).
// A template that failed is dropped, as at a spawn.
void Supervisor::Loop::keep_spare() {
  if (!template_) return;
  bool broken = false;
  const std::vector<std::string> shown = {opt_.worker_executable, kSpareShownFlag,
                                          names_.instance(), std::to_string(::getpid())};
  auto st = template_->keep_spare(shown, broken);
  if (st) return;
  if (!broken) {
    log_debug("worker template: no spare: " + st.error().message);
    return;
  }
  log_warn("worker template (pid " + std::to_string(template_->pid()) + "): " + st.error().message +
           "; the next worker start starts a new one");
  template_.reset();
  ++template_failures_;
}

void Supervisor::Loop::publish(Entry& e) {
  e.rec.status = lc::status_of(e.life.phase);
  if (e.rec.restarts != e.life.restarts) {
    e.rec.restarts = e.life.restarts;
    persist_restarts(e);
  }
  e.rec.last_exit = e.life.last_exit;
  e.rec.passivations = e.life.passivations;
  const bool passive = e.rec.status == WorkerStatus::kPassive;
  if (passive != e.stored_passive) {
    e.stored_passive = passive;
    persist_passive(e);
  }
  if (passive) drowsy_.push_back(e.rec.slot);
  overruns_.changed(e);
  if (auto st = reg_->write(e.rec); !st) {
    log_error("unable to publish worker '" + e.id + "': " + st.error().message);
  }
}

void Supervisor::Loop::apply_spec(Entry& e, ChildSpec spec) {
  e.spec = std::move(spec);
  e.rec.payload = to_json(e.spec.payload);
  e.rec.value = "null";
  e.rec.timeout_ms = e.spec.timeout_ms;
  e.rec.lull = e.spec.lull;
  e.rec.instant_perform = e.spec.instant_perform;
  e.rec.restart = e.spec.restart;
  e.rec.max_restarts = e.spec.max_restarts;
  e.rec.within_ms = e.spec.within_ms;
  e.rec.on_overrun = e.spec.on_overrun;
  e.rec.max_memory = e.spec.max_memory;
  e.rec.rlimit_values = e.spec.rlimits;
  e.rec.rlimits = e.spec.rlimits.empty() ? "{}" : to_json(json::value(e.spec.rlimits.to_json()));
  e.rec.restarts = 0;
  e.rec.last_exit = ExitInfo{};
  e.rec.options = to_json(e.spec.options);
  e.rec.user = e.spec.user;
  e.rec.group = e.spec.group;
  e.rec.passivate_after_ms = e.spec.passivate_after_ms;
  // Resolved once, here (the spec was checked when it arrived); a spec whose
  // user no longer resolves keeps run_as empty, and spawn refuses to start it
  // as the supervisor's user instead.
  auto who = resolve_run_as(e.spec);
  e.rec.run_as = who ? *who : std::nullopt;
  if (!who) log_error("worker '" + e.id + "': " + who.error().message);
}

void Supervisor::Loop::remove(std::uint32_t slot) {
  Entry* e = fleet_.find(slot);
  if (e == nullptr) return;
  const std::string mailbox = names_.mailbox(slot, e->rec.mailbox_generation);
  outbox_.forget(mailbox);
  Queue::remove(mailbox);
  persist_removal(*e);
  fleet_.erase(slot);
  boot_slots_.erase(slot);
  reg_->release(slot);
  overruns_.forget(slot);
}

// Allocates a slot, creates its mailbox, publishes the record and spawns.
Result<std::uint32_t> Supervisor::Loop::start_new(const std::string& id, ChildSpec spec, bool boot,
                                                  bool pool_member, std::optional<Waiter> waiter,
                                                  const StoredWorker* restored,
                                                  std::string_view how, bool passive) {
  if (auto st = validate_id(id); !st) return st.error();
  auto slot = reg_->allocate();
  if (!slot) return slot.error();
  Entry e;
  e.id = id;
  e.rec.slot = *slot;
  e.rec.id = id;
  e.rec.pool = pool_member;
  e.life = lc::initial_state(spec, boot);
  if (waiter) {
    e.life.ready_waiters.push_back(*waiter);
    e.life.put_start = true;  // its failure before ready removes it again
  }
  apply_spec(e, std::move(spec));
  if (restored != nullptr) {  // back from the state database: its value and restart count too
    e.rec.value = restored->value_json;
    e.rec.restarts = e.life.restarts = restored->restarts;
  }
  e.rec.mailbox_generation = ++mailbox_counter_;
  const std::string mailbox = names_.mailbox(*slot, e.rec.mailbox_generation);
  if (passive) {
    // No process, so no mailbox: the first spawn makes one.
    e.mailbox_live = false;
    e.rec.status = WorkerStatus::kPassive;
  } else {
    auto q = create_mailbox(e, e.rec.mailbox_generation);
    if (!q) {
      reg_->release(*slot);
      return q.error();
    }
    mailbox_bytes_ = std::max(mailbox_bytes_, q->segment_bytes());
    e.rec.status = WorkerStatus::kStarting;
  }
  if (auto st = reg_->write(e.rec); !st) {
    Queue::remove(mailbox);
    reg_->release(*slot);
    return st.error();
  }
  if (auto rb = reg_->read(*slot)) e.rec.incarnation = rb->incarnation;
  if (restored != nullptr && store_) restore_exits(*slot, id);
  FleetEvent put;
  put.type = EventType::kPut;
  put.id = id;
  put.detail = !how.empty()         ? std::string(how)
               : restored != nullptr ? "restored"
               : boot                ? "boot"
               : waiter              ? "new"
                                     : "replace";
  emit(std::move(put));
  Entry& added = fleet_.add(std::move(e));
  if (passive) {
    const std::uint32_t at = added.rec.slot;
    const std::uint64_t incarnation = added.rec.incarnation;
    auto t = lc::register_passive(added.spec, mono_ms(), context(added));
    t.next.restarts = added.life.restarts;  // a restored worker's count goes on
    added.life = std::move(t.next);
    added.stored_passive = true;
    // --durability sync: on disk before the put is answered
    if (restored != nullptr) {
      persist_restored(added, *restored);
    } else {
      persist(added);
    }
    for (auto& a : t.actions) {
      if (!carry_out(at, a)) break;
    }
    if (waiter) {
      if (Entry* now = fleet_.find(at); now != nullptr && now->rec.incarnation == incarnation) {
        reply_record(*waiter, now->rec);
      }
    }
    run_inbox();
    return *slot;
  }
  // --durability sync: on disk before the put is answered
  if (restored != nullptr) {
    persist_restored(added, *restored);
  } else {
    persist(added);
  }
  if (added.life.boot_child) boot_slots_.insert(*slot);
  spawn(added);
  run_inbox();
  return *slot;
}

// replace(new_id, p): the new id takes over; an existing worker of that id is
// put over (stopped, then started with this spec), as a put would.
void Supervisor::Loop::start_replacement(lc::Replacement r) {
  if (Entry* other = fleet_.find_id(r.id)) {
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = lc::StopCause::kReplace;
    ev.replacement = std::move(r);
    inbox_.push_back(PendingEvent{other->rec.slot, other->rec.incarnation, std::move(ev)});
    return;
  }
  const std::string id = r.id;
  auto started = start_new(r.id, std::move(r.spec), false, false, std::nullopt);
  if (!started) log_error("unable to start replacement '" + id + "': " + started.error().message);
}

// ------------------------------------------------------------ the manager's actions

void Supervisor::Loop::boot_children() {
  std::map<std::string, ChildSpec> specs = m_.children_specs();
  children_.clear();
  for (const auto& [id, spec] : specs) {
    ChildSpec checked = spec;
    if (m_.check_spec(id, checked)) children_.emplace(id, std::move(checked));
  }
  const std::optional<PoolSpec> pool = m_.pool();
  if (pool) {
    for (std::uint32_t i = 1; i <= pool->size; ++i) {
      ChildSpec s;
      s.payload = pool->payload;
      s.timeout_ms = 0;
      s.passivate_after_ms = pool->passivate_after_ms;
      specs[pool->id_prefix + std::to_string(i)] = s;
    }
  }
  std::map<std::string, StoredWorker> rows;  // restored ones: their value and restart count
  restore_stored(specs, rows);
  std::size_t started = 0;
  for (auto& [id, spec] : specs) {
    if (fleet_.slot_of(id)) continue;  // adopted (or restored) with its payload
    // Restored passive ids go to sleep as the boot goes, not all at its end:
    // a million records made first and dropped after left every heap page
    // holding some id's index node, and 1.5 GiB the supervisor could not give
    // back (BENCHMARKS.md, "sleeping passive ids").
    if (++started % 1024 == 0) put_to_sleep();
    const bool member = pool && id.rfind(pool->id_prefix, 0) == 0;
    if (auto st = m_.check_spec(id, spec); !st) {
      log_error("unable to start '" + id + "': " + st.error().message);
      continue;
    }
    if (auto who = check_run_as(spec); !who) {
      log_error("unable to start '" + id + "': " + who.error().message);
      continue;
    }
    const auto row = rows.find(id);
    const bool passive = row != rows.end() && row->second.passive;
    auto r = start_new(id, std::move(spec), /*boot=*/!passive, member, std::nullopt,
                       row == rows.end() ? nullptr : &row->second, {}, passive);
    if (!r) log_error("unable to start '" + id + "': " + r.error().message);
  }
  if (started >= 4096) {
    // What the restore read (every stored row, twice over) is freed now.
    specs.clear();
    rows.clear();
    put_to_sleep();
    ::malloc_trim(0);
  }
}

void Supervisor::Loop::stop_all(lc::StopCause cause) {
  // A sleeping id has no process, mailbox or timer, and a stop keeps its row
  // and leaves its slot to the registry's removal: nothing to wake it for.
  // (At a million of them, waking each took the stop minutes.)
  if (cause == lc::StopCause::kShutdown) {
    if (const std::size_t n = fleet_.drop_asleep(); n > 0) {
      log_info("stopping: " + std::to_string(n) + " sleeping passive id(s) kept as stored");
    }
  }
  for (const std::uint32_t slot : fleet_.slots()) {
    const Entry* e = fleet_.find(slot);
    if (e == nullptr) continue;
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = cause;
    inbox_.push_back(PendingEvent{slot, e->rec.incarnation, std::move(ev)});
  }
  run_inbox();
}

}  // namespace dynmgr
