// Shared objects removed or truncated from outside the supervisor (an
// operator's clean-up script, a stray `rm /dev/shm/dynmgr.*`, a worker's stray
// write: README "Tampered shared memory"). Each check costs a few stat(2)
// calls and one inotify read; what is found damaged is recreated, logged in
// one line, and whoever uses it is told to look again. The loop never dies of
// it: a page of a truncated object it touches reads as zeros
// (shared/bus_guard.hpp) until the object is replaced here.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>

#include "shared/bus_guard.hpp"
#include "shared/log.hpp"
#include "shared/process_identity.hpp"
#include "shared/shm_objects.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

// The slot of a mailbox name "<prefix>mbox.<slot>.<gen>[.bell]" and its
// generation; nullopt for any other name.
struct MailboxName {
  std::uint32_t slot = 0;
  std::uint64_t generation = 0;
};
std::optional<MailboxName> parse_mailbox(std::string_view name, const std::string& prefix) {
  const std::string head = prefix + "mbox.";
  if (!name.starts_with(head)) return std::nullopt;
  name.remove_prefix(head.size());
  MailboxName m;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), m.slot);
  if (ec != std::errc() || p == name.data() + name.size() || *p != '.') return std::nullopt;
  ++p;
  auto [q, ec2] = std::from_chars(p, name.data() + name.size(), m.generation);
  if (ec2 != std::errc()) return std::nullopt;
  return m;
}

}  // namespace

void Supervisor::Loop::check_shared_objects() {
  bus_faults_seen_ = bus_faults();
  const ShmWatch::Changes changes = shm_watch_->take();
  if (lock_ && !lock_->intact()) relock("was removed");
  if (auto st = reg_->intact(); !st) recreate_registry(st.error().message);
  if (auto st = reg_->words_intact(); !st) recreate_words(st.error().message);
  if (control_) {
    if (auto st = Queue::intact(control_->name(), control_->segment_bytes()); !st) {
      const bool removed = st.error().code == Errc::kNotFound;
      // A removed queue still holds what was sent before: serve it first. (A
      // truncated one reads as empty.)
      for (int i = 0; removed && i < 4096; ++i) {
        auto f = control_->try_receive();
        if (!f || !*f) break;
        dispatch(**f);
      }
      recreate_control(removed ? "was removed" : "was truncated");
    } else if (!control_->header_sane()) {
      // Overwritten in place (a process with the queue mapped wrote over it):
      // nothing in it can be trusted, so nothing is read from it.
      recreate_control("was overwritten (its header changed)");
    }
  }
  if (events_ && shm_object_bytes(names_.events()) < std::max<std::uint64_t>(events_bytes_, 1)) {
    recreate_events(shm_object_bytes(names_.events()) == 0 ? "was removed" : "was truncated");
  }
  // Mailboxes: those inotify named, or all of them when it cannot say.
  std::vector<std::uint32_t> slots;
  if (changes.everything) {
    for (const auto& [slot, e] : fleet_.awake()) slots.push_back(slot);
  } else {
    for (const auto& n : changes.names) {
      auto m = parse_mailbox(n, names_.prefix());
      if (!m) continue;
      const Entry* e = fleet_.find(m->slot);
      if (e != nullptr && e->rec.mailbox_generation == m->generation) slots.push_back(m->slot);
    }
  }
  for (std::uint32_t slot : slots) {
    Entry* e = fleet_.find(slot);
    if (e == nullptr || !e->mailbox_live) continue;  // passive: it has none
    const std::string name = names_.mailbox(slot, e->rec.mailbox_generation);
    if (auto st = Queue::intact(name, mailbox_bytes_); !st) recreate_mailbox(*e, st.error().message);
  }
}

