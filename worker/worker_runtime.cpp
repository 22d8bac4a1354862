#include "worker/worker_runtime.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#include "shared/clock.hpp"
#include "shared/control_sender.hpp"
#include "shared/log.hpp"
#include "shared/mailbox_wait.hpp"
#include "shared/names.hpp"
#include "shared/process_identity.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"
#include "shared/registry.hpp"
#include "shared/reply_cache.hpp"
#include "shared/signal_guard.hpp"
#include "shared/stop_signals.hpp"
#include "worker/identity.hpp"

namespace dynmgr {
namespace {

// Stop signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT) are caught: the handler sets
// g_stop_signal and posts the mailbox's wake-up semaphore, so the loop leaves
// its wait at once, whether the signal lands in the wait or just before it.
// SIGCHLD (a process the manager started ended, e.g. an exec worker's command)
// and SIGIO (a descriptor passed to wake_on_input became readable) do the same
// with g_housekeeping: housekeeping, and so idle(), runs at once.
// g_woken is what the wait watches; the loop clears it before looking at the
// other two.
volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_housekeeping = 0;
volatile std::sig_atomic_t g_woken = 0;
// SIGURG from the supervisor: it recreated the registry or this worker's
// mailbox (README "Tampered shared memory"); look again. SIGURG is ignored by
// default, so one that arrives before the handler is installed harms nothing.
volatile std::sig_atomic_t g_recheck = 0;
std::atomic<sem_t*> g_wake{nullptr};
static_assert(std::atomic<sem_t*>::is_always_lock_free);

void wake_from_handler() {
  g_woken = 1;
  if (sem_t* s = g_wake.load(std::memory_order_relaxed)) ::sem_post(s);  // async-signal-safe
}

extern "C" void on_stop_signal(int) {
  const int saved = errno;
  g_stop_signal = 1;
  wake_from_handler();
  errno = saved;
}

extern "C" void on_recheck_signal(int) {
  const int saved = errno;
  g_recheck = 1;
  wake_from_handler();
  errno = saved;
}

extern "C" void on_housekeeping_signal(int) {
  const int saved = errno;
  g_housekeeping = 1;
  wake_from_handler();
  errno = saved;
}

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // user code's reads and writes go on; waits end early
  const sigset_t stop = SignalGuard::guarded();
  for (int sig : kStopSignals) ::sigaction(sig, &sa, nullptr);
  struct sigaction child {};
  child.sa_handler = on_housekeeping_signal;
  sigfillset(&child.sa_mask);
  child.sa_flags = SA_RESTART | SA_NOCLDSTOP;  // exits only; reaping stays the manager's
  ::sigaction(SIGCHLD, &child, nullptr);
  child.sa_flags = SA_RESTART;
  ::sigaction(SIGIO, &child, nullptr);  // before any wake_on_input: SIGIO kills by default
  struct sigaction recheck {};
  recheck.sa_handler = on_recheck_signal;
  sigfillset(&recheck.sa_mask);
  recheck.sa_flags = SA_RESTART;
  ::sigaction(SIGURG, &recheck, nullptr);
  sigset_t unblock = stop;
  sigaddset(&unblock, SIGCHLD);
  sigaddset(&unblock, SIGIO);
  sigaddset(&unblock, SIGURG);
  ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  SignalGuard::handled_for_thread();
}

WorkerContext g_context;  // one worker per process
// Set by report_child_ended() inside idle(), taken by WorkerRuntime::run_idle().
std::optional<ChildEnded> g_child_ended;

// Set by the supervisor watch when the supervisor it watches has ended.
std::atomic<bool> g_orphaned{false};

// Watches the current supervisor. A worker outlives its supervisor (a lethal
// PDEATHSIG would kill it with the first crash) and must notice the death of
// one that adopted it, which is not its parent.
//
// While the supervisor is the worker's parent (every worker it started), the
// kernel tells: PR_SET_PDEATHSIG with SIGURG, whose handler wakes the loop,
// which then looks (parent_check()). Otherwise (adopted by a successor), a
// small thread blocked in poll() on a pidfd sets g_orphaned and wakes the loop
// as a signal would. The thread is started only then: an idle worker of the
// supervisor that started it is one thread, not two (a kernel stack, a task
// and the thread's stack pages fewer; BENCHMARKS.md, "an idle worker's
// memory"). Neither costs anything while the supervisor lives: no timer, no
// wake-up.
class SupervisorWatch {
 public:
  // The loop thread only, as every member but watch().
  void arm(pid_t pid, std::uint64_t start_time) {
    if (!started_ && pid == ::getppid() && watch_parent(pid, start_time)) return;
    arm_thread(pid, start_time);
  }

  // A change of user or group clears PDEATHSIG: set again (or watched by the
  // thread, if that fails).
  void identity_changed() {
    if (parent_pid_ == 0) return;
    const pid_t pid = parent_pid_;
    if (!watch_parent(pid, parent_start_)) arm_thread(pid, parent_start_);
  }

