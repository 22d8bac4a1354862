// The supervisor loop and its state database (supervisor/state_store.hpp):
// what is written when, how a start restores the stored workers, and how the
// database's health reaches the registry header (`state --json`, `ping`).
//
// What is written (README "Persistence"):
//   a worker put, put over, restored or adopted   the whole row (spec, payload, value)
//   a committed payload/value (perform, call)     payload and value
//   a restart                                     the restart count
//   an exit                                       one row of its exit history
//   a worker removed (del, halt, replace(new_id), temporary end, restart-all)
//                                                 the row and its exits
// A worker removed because the supervisor stops keeps its row: the next start
// restores it. Nothing here waits beyond one commit (an fsync) and never for
// a lock held by another process for more than a few tens of ms.
//
// The header counts a change as pending from the moment it is queued, before
// the registry shows its effect or its put is answered: a reader that sees
// the effect and `pending` 0 knows it is committed.
//
// Failures never stop anything: the changes stay pending and are retried,
// the header says "failing" with the error, and the log says it at most once
// a minute.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

namespace lc = lifecycle;

constexpr std::uint64_t kErrorLogEveryMs = 60'000;

// The row's spec column: the spec without its payload (that has its own column).
std::string spec_text(const ChildSpec& spec) {
  json::object o = spec.to_json();
  o.erase("payload");
  return to_json(o);
}

Result<ChildSpec> spec_of(const StoredWorker& w) {
  auto v = parse_json(w.spec_json, "stored spec");
  if (!v) return v.error();
  auto spec = ChildSpec::from_json(*v);
  if (!spec) return spec.error();
  auto payload = parse_json(w.payload_json, "stored payload");
  if (!payload) return payload.error();
  spec->payload = std::move(*payload);
  return spec;
}

}  // namespace

// ------------------------------------------------------------ open and close