// The registry under its name again, with every worker the loop knows, at
// the same slot and incarnation; the header's words as this loop has them.
// Workers still map the old one: each is told to look again (SIGURG, which
// they take as "reopen the registry and your mailbox"; ignored by default, so
// a worker not yet listening is not harmed). A worker running as another user
// cannot open the new one: it is restarted instead (restart_unable_to_reopen).
void Supervisor::Loop::recreate_registry(const std::string& why) {
  std::vector<SlotRecord> records;
  records.reserve(fleet_.size());
  for (const auto& [slot, e] : fleet_.awake()) records.push_back(e.rec);
  // Sleeping ids have no Entry: read from the old mapping, which stays
  // mapped. One whose page was truncated away reads as free: it is dropped
  // here, and its row in the state database brings it back at the next start.
  std::vector<std::uint32_t> unreadable;
  for (const std::uint32_t slot : fleet_.asleep_slots()) {
    if (auto r = reg_->read(slot)) {
      records.push_back(std::move(*r));
    } else {
      unreadable.push_back(slot);
    }
  }
  if (!unreadable.empty()) {
    log_error(std::to_string(unreadable.size()) +
              " passive id(s) could not be read from the damaged registry; they are left out "
              "of the new one until the supervisor restarts from its state database");
    for (const std::uint32_t slot : unreadable) fleet_.erase(slot);
  }
  if (auto st = reg_->recreate(records); !st) {
    log_error("unable to recreate the registry (" + why + "): " + st.error().message +
              "; trying again in a second");
    return;
  }
  const auto self = ProcessIdentity::self();
  reg_->set_supervisor(self.pid, self.start_time);
  reg_->set_manager_state(state_);
  reg_->set_control_generation(control_generation_.load());
  reg_->set_containment(containment_);
  if (auto p = m_.pool()) reg_->set_pool_strategy(static_cast<std::uint32_t>(p->strategy));
  publish_persistence(/*force=*/true);
  overruns_.changed();
  log_warn(why + "; recreated it with " + std::to_string(records.size()) + " worker(s)");
  const auto restarted = restart_unable_to_reopen("registry");
  for (const auto& [slot, e] : fleet_.awake()) {
    if (std::find(restarted.begin(), restarted.end(), slot) != restarted.end()) continue;
    if (e.rec.pid > 0) ::kill(e.rec.pid, SIGURG);
  }
}

// The words object again, with what the old mapping still holds for each
// worker; each worker maps its page of the new one when told (SIGURG).
void Supervisor::Loop::recreate_words(const std::string& why) {
  if (auto st = reg_->recreate_words(); !st) {
    log_error("unable to recreate the words (" + why + "): " + st.error().message +
              "; trying again in a second");
    return;
  }
  log_warn(why + "; recreated it");
  // A worker running as another user cannot map the new object: restarted.
  const auto restarted = restart_unable_to_reopen("words");
  for (const auto& [slot, e] : fleet_.awake()) {
    if (std::find(restarted.begin(), restarted.end(), slot) != restarted.end()) continue;
    if (e.rec.pid > 0) ::kill(e.rec.pid, SIGURG);
  }
}

// A new mailbox generation for the worker, published in its slot; the worker
// is told (SIGURG) and moves to it. Messages left in a removed mailbox are lost.
void Supervisor::Loop::recreate_mailbox(Entry& e, const std::string& why) {
  const std::string old_name = names_.mailbox(e.rec.slot, e.rec.mailbox_generation);
  const std::uint64_t next = ++mailbox_counter_;
  auto created = create_mailbox(e, next);
  if (!created) {
    log_error("unable to recreate the mailbox of '" + e.id + "' (" + why +
              "): " + created.error().message);
    return;
  }
  mailbox_bytes_ = std::max(mailbox_bytes_, created->segment_bytes());
  e.rec.mailbox_generation = next;
  publish(e);
  log_warn("mailbox of worker '" + e.id + "': " + why + "; recreated it as generation " +
           std::to_string(next));
  outbox_.forget(old_name);
  Queue::remove(old_name);
  if (e.rec.pid > 0) ::kill(e.rec.pid, SIGURG);
}

void Supervisor::Loop::recreate_events(const std::string& why) {
  log_warn("event ring " + names_.events() + " " + why + "; recreating it");
  events_.reset();
  open_events(/*adopting=*/false);
}

void Supervisor::Loop::relock(const std::string& why) {
  auto l = InstanceLock::acquire(names_);
  if (!l) {
    log_error("unable to lock the instance again (its lock file " + why +
              "): " + l.error().message);
    return;
  }
  lock_ = std::move(*l);
  log_warn("instance lock /dev/shm/" + names_.lock() + " " + why + "; locked it again");
}

}  // namespace dynmgr