  // On SIGURG: did the parent watched through PDEATHSIG end? The kernel
  // gives the worker its new parent before it sends the signal, while the old
  // one may not read as exited in /proc yet: the parent pid is what tells.
  // SIGURG also says "recheck" (the supervisor recreated an object): then the
  // parent is the same, and nothing changes.
  void parent_check() {
    if (parent_pid_ != 0 && ::getppid() != parent_pid_) orphaned();
  }

 private:
  // Set, then checked: a parent that died just before has reparented us
  // already, and sends nothing.
  bool watch_parent(pid_t pid, std::uint64_t start_time) {
    if (::prctl(PR_SET_PDEATHSIG, SIGURG) != 0) return false;
    parent_pid_ = pid;
    parent_start_ = start_time;
    if (::getppid() != pid) orphaned();
    return true;
  }

  void orphaned() {
    parent_pid_ = 0;
    g_orphaned.store(true);
    wake_from_handler();
  }

  void arm_thread(pid_t pid, std::uint64_t start_time) {
    parent_pid_ = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = pid;
      start_time_ = start_time;
      armed_ = true;
    }
    cv_.notify_one();
    if (!started_) start();
  }

  void start() {
    started_ = true;
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, 64 * 1024);
    ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // The thread takes no signal: stop signals and SIGCHLD/SIGIO stay the
    // loop thread's, whose handlers end its wait.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    if (::pthread_create(&t, &attr, &SupervisorWatch::main, this) != 0) {
      log_error("unable to watch the supervisor: no thread; this worker will not notice its death");
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::pthread_attr_destroy(&attr);
  }

  static void* main(void* self) {
    static_cast<SupervisorWatch*>(self)->watch();
    return nullptr;
  }

  void watch() {
    for (;;) {
      pid_t pid = 0;
      std::uint64_t start_time = 0;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return armed_; });
        armed_ = false;
        pid = pid_;
        start_time = start_time_;
      }
      const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      // Opened, then checked: the pidfd pins the process we checked.
      if (fd >= 0 && process_alive(pid, start_time)) {
        pollfd p{fd, POLLIN, 0};
        while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
        }
      }
      if (fd >= 0) ::close(fd);
      g_orphaned.store(true);
      wake_from_handler();
    }
  }

  pid_t parent_pid_ = 0;  // watched through PDEATHSIG
  std::uint64_t parent_start_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t pid_ = 0;
  std::uint64_t start_time_ = 0;
  bool armed_ = false;
  bool started_ = false;
};

constexpr Millis kControlSendTimeout{5000};
constexpr Millis kMailboxRecoveryTimeout{5000};
// How long a worker whose command ended waits for the supervisor's verdict
// before it ends as for a crash (restart_in_place).
constexpr Millis kCommandVerdictTimeout{10000};
// Poll interval while the supervisor replaces a dead control queue or mailbox.
constexpr Millis kReplacementPoll{2};
constexpr std::size_t kReplyQueuesKept = 8;
constexpr Millis kLongestIdleInterval{24LL * 3600 * 1000};  // keeps Deadline::after in range
// An emptied mailbox keeps its pages this long after its last message
// (README "What an id costs"): a busy spell does not pay a release and a
// commit per message.
constexpr Millis kReleasePagesAfter{1000};

enum class Exit { kContinue, kStop, kCrash };

// Never destroyed: its detached thread may still touch it while the process
// exits. Held by a static pointer, so leak checkers see it reachable.
SupervisorWatch& supervisor_watch() {
  static SupervisorWatch* const watch = new SupervisorWatch;
  return *watch;
}

class WorkerRuntime {
 public:
  WorkerRuntime(Manager& m, const WorkerArgs& a)
      : m_(m),
        args_(a),
        names_(a.instance),
        control_(names_, [this] { return reader_->header().control_generation; }),
        replies_(names_, kReplyQueuesKept) {}
  // The signal handlers must not post into the mailbox's mapping once it is
  // gone: a command killed at teardown sends SIGCHLD after the mailbox is
  // unmapped (that was a SIGSEGV on every exec worker that failed).
  ~WorkerRuntime() { g_wake.store(nullptr); }
  WorkerRuntime(const WorkerRuntime&) = delete;
  WorkerRuntime& operator=(const WorkerRuntime&) = delete;

  int run() {
    if (auto st = attach(); !st) {
      log_error("unable to start worker in slot " + std::to_string(args_.slot) + ": " +
                st.error().message);
      return 1;
    }
    set_log_program("worker " + id_);
    // The spec's user and group, before any manager callback (worker/identity.hpp).
    if (auto st = drop_worker_identity(control_); !st) {
      log_error(st.error().message);
      report_failing(st.error().message);
      return 1;
    }
    watch_.identity_changed();
    auto init = callback(Callback::kInit, [&] { return m_.init(id_, payload_); });
    if (!init) return 1;
    if (!take_initial(std::move(*init))) return 1;
    // The first idle() runs before ready: it tells whether the manager keeps
    // the base idle() (then this worker never wakes for housekeeping), and an
    // exec worker's command that died at once is noticed before `put` returns.
    housekeeping_due_ = Deadline::now();
    if (housekeeping() == Exit::kCrash) return 1;
    if (!send_control(protocol::make_worker_message(base(MessageKind::kWorkerReady)))) return 1;
    ready_reported_ = true;
    schedule(instant_ ? Millis(0) : Millis(timeout_ms_));
    // An activated passive worker goes on with the schedule it had.
    if (const char* first = std::getenv(kFirstPerformEnv); first != nullptr) {
      char* end = nullptr;
      const unsigned long long ms = std::strtoull(first, &end, 10);
      if (end != first && *end == '\0') schedule(Millis(std::min<unsigned long long>(ms, INT32_MAX)));
    }
    active();
    return loop();
  }

