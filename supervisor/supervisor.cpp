#include "supervisor/supervisor.hpp"

#include "shared/clock.hpp"
#include "shared/instance_lock.hpp"
#include "shared/log.hpp"
#include "shared/names.hpp"
#include "shared/process_identity.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"
#include "shared/signal_guard.hpp"
#include "shared/worker_args.hpp"
#include "supervisor/child_watcher.hpp"
#include "supervisor/spawner.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

namespace dynmgr {
namespace {

constexpr Millis kOverrunScanEvery{100};
constexpr Millis kReplyScanEvery{10'000};
constexpr Millis kReplySendTimeout{200};

struct Pending {
  std::string reply_to;
  std::uint64_t request_id = 0;
};

enum class Intent {
  kNone,        // running normally: an exit is a crash, the restart policy decides
  kDelete,      // del: remove once exited
  kReplace,     // put over an existing id: start `replacement` once exited
  kReplaceId,   // replace(new_id, payload): remove, then put new_id
  kHalt,        // halt: remove once exited
  kShutdown,    // supervisor stopping
  kRestartAll,  // restart: remove, then boot children_specs()
};

struct Entry {
  std::string id;
  ChildSpec spec;
  SlotRecord rec;  // what is published; the authoritative copy
  std::uint64_t started_mono = 0;
  RestartHistory history;
  Intent intent = Intent::kNone;
  std::optional<std::pair<std::string, ChildSpec>> replacement;
  std::vector<Pending> waiting_ready;
  std::vector<Pending> waiting_exit;
  bool boot_child = false;  // counts toward the `starting` -> `up` transition
  bool ever_ready = false;
  std::uint64_t overrun_reported = 0;  // busy_since already reported
  std::uint64_t timer_token = 0;       // invalidates stale timers
  std::string failing_reason;          // what the worker said before exiting
};

enum class TimerKind { kRestart, kSigterm, kSigkill, kOverrunScan, kReplyScan };

struct Timer {
  TimerKind kind;
  std::uint32_t slot;
  std::uint64_t token;
};

const char* kind_name(MessageKind k) {
  switch (k) {
    case MessageKind::kPing: return "ping";
    case MessageKind::kPut: return "put";
    case MessageKind::kDel: return "del";
    case MessageKind::kGet: return "get";
    case MessageKind::kRestart: return "restart";
    case MessageKind::kStop: return "stop";
    default: return "control";
  }
}

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

class Supervisor::Loop {
 public:
  Loop(Manager& m, SupervisorOptions o)
      : m_(m), opt_(std::move(o)), names_(opt_.instance), watcher_(names_, control_generation_) {}

  int run() {
    block_signals();
    if (auto st = start(); !st) {
      log_error("unable to start supervisor '" + names_.instance() + "': " + st.error().message);
      cleanup_objects();
      return 1;
    }
    log_info("supervisor '" + names_.instance() + "' started (pid " + std::to_string(::getpid()) +
             ", capacity " + std::to_string(opt_.registry.capacity) + ", max payload " +
             std::to_string(opt_.registry.max_payload) + " bytes)");
    boot();
    while (!finished_) {
      const Deadline wake = next_deadline();
      auto f = control_->receive(wake);
      if (f) {
        dispatch(*f);
      } else if (f.error().code == Errc::kDeadQueue) {
        recreate_control();
      }
      if (watcher_.take_wake_lost()) handle_wake();
      run_timers();
      publish_dropped();
    }
    finish();
    return 0;
  }

 private:
  // ------------------------------------------------------------ start / stop

  // Before any thread exists: every thread inherits the mask, and the signals
  // arrive only through the watcher's signalfd. Queue guards become free.
  static void block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    SignalGuard::block_for_thread();  // SIGINT, SIGTERM, SIGHUP, SIGQUIT
    ::signal(SIGPIPE, SIG_IGN);
  }

  Status start() {
    if (auto st = validate_instance_name(names_.instance()); !st) return st;
    if (auto st = opt_.registry.validate(); !st) return st;
    auto lock = InstanceLock::acquire(names_);
    if (!lock) return lock.error();
    lock_.emplace(std::move(*lock));
    // We hold the lock: whatever else exists under our prefix was left by a
    // supervisor that died. Remove it (stale queues would otherwise be reused).
    remove_stale_objects();
    if (opt_.worker_executable.empty()) {
      auto exe = self_executable();
      if (!exe) return exe.error();
      opt_.worker_executable = *exe;
    }
    auto reg = RegistryWriter::create(names_, opt_.registry);
    if (!reg) return reg.error();
    reg_.emplace(std::move(*reg));
    const auto self = ProcessIdentity::self();
    reg_->set_supervisor(self.pid, self.start_time);
    if (auto st = create_control(1); !st) return st;
    if (auto st = watcher_.start(); !st) return st;
    if (auto p = m_.pool()) reg_->set_pool_strategy(static_cast<std::uint32_t>(p->strategy));
    arm(Millis(0), TimerKind::kOverrunScan, 0, 0);
    arm(Millis(0), TimerKind::kReplyScan, 0, 0);
    return {};
  }

  void remove_stale_objects() {
    DIR* d = ::opendir("/dev/shm");
    if (d == nullptr) return;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind(names_.prefix(), 0) == 0 && n != names_.lock()) stale.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : stale) {
      log_warn("removing stale shared object /dev/shm/" + n);
      ::unlink(Names::shm_path(n).c_str());
    }
  }

