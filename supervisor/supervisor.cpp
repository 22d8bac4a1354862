#include "supervisor/supervisor.hpp"

#include <signal.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>

#include "shared/bus_guard.hpp"
#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "shared/process_identity.hpp"
#include "shared/shm_objects.hpp"
#include "shared/signal_guard.hpp"
#include "supervisor/spawner.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

namespace lc = lifecycle;
namespace mp = manager_phase;

constexpr std::uint64_t kOverrunScanEveryMs = 100;
// max_memory: the resident memory of workers that set it is sampled this often.
constexpr std::uint64_t kMemoryScanEveryMs = 500;
constexpr std::uint64_t kReplyScanEveryMs = 10'000;
// How soon a removed or truncated object of ours is noticed (README "Tampered
// shared memory"): a few stat(2) calls and one inotify read per check.
constexpr std::uint64_t kShmCheckEveryMs = 1'000;
constexpr Millis kReplySendTimeout{200};
constexpr Millis kIdleWake{1000};  // the longest receive: timers and the watcher's lost wakes

// Before any thread exists: every thread inherits the mask, and the signals
// arrive only through the watcher's signalfd. Queue guards become free.
void block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  SignalGuard::block_for_thread();  // SIGINT, SIGTERM, SIGHUP, SIGQUIT
  ::signal(SIGPIPE, SIG_IGN);
  // A file over RLIMIT_FSIZE is an error (EFBIG) the state database reports,
  // not a reason to die.
  ::signal(SIGXFSZ, SIG_IGN);
  // A truncated shared object must not kill the supervisor (shared/bus_guard.hpp).
  install_bus_guard();
}

}  // namespace

Supervisor::Supervisor(Manager& manager, SupervisorOptions options)
    : loop_(std::make_unique<Loop>(manager, std::move(options))) {}
Supervisor::~Supervisor() = default;
int Supervisor::run() { return loop_->run(); }

Supervisor::Loop::Loop(Manager& m, SupervisorOptions o)
    : m_(m),
      opt_(std::move(o)),
      names_(opt_.instance),
      watcher_(names_, control_generation_),
      outbox_(names_) {}

int Supervisor::Loop::run() {
  block_signals();
  if (auto st = start(); !st) {
    log_error("unable to start supervisor '" + names_.instance() + "': " + st.error().message);
    notify_service("STATUS=" + notify_status_line("unable to start: " + st.error().message));
    close_store();
    cleanup_objects();
    // Only if empty: an adopted worker's leaf keeps it (and the worker alive).
    if (containment_ == Containment::kCgroup) (void)::rmdir(leaf_root_.c_str());
    return 1;
  }
  log_info("supervisor '" + names_.instance() + "' started (pid " + std::to_string(::getpid()) +
           ", capacity " + std::to_string(opt_.registry.capacity) + ", max payload " +
           std::to_string(opt_.registry.max_payload) + " bytes)");
  feed_manager(mp::Event(mp::EventKind::kBoot));
  answer_reexec();
  while (!finished_) {
    const Deadline wake = Deadline::earliest(
        Deadline::earliest(timers_.next(), outbox_.next_retry()), store_deadline());
    auto f = control_->receive(Deadline::earliest(wake, Deadline::after(kIdleWake)));
    if (f) {
      dispatch(*f);
    } else if (f.error().code == Errc::kDeadQueue) {
      // Why, in the words the once-a-second check would use: a truncated
      // queue's header reads as zeros, and so as overwritten, too.
      if (auto st = Queue::intact(control_->name(), control_->segment_bytes()); !st) {
        recreate_control(st.error().code == Errc::kNotFound ? "was removed" : "was truncated");
      } else {
        recreate_control(control_->overwritten() ? "was overwritten (its header changed)"
                                                 : "is dead");
      }
    }
    if (watcher_.take_wake_lost()) handle_wake();
    // A page of a truncated object was touched: look now, not at the next check.
    if (bus_faults() != bus_faults_seen_) check_shared_objects();
    run_timers();
    put_to_sleep();
    outbox_.flush();
    publish_dropped();
    service_store();
  }
  finish();
  return 0;
}