 private:
  // What init() returned: the worker's payload from now on (reported when it
  // changed).
  bool take_initial(json::value initial) {
    if (initial == payload_) return true;
    payload_ = std::move(initial);
    value_ = payload_;
    protocol::WorkerMessage u = base(MessageKind::kWorkerUpdate);
    u.payload = payload_;
    u.value = value_;
    return send_control(protocol::make_worker_message(u));
  }

  // The manager's command ended (report_child_ended from idle(), or
  // ChildEnded thrown by a perform, call or cast, or by init() here) after
  // this worker was ready. The supervisor's restart policy decides, as for an exit
  // (README "Exec workers"): restarted in place, init() runs again in this
  // process and the worker reports ready again, no process of ours ends and
  // the mailbox is left as it is meanwhile; refused (or no answer), the
  // worker ends as for a crash. A command that ends again before it is
  // ready is reported again.
  Exit restart_in_place() {
    while (child_ended_) {
      const ChildEnded ended = std::move(*child_ended_);
      child_ended_.reset();
      const std::uint64_t seq = (words_->command_verdict() >> 1) + 1;
      protocol::WorkerMessage m = base(MessageKind::kWorkerCommandExited);
      m.exit = ended.exit;
      m.uptime_ms = ended.uptime_ms;
      m.seq = seq;
      const std::optional<bool> verdict =
          send_control(protocol::make_worker_message(m)) ? await_verdict(seq) : std::nullopt;
      if (!verdict || !*verdict) {
        if (!verdict && g_stop_signal) return Exit::kContinue;  // the loop stops at its top
        report_failing(ended.what());
        return Exit::kCrash;
      }
      auto init = callback(Callback::kInit, [&] { return m_.init(id_, payload_); });
      if (!init) {
        if (child_ended_) continue;
        return Exit::kCrash;
      }
      if (!take_initial(std::move(*init))) return Exit::kCrash;
      // As at the start: a command that died at once is seen before ready.
      housekeeping_due_ = Deadline::now();
      if (!run_idle()) {
        if (child_ended_) continue;
        return Exit::kCrash;
      }
      if (!send_control(protocol::make_worker_message(base(MessageKind::kWorkerReady))))
        return Exit::kCrash;
    }
    return Exit::kContinue;
  }

  // The supervisor's answer to kWorkerCommandExited `seq`, in our words page,
  // with SIGURG to end this wait: true restarts in place, false ends the
  // worker; nullopt if none came (a stop signal, the supervisor gone, or
  // kCommandVerdictTimeout). Signals are blocked but inside ppoll, so one that
  // lands between the look and the wait ends the wait.
  std::optional<bool> await_verdict(std::uint64_t seq) {
    sigset_t wake, old;
    sigemptyset(&wake);
    for (int sig : kStopSignals) sigaddset(&wake, sig);
    for (int sig : {SIGURG, SIGCHLD, SIGIO}) sigaddset(&wake, sig);
    ::pthread_sigmask(SIG_BLOCK, &wake, &old);
    const Deadline deadline = Deadline::after(kCommandVerdictTimeout);
    std::optional<bool> verdict;
    for (;;) {
      if (g_recheck) {
        watch_.parent_check();  // PDEATHSIG is SIGURG too
        refresh_registry();     // a recreated words object holds the answer
      }
      const std::uint64_t v = words_->command_verdict();
      if (v >> 1 == seq) {
        verdict = (v & 1U) != 0;
        break;
      }
      if (g_stop_signal || g_orphaned.load() || deadline.expired()) break;
      // The adopted worker's watch thread wakes the loop without a signal:
      // looked at every 100 ms here.
      const auto left = std::chrono::duration_cast<Millis>(deadline.remaining(Millis(100)));
      const timespec ts{0, static_cast<long>(std::max<std::int64_t>(left.count(), 1)) * 1'000'000L};
      ::ppoll(nullptr, 0, &ts, &old);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!verdict) {
      log_error("no answer from the supervisor about the command's restart");
    }
    return verdict;
  }