  Status create_control(std::uint64_t generation) {
    auto q = Queue::create(names_.control(generation), opt_.registry.control_depth,
                           opt_.registry.control_msg_size());
    if (!q) return q.error();
    if (control_) Queue::remove(control_->name());
    control_.emplace(std::move(*q));
    control_generation_.store(generation, std::memory_order_release);
    reg_->set_control_generation(generation);
    return {};
  }

  void recreate_control() {
    const std::uint64_t next = control_generation_.load() + 1;
    log_warn("control queue " + control_->name() + " is dead; recreating it as generation " +
             std::to_string(next));
    if (auto st = create_control(next); !st) {
      log_error("unable to recreate the control queue: " + st.error().message);
    }
  }

  void publish_dropped() {
    const std::uint64_t d = control_->dropped();
    if (d != dropped_seen_) {
      log_warn("dropped " + std::to_string(d - dropped_seen_) + " malformed control frame(s)");
      reg_->add_dropped_frames(d - dropped_seen_);
      dropped_seen_ = d;
    }
  }

  void cleanup_objects() {
    for (auto& [slot, e] : entries_) {
      Queue::remove(names_.mailbox(slot, e.rec.mailbox_generation));
    }
    if (control_) Queue::remove(control_->name());
    if (reg_) reg_->remove_name();
    DIR* d = ::opendir("/dev/shm");
    if (d != nullptr) {
      const std::string reply_prefix = names_.prefix() + "reply.";
      std::vector<std::string> left;
      while (dirent* de = ::readdir(d)) {
        const std::string n = de->d_name;
        if (n.rfind(reply_prefix, 0) == 0) left.push_back(n);
      }
      ::closedir(d);
      for (const auto& n : left) {
        if (!reply_owner_alive(n)) ::unlink(Names::shm_path(n).c_str());
      }
    }
    if (lock_) lock_->release_and_remove();
  }

  void finish() {
    watcher_.stop();
    set_state(ManagerState::kDown, /*notify=*/false);
    log_info("supervisor '" + names_.instance() + "' stopped");
    // Clean up first, then reply: `stop` returns once every shared object is
    // gone and the instance lock is free, so `dynmgrctl stop && APP --daemon`
    // cannot race our cleanup. The callers' reply queues survive it (their
    // owners are alive; only dead clients' queues are removed).
    cleanup_objects();
    for (const auto& p : stop_waiters_) reply(p, protocol::reply_ok(p.request_id, "stopped"));
  }

  // ------------------------------------------------------------ manager state

  void set_state(ManagerState s, bool notify = true) {
    if (state_ == s) return;
    state_ = s;
    reg_->set_manager_state(s);
    if (!notify) return;
    StateChangeAnswer answer = StateChangeAnswer::kOk;
    try {
      answer = m_.handle_state_change(s);
    } catch (const std::exception& e) {
      log_error("handle_state_change threw: " + std::string(e.what()));
    }
    if (answer == StateChangeAnswer::kRestart && s != ManagerState::kDown) {
      log_info("handle_state_change asked for a restart");
      restart_requested_ = true;
    }
  }

  void boot() {
    set_state(ManagerState::kStarting);
    std::map<std::string, ChildSpec> specs;
    try {
      specs = m_.children_specs();
      if (auto p = m_.pool()) {
        for (std::uint32_t i = 1; i <= p->size; ++i) {
          ChildSpec s;
          s.payload = p->payload;
          s.timeout_ms = 0;
          specs[p->id_prefix + std::to_string(i)] = s;
        }
      }
    } catch (const std::exception& e) {
      log_error("children_specs threw: " + std::string(e.what()));
    }
    const bool pool = m_.pool().has_value();
    const std::string pool_prefix = pool ? m_.pool()->id_prefix : std::string();
    for (auto& [id, spec] : specs) {
      const bool member = pool && id.rfind(pool_prefix, 0) == 0;
      if (auto st = check_spec(id, spec); !st) {
        log_error("unable to start '" + id + "': " + st.error().message);
        continue;
      }
      auto r = start_new(id, std::move(spec), /*boot=*/true, member);
      if (!r) log_error("unable to start '" + id + "': " + r.error().message);
    }
    check_boot_complete();
  }