void Supervisor::Loop::open_store() {
  persistence_ = PersistenceInfo{};
  open_error_.clear();
  if (opt_.state_dir.empty()) {
    publish_persistence(true);
    return;
  }
  persistence_.dir = opt_.state_dir;
  StateStore::Options o;
  o.dir = opt_.state_dir;
  o.durability = opt_.durability;
  o.sync_interval = std::chrono::milliseconds(opt_.sync_interval_ms);
  auto store = StateStore::open(o);
  if (store) {
    // One supervisor per state dir: two instances given the same --state-dir
    // would each take the other's workers for deleted ones.
    const std::string lock = opt_.state_dir + "/lock";
    state_lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (state_lock_fd_ < 0 || ::flock(state_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const bool busy = state_lock_fd_ >= 0 && errno == EWOULDBLOCK;
      open_error_ = busy ? "state dir " + opt_.state_dir + " is in use by another supervisor"
                         : "unable to lock " + lock + ": " + std::strerror(errno);
      if (state_lock_fd_ >= 0) ::close(state_lock_fd_);
      state_lock_fd_ = -1;
    } else if (auto rows = store->load(); !rows) {
      open_error_ = rows.error().message;
    } else {
      stored_ = std::move(*rows);
      store_.emplace(std::move(*store));
    }
  } else {
    open_error_ = store.error().message;
  }
  if (!open_error_.empty()) {
    // Volatile from here on, and said everywhere an operator looks. Nothing
    // stored is touched: fix the cause and restart (or reexec) the supervisor.
    log_error("state database unusable, running without persistence: " + open_error_);
    if (state_lock_fd_ >= 0) ::close(state_lock_fd_);
    state_lock_fd_ = -1;
  } else {
    log_info("state database " + store_->path() + ": " + std::to_string(stored_.size()) +
             " stored worker(s), durability " +
             (opt_.durability == Durability::kSync
                  ? "sync"
                  : "batch, every " + std::to_string(opt_.sync_interval_ms) + " ms"));
  }
  publish_persistence(true);
}

// Commits what is pending and closes the database (a clean stop, a re-exec).
void Supervisor::Loop::close_store() {
  if (!store_) return;
  if (auto st = store_->flush(); !st) {
    log_error("state database: " + std::to_string(store_->health().pending) +
              " change(s) not committed at close: " + st.error().message);
  }
  store_.reset();
  if (state_lock_fd_ >= 0) ::close(state_lock_fd_);
  state_lock_fd_ = -1;
}

// After adopting a registry: it is newer than the database (a batch's last
// changes may not have been committed when the predecessor died), so the
// database is made to match it.
//
// Except for a worker whose slot the predecessor died writing: attach()
// cleared that slot (nothing in it can be trusted) and the leftover-leaf sweep
// ended its process, so the database is all there is of it: it is restored
// from there by the boot that follows, as at a fresh start.
void Supervisor::Loop::reconcile_store() {
  if (!store_) return;
  const auto& torn = reg_->torn_ids();
  std::size_t dropped = 0;
  std::vector<StoredWorker> restore;
  for (auto& w : stored_) {
    if (fleet_.slot_of(w.id)) continue;
    if (std::find(torn.begin(), torn.end(), w.id) != torn.end()) {
      log_warn("worker '" + w.id +
               "': its slot was mid-update when the previous supervisor died; restoring it from "
               "the state database");
      restore.push_back(std::move(w));
      continue;
    }
    (void)store_->remove(w.id);
    ++dropped;
  }
  for (const auto& id : torn) {
    const bool stored = std::any_of(restore.begin(), restore.end(),
                                    [&](const StoredWorker& w) { return w.id == id; });
    if (!stored && !fleet_.slot_of(id)) {
      log_warn("worker '" + id +
               "': its slot was mid-update when the previous supervisor died, and the state "
               "database has no record of it");
    }
  }
  stored_ = std::move(restore);
  restore_due_ = !stored_.empty();
  for (const auto& [slot, e] : fleet_.awake()) persist(e);
  (void)store_->flush();
  if (dropped > 0) {
    log_info("state database: " + std::to_string(dropped) +
             " stored worker(s) absent from the adopted registry removed");
  }
}

// ------------------------------------------------------------ restore

// The first boot after a start with no registry to adopt: every stored worker
// comes back. A children_specs() id keeps the code's spec with the stored
// payload; a stored id the code does not name (added at run time) comes back
// with its stored spec; a pool member beyond today's pool size is dropped.
void Supervisor::Loop::restore_stored(std::map<std::string, ChildSpec>& specs,
                                      std::map<std::string, StoredWorker>& rows) {
  if (!restore_due_) return;
  restore_due_ = false;
  const std::optional<PoolSpec> pool = m_.pool();
  std::size_t restored = 0;
  for (auto& w : std::exchange(stored_, {})) {
    auto known = specs.find(w.id);
    if (known == specs.end() && pool && w.id.rfind(pool->id_prefix, 0) == 0) {
      log_info("not restoring '" + w.id + "': the pool has " + std::to_string(pool->size) +
               " members now");
      if (store_) (void)store_->remove(w.id);
      continue;
    }
    auto spec = spec_of(w);
    if (!spec) {
      // Kept in the database as it is; an operator can read and fix it.
      log_error("not restoring '" + w.id + "': " + spec.error().message);
      continue;
    }
    if (known != specs.end()) {
      known->second.payload = std::move(spec->payload);
    } else {
      specs.emplace(w.id, std::move(*spec));
    }
    const std::string id = w.id;
    rows.emplace(id, std::move(w));
    ++restored;
  }
  if (restored > 0) log_info("restoring " + std::to_string(restored) + " stored worker(s)");
}

// ------------------------------------------------------------ writes

namespace {
StoredWorker row_of(const Entry& e) {
  StoredWorker w;
  w.id = e.id;
  w.spec_json = spec_text(e.spec);
  w.payload_json = e.rec.payload;
  w.value_json = e.rec.value;
  w.wanted_running = true;
  w.passive = e.stored_passive;
  w.restarts = e.rec.restarts;
  return w;
}
}  // namespace

void Supervisor::Loop::persist(const Entry& e) {
  if (!store_) return;
  (void)store_->put(row_of(e));
  publish_persistence(false);
}

// A worker restored from the database is written back only if its row would
// change (a children_specs() spec over the stored one): a reboot with a
// million stored ids wrote each row again, in one transaction, in the loop.
void Supervisor::Loop::persist_restored(const Entry& e, const StoredWorker& was) {
  if (!store_) return;
  StoredWorker w = row_of(e);
  if (w.spec_json == was.spec_json && w.payload_json == was.payload_json &&
      w.value_json == was.value_json && w.wanted_running == was.wanted_running &&
      w.passive == was.passive && w.restarts == was.restarts) {
    return;
  }
  (void)store_->put(w);
  publish_persistence(false);
}

void Supervisor::Loop::persist_update(const Entry& e) {
  if (!store_) return;
  (void)store_->set_payload(e.id, e.rec.payload, e.rec.value);
  publish_persistence(false);
}

void Supervisor::Loop::persist_restarts(const Entry& e) {
  if (!store_) return;
  (void)store_->set_restarts(e.id, e.rec.restarts);
  publish_persistence(false);
}

void Supervisor::Loop::persist_passive(const Entry& e) {
  if (!store_) return;
  (void)store_->set_passive(e.id, e.stored_passive);
  publish_persistence(false);
}

void Supervisor::Loop::persist_removal(const Entry& e) {
  // Stopping the supervisor is not deleting its workers.
  if (!store_ || e.life.cause == lc::StopCause::kShutdown) return;
  (void)store_->remove(e.id);
  publish_persistence(false);
}

// A restored worker's exit history, from the database back into the registry.
void Supervisor::Loop::restore_exits(std::uint32_t slot, const std::string& id) {
  auto stored = store_->exits(id);
  if (!stored || stored->empty()) return;
  std::vector<ExitRecord> exits;
  for (const auto& s : *stored) {
    ExitRecord x;
    x.at_ms = s.at_ms;
    x.uptime_ms = s.uptime_ms;
    x.exit = s.exit;
    x.restarted = s.restarted;
    x.restart_in_ms = s.restart_in_ms;
    exits.push_back(std::move(x));
  }
  (void)reg_->set_exits(slot, exits);
}

void Supervisor::Loop::persist_exit(const Entry& e, const ExitRecord& x) {
  if (!store_) return;
  StoredExit s;
  s.id = e.id;
  s.at_ms = x.at_ms;
  s.uptime_ms = x.uptime_ms;
  s.exit = x.exit;
  s.restarted = x.restarted;
  s.restart_in_ms = x.restart_in_ms;
  (void)store_->record_exit(s);
  publish_persistence(false);
}

// ------------------------------------------------------------ the loop's part

Deadline Supervisor::Loop::store_deadline() const {
  if (!store_) return Deadline::never();
  const auto due = store_->next_flush();
  if (!due) return Deadline::never();
  const auto now = std::chrono::steady_clock::now();
  return Deadline::after(*due > now ? std::chrono::duration_cast<Millis>(*due - now) + Millis(1)
                                    : Millis(0));
}

// Once per loop turn: commits a due batch, publishes and logs the health.
void Supervisor::Loop::service_store() {
  if (!store_) return;
  if (const auto due = store_->next_flush(); due && *due <= std::chrono::steady_clock::now()) {
    (void)store_->flush();
  }
  publish_persistence(false);
}

void Supervisor::Loop::publish_persistence(bool force) {
  PersistenceInfo p;
  p.dir = persistence_.dir;
  if (store_) {
    const StoreHealth h = store_->health();
    p.state = h.ok ? Persistence::kOk : Persistence::kFailing;
    p.error = h.error;
    p.pending = h.pending;
    p.last_commit_ms = h.last_commit_ms;
  } else if (!open_error_.empty()) {
    p.state = Persistence::kFailing;
    p.error = open_error_;
  }
  if (store_ && p.state != persistence_.state) {
    if (p.state == Persistence::kFailing) {
      error_logged_mono_ = mono_ms();
      error_logged_ = p.error;
      log_error("state database commit failed (changes kept in memory and retried): " + p.error);
    } else if (persistence_.state == Persistence::kFailing) {
      log_info("state database commits again");
      error_logged_.clear();
    }
  } else if (store_ && p.state == Persistence::kFailing &&
             (p.error != error_logged_ || mono_ms() - error_logged_mono_ >= kErrorLogEveryMs)) {
    error_logged_mono_ = mono_ms();
    error_logged_ = p.error;
    log_error("state database still failing, " + std::to_string(p.pending) +
              " change(s) pending: " + p.error);
  }
  const bool same = p.state == persistence_.state && p.error == persistence_.error &&
                    p.pending == persistence_.pending &&
                    p.last_commit_ms == persistence_.last_commit_ms;
  if (same && !force) return;
  persistence_ = p;
  if (reg_) reg_->set_persistence(p);
}

}  // namespace dynmgr
