// Workers that run as another user or group (README "User and group"):
// mailboxes given to the worker that must open them, and the one rule for the
// shared objects such a worker cannot reopen (shared/run_as.hpp:
// restart_to_reopen_shared).

#include <unistd.h>

#include "shared/log.hpp"
#include "shared/run_as.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {

namespace lc = lifecycle;

// Every mailbox of a worker with a user or group is that worker's (chown, mode
// 0600): it opens it at start-up, and again after a recreation, when it no
// longer has the supervisor's identity. The supervisor and clients are root
// and open it all the same.
Result<Queue> Supervisor::Loop::create_mailbox(const Entry& e, std::uint64_t generation) {
  const std::string name = names_.mailbox(e.rec.slot, generation);
  auto q = Queue::create(name, opt_.registry.mailbox_depth, opt_.registry.mailbox_msg_size(),
                         Queue::Pages::kOnDemand);
  // A supervisor that is not root only accepted its own identity: nothing to give.
  if (!q || !e.rec.run_as || ::geteuid() != 0) return q;
  if (auto st = Queue::give_to(name, e.rec.run_as->uid, e.rec.run_as->gid); !st) {
    Queue::remove(name);
    return st.error();
  }
  return q;
}

// The registry or the control queue was replaced under a new object owned by
// the supervisor (0600). A worker running as another uid mapped the old one
// before its drop and cannot open the new one, so it is not told to look again
// (SIGURG): it is restarted — stopped, then started from its last committed
// payload with its own spec, as `dynmgrctl restart` does — and its new process
// opens the new objects before it drops. Returns the slots restarted.
std::vector<std::uint32_t> Supervisor::Loop::restart_unable_to_reopen(const std::string& what) {
  std::vector<std::uint32_t> restarted;
  for (const auto& [slot, e] : fleet_.awake()) {
    if (e.rec.pid <= 0 || !e.rec.run_as) continue;
    if (restart_to_reopen_shared(e.rec.run_as->uid)) restarted.push_back(slot);
  }
  for (const std::uint32_t slot : restarted) {
    Entry* e = fleet_.find(slot);
    if (e == nullptr) continue;
    log_warn("restarting worker '" + e->id + "' (uid " + std::to_string(e->rec.run_as->uid) +
             "): it cannot open the new " + what);
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = lc::StopCause::kReplace;
    ev.replacement = lc::Replacement{e->id, e->spec, /*restart=*/true};
    inbox_.push_back(PendingEvent{slot, e->rec.incarnation, std::move(ev)});
  }
  run_inbox();
  return restarted;
}

}  // namespace dynmgr