  Status attach() {
    // SIGTERM and friends are caught by a flag-setting handler: a signal can
    // then never kill the worker inside a queue operation (queue guards are
    // free), and it ends an idle wait at once.
    catch_stop_signals();
    ::signal(SIGPIPE, SIG_IGN);

    // The registry read-only (a stray write faults here, in this worker
    // alone); the words of our own slot are the only shared words we write,
    // and the only ones we map (RegistryReader::Words::kNone).
    auto reader = RegistryReader::open(names_, RegistryReader::Words::kNone);
    if (!reader) return reader.error();
    reader_.emplace(std::move(*reader));
    auto rec = reader_->read(args_.slot);
    if (!rec) return rec.error();
    if (rec->incarnation != args_.incarnation) {
      return make_error(Errc::kStale, "slot was reassigned");
    }
    if (auto st = open_words(); !st) return st;
    // A predecessor killed inside a perform or call left its busy word set; it
    // is ours now. Left set, this worker would show "busy" and a pool would
    // never pick it again (random/stream take only free members).
    words_->set_busy_since(0);
    id_ = rec->id;
    auto p = parse_json(rec->payload, "payload");
    payload_ = p ? *p : json::value(nullptr);
    auto v = parse_json(rec->value, "value");
    value_ = v ? *v : json::value(nullptr);
    timeout_ms_ = rec->timeout_ms;
    instant_ = rec->instant_perform;
    passivate_after_ms_ = rec->passivate_after_ms;
    g_context = WorkerContext{id_, args_.instance, timeout_ms_, rec->lull};
    if (auto st = open_mailbox(rec->mailbox_generation); !st) {
      // Damaged (a predecessor's stray write, say): ask for a new one.
      if (st.error().code != Errc::kDeadQueue) return st;
      mailbox_generation_ = rec->mailbox_generation;
      if (recover_mailbox() != Exit::kContinue) return st;
    }
    // A supervisor that died before we got here leaves us orphaned at once.
    const auto h = reader_->header();
    watched_pid_ = h.supervisor_pid;
    watched_start_ = h.supervisor_start_time;
    watch_.arm(watched_pid_, watched_start_);
    return {};
  }

  // The supervisor is gone: serve on, and wait up to the orphan grace for a
  // successor to adopt us (it rings our mailbox). Without one, stop cleanly.
  Exit orphaned() {
    const auto h = reader_->header();
    if ((h.supervisor_pid != watched_pid_ || h.supervisor_start_time != watched_start_) &&
        process_alive(h.supervisor_pid, h.supervisor_start_time)) {
      log_info("adopted by supervisor pid " + std::to_string(h.supervisor_pid));
      g_orphaned.store(false);
      orphan_deadline_ = Deadline::never();
      watched_pid_ = h.supervisor_pid;
      watched_start_ = h.supervisor_start_time;
      watch_.arm(watched_pid_, watched_start_);
      return Exit::kContinue;
    }
    if (orphan_deadline_.is_never()) {
      orphan_deadline_ = Deadline::after(Millis(h.orphan_grace_ms));
      log_warn("supervisor pid " + std::to_string(watched_pid_) +
               " is gone; serving on and waiting up to " + std::to_string(h.orphan_grace_ms) +
               " ms for a successor");
    }
    if (!orphan_deadline_.expired()) return Exit::kContinue;
    log_warn("no supervisor took over within " + std::to_string(h.orphan_grace_ms) +
             " ms; stopping");
    return stop(std::string("orphaned"));
  }

  bool orphan_grace_over() const { return g_orphaned.load() && orphan_deadline_.expired(); }

  Status open_mailbox(std::uint64_t generation) {
    auto q = Queue::open(names_.mailbox(args_.slot, generation));
    if (!q) return q.error();
    const auto h = reader_->header();
    if (q->depth() != h.mailbox_depth || q->max_msg_size() != h.mailbox_msg_size) {
      return make_error(Errc::kDeadQueue, "mailbox " + q->name() + " was overwritten");
    }
    g_wake.store(nullptr);  // the old mapping goes away with the old queue
    mailbox_.emplace(std::move(*q));
    g_wake.store(mailbox_->receive_wakeup());
    mailbox_generation_ = generation;
    return {};
  }

  protocol::WorkerMessage base(MessageKind kind) const {
    protocol::WorkerMessage m;
    m.kind = kind;
    m.slot = args_.slot;
    m.incarnation = args_.incarnation;
    m.pid = ::getpid();
    return m;
  }

  // Sends to the supervisor, reopening the control queue on a generation change.
  // While no supervisor runs, reports wait in the queue for the successor
  // (gives up only once the orphan grace is over).
  bool send_control(const Frame& f) {
    auto st = control_.send(f, Deadline::after(kControlSendTimeout), kReplacementPoll,
                            [this]() -> Status {
                              // The control queue may have been recreated
                              // in a registry we no longer map.
                              refresh_registry();
                              if (!orphan_grace_over()) return {};
                              return make_error(Errc::kNoSupervisor, "the supervisor is gone");
                            });
    if (!st) log_error("unable to report to the supervisor: " + st.error().message);
    return static_cast<bool>(st);
  }

