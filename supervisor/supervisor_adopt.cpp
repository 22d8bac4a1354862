// The supervisor loop: taking over a registry left by a supervisor that died
// (or by this process before it re-executed itself), and the live workers in
// it. Nothing is restarted for the takeover: a live worker keeps its pid, its
// mailbox and its payload; the control queue keeps the reports it sent while
// no supervisor ran, and they are applied as they come.
//
// Why adoption and not a reaper process (s6-supervise's split): workers
// already hold their state in the registry and report through queues that
// outlive the supervisor, so a successor needs no parent relationship to
// serve them. What it cannot have for a worker it did not start is the exact
// exit status: only the parent reads it, and that parent died. Such an exit
// is published as {"kind":"unknown"} (README "Adoption"). After a re-exec the
// workers are still this process's children and nothing is lost.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "shared/process_identity.hpp"
#include "shared/shm_objects.hpp"
#include "supervisor/spawner.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

namespace lc = lifecycle;

}  // namespace

Status Supervisor::Loop::adopt_control() {
  const RegistryConfig& found = reg_->config();
  if (found.capacity != opt_.registry.capacity || found.max_payload != opt_.registry.max_payload) {
    log_warn("adopting a registry of " + std::to_string(found.capacity) + " workers and " +
             std::to_string(found.max_payload) +
             "-byte payloads; --max-workers and --max-payload "
             "take effect after a clean stop");
  }
  const std::uint32_t grace = opt_.registry.orphan_grace_ms;
  opt_.registry = found;
  opt_.registry.orphan_grace_ms = grace;
  const std::uint64_t generation = reg_->header().control_generation;
  auto q = Queue::open(names_.control(generation));
  if (q && !q->dead()) {
    control_.emplace(std::move(*q));
    control_generation_.store(generation, std::memory_order_release);
    return {};
  }
  log_warn("the control queue " + names_.control(generation) +
           " is unusable; creating generation " + std::to_string(generation + 1));
  control_replaced_at_adoption_ = true;
  return create_control(generation + 1);
}

void Supervisor::Loop::adopt_fleet(pid_t predecessor) {
  const auto h = reg_->header();
  const std::uint64_t now = mono_ms();
  const std::uint64_t wall = wall_ms();
  const pid_t self = ::getpid();
  std::uint32_t adopted = 0;
  std::uint32_t ended = 0;
  std::set<std::string> keep = {names_.lock(), names_.registry(), names_.words(),
                                names_.events(), control_->name()};
  std::vector<std::string> to_ring;
  for (std::uint32_t slot = 0; slot < h.high_water; ++slot) {
    auto rec = reg_->read(slot);
    if (!rec) continue;
    Entry e;
    e.id = rec->id;
    e.rec = *rec;
    e.spec = spec_of(*rec);
    mailbox_counter_ = std::max(mailbox_counter_, rec->mailbox_generation);
    const std::string mailbox = names_.mailbox(slot, rec->mailbox_generation);
    keep.insert(mailbox);
    const bool alive = rec->pid > 0 && process_alive(rec->pid, rec->pid_start_time);
    if (alive) {
      e.child = parent_pid(rec->pid) == self;  // after a re-exec they still are
      e.started_mono = now - std::min(now, wall > rec->started_ms ? wall - rec->started_ms : 0);
      fleet_.add_pid(rec->pid, slot);
      watcher_.watch(rec->pid);
      to_ring.push_back(mailbox);
      ++adopted;
      FleetEvent ev;
      ev.type = EventType::kAdopted;
      ev.id = rec->id;
      ev.pid = rec->pid;
      emit(std::move(ev));
    } else {
      if (rec->pid > 0) ++ended;
      e.rec.pid = 0;
      e.rec.pid_start_time = 0;
    }
    if (rec->status == WorkerStatus::kPassive) {
      // Released at passivation, unless messages found there made it again.
      e.mailbox_live = shm_object_bytes(mailbox) > 0;
      e.stored_passive = true;
    }
    lc::Found f{rec->status, alive, rec->restarts, rec->last_exit};
    Entry& added = fleet_.add(std::move(e));
    lc::Transition t = lc::adopt(added.spec, f, now, context(added));
    t.next.passivations = added.rec.passivations;
    added.life = std::move(t.next);
    for (auto& a : t.actions) {
      if (!carry_out(slot, a)) break;
    }
  }
  overruns_.changed();
  run_inbox();
  // A live worker running as another user still maps the registry and the
  // control queue it opened: adopted like any other, unless the control queue
  // had to be replaced, which it cannot open (README "User and group").
  if (control_replaced_at_adoption_) restart_unable_to_reopen("control queue");
  reg_->set_adoption(adopted, opt_.registry.orphan_grace_ms);
  // The workers wait for a successor in their mailbox: wake them to look.
  for (const auto& m : to_ring) {
    Queue::ring(m);
    // What a whole mailbox measures, for the shared-object check.
    mailbox_bytes_ = std::max(mailbox_bytes_, shm_object_bytes(m));
  }
  // Mailboxes of freed slots and old control generations are stale; reply
  // queues belong to clients (the reply scan removes the dead ones).
  for (const auto& n : list_shm_objects(names_.prefix())) {
    if (n.rfind(names_.reply_prefix(), 0) == 0) continue;
    const bool kept = std::any_of(keep.begin(), keep.end(), [&](const std::string& k) {
      return n == k || (n.size() > k.size() && n.rfind(k, 0) == 0 && n[k.size()] == '.');
    });
    if (kept) continue;
    log_info("removing stale shared object /dev/shm/" + n);
    ::unlink(Names::shm_path(n).c_str());
  }
  log_info(
      "adopted " + std::to_string(adopted) + " live worker(s) of supervisor pid " +
      std::to_string(predecessor) +
      (ended ? "; " + std::to_string(ended) + " had ended and follow their restart policy" : ""));
}

}  // namespace dynmgr