  void check_boot_complete() {
    if (state_ != ManagerState::kStarting || restarting_) return;
    for (const auto& [slot, e] : entries_) {
      if (e.boot_child && !e.ever_ready && e.rec.status == WorkerStatus::kStarting) return;
    }
    for (auto& [slot, e] : entries_) e.boot_child = false;
    set_state(ManagerState::kUp);
    for (const auto& p : restart_waiters_) reply(p, protocol::reply_ok(p.request_id, "up"));
    restart_waiters_.clear();
    if (!ready_announced_) {
      ready_announced_ = true;
      if (opt_.on_ready) opt_.on_ready();
    }
    if (restart_requested_) {
      restart_requested_ = false;
      begin_restart_all();
    }
  }

  // ------------------------------------------------------------ timers

  void arm(Millis after, TimerKind kind, std::uint32_t slot, std::uint64_t token) {
    timers_.emplace(mono_ms() + static_cast<std::uint64_t>(after.count()), Timer{kind, slot, token});
  }

  Deadline next_deadline() const {
    if (timers_.empty()) return Deadline::after(Millis(1000));
    const std::uint64_t now = mono_ms();
    const std::uint64_t due = timers_.begin()->first;
    return Deadline::after(Millis(due > now ? due - now : 0));
  }

  void run_timers() {
    const std::uint64_t now = mono_ms();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      const Timer t = timers_.begin()->second;
      timers_.erase(timers_.begin());
      fire(t);
    }
  }

  void fire(const Timer& t) {
    switch (t.kind) {
      case TimerKind::kOverrunScan:
        scan_overruns();
        arm(kOverrunScanEvery, TimerKind::kOverrunScan, 0, 0);
        return;
      case TimerKind::kReplyScan:
        scan_reply_queues();
        arm(kReplyScanEvery, TimerKind::kReplyScan, 0, 0);
        return;
      default:
        break;
    }
    auto it = entries_.find(t.slot);
    if (it == entries_.end() || it->second.timer_token != t.token) return;
    Entry& e = it->second;
    switch (t.kind) {
      case TimerKind::kRestart:
        if (e.rec.status == WorkerStatus::kRestarting && e.intent == Intent::kNone) spawn(e);
        break;
      case TimerKind::kSigterm:
        if (e.rec.pid > 0) {
          log_info("worker '" + e.id + "' did not stop after terminate; sending SIGTERM");
          ::kill(-e.rec.pid, SIGTERM);
          arm(Millis(opt_.kill_timeout_ms), TimerKind::kSigkill, e.rec.slot, e.timer_token);
        }
        break;
      case TimerKind::kSigkill:
        if (e.rec.pid > 0) {
          log_warn("worker '" + e.id + "' did not stop after SIGTERM; sending SIGKILL");
          ::kill(-e.rec.pid, SIGKILL);
        }
        break;
      default:
        break;
    }
  }

  void scan_overruns() {
    // The slots worth a look (a process running, a timeout set), rebuilt only
    // after a change: an idle fleet costs nothing here, whatever its size.
    if (timed_dirty_) {
      timed_.clear();
      for (const auto& [slot, e] : entries_) {
        if (e.rec.pid > 0 && e.rec.timeout_ms != 0) timed_.push_back(slot);
      }
      timed_dirty_ = false;
    }
    const std::uint64_t now = wall_ms();
    for (const std::uint32_t slot : timed_) {
      auto it = entries_.find(slot);
      if (it == entries_.end()) continue;
      Entry& e = it->second;
      if (e.rec.pid <= 0 || e.rec.timeout_ms == 0) continue;
      // One word per worker (the scan runs every 100 ms over the whole fleet).
      const std::uint64_t busy = reg_->busy_since(slot);
      if (busy == 0 || busy == e.overrun_reported || now <= busy) continue;
      // lull * timeout rounded up to a whole ms; the epsilon keeps binary
      // floating-point noise (1.1 * 200 = 220.00000000000003) from adding one.
      const auto limit = static_cast<std::uint64_t>(
          std::ceil(e.rec.lull * static_cast<double>(e.rec.timeout_ms) - 1e-6));
      if (now - busy <= limit) continue;
      e.overrun_reported = busy;
      TimeoutInfo info{e.id, e.rec.pid, now - busy, limit, e.rec.timeout_ms, e.rec.lull};
      try {
        m_.handle_timeout(info);
      } catch (const std::exception& ex) {
        log_error("handle_timeout threw: " + std::string(ex.what()));
      }
    }
  }

  bool reply_owner_alive(const std::string& name) const {
    // dynmgr.<uid>.<instance>.reply.<pid>-<start>.<serial>
    const std::string prefix = names_.prefix() + "reply.";
    if (name.rfind(prefix, 0) != 0) return true;
    const std::string rest = name.substr(prefix.size());
    const auto dash = rest.find('-');
    const auto dot = rest.find('.', dash == std::string::npos ? 0 : dash);
    if (dash == std::string::npos || dot == std::string::npos) return false;
    const pid_t pid = static_cast<pid_t>(std::strtol(rest.substr(0, dash).c_str(), nullptr, 10));
    const std::uint64_t start = std::strtoull(rest.substr(dash + 1, dot - dash - 1).c_str(), nullptr, 10);
    return process_alive(pid, start);
  }

  void scan_reply_queues() {
    DIR* d = ::opendir("/dev/shm");
    if (d == nullptr) return;
    const std::string prefix = names_.prefix() + "reply.";
    std::vector<std::string> dead;
    while (dirent* de = ::readdir(d)) {
      const std::string n = de->d_name;
      if (n.rfind(prefix, 0) == 0 && !reply_owner_alive(n)) dead.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : dead) {
      log_info("removing reply queue of a dead client: " + n);
      Queue::remove(n);
      replies_.remove_if([&](const Queue& q) { return q.name() == n; });
    }
  }

  // ------------------------------------------------------------ replies

  Queue* reply_queue(const std::string& name) {
    if (name.rfind(names_.prefix() + "reply.", 0) != 0) return nullptr;
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if (it->name() == name) {
        if (it->dead()) {
          replies_.erase(it);
          break;
        }
        replies_.splice(replies_.begin(), replies_, it);
        return &replies_.front();
      }
    }
    auto q = Queue::open(name);
    if (!q) return nullptr;
    replies_.push_front(std::move(*q));
    if (replies_.size() > 32) replies_.pop_back();
    return &replies_.front();
  }

  void reply(const Pending& p, const Frame& f) {
    if (p.reply_to.empty()) return;
    Queue* q = reply_queue(p.reply_to);
    if (q == nullptr) return;  // the client is gone
    // A slow client must not stall the loop: a bounded wait, then drop.
    auto st = q->send(f, Deadline::after(kReplySendTimeout));
    if (!st) log_warn("unable to reply to " + p.reply_to + ": " + st.error().message);
  }

  void reply_error(const Pending& p, Errc code, const std::string& message) {
    reply(p, protocol::reply_error(p.request_id, make_error(code, message)));
  }

  void reply_record(const Pending& p, const Entry& e) {
    reply(p, protocol::reply_ok(p.request_id, protocol::record_to_json(e.rec)));
  }

  // ------------------------------------------------------------ dispatch

  void dispatch(const Frame& f) {
    switch (f.kind) {
      case MessageKind::kWake:
        handle_wake();
        return;
      case MessageKind::kPing:
      case MessageKind::kPut:
      case MessageKind::kDel:
      case MessageKind::kGet:
      case MessageKind::kRestart:
      case MessageKind::kStop:
        handle_request(f);
        return;
      case MessageKind::kWorkerReady:
      case MessageKind::kWorkerUpdate:
      case MessageKind::kWorkerReplaceId:
      case MessageKind::kWorkerHalt:
      case MessageKind::kWorkerCommitReply:
      case MessageKind::kWorkerFailing:
        handle_worker(f);
        return;
      case MessageKind::kQueueDead:
        handle_queue_dead(f);
        return;
      default:
        log_warn("dropped a control message of unknown kind " +
                 std::to_string(static_cast<int>(f.kind)));
    }
  }

  void handle_request(const Frame& f) {
    auto req = protocol::parse_control_request(f);
    if (!req) {
      log_warn("dropped a malformed request: " + req.error().message);
      return;
    }
    const Pending p{req->reply_to, f.request_id};
    if (req->deadline_mono_ms != 0 && mono_ms() >= req->deadline_mono_ms) {
      // Its client has given up and reported a timeout: carrying it out now
      // would make "a failed command changes nothing" false, and under
      // overload it would spend the loop on work nobody waits for.
      log_warn("dropped a " + std::string(kind_name(f.kind)) + " request whose client gave up " +
               std::to_string(mono_ms() - req->deadline_mono_ms) + " ms ago");
      return;
    }
    switch (f.kind) {
      case MessageKind::kPing: {
        json::object o;
        o["pid"] = ::getpid();
        o["manager"] = std::string(to_string(state_));
        reply(p, protocol::reply_ok(p.request_id, o));
        return;
      }
      case MessageKind::kPut:
        handle_put(p, *req);
        return;
      case MessageKind::kDel:
        handle_del(p, req->id);
        return;
      case MessageKind::kGet: {
        auto it = by_id_.find(req->id);
        if (it == by_id_.end()) {
          reply_error(p, Errc::kNotFound, "no such worker '" + req->id + "'");
        } else {
          reply_record(p, entries_.at(it->second));
        }
        return;
      }
      case MessageKind::kRestart:
        if (stopping_) return reply_error(p, Errc::kFailed, "the supervisor is stopping");
        restart_waiters_.push_back(p);
        if (!restarting_) begin_restart_all();
        return;
      case MessageKind::kStop:
        stop_waiters_.push_back(p);
        begin_shutdown("stop requested");
        return;
      default:
        return;
    }
  }

  void handle_put(const Pending& p, const protocol::ControlRequest& req) {
    if (stopping_) return reply_error(p, Errc::kFailed, "the supervisor is stopping");
    if (auto st = validate_id(req.id); !st) return reply_error(p, st.error().code, st.error().message);
    auto spec = ChildSpec::from_json(req.spec);
    if (!spec) return reply_error(p, spec.error().code, spec.error().message);
    if (auto st = check_spec(req.id, *spec); !st) {
      return reply_error(p, st.error().code, st.error().message);
    }
    const std::size_t size = to_json(spec->payload).size();
    if (size > opt_.registry.max_payload) {
      return reply_error(p, Errc::kTooLarge,
                         "payload of " + std::to_string(size) + " bytes exceeds the limit of " +
                             std::to_string(opt_.registry.max_payload) + " bytes");
    }
    auto it = by_id_.find(req.id);
    if (it != by_id_.end()) {
      if (req.only_new) {
        return reply_error(p, Errc::kExists, "worker '" + req.id + "' already exists");
      }
      Entry& e = entries_.at(it->second);
      if (e.intent != Intent::kNone && e.intent != Intent::kReplace) {
        return reply_error(p, Errc::kFailed, "worker '" + req.id + "' is being removed");
      }
      e.intent = Intent::kReplace;
      e.replacement = std::make_pair(req.id, std::move(*spec));
      e.waiting_ready.push_back(p);
      begin_stop(e, "replace");
      return;
    }
    auto r = start_new(req.id, std::move(*spec), /*boot=*/false, /*pool_member=*/false);
    if (!r) return reply_error(p, r.error().code, r.error().message);
    Entry& e = entries_.at(*r);
    if (e.rec.status == WorkerStatus::kRunning) {
      reply_record(p, e);
    } else if (e.rec.status == WorkerStatus::kStarting) {
      e.waiting_ready.push_back(p);
    } else {
      reply_error(p, Errc::kFailed, "worker '" + e.id + "' could not start: " +
                                        e.rec.last_exit.describe());
    }
  }

  void handle_del(const Pending& p, const std::string& id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return reply_error(p, Errc::kNotFound, "no such worker '" + id + "'");
    Entry& e = entries_.at(it->second);
    e.waiting_exit.push_back(p);
    if (e.intent == Intent::kDelete) return;  // already on its way out
    e.intent = Intent::kDelete;
    begin_stop(e, "del");
  }

  // ------------------------------------------------------------ workers

  Status check_spec(const std::string& id, ChildSpec& spec) {
    try {
      return m_.check_spec(id, spec);
    } catch (const std::exception& e) {
      return make_error(Errc::kFailed, std::string("check_spec threw: ") + e.what());
    }
  }

  // Allocates a slot, creates its mailbox, publishes the record and spawns.
  Result<std::uint32_t> start_new(const std::string& id, ChildSpec spec, bool boot,
                                  bool pool_member) {
    if (auto st = validate_id(id); !st) return st.error();
    auto slot = reg_->allocate();
    if (!slot) return slot.error();
    Entry e;
    e.id = id;
    e.boot_child = boot;
    e.rec.slot = *slot;
    e.rec.id = id;
    e.rec.pool_member = pool_member;
    apply_spec(e, std::move(spec));
    e.rec.mailbox_generation = ++mailbox_counter_;
    auto q = Queue::create(names_.mailbox(*slot, e.rec.mailbox_generation),
                           opt_.registry.mailbox_depth, opt_.registry.mailbox_msg_size());
    if (!q) {
      reg_->release(*slot);
      return q.error();
    }
    e.rec.status = WorkerStatus::kStarting;
    if (auto st = reg_->write(e.rec); !st) {
      Queue::remove(names_.mailbox(*slot, e.rec.mailbox_generation));
      reg_->release(*slot);
      return st.error();
    }
    auto rb = reg_->read(*slot);
    if (rb) e.rec.incarnation = rb->incarnation;
    by_id_[id] = *slot;
    auto [pos, _] = entries_.emplace(*slot, std::move(e));
    spawn(pos->second);
    return *slot;
  }

  void apply_spec(Entry& e, ChildSpec spec) {
    e.spec = std::move(spec);
    e.rec.payload = to_json(e.spec.payload);
    e.rec.value = "null";
    e.rec.timeout_ms = e.spec.timeout_ms;
    e.rec.lull = e.spec.lull;
    e.rec.instant_perform = e.spec.instant_perform;
    e.rec.restart = e.spec.restart;
    e.rec.max_restarts = e.spec.max_restarts;
    e.rec.restart_window_ms = e.spec.restart_window_ms;
    e.rec.restarts = 0;
    e.rec.last_exit = ExitInfo{};
    e.history = RestartHistory{};
  }

  void publish(Entry& e) {
    timed_dirty_ = true;
    if (auto st = reg_->write(e.rec); !st) {
      log_error("unable to publish worker '" + e.id + "': " + st.error().message);
    }
  }

  void spawn(Entry& e) {
    ++e.timer_token;
    e.overrun_reported = 0;
    std::vector<std::string> argv = worker_argv(
        opt_.worker_executable,
        WorkerArgs{names_.instance(), e.rec.slot, e.rec.incarnation, ::getpid()});
    std::vector<std::string> env = {"DYNMGR_NAME=" + names_.instance(),
                                    "DYNMGR_WORKER_ID=" + e.id};
    if (!e.spec.options.empty()) env.push_back("DYNMGR_WORKER_OPTIONS=" + to_json(e.spec.options));
    auto sp = spawn_process(opt_.worker_executable, argv, env);
    if (!sp) {
      log_error("unable to spawn worker '" + e.id + "': " + sp.error().message);
      e.rec.pid = 0;
      ExitInfo info;
      info.kind = ExitInfo::Kind::kSpawnFailed;
      info.reason = sp.error().message;
      on_exit(e, info);
      return;
    }
    e.rec.pid = sp->pid;
    e.rec.pid_start_time = process_start_time(sp->pid).value_or(0);
    e.rec.started_ms = wall_ms();
    e.started_mono = mono_ms();
    e.rec.status = WorkerStatus::kStarting;
    publish(e);
    pid_slot_[sp->pid] = e.rec.slot;
    watcher_.watch(sp->pid);
    log_debug("started worker '" + e.id + "' (pid " + std::to_string(sp->pid) + ")");
  }

  void begin_stop(Entry& e, const std::string& reason) {
    if (e.rec.pid <= 0) {
      // Nothing running (restarting, failed, exited): finish right away.
      ++e.timer_token;
      on_gone(e);
      return;
    }
    if (e.rec.status != WorkerStatus::kStopping) {
      e.rec.status = WorkerStatus::kStopping;
      publish(e);
      ++e.timer_token;
      auto q = Queue::open(names_.mailbox(e.rec.slot, e.rec.mailbox_generation));
      bool sent = false;
      if (q) sent = static_cast<bool>(q->send(protocol::make_terminate(reason), Deadline::after(Millis(50)), 1));
      if (!sent) {
        // No way to ask politely: go straight to SIGTERM.
        ::kill(-e.rec.pid, SIGTERM);
        arm(Millis(opt_.kill_timeout_ms), TimerKind::kSigkill, e.rec.slot, e.timer_token);
      } else {
        arm(Millis(opt_.terminate_timeout_ms), TimerKind::kSigterm, e.rec.slot, e.timer_token);
      }
    }
  }

  void handle_wake() {
    for (;;) {
      auto ev = watcher_.drain();
      // A worker's last messages (ready, update, halt, replace) were queued before
      // it exited, so they are in the control queue now, possibly behind this
      // wake (another exit's). Handle them before reaping: reaped first, they
      // would be dropped as stale and a halt taken for a crash.
      const bool more = !ev.exited.empty() && drain_control();
      for (int sig : ev.signals) {
        log_info(std::string("received SIG") + (sigabbrev_np(sig) ? sigabbrev_np(sig) : "?"));
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) begin_shutdown("signal");
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
  bool drain_control() {
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
  void reap(pid_t pid) {
    auto it = pid_slot_.find(pid);
    std::optional<std::uint32_t> slot;
    if (it != pid_slot_.end()) {
      slot = it->second;
      pid_slot_.erase(it);
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
    if (!slot) return;
    auto eit = entries_.find(*slot);
    if (eit == entries_.end() || eit->second.rec.pid != pid) return;
    on_exit(eit->second, exit_from_siginfo(si));
  }

  // A worker process ended (or could not be spawned).
  void on_exit(Entry& e, ExitInfo info) {
    if (!e.failing_reason.empty()) {
      info.reason = e.failing_reason + " (" + info.reason + ")";
      e.failing_reason.clear();
    }
    const std::uint64_t uptime = e.started_mono ? mono_ms() - e.started_mono : 0;
    e.rec.pid = 0;
    e.rec.pid_start_time = 0;
    e.rec.last_exit = info;
    ++e.timer_token;
    if (e.intent == Intent::kNone) {
      log_warn("worker '" + e.id + "' " + info.describe());
      // Answered below, once the registry shows what became of the worker.
      const std::vector<Pending> ready_waiters = std::move(e.waiting_ready);
      e.waiting_ready.clear();
      const std::string failed_start = "worker '" + e.id + "' exited during start: " + info.describe();
      RestartLimits limits{e.spec.restart, e.spec.max_restarts, e.spec.restart_window_ms};
      const auto d = decide_restart(limits, opt_.backoff, e.history, info.abnormal(), mono_ms(), uptime);
      switch (d.verdict) {
        case RestartVerdict::kRestart:
          ++e.rec.restarts;
          if (d.delay_ms == 0 && !stopping_) {
            spawn(e);
          } else {
            e.rec.status = WorkerStatus::kRestarting;
            publish(e);
            arm(Millis(d.delay_ms), TimerKind::kRestart, e.rec.slot, e.timer_token);
          }
          break;
        case RestartVerdict::kFailed:
          log_error("worker '" + e.id + "' failed: " + d.reason);
          e.rec.status = WorkerStatus::kFailed;
          publish(e);
          break;
        case RestartVerdict::kDone:
          e.rec.status = WorkerStatus::kExited;
          publish(e);
          break;
      }
      for (const auto& p : ready_waiters) reply_error(p, Errc::kFailed, failed_start);
      check_boot_complete();
      return;
    }
    on_gone(e);
  }

  // The worker is not running and was asked to go: act on its intent.
  void on_gone(Entry& e) {
    const std::uint32_t slot = e.rec.slot;
    switch (e.intent) {
      case Intent::kReplace: {
        auto [id, spec] = std::move(*e.replacement);
        e.replacement.reset();
        e.intent = Intent::kNone;
        apply_spec(e, std::move(spec));
        e.ever_ready = false;
        spawn(e);
        return;
      }
      case Intent::kReplaceId: {
        auto [new_id, spec] = std::move(*e.replacement);
        remove_entry(slot);
        auto it = by_id_.find(new_id);
        if (it != by_id_.end()) {
          Entry& other = entries_.at(it->second);
          other.intent = Intent::kReplace;
          other.replacement = std::make_pair(new_id, std::move(spec));
          begin_stop(other, "replace");
        } else {
          auto r = start_new(new_id, std::move(spec), false, false);
          if (!r) log_error("unable to start replacement '" + new_id + "': " + r.error().message);
        }
        return;
      }
      case Intent::kNone:  // stopped while not running (e.g. del of a failed worker)
      case Intent::kDelete:
      case Intent::kHalt:
      case Intent::kRestartAll:
        remove_entry(slot);
        if (restarting_) check_restart_progress();
        return;
      case Intent::kShutdown:
        remove_entry(slot);
        if (entries_.empty()) finished_ = true;
        return;
    }
  }

  void remove_entry(std::uint32_t slot) {
    auto it = entries_.find(slot);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    const std::string id = e.id;
    const std::vector<Pending> exit_waiters = std::move(e.waiting_exit);
    const std::vector<Pending> ready_waiters = std::move(e.waiting_ready);
    Queue::remove(names_.mailbox(slot, e.rec.mailbox_generation));
    by_id_.erase(e.id);
    entries_.erase(it);
    reg_->release(slot);
    timed_dirty_ = true;
    // Reply once the registry no longer shows the worker: del is synchronous,
    // a `get` right after it must not find the id.
    for (const auto& p : exit_waiters) reply(p, protocol::reply_ok(p.request_id, "deleted"));
    for (const auto& p : ready_waiters) {
      reply_error(p, Errc::kFailed, "worker '" + id + "' was removed before it was ready");
    }
  }

  Entry* worker_entry(const protocol::WorkerMessage& m) {
    auto it = entries_.find(m.slot);
    if (it == entries_.end()) return nullptr;
    Entry& e = it->second;
    if (e.rec.incarnation != m.incarnation || e.rec.pid != m.pid) return nullptr;  // stale
    return &e;
  }

  void handle_worker(const Frame& f) {
    auto m = protocol::parse_worker_message(f);
    if (!m) {
      log_warn("dropped a malformed worker message: " + m.error().message);
      return;
    }
    Entry* e = worker_entry(*m);
    if (e == nullptr) return;
    switch (m->kind) {
      case MessageKind::kWorkerReady:
        if (e->rec.status == WorkerStatus::kStarting) e->rec.status = WorkerStatus::kRunning;
        e->ever_ready = true;
        publish(*e);
        for (const auto& p : e->waiting_ready) reply_record(p, *e);
        e->waiting_ready.clear();
        check_boot_complete();
        return;
      case MessageKind::kWorkerUpdate:
      case MessageKind::kWorkerCommitReply: {
        Status st = apply_update(*e, *m);
        if (m->kind == MessageKind::kWorkerCommitReply) {
          const Pending p{m->reply_to, m->reply_request_id};
          if (st) {
            reply(p, protocol::reply_ok(p.request_id, m->reply));
          } else {
            reply_error(p, st.error().code, st.error().message);
          }
        }
        return;
      }
      case MessageKind::kWorkerFailing:
        e->failing_reason = m->reason;
        return;
      case MessageKind::kWorkerHalt:
        e->intent = Intent::kHalt;
        e->rec.status = WorkerStatus::kHalted;
        publish(*e);
        return;
      case MessageKind::kWorkerReplaceId: {
        ChildSpec spec = e->spec;
        spec.payload = m->payload.value_or(nullptr);
        e->intent = Intent::kReplaceId;
        e->replacement = std::make_pair(m->new_id, std::move(spec));
        e->rec.status = WorkerStatus::kStopping;
        publish(*e);
        return;
      }
      default:
        return;
    }
  }

  Status apply_update(Entry& e, const protocol::WorkerMessage& m) {
    SlotRecord next = e.rec;
    if (m.payload) next.payload = to_json(*m.payload);
    if (m.value) next.value = to_json(*m.value);
    if (m.timeout_ms) next.timeout_ms = *m.timeout_ms;
    if (m.timeout_ms) timed_dirty_ = true;  // a value or payload changes nothing there
    if (auto st = reg_->write(next); !st) {
      log_error("unable to store the update of worker '" + e.id + "': " + st.error().message);
      (void)reg_->write(e.rec);  // keep the last good record published
      return st;
    }
    e.rec = std::move(next);
    if (m.payload) e.spec.payload = *m.payload;  // a restart starts from the committed payload
    if (m.timeout_ms) e.spec.timeout_ms = *m.timeout_ms;
    return {};
  }

  void handle_queue_dead(const Frame& f) {
    auto qd = protocol::parse_queue_dead(f);
    if (!qd || qd->queue != "mailbox") return;
    auto it = entries_.find(qd->slot);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    if (e.rec.mailbox_generation != qd->generation) return;  // already replaced
    // Confirm before replacing: messages still in a live mailbox must not be lost
    // on the word of a confused peer. A dead queue cannot be read safely, so
    // whatever it held is lost with it.
    auto q = Queue::open(names_.mailbox(qd->slot, qd->generation));
    if (q && q->probe()) return;
    const std::uint64_t old = e.rec.mailbox_generation;
    e.rec.mailbox_generation = ++mailbox_counter_;
    auto created = Queue::create(names_.mailbox(qd->slot, e.rec.mailbox_generation),
                                 opt_.registry.mailbox_depth, opt_.registry.mailbox_msg_size());
    if (!created) {
      log_error("unable to recreate the mailbox of '" + e.id + "': " + created.error().message);
      return;
    }
    log_warn("mailbox of worker '" + e.id + "' was dead; recreated as generation " +
             std::to_string(e.rec.mailbox_generation));
    publish(e);
    // Wake whoever still waits on the old one (the worker, idle until its next
    // event otherwise): it finds the queue dead and the new generation published.
    Queue::ring(names_.mailbox(qd->slot, old));
    Queue::remove(names_.mailbox(qd->slot, old));
  }

  // ------------------------------------------------------------ restart / shutdown

  void begin_restart_all() {
    restarting_ = true;
    set_state(ManagerState::kStarting);
    std::vector<std::uint32_t> slots;
    for (auto& [slot, e] : entries_) slots.push_back(slot);
    for (auto slot : slots) {
      auto it = entries_.find(slot);
      if (it == entries_.end()) continue;
      it->second.intent = Intent::kRestartAll;
      begin_stop(it->second, "restart");
    }
    check_restart_progress();
  }

  void check_restart_progress() {
    if (!restarting_ || !entries_.empty()) return;
    restarting_ = false;
    boot();
  }

  void begin_shutdown(const std::string& why) {
    if (stopping_) return;
    stopping_ = true;
    log_info("stopping (" + why + ")");
    set_state(ManagerState::kDown);
    if (entries_.empty()) {
      finished_ = true;
      return;
    }
    std::vector<std::uint32_t> slots;
    for (auto& [slot, e] : entries_) slots.push_back(slot);
    for (auto slot : slots) {
      auto it = entries_.find(slot);
      if (it == entries_.end()) continue;
      it->second.intent = Intent::kShutdown;
      begin_stop(it->second, "shutdown");
    }
    if (entries_.empty()) finished_ = true;
  }

  Manager& m_;
  SupervisorOptions opt_;
  Names names_;
  std::atomic<std::uint64_t> control_generation_{0};
  ChildWatcher watcher_;
  std::optional<InstanceLock> lock_;
  std::optional<RegistryWriter> reg_;
  std::optional<Queue> control_;
  std::uint64_t dropped_seen_ = 0;
  std::map<std::uint32_t, Entry> entries_;
  std::unordered_map<std::string, std::uint32_t> by_id_;
  std::unordered_map<pid_t, std::uint32_t> pid_slot_;  // running workers
  std::multimap<std::uint64_t, Timer> timers_;
  std::vector<std::uint32_t> timed_;  // slots scan_overruns looks at
  bool timed_dirty_ = true;
  std::list<Queue> replies_;
  std::vector<Pending> stop_waiters_;
  std::vector<Pending> restart_waiters_;
  std::uint64_t mailbox_counter_ = 0;
  ManagerState state_ = ManagerState::kUnknown;
  bool stopping_ = false;
  bool finished_ = false;
  bool restarting_ = false;
  bool restart_requested_ = false;
  bool ready_announced_ = false;
};

Supervisor::Supervisor(Manager& manager, SupervisorOptions options)
    : loop_(std::make_unique<Loop>(manager, std::move(options))) {}
Supervisor::~Supervisor() = default;
int Supervisor::run() { return loop_->run(); }

}  // namespace dynmgr