// ------------------------------------------------------------ start / stop

Status Supervisor::Loop::start() {
  // The largest fastbins glibc has (160 bytes) in the supervisor: an import
  // makes each id's record, answers and stores it, then puts the id to sleep
  // a loop turn later (README "What an id costs"), so its small blocks are
  // freed and made again by the thousand. Measured on a 200 000-id import,
  // the supervisor's CPU: 10.2-10.5 s with them, 12.2 s without any (what
  // an earlier version chose, before ids slept: then every id's record stayed,
  // and fastbins cost consolidations instead), 7.6 s with a 2 000-deep tcache
  // (GLIBC_TUNABLES, which a static binary reads before main: not settable
  // from here). Workers are processes of their own (exec'd): not affected.
  ::mallopt(M_MXFAST, 160);
  fleet_.set_waker([this](std::uint32_t slot) { return wake(slot); });
  if (auto st = validate_instance_name(names_.instance()); !st) return st;
  if (auto st = opt_.registry.validate(); !st) return st;
  auto lock = InstanceLock::acquire(names_);
  if (!lock) return lock.error();
  lock_.emplace(std::move(*lock));
  if (opt_.worker_executable.empty()) {
    auto exe = self_executable();
    if (!exe) return exe.error();
    opt_.worker_executable = *exe;
  }
  logs_.emplace(opt_.logs, opt_.worker_executable);
  if (auto st = choose_containment(); !st) return st;
  // We hold the lock: a registry under our name was left by a supervisor that
  // died (or by ourselves before a re-exec). Adopt it and its live workers;
  // anything unusable is stale and removed.
  auto found = RegistryWriter::attach(names_);
  if (found) {
    reg_.emplace(std::move(*found));
    const pid_t predecessor = reg_->header().supervisor_pid;
    // `up` again only once this supervisor has adopted and booted.
    reg_->set_manager_state(ManagerState::kStarting);
    const auto self = ProcessIdentity::self();
    reg_->set_supervisor(self.pid, self.start_time);
    if (const auto slot = reg_->finished_slot()) {
      auto rec = reg_->read(*slot);
      log_info("finished the write of slot " + std::to_string(*slot) +
               (rec ? " (worker '" + rec->id + "')" : std::string()) +
               " that supervisor pid " + std::to_string(predecessor) + " died in");
    }
    if (auto st = adopt_control(); !st) return st;
    open_events(/*adopting=*/true);
    if (std::getenv("DYNMGR_REEXEC") != nullptr) remove_own_reply_queues();
    if (auto st = watcher_.start(); !st) return st;
    open_store();
    if (opt_.fresh) log_warn("--fresh ignored: a live registry is adopted, not started afresh");
    reg_->set_containment(containment_);
    adopt_fleet(predecessor);
    sweep_leaves(/*adopting=*/true);
    reconcile_store();
  } else {
    // A re-executed image that cannot read its own registry (a release with
    // another layout) would run beside its old workers, still its children,
    // without knowing them. Exit instead: they see their supervisor die and
    // stop after the orphan grace; the next start restores from the database.
    if (found.error().code == Errc::kStale && std::getenv("DYNMGR_REEXEC") != nullptr) {
      return make_error(Errc::kStale,
                        "re-executed, but unable to adopt the registry: " + found.error().message +
                            "; the workers stop after the orphan grace");
    }
    if (found.error().code != Errc::kNoSupervisor) {
      log_warn("not adopting the registry left under '" + names_.instance() +
               "': " + found.error().message);
    }
    for (const auto& n : list_shm_objects(names_.prefix())) {
      if (n == names_.lock()) continue;
      log_warn("removing stale shared object /dev/shm/" + n);
      ::unlink(Names::shm_path(n).c_str());
    }
    auto reg = RegistryWriter::create(names_, opt_.registry);
    if (!reg) return reg.error();
    reg_.emplace(std::move(*reg));
    reg_->set_containment(containment_);
    sweep_leaves(/*adopting=*/false);
    const auto self = ProcessIdentity::self();
    reg_->set_supervisor(self.pid, self.start_time);
    if (auto st = create_control(1); !st) return st;
    open_events(/*adopting=*/false);
    if (auto st = watcher_.start(); !st) return st;
    open_store();
    if (opt_.fresh && store_) {
      log_warn("--fresh: dropping " + std::to_string(stored_.size()) +
               " stored worker(s); starting from children_specs() only");
      for (const auto& w : stored_) (void)store_->remove(w.id);
      (void)store_->flush();
      stored_.clear();
    }
    restore_due_ = !stored_.empty();
  }
  if (auto p = m_.pool()) reg_->set_pool_strategy(static_cast<std::uint32_t>(p->strategy));
  if (!opt_.metrics_listen.empty()) {
    auto address = parse_listen_address(opt_.metrics_listen);
    if (!address) return address.error();
    auto server = MetricsServer::start(*address, names_, opt_.web_token);
    if (!server) return server.error();
    metrics_ = std::move(*server);
    log_info(
        "metrics at http://" +
        (address->host.find(':') != std::string::npos ? "[" + address->host + "]" : address->host) +
        ":" + std::to_string(metrics_->port()) + "/metrics, dashboard at /" +
        (opt_.web_token.empty() ? " (read-only)" : " (actions enabled by --web-token-file)"));
  }
  timers_.arm(0, Timer{Timer::Kind::kOverrunScan});
  timers_.arm(0, Timer{Timer::Kind::kReplyScan});
  timers_.arm(kMemoryScanEveryMs, Timer{Timer::Kind::kMemoryScan});
  shm_watch_.emplace(names_.prefix());
  if (!shm_watch_->unavailable().empty()) {
    log_warn("unable to watch /dev/shm (" + shm_watch_->unavailable() +
             "): every mailbox is checked each second instead");
  }
  timers_.arm(kShmCheckEveryMs, Timer{Timer::Kind::kShmCheck});
  return {};
}