  // Tells the supervisor why this worker is about to exit abnormally; it becomes
  // the registry's last_exit reason. Sent before exiting, so it is ahead of the
  // exit in the supervisor's queue.
  void report_failing(const std::string& reason) {
    protocol::WorkerMessage m = base(MessageKind::kWorkerFailing);
    // Room for an exec command's exit status and last stderr lines (512 bytes),
    // cut on a UTF-8 character boundary: the frame must stay valid JSON.
    std::size_t n = std::min<std::size_t>(reason.size(), 700);
    while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80)
      --n;
    m.reason = reason.substr(0, n);
    send_control(protocol::make_worker_message(m));
  }

  // Passivation (README "Passivation"): a call, cast or perform puts the
  // idle report passivate_after ahead; once it is due the supervisor is told
  // (once), and asks us to go with terminate("passivate").
  void active() {
    if (passivate_after_ms_ == 0) return;
    idle_due_ = Deadline::after(Millis(passivate_after_ms_));
    idle_reported_ = false;
  }

  void report_idle_if_due() {
    if (passivate_after_ms_ == 0 || idle_reported_ || !idle_due_.expired()) return;
    idle_reported_ = true;
    idle_due_ = Deadline::never();
    protocol::WorkerMessage m = base(MessageKind::kWorkerIdle);
    if (!next_perform_.is_never()) {
      m.next_perform_ms = static_cast<std::uint32_t>(std::min<std::int64_t>(
          std::chrono::duration_cast<Millis>(next_perform_.remaining(Millis(INT32_MAX))).count(),
          INT32_MAX));
    }
    send_control(protocol::make_worker_message(m));
  }

  void schedule(Millis after) {
    // timeout 0 means "never perform" (pool workers), instant_perform or not.
    next_perform_ = timeout_ms_ == 0 ? Deadline::never() : Deadline::after(after);
  }

  WorkerState state() const { return WorkerState{id_, payload_}; }

  int loop() {
    for (;;) {
      if (g_stop_signal) return stop("shutdown");
      // Sleep until a message, a stop signal, a child's exit, the next perform,
      // housekeeping or the end of an orphan grace; no shorter slices.
      const Deadline wake = Deadline::earliest(
          Deadline::earliest(Deadline::earliest(next_perform_, housekeeping_due_),
                             orphan_deadline_),
          Deadline::earliest(idle_due_, release_due_));
      auto f = mailbox_->receive(
          wake, std::chrono::duration_cast<Millis>(wake.remaining(Millis(3'600'000))) + Millis(1),
          &g_woken);
      g_woken = 0;
      if (g_recheck) {
        g_recheck = 0;
        watch_.parent_check();
        recheck();
      }
      if (g_housekeeping) {
        g_housekeeping = 0;
        housekeeping_due_ = Deadline::now();  // let idle() look at it now
      }
      Exit ex = Exit::kContinue;
      if (f) {
        // A second after the last message, the mailbox's pages go back to
        // /dev/shm (one wake-up per busy spell, none while idle).
        if (mailbox_->pages_on_demand()) release_due_ = Deadline::after(kReleasePagesAfter);
        ex = handle(*f);
        if (f->kind == MessageKind::kCall || f->kind == MessageKind::kCast) active();
        if (ex == Exit::kContinue) publish_depth(true);
      } else if (f.error().code == Errc::kDeadQueue) {
        ex = recover_mailbox();
      } else {
        publish_depth(false);
        if (release_due_.expired()) {
          release_due_ = Deadline::never();
          if (auto st = mailbox_->release_pages(); !st) log_warn(st.error().message);
        }
      }
      if (ex == Exit::kContinue && next_perform_.expired() && !next_perform_.is_never()) {
        ex = perform();
        active();
      }
      if (ex == Exit::kContinue) report_idle_if_due();
      if (ex == Exit::kContinue && g_orphaned.load()) ex = orphaned();
      if (ex == Exit::kStop) return 0;
      if (ex == Exit::kCrash) return 1;
      if (housekeeping() == Exit::kCrash) return 1;
    }
  }

  // idle(); false when the worker must not go on as it is: a throw (a
  // crash), or its command ended (child_ended_ set once the worker has been
  // ready: restart_in_place(); before that, a crash like a throw).
  bool run_idle() {
    (void)take_child_ended();
    if (!callback(Callback::kIdle, [&] { m_.idle(state()); })) return false;
    std::optional<ChildEnded> reported = take_child_ended();
    if (!reported) return true;
    ChildEnded ended = std::move(*reported);
    if (ready_reported_) {
      child_ended_ = std::move(ended);
      return false;
    }
    log_error("idle of '" + id_ + "': " + ended.what());
    report_failing(ended.what());
    return false;
  }

  // Time-gated so that a busy mailbox (casts at full speed) pays nothing for it;
  // a child's exit (SIGCHLD) or watched input (SIGIO) makes it due at once.
  //
  // An idle worker whose manager keeps the base idle() is never due on a
  // timer: on a 2-core VM, 8 000 idle workers waking every 5 s used up both
  // cores and wedged the machine. Nothing else needs the timer: the
  // supervisor's death wakes the worker (SupervisorWatch), a stop signal and a ring
  // of the old mailbox wake it, and a replaced mailbox is always a dead one,
  // which the next receive reports (recover_mailbox).
  Exit housekeeping() {
    if (!housekeeping_due_.expired()) return Exit::kContinue;
    housekeeping_due_ = Deadline::never();
    if (g_stop_signal) return Exit::kContinue;  // the loop stops at its top
    // The supervisor rings the old mailbox when it replaces it; this catches
    // a replacement whose ring came before we were waiting.
    auto rec = reader_->read(args_.slot);
    if (rec && rec->incarnation == args_.incarnation &&
        rec->mailbox_generation != mailbox_generation_) {
      (void)open_mailbox(rec->mailbox_generation);
    }
    if (!run_idle()) return child_ended_ ? restart_in_place() : Exit::kCrash;
    const Millis every = m_.idle_interval();
    if (!m_.idle_is_default() && every != Manager::kOnEventsOnly) {
      housekeeping_due_ = Deadline::after(std::min(every, kLongestIdleInterval));
    }
    return Exit::kContinue;
  }

  // The supervisor recreated the registry or our mailbox: map the registry
  // under its name again if ours was replaced, and move to the mailbox our slot
  // names now. (Messages still in a removed mailbox are lost with it.)
  void recheck() {
    refresh_registry();
    auto rec = reader_->read(args_.slot);
    if (rec && rec->incarnation == args_.incarnation &&
        rec->mailbox_generation != mailbox_generation_) {
      if (auto st = open_mailbox(rec->mailbox_generation); !st) {
        log_error("unable to open the recreated mailbox: " + st.error().message);
      }
    }
  }

  void refresh_registry() {
    if (reader_->superseded()) {
      auto reader = RegistryReader::open(names_, RegistryReader::Words::kNone);
      if (reader) reader_.emplace(std::move(*reader));
    }
    if (words_->superseded()) {
      if (auto st = open_words(); !st) log_error("unable to map the recreated words: " + st.error().message);
    }
  }

  Status open_words() {
    const auto h = reader_->header();
    auto words = WorkerWords::open(names_, args_.slot, h.capacity, h.words_stride);
    if (!words) return words.error();
    words_.emplace(std::move(*words));
    return {};
  }

  Exit recover_mailbox() {
    // Ask the supervisor for a new mailbox and wait for it to be published.
    send_control(protocol::make_queue_dead({"mailbox", args_.slot, mailbox_generation_}));
    auto rec = await_mailbox_replaced(*reader_, args_.slot, args_.incarnation, mailbox_generation_,
                                      Deadline::after(kMailboxRecoveryTimeout), kReplacementPoll);
    if (rec && *rec && (*rec)->mailbox_generation != mailbox_generation_) {
      return open_mailbox((*rec)->mailbox_generation) ? Exit::kContinue : Exit::kCrash;
    }
    log_error("mailbox stayed dead");
    return Exit::kCrash;
  }

  Exit stop(const std::string& reason) {
    (void)callback(Callback::kTerminate, [&] { m_.terminate(reason, state()); });
    return Exit::kStop;
  }

  int stop(const char* reason) { return stop(std::string(reason)) == Exit::kStop ? 0 : 1; }

  // The one place the worker catches what a Manager callback throws. A throw
  // is logged and, except from terminate (the worker is stopping anyway),
  // reported as the worker's failure: the registry's last_exit reason is
  // "<callback> threw: <what()>" (idle: what() alone, as the exec manager's
  // "command exited ..." reads best unprefixed). The caller then crashes the
  // worker; the error's message is what() for the caller's own reply.
  enum class Callback { kInit, kPerform, kCall, kCast, kTerminate, kIdle };

  template <class F>
  auto callback(Callback which, F&& fn) -> Result<std::invoke_result_t<F&>> {
    static constexpr const char* kNames[] = {"init", "perform",   "call",
                                             "cast", "terminate", "idle"};
    const std::string name = kNames[static_cast<int>(which)];
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        fn();
        return {};
      } else {
        return fn();
      }
    } catch (const std::exception& e) {
      if (const auto* ended = dynamic_cast<const ChildEnded*>(&e);
          ended != nullptr && ready_reported_ && which != Callback::kTerminate) {
        // Not a crash yet: restart_in_place() asks the supervisor (which
        // logs it).
        child_ended_ = *ended;
        return make_error(Errc::kCrashed, e.what());
      }
      log_error(name + " of '" + id_ + "' threw: " + e.what());
      if (which == Callback::kIdle)
        report_failing(e.what());
      else if (which != Callback::kTerminate)
        report_failing(name + " threw: " + e.what());
      return make_error(Errc::kCrashed, e.what());
    }
  }

  // Marks the worker busy; done() ends it and counts the work for metrics
  // (the slot's counters: calls, casts, performs, busy time, durations).
  void busy(bool on) {
    words_->set_busy_since(on ? std::max<std::uint64_t>(wall_ms(), 1) : 0);
  }
  void begin_work() {
    busy(true);
    work_started_ = MonoClock::now();
  }
  void done(Work w) {
    busy(false);
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(MonoClock::now() - work_started_);
    words_->count_work(w, static_cast<std::uint64_t>(us.count()));
  }
  // The mailbox's depth for metrics: sampled after a message at most every
  // kDepthEvery, and 0 once a receive found it empty.
  void publish_depth(bool got_message) {
    const auto now = MonoClock::now();
    if (got_message) {
      if (now - depth_published_ < kDepthEvery) return;
      depth_published_ = now;
      depth_ = mailbox_->pending();
      words_->set_mailbox_depth(depth_);
    } else if (depth_ != 0) {
      depth_ = 0;
      words_->set_mailbox_depth(0);
    }
  }

  Exit perform() {
    begin_work();
    auto r = callback(Callback::kPerform, [&] { return m_.perform(id_, payload_); });
    done(Work::kPerform);
    if (!r) {
      if (!child_ended_) return Exit::kCrash;
      schedule(Millis(timeout_ms_));  // the new command performs on the same schedule
      return restart_in_place();
    }
    words_->set_last_perform(wall_ms());
    const Exit ex = apply(*r, /*reply=*/nullptr);
    schedule(Millis(timeout_ms_));
    return ex;
  }

  struct ReplyTo {
    std::string queue;
    std::uint64_t request_id = 0;
  };

  // Applies a response (perform, call or cast). For calls, `reply` says where the
  // caller waits; the reply is sent here or, when the payload changes, by the
  // supervisor right after it committed the payload (so the caller never sees a
  // reply before the registry shows the new payload).
  Exit apply(const Response& r, const ReplyTo* reply) {
    protocol::WorkerMessage u = base(MessageKind::kWorkerUpdate);
    switch (r.kind()) {
      case Response::Kind::kOk:
        if (reply != nullptr) {
          send_reply(*reply, protocol::reply_ok(reply->request_id, r.value()));
          return Exit::kContinue;
        }
        if (r.value() != value_ || !value_reported_) {
          value_ = r.value();
          value_reported_ = true;
          u.value = value_;
          if (!send_control(protocol::make_worker_message(u))) return Exit::kCrash;
        }
        return Exit::kContinue;
      case Response::Kind::kReplace:
        if (auto st = fits(r.value(), "payload"); !st) {
          // The supervisor would refuse it; keep the worker and the registry in
          // agreement by not taking it either.
          log_error("worker '" + id_ + "' kept its payload: " + st.error().message);
          if (reply != nullptr)
            send_reply(*reply, protocol::reply_error(reply->request_id, st.error()));
          return Exit::kContinue;
        }
        payload_ = r.value();
        value_ = r.value();
        if (reply != nullptr) {
          u.kind = MessageKind::kWorkerCommitReply;
          u.reply_to = reply->queue;
          u.reply_request_id = reply->request_id;
          u.reply = r.reply().value_or(r.value());
        }
        u.payload = payload_;
        u.value = value_;
        return send_control(protocol::make_worker_message(u)) ? Exit::kContinue : Exit::kCrash;
      case Response::Kind::kTimeout:
        timeout_ms_ = r.timeout_ms();
        g_context.timeout_ms = timeout_ms_;
        u.timeout_ms = timeout_ms_;
        if (reply != nullptr) {
          send_reply(*reply, protocol::reply_ok(reply->request_id, r.value()));
        } else {
          value_ = r.value();
          u.value = value_;
        }
        schedule(Millis(timeout_ms_));
        return send_control(protocol::make_worker_message(u)) ? Exit::kContinue : Exit::kCrash;
      case Response::Kind::kHalt: {
        if (reply != nullptr) send_reply(*reply, protocol::reply_ok(reply->request_id, nullptr));
        stop(std::string("halt"));
        send_control(protocol::make_worker_message(base(MessageKind::kWorkerHalt)));
        return Exit::kStop;
      }
      case Response::Kind::kReplaceId: {
        if (reply != nullptr) send_reply(*reply, protocol::reply_ok(reply->request_id, r.value()));
        if (auto st = validate_id(r.new_id()); !st) {
          log_error("replace with an invalid id: " + st.error().message);
          return Exit::kCrash;
        }
        stop(std::string("replace"));
        protocol::WorkerMessage m = base(MessageKind::kWorkerReplaceId);
        m.new_id = r.new_id();
        m.payload = r.value();
        send_control(protocol::make_worker_message(m));
        return Exit::kStop;
      }
    }
    return Exit::kContinue;
  }

  Status fits(const json::value& v, const char* what) const {
    const std::size_t size = to_json(v).size();
    const std::uint32_t limit = reader_->header().max_payload;
    if (size <= limit) return {};
    return make_error(Errc::kTooLarge, std::string(what) + " of " + std::to_string(size) +
                                           " bytes exceeds the limit of " + std::to_string(limit) +
                                           " bytes");
  }

  void send_reply(const ReplyTo& to, const Frame& f) {
    Queue* q = replies_.get(to.queue);
    if (q == nullptr) return;  // the caller is gone; nothing to do
    auto st = q->send(f, Deadline::after(Millis(1000)));
    if (!st && st.error().code == Errc::kTooLarge) {
      // The caller would otherwise wait out its deadline: tell it why instead.
      // The worker's answer is at fault, not the caller's input: kFailed (exit 1).
      log_warn("reply to " + to.queue + " is too large: " + st.error().message);
      st = q->send(
          protocol::reply_error(
              to.request_id,
              make_error(Errc::kFailed, "worker '" + id_ +
                                            "' answered with a reply too large for the caller: " +
                                            st.error().message)),
          Deadline::after(Millis(1000)));
    }
    if (!st) {
      log_warn("unable to reply to " + to.queue + ": " + st.error().message);
      replies_.drop(to.queue);
    }
    replies_.close_evicted();  // the caller has its reply: unmapping can wait no longer
  }

  Exit handle(const Frame& f) {
    auto msg = protocol::parse_mailbox_message(f);
    if (!msg) {
      log_warn("dropped a malformed mailbox message: " + msg.error().message);
      return Exit::kContinue;
    }
    switch (f.kind) {
      case MessageKind::kTerminate:
        return stop(msg->reason.empty() ? std::string("terminate") : msg->reason);
      case MessageKind::kCall: {
        const ReplyTo to{msg->reply_to, f.request_id};
        begin_work();
        auto r = callback(Callback::kCall, [&] { return m_.call(msg->message, state()); });
        done(Work::kCall);
        if (!r) {
          send_reply(to, protocol::reply_error(
                             f.request_id,
                             make_error(Errc::kCrashed, "worker '" + id_ +
                                                            "' crashed while handling the call: " +
                                                            r.error().message)));
          return child_ended_ ? restart_in_place() : Exit::kCrash;
        }
        return apply(*r, &to);
      }
      case MessageKind::kCast: {
        begin_work();
        auto r = callback(Callback::kCast, [&] { return m_.cast(msg->message, state()); });
        done(Work::kCast);
        if (!r) return child_ended_ ? restart_in_place() : Exit::kCrash;
        // A cast's ok(x) changes nothing (the value belongs to perform).
        if (r->kind() == Response::Kind::kOk) return Exit::kContinue;
        return apply(*r, nullptr);
      }
      default:
        log_warn("dropped an unexpected mailbox message kind " +
                 std::to_string(static_cast<int>(f.kind)));
        return Exit::kContinue;
    }
  }

  Manager& m_;
  WorkerArgs args_;
  Names names_;
  std::optional<RegistryReader> reader_;
  std::optional<WorkerWords> words_;  // our slot's page of the words object
  std::optional<Queue> mailbox_;
  std::uint64_t mailbox_generation_ = 0;
  static constexpr std::chrono::milliseconds kDepthEvery{50};
  MonoClock::time_point work_started_{};
  MonoClock::time_point depth_published_{};
  std::uint64_t depth_ = 0;
  ControlSender control_;  // reads reader_'s header: used only after attach()
  ReplyCache replies_;
  std::string id_;
  json::value payload_;
  json::value value_;
  bool value_reported_ = false;
  bool ready_reported_ = false;            // the first ready went out
  std::optional<ChildEnded> child_ended_;  // for restart_in_place()
  std::uint32_t timeout_ms_ = 0;
  bool instant_ = false;
  std::uint32_t passivate_after_ms_ = 0;  // the spec's; 0: never passivated
  Deadline idle_due_ = Deadline::never();  // when to report idle (never: not due / reported)
  // When to give the mailbox's message pages back (never: nothing to give).
  Deadline release_due_ = Deadline::never();
  bool idle_reported_ = false;
  Deadline next_perform_ = Deadline::never();
  Deadline housekeeping_due_ = Deadline::never();  // run() makes the first one due
  SupervisorWatch& watch_ = supervisor_watch();
  pid_t watched_pid_ = 0;  // the supervisor watch_ watches
  std::uint64_t watched_start_ = 0;
  Deadline orphan_deadline_ = Deadline::never();  // set while orphaned
};

}  // namespace

const WorkerContext& current_worker_context() { return g_context; }

void report_child_ended(ExitInfo exit, std::uint64_t uptime_ms) {
  g_child_ended.emplace(std::move(exit), uptime_ms);
}

std::optional<ChildEnded> take_child_ended() {
  std::optional<ChildEnded> out = std::move(g_child_ended);
  g_child_ended.reset();
  return out;
}

Status wake_on_input(int fd) {
  // The runtime installs the handler at attach; installed here too, so that a
  // manager used outside a worker (tests run the exec manager in process) is
  // not killed by SIGIO's default action.
  struct sigaction io {};
  io.sa_handler = on_housekeeping_signal;
  sigfillset(&io.sa_mask);
  io.sa_flags = SA_RESTART;
  ::sigaction(SIGIO, &io, nullptr);
  if (::fcntl(fd, F_SETOWN, ::getpid()) != 0) return errno_error("unable to own descriptor", errno);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_ASYNC) != 0) {
    return errno_error("unable to watch descriptor", errno);
  }
  return {};
}

int run_worker(Manager& manager, const WorkerArgs& args) {
  WorkerRuntime rt(manager, args);
  return rt.run();
}

}  // namespace dynmgr