namespace dynmgr {
namespace {

// Set in the environment of the re-executed supervisor: "<reply queue> <request id>"
// of the client waiting for the outcome, or "-" (SIGUSR2).
constexpr const char* kReexecEnv = "DYNMGR_REEXEC";

}  // namespace

// Re-executes the supervisor's binary as it is on disk now, in this process:
// same pid, so the workers stay its children; the new image finds the
// registry and adopts them (start()). Checked first, so that a missing or
// non-executable file leaves this supervisor running and says why.
void Supervisor::Loop::reexec(std::optional<Waiter> waiter) {
  auto fail = [&](const std::string& why) {
    log_error("unable to re-execute: " + why);
    if (waiter) reply_error(*waiter, Errc::kFailed, "unable to re-execute: " + why);
  };
  if (opt_.argv.empty()) return fail("this supervisor was not given its command line");
  if (phase_.phase == manager_phase::Phase::kStopping ||
      phase_.phase == manager_phase::Phase::kDown) {
    return fail("the supervisor is stopping");
  }
  auto exe = self_executable();
  if (!exe) return fail(exe.error().message);
  std::string path = *exe;
  // A rebuilt binary replaced the file we run: the link names the old inode.
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() &&
      path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    path.resize(path.size() - kDeleted.size());
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file");
  if (::access(path.c_str(), X_OK) != 0) return fail(path + ": " + std::strerror(errno));
  const std::string target =
      waiter ? waiter->reply_to + " " + std::to_string(waiter->request_id) : "-";
  ::setenv(kReexecEnv, target.c_str(), 1);
  log_info("re-executing " + path + " (pid " + std::to_string(::getpid()) + ")");
  // systemd: reloading until the new image is up again (READY=1 from
  // set_state); same pid, so no MAINPID. MONOTONIC_USEC is what systemd 253+
  // asks of a reload notification; older ones ignore it.
  notify_service("RELOADING=1\nSTATUS=re-executing " + notify_status_line(path) +
                 "\nMONOTONIC_USEC=" + std::to_string(mono_ms() * 1000));
  // What the loop still had to send goes out first (replies, terminates).
  outbox_.flush();
  // The new image opens the database again (and takes its lock).
  close_store();
  // And starts its own template (this one's code may be the old release's).
  template_.reset();
  std::vector<char*> argv;
  for (auto& a : opt_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Every descriptor is close-on-exec (the lock, the watcher's fds); the
  // workers, the registry and the queues stay. The signal mask is inherited:
  // nothing is lost between here and the new image's signalfd.
  ::execv(path.c_str(), argv.data());
  const int err = errno;
  ::unsetenv(kReexecEnv);
  open_store();
  stored_.clear();  // the fleet is as it was: nothing to restore
  fail(path + ": " + std::strerror(err));
  // This image goes on: no longer reloading.
  notify_service(std::string(state_ == ManagerState::kUp ? "READY=1\n" : "") +
                 "STATUS=" + status_line() +
                 notify_status_line(" (re-exec failed: " + path + ": " + std::strerror(err) + ")"));
}

// In the re-executed image, once it has adopted everything: answers the
// client that asked for the re-exec.
void Supervisor::Loop::answer_reexec() {
  const char* v = std::getenv(kReexecEnv);
  if (v == nullptr) return;
  const std::string target = v;
  ::unsetenv(kReexecEnv);
  log_info("re-executed; adopted " + std::to_string(reg_->header().adopted) + " worker(s)");
  const auto space = target.rfind(' ');
  if (space == std::string::npos) return;
  Waiter w{target.substr(0, space), std::strtoull(target.c_str() + space + 1, nullptr, 10)};
  json::object o;
  o["pid"] = ::getpid();
  o["adopted"] = reg_->header().adopted;
  reply(w, protocol::reply_ok(w.request_id, o));
}

}  // namespace dynmgr