// The event ring: an adopting supervisor goes on with its predecessor's (the
// numbering a watcher follows continues); otherwise, or if that one is
// unusable, a new one. Without it the supervisor runs, unwatched.
void Supervisor::Loop::open_events(bool adopting) {
  if (adopting) {
    auto w = EventWriter::attach(names_);
    if (w) {
      events_.emplace(std::move(*w));
      events_bytes_ = shm_object_bytes(names_.events());
      return;
    }
    if (w.error().code != Errc::kNoSupervisor) {
      log_warn("not keeping the event ring: " + w.error().message);
    }
  }
  auto w = EventWriter::create(names_, opt_.event_capacity);
  if (!w) {
    log_error("no event ring (`dynmgrctl watch` shows nothing): " + w.error().message);
    return;
  }
  events_.emplace(std::move(*w));
  events_bytes_ = shm_object_bytes(names_.events());
}

Status Supervisor::Loop::create_control(std::uint64_t generation) {
  auto q = Queue::create(names_.control(generation), opt_.registry.control_depth,
                         opt_.registry.control_msg_size());
  if (!q) return q.error();
  if (control_) Queue::remove(control_->name());
  control_.emplace(std::move(*q));
  control_generation_.store(generation, std::memory_order_release);
  reg_->set_control_generation(generation);
  return {};
}

void Supervisor::Loop::recreate_control(const std::string& why) {
  const std::uint64_t next = control_generation_.load() + 1;
  const std::string old = control_->name();
  // Logged once the new generation is published: whoever acts on the line
  // finds the new queue, not the damaged one.
  if (auto st = create_control(next); !st) {
    log_error("control queue " + old + " " + why +
              "; unable to recreate it: " + st.error().message);
    return;
  }
  log_warn("control queue " + old + " " + why + "; recreated it as generation " +
           std::to_string(next));
  // Workers reopen it when they see the new generation, except those running
  // as another user, which cannot (README "User and group").
  restart_unable_to_reopen("control queue");
}

void Supervisor::Loop::publish_dropped() {
  const std::uint64_t d = control_->dropped();
  if (d == dropped_seen_) return;
  log_warn("dropped " + std::to_string(d - dropped_seen_) + " malformed control frame(s)");
  reg_->add_dropped_frames(d - dropped_seen_);
  dropped_seen_ = d;
}

// A re-executed image (same pid, same start time) may find reply queues under
// its own identity: those of its previous image's web server (its Client for
// the dashboard's actions), which the dead-client scan never removes, since
// their owner is alive. This image has created none yet.
void Supervisor::Loop::remove_own_reply_queues() {
  const auto self = ProcessIdentity::self();
  for (const auto& n : list_shm_objects(names_.reply_prefix())) {
    const auto owner = names_.parse_reply(n);
    if (owner && owner->pid == self.pid && owner->start_time == self.start_time) Queue::remove(n);
  }
}

void Supervisor::Loop::cleanup_objects() {
  for (auto& [slot, e] : fleet_.awake())
    Queue::remove(names_.mailbox(slot, e.rec.mailbox_generation));
  if (control_) Queue::remove(control_->name());
  if (events_) events_->remove_name();
  if (reg_) reg_->remove_name();
  for (const auto& n : dead_reply_queues(names_)) Queue::remove(n);  // live clients keep theirs
  if (lock_) lock_->release_and_remove();
}

void Supervisor::Loop::finish() {
  metrics_.reset();
  watcher_.stop();
  template_.reset();  // it exits on EOF and is reaped here: nothing of ours outlives the stop
  close_store();
  log_info("supervisor '" + names_.instance() + "' stopped");
  // Clean up first, then reply: `stop` returns once every shared object is
  // gone and the instance lock is free, so `dynmgrctl stop && APP --daemon`
  // cannot race our cleanup. The callers' reply queues survive it.
  remove_leaves();
  cleanup_objects();
  // The loop is over: these last replies may wait (briefly) for room.
  for (const auto& w : stop_waiters_) {
    if (w.reply_to.rfind(names_.reply_prefix(), 0) != 0) continue;
    outbox_.send_waiting(w.reply_to, protocol::reply_ok(w.request_id, "stopped"),
                         Deadline::after(kReplySendTimeout));
  }
}

// ------------------------------------------------------------ timers

void Supervisor::Loop::run_timers() {
  for (const Timer& t : timers_.take_due()) {
    switch (t.kind) {
      case Timer::Kind::kOverrunScan:
        for (const auto& info : overruns_.scan(fleet_, *reg_, wall_ms())) {
          FleetEvent ev;
          ev.type = EventType::kOverrun;
          ev.id = info.id;
          ev.pid = info.pid;
          ev.delay_ms = info.busy_ms;
          emit(std::move(ev));
          m_.handle_timeout(info);
          // Reported either way; the machine kills it if its spec says on_overrun kill.
          if (Entry* e = fleet_.find_id(info.id); e != nullptr && e->rec.pid == info.pid) {
            lc::Event over(lc::EventKind::kOverLimit);
            over.limit = ExitInfo::Kind::kOverrun;
            over.reason = "overran lull x timeout (busy " + std::to_string(info.busy_ms) +
                          " ms, limit " + std::to_string(info.limit_ms) + " ms)";
            feed(e->rec.slot, e->rec.incarnation, std::move(over));
          }
        }
        timers_.arm(kOverrunScanEveryMs, Timer{Timer::Kind::kOverrunScan});
        break;
      case Timer::Kind::kMemoryScan:
        scan_memory();
        timers_.arm(kMemoryScanEveryMs, Timer{Timer::Kind::kMemoryScan});
        break;
      case Timer::Kind::kReplyScan:
        for (const auto& n : dead_reply_queues(names_)) {
          log_info("removing the reply queue of a dead client: " + n);
          outbox_.forget(n);
          Queue::remove(n);
        }
        timers_.arm(kReplyScanEveryMs, Timer{Timer::Kind::kReplyScan});
        break;
      case Timer::Kind::kLeafRetry:
        retry_leaves();
        break;
      case Timer::Kind::kShmCheck:
        check_shared_objects();
        timers_.arm(kShmCheckEveryMs, Timer{Timer::Kind::kShmCheck});
        break;
      case Timer::Kind::kStage:
      case Timer::Kind::kBackoff:
      case Timer::Kind::kPerformDue: {
        lc::Event ev(t.kind == Timer::Kind::kStage     ? lc::EventKind::kStageTimer
                     : t.kind == Timer::Kind::kBackoff ? lc::EventKind::kBackoffTimer
                                                       : lc::EventKind::kPerformDue);
        ev.token = t.token;
        // A sleeping id has no timer: this one was armed before it slept.
        if (fleet_.asleep(t.slot)) break;
        feed(t.slot, t.incarnation, std::move(ev));
        break;
      }
      case Timer::Kind::kActivate:
        // Not a token's: an activation of a worker that runs already is
        // answered with its record (to nobody here).
        if (fleet_.asleep(t.slot)) break;
        feed(t.slot, t.incarnation, lc::Event(lc::EventKind::kActivate));
        break;
    }
  }
}

// max_memory by sampling (README "Resource limits and hangs"): the resident
// memory of each worker that sets it, its descendants included, read from
// /proc. The walk is over the workers with a process only (not the passive
// ids) and costs no syscall; /proc is read only for the workers with a
// max_memory, and those reads never block.
void Supervisor::Loop::scan_memory() {
  struct Over {
    std::uint32_t slot;
    std::uint64_t incarnation;  // the process sampled, not a later one in the slot
    lc::Event event;
  };
  std::vector<Over> over;
  for (const std::uint32_t slot : overruns_.live(fleet_)) {
    const Entry* found = fleet_.find(slot);
    if (found == nullptr) continue;
    const Entry& e = *found;
    if (e.spec.max_memory == 0 || e.rec.pid <= 0 || !lc::has_process(e.life.phase)) continue;
    const auto rss = process_tree_rss(e.rec.pid);
    if (!rss || *rss <= e.spec.max_memory) continue;
    lc::Event ev(lc::EventKind::kOverLimit);
    ev.limit = ExitInfo::Kind::kMaxMemory;
    ev.reason = "used " + std::to_string(*rss) + " bytes of memory, over its max_memory of " +
                std::to_string(e.spec.max_memory);
    over.push_back(Over{slot, e.rec.incarnation, std::move(ev)});
  }
  // Fed after the walk: an event may change the fleet.
  for (auto& o : over) feed(o.slot, o.incarnation, std::move(o.event));
}

// ------------------------------------------------------------ replies

void Supervisor::Loop::reply(const Waiter& w, const Frame& f) {
  if (w.batch != 0) return collect(w, f.body);
  // Only this instance's reply queues; a slow client must not stall the loop.
  if (w.reply_to.rfind(names_.reply_prefix(), 0) != 0) return;
  (void)outbox_.send(w.reply_to, f, Deadline::after(kReplySendTimeout));
}

void Supervisor::Loop::reply_error(const Waiter& w, Errc code, const std::string& message) {
  reply(w, protocol::reply_error(w.request_id, make_error(code, message)));
}

void Supervisor::Loop::reply_record(const Waiter& w, const SlotRecord& rec) {
  if (w.batch == 0) {
    return reply(w, protocol::reply_ok(w.request_id, protocol::record_to_json(rec)));
  }
  // Made short here, not cut from the whole record later: an import of a
  // million ids made each whole record, then parsed it back to cut it.
  collect(w, R"({"ok":true,"result":)" + to_json(protocol::short_record_json(rec)) + "}");
}

// ------------------------------------------------------------ the machines

lc::Context Supervisor::Loop::context(const Entry& e) const {
  lc::Context c;
  c.backoff = opt_.backoff;
  c.terminate_timeout_ms = opt_.terminate_timeout_ms;
  c.kill_timeout_ms = opt_.kill_timeout_ms;
  c.shutting_down = phase_.phase == mp::Phase::kStopping || phase_.phase == mp::Phase::kDown;
  c.id = e.id;
  return c;
}

// Delivers an event to a worker's machine and carries out what it decides.
// Events an action raises (spawned, terminate lost, a replacement's put) are
// queued and run after the current transition, never inside it.
void Supervisor::Loop::feed(std::uint32_t slot, std::uint64_t incarnation, lc::Event ev) {
  inbox_.push_back(PendingEvent{slot, incarnation, std::move(ev)});
  run_inbox();
}

void Supervisor::Loop::run_inbox() {
  if (feeding_) return;
  feeding_ = true;
  while (!inbox_.empty()) {
    const PendingEvent p = std::move(inbox_.front());
    inbox_.pop_front();
    step_worker(p.slot, p.incarnation, p.event);
  }
  feeding_ = false;
  after_workers_changed();
}

void Supervisor::Loop::step_worker(std::uint32_t slot, std::uint64_t incarnation,
                                   const lc::Event& ev) {
  Entry* e = fleet_.find(slot);
  if (e == nullptr || e->rec.incarnation != incarnation) return;  // stale: the slot moved on
  lc::Transition t = lc::step(e->life, ev, mono_ms(), context(*e));
  if (t.verdict == lc::Verdict::kInvalid) {
    log_warn("worker '" + e->id + "': event " + std::string(lc::to_string(ev.kind)) +
             " is invalid while " + std::string(lc::to_string(e->life.phase)));
  }
  if (t.verdict != lc::Verdict::kApplied) return;
  auto events = note_transition(*e, e->life, ev, t);
  e->life = std::move(t.next);
  // A transition's events go out once the registry shows it (its kPublish),
  // so a reader woken by "ready" reads `running`, not `starting`; before an
  // action that puts another id (a replacement's "put" follows the old id's
  // "replaced") or removes the slot; at the latest after the last action.
  bool sent = false;
  const auto send = [&] {
    if (sent) return;
    sent = true;
    for (auto& fe : events) emit(std::move(fe));
  };
  for (auto& a : t.actions) {
    if (a.kind == lc::ActionKind::kStartReplacement || a.kind == lc::ActionKind::kRemoveSlot) {
      send();
    }
    const bool publishes = a.kind == lc::ActionKind::kPublish;
    if (!carry_out(slot, a)) break;  // the slot was removed
    if (publishes) send();
  }
  send();
}

void Supervisor::Loop::after_workers_changed() {
  if (phase_.phase == mp::Phase::kStarting && boot_settled()) {
    feed_manager(mp::Event(mp::EventKind::kBootSettled));
  }
  if (phase_.phase != mp::Phase::kStarting) boot_slots_.clear();  // asked only while starting
  if (fleet_.empty()) feed_manager(mp::Event(mp::EventKind::kWorkersGone));
}

bool Supervisor::Loop::boot_settled() const {
  for (const std::uint32_t slot : boot_slots_) {
    const auto it = fleet_.awake().find(slot);
    if (it == fleet_.awake().end()) continue;
    const Entry& e = it->second;
    if (e.life.boot_child && !e.life.ever_ready && e.life.phase == lc::Phase::kStarting)
      return false;
  }
  return true;
}

void Supervisor::Loop::feed_manager(mp::Event ev) {
  manager_inbox_.push_back(std::move(ev));
  if (feeding_manager_) return;
  feeding_manager_ = true;
  while (!manager_inbox_.empty()) {
    const mp::Event next = std::move(manager_inbox_.front());
    manager_inbox_.pop_front();
    mp::Transition t = mp::step(phase_, next);
    if (t.verdict == lc::Verdict::kInvalid) {
      log_warn("manager: event " + std::string(mp::to_string(next.kind)) + " is invalid while " +
               std::string(mp::to_string(phase_.phase)));
    }
    if (t.verdict != lc::Verdict::kApplied) continue;
    phase_ = std::move(t.next);
    for (auto& a : t.actions) carry_out_manager(a);
  }
  feeding_manager_ = false;
}

void Supervisor::Loop::carry_out_manager(mp::Action& a) {
  switch (a.kind) {
    case mp::ActionKind::kSetState:
      return set_state(a.state);
    case mp::ActionKind::kBootChildren:
      boot_children();
      return after_workers_changed();
    case mp::ActionKind::kStopAll:
      stop_all(a.cause);
      return after_workers_changed();
    case mp::ActionKind::kReplyUp:
      for (const auto& w : a.waiters) reply(w, protocol::reply_ok(w.request_id, "up"));
      return;
    case mp::ActionKind::kReplyStopping:
      for (const auto& w : a.waiters) reply_error(w, Errc::kFailed, "the supervisor is stopping");
      return;
    case mp::ActionKind::kAnnounceReady:
      if (opt_.on_ready) opt_.on_ready();
      return;
    case mp::ActionKind::kFinish:
      stop_waiters_ = std::move(a.waiters);
      finished_ = true;
      return;
  }
}

void Supervisor::Loop::emit(FleetEvent e) {
  if (events_) events_->publish(std::move(e));
}

void Supervisor::Loop::set_state(ManagerState s) {
  if (state_ == s) return;
  state_ = s;
  reg_->set_manager_state(s);
  FleetEvent ev;
  ev.type = EventType::kManager;
  ev.state = s;
  emit(std::move(ev));
  // After the registry: whoever systemd lets go on at READY=1 finds it `up`.
  notify_state(s);
  if (m_.handle_state_change(s) == StateChangeAnswer::kRestart && s != ManagerState::kDown) {
    log_info("handle_state_change asked for a restart");
    feed_manager(mp::Event(mp::EventKind::kRestartAsked));
  }
}

// ------------------------------------------------------------ systemd

std::string Supervisor::Loop::status_line() const {
  std::string line = std::string(to_string(state_)) + ", " + std::to_string(fleet_.size()) +
                     (fleet_.size() == 1 ? " worker" : " workers");
  if (reg_ && reg_->header().adopted > 0) {
    line += " (" + std::to_string(reg_->header().adopted) + " adopted)";
  }
  return line;
}

void Supervisor::Loop::notify_state(ManagerState s) {
  if (!notifier_.active()) return;
  switch (s) {
    case ManagerState::kUp:
      // Again after every restart and re-exec: systemd treats a repeated
      // READY=1 as "still ready", and it ends a RELOADING=1.
      return notify_service("READY=1\nSTATUS=" + status_line());
    case ManagerState::kDown:
      return notify_service("STOPPING=1\nSTATUS=stopping, " + std::to_string(fleet_.size()) +
                            (fleet_.size() == 1 ? " worker" : " workers"));
    case ManagerState::kStarting:
      return notify_service(std::string("STATUS=") +
                            (phase_.phase == mp::Phase::kRestarting ? "restarting" : "starting"));
    default:
      return;
  }
}

void Supervisor::Loop::notify_service(const std::string& message) {
  if (auto st = notifier_.notify(message); !st) {
    log_warn("unable to notify systemd: " + st.error().message);
  }
}

}  // namespace dynmgr
