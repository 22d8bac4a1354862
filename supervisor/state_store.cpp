#include "supervisor/state_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "shared/clock.hpp"
#include "shared/state_dir.hpp"

#ifndef DYNMGR_VERSION
#define DYNMGR_VERSION "unknown"
#endif

namespace dynmgr {
namespace {

// Small: the only other process that may hold a lock is an operator's sqlite3
// shell. The loop thread waits at most this long, then the commit is retried later.
constexpr int kBusyTimeoutMs = 50;
constexpr auto kRetryAfterFailure = std::chrono::seconds(1);

// The columns are plain text and integers so that an operator can read the file
// with the sqlite3 shell. exits has a rowid: it orders exits with equal at_ms.
static_assert(StateStore::kSchemaVersion == 1, "kSchema sets user_version = 1");
constexpr const char* kSchema = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS workers(id TEXT PRIMARY KEY, spec TEXT NOT NULL,
  payload TEXT NOT NULL, value TEXT NOT NULL, wanted INTEGER NOT NULL,
  restarts INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS exits(id TEXT NOT NULL, at_ms INTEGER, uptime_ms INTEGER,
  kind TEXT, code INTEGER, reason TEXT, restarted INTEGER, restart_in_ms INTEGER);
CREATE INDEX IF NOT EXISTS exits_by_id ON exits(id, at_ms);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta VALUES('created_by', 'dynmgrd )sql" DYNMGR_VERSION R"sql(');
PRAGMA user_version = 1;
COMMIT;
)sql";

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }  // nothing to do if it fails
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// Leaves a kept statement ready for its next use. sqlite3_reset's result
// repeats the error of the last step, which the caller has already reported.
struct ResetOnExit {
  sqlite3_stmt* s;
  ~ResetOnExit() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

// Parameter binding by type. Text is bound SQLITE_STATIC: the caller's strings
// outlive the step. Integers go in as SQLite's int64: a uint64 above 2^63 (never
// reached by milliseconds or counters) would come back modulo 2^64.
int bind_one(sqlite3_stmt* s, int i, std::string_view v) {
  return sqlite3_bind_text64(s, i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}
int bind_one(sqlite3_stmt* s, int i, sqlite3_int64 v) { return sqlite3_bind_int64(s, i, v); }
template <class T>
int bind_one(sqlite3_stmt* s, int i, const std::optional<T>& v) {  // nullopt: NULL
  return v ? bind_one(s, i, *v) : sqlite3_bind_null(s, i);
}
// Binds args to parameters 1, 2, ...; the first failure's code, or SQLITE_OK.
template <class... A>
int bind_all([[maybe_unused]] sqlite3_stmt* s, const A&... args) {
  [[maybe_unused]] int i = 0;
  int rc = SQLITE_OK;
  ((rc = rc == SQLITE_OK ? bind_one(s, ++i, args) : rc), ...);
  return rc;
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}
std::uint64_t column_num(sqlite3_stmt* s, int i) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, i));
}

// mkdir -p, new directories 0700. Only the last component must end up a directory.
Status make_dirs(const std::string& dir) {
  for (std::size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
    const std::string prefix = dir.substr(0, end);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return errno_error("unable to create state directory " + prefix, errno);
    }
    if (end == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return errno_error("unable to use state directory " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return errno_error("unable to use state directory " + dir, ENOTDIR);
  return {};
}

// The `wanted` column: 0 stopped, 1 running, 2 passive.
sqlite3_int64 want_code(const StoredWorker& w) { return w.passive ? 2 : w.wanted_running ? 1 : 0; }

// One id's changes since the last commit, applied in this order.
struct PendingOp {
  bool erase = false;               // remove(): delete the row and its exits first
  std::optional<StoredWorker> row;  // put(): then write this whole row
  // set_*() with no row pending: then update just these columns of a stored row.
  std::optional<std::string> payload, value;
  std::optional<sqlite3_int64> wanted;  // the column's code: want_code()
  std::optional<std::uint32_t> restarts;
  std::uint64_t updated_ms = 0;
};

}  // namespace

struct StateStore::Impl {
  // Constant after open().
  Options options;
  std::string path;
  Db db;  // declared before the statements: finalized first, closed last
  Stmt begin, commit, rollback, upsert, update, erase_worker, erase_exits, add_exit, trim_exits,
      select_workers, select_exits;
  // Loop thread only: what the next flush() commits, and how the last one went.
  std::map<std::string, PendingOp, std::less<>> ops;
  std::vector<StoredExit> pending_exits;
  std::optional<MonoClock::time_point> pending_since;
  std::optional<MonoClock::time_point> failed_at;
  StoreHealth health;

  // "unable to <what>: <sqlite's message>", with errno where the OS refused.
  Error fail(int rc, const std::string& what) const {
    std::string reason = db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    const int primary = rc & 0xff;
    const int err = db ? sqlite3_system_errno(db.get()) : 0;
    if (err != 0 &&
        (primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_CANTOPEN)) {
      reason += std::string(" (") + std::strerror(err) + ")";
    }
    return make_error(Errc::kSystem, "unable to " + what + ": " + reason);
  }

  Status exec(const char* sql, const std::string& what) {
    const int rc = sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail(rc, what);
    return {};
  }

  // The first column of the first row of a pragma, as text.
  Result<std::string> pragma(const char* sql, const std::string& what) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr);
    const Stmt s(raw);
    if (rc != SQLITE_OK) return fail(rc, what);
    rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return fail(rc, what);
    return column_text(s.get(), 0);
  }

  Result<int> schema_version() {
    auto text = pragma("PRAGMA user_version", "read the schema version of " + path);
    if (!text) return text.error();
    int v = 0;
    std::from_chars(text->data(), text->data() + text->size(), v);
    return v;
  }

  Status prepare() {
    const std::pair<Stmt*, const char*> all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&upsert,
         "INSERT OR REPLACE INTO workers(id, spec, payload, value, wanted, restarts,"
         " updated_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        // NULL leaves a column as it is.
        {&update,
         "UPDATE workers SET payload = coalesce(?2, payload), value = coalesce(?3, value),"
         " wanted = coalesce(?4, wanted), restarts = coalesce(?5, restarts),"
         " updated_ms = ?6 WHERE id = ?1"},
        {&erase_worker, "DELETE FROM workers WHERE id = ?1"},
        {&erase_exits, "DELETE FROM exits WHERE id = ?1"},
        {&add_exit,
         "INSERT INTO exits(id, at_ms, uptime_ms, kind, code, reason, restarted,"
         " restart_in_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&trim_exits,
         "DELETE FROM exits WHERE id = ?1 AND rowid NOT IN (SELECT rowid FROM exits"
         " WHERE id = ?1 ORDER BY at_ms DESC, rowid DESC LIMIT ?2)"},
        {&select_workers,
         "SELECT id, spec, payload, value, wanted, restarts, updated_ms"
         " FROM workers ORDER BY id"},
        {&select_exits,
         "SELECT at_ms, uptime_ms, kind, code, reason, restarted, restart_in_ms"
         " FROM exits WHERE id = ?1 ORDER BY at_ms DESC, rowid DESC LIMIT ?2"},
    };
    for (const auto& [slot, sql] : all) {
      sqlite3_stmt* raw = nullptr;
      const int rc =
          sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      slot->reset(raw);
      if (rc != SQLITE_OK) return fail(rc, std::string("prepare '") + sql + "' on " + path);
    }
    return {};
  }

  // Binds and steps a kept statement that returns no rows.
  template <class... A>
  Status run(const Stmt& stmt, const std::string& what, const A&... args) {
    const ResetOnExit reset{stmt.get()};
    int rc = bind_all(stmt.get(), args...);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_DONE) return fail(rc, what);
    return {};
  }

  // One id's pending op: erase, then the whole row or the changed columns.
  Status apply(const std::string& id, const PendingOp& op) {
    const std::string where = " '" + id + "' in " + path;
    Status st;
    if (op.erase) st = run(erase_worker, "delete worker" + where, id);
    if (st && op.erase) st = run(erase_exits, "delete the exits of" + where, id);
    if (!st) return st;
    if (const auto& w = op.row) {
      return run(upsert, "write worker" + where, id, w->spec_json, w->payload_json, w->value_json,
                 want_code(*w), w->restarts, w->updated_ms);
    }
    if (!op.payload && !op.wanted && !op.restarts) return {};
    return run(update, "update worker" + where, id, op.payload, op.value, op.wanted, op.restarts,
               op.updated_ms);
  }

  // The op a set_*() edits, stamped now; nullptr if the id is being removed.
  PendingOp* updatable(std::string_view id) {
    auto it = ops.find(id);
    if (it == ops.end()) it = ops.emplace(std::string(id), PendingOp{}).first;
    PendingOp& op = it->second;
    if (op.erase && !op.row) return nullptr;
    (op.row ? op.row->updated_ms : op.updated_ms) = wall_ms();
    return &op;
  }

  // Everything pending, in one transaction; on failure rolled back and kept.
  Status commit_pending() {
    const auto all = [&]() -> Status {
      if (auto st = run(begin, "begin a transaction on " + path); !st) return st;
      for (const auto& [id, op] : ops) {
        if (auto st = apply(id, op); !st) return st;
      }
      std::set<std::string_view> ids;
      for (const StoredExit& e : pending_exits) {
        auto st =
            run(add_exit, "record an exit of '" + e.id + "' in " + path, e.id, e.at_ms, e.uptime_ms,
                to_string(e.exit.kind), e.exit.code, e.exit.reason, e.restarted, e.restart_in_ms);
        if (!st) return st;
        ids.insert(e.id);
      }
      // Once per id, after all its inserts: exits are ordered by at_ms, not by
      // insertion, so this keeps the same rows as trimming after each insert.
      for (std::string_view id : ids) {
        const std::string what = "trim the exits of '" + std::string(id) + "' in " + path;
        if (auto st = run(trim_exits, what, id, kExitsKept); !st) return st;
      }
      return run(commit, "commit changes to " + path);
    };
    Status st = all();
    // SQLite rolls some failures back by itself (SQLITE_FULL, SQLITE_IOERR, ...),
    // others leave the transaction open: end it either way, or the next BEGIN fails.
    if (!st && !sqlite3_get_autocommit(db.get())) (void)run(rollback, "roll back");  // st says why
    return st;
  }
};

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateStore::StateStore(StateStore&&) noexcept = default;
StateStore& StateStore::operator=(StateStore&&) noexcept = default;
StateStore::~StateStore() = default;

Result<StateStore> StateStore::open(const Options& o) {
  if (o.dir.empty())
    return make_error(Errc::kInvalid, "unable to open the state store: no directory given");
  if (auto st = make_dirs(o.dir); !st) return st.error();
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.options = o;
  s.path = (o.dir.size() > 1 && o.dir.back() == '/' ? o.dir.substr(0, o.dir.size() - 1) : o.dir) +
           "/state.db";

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      s.path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  s.db.reset(raw);
  if (rc != SQLITE_OK) return s.fail(rc, "open state database " + s.path);
  if (rc = sqlite3_busy_timeout(raw, kBusyTimeoutMs); rc != SQLITE_OK) {
    return s.fail(rc, "set the busy timeout of " + s.path);
  }
  // Before anything writes: a newer dynmgrd's file is left exactly as it is.
  auto version = s.schema_version();
  if (!version) return version.error();
  if (*version > kSchemaVersion) {
    return make_error(Errc::kStale, "state database " + s.path + " has schema " +
                                        std::to_string(*version) + "; this dynmgrd knows up to " +
                                        std::to_string(kSchemaVersion));
  }
  auto mode = s.pragma("PRAGMA journal_mode = WAL", "set WAL mode on " + s.path);
  if (!mode) return mode.error();
  if (*mode != "wal") {
    return make_error(Errc::kSystem,
                      "unable to set WAL mode on " + s.path + ": journal mode is " + *mode);
  }
  // FULL: in WAL mode NORMAL may lose the last commits at a power loss.
  if (auto st = s.exec("PRAGMA synchronous = FULL", "set synchronous=FULL on " + s.path); !st)
    return st.error();
  if (*version == 0) {  // one transaction: a file has the whole schema or none of it
    if (auto st = s.exec(kSchema, "create the schema in " + s.path); !st) {
      if (!sqlite3_get_autocommit(raw)) (void)s.exec("ROLLBACK", "roll back");  // st says why
      return st.error();
    }
  }
  if (auto st = s.prepare(); !st) return st.error();
  return StateStore(std::move(impl));
}

std::string StateStore::default_dir_for(uid_t euid, std::string_view instance,
                                        const char* xdg_state_home, const char* home) {
  return default_state_dir_for(euid, instance, xdg_state_home, home);
}

std::string StateStore::default_dir(std::string_view instance) {
  return default_state_dir(instance);
}

Result<std::vector<StoredWorker>> StateStore::load() const {
  sqlite3_stmt* s = impl_->select_workers.get();
  const ResetOnExit reset{s};
  std::vector<StoredWorker> out;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const std::uint64_t want = column_num(s, 4);
    out.push_back(StoredWorker{column_text(s, 0), column_text(s, 1), column_text(s, 2),
                               column_text(s, 3), want != 0,
                               static_cast<std::uint32_t>(column_num(s, 5)), column_num(s, 6),
                               want == 2});
  }
  if (rc != SQLITE_DONE) return impl_->fail(rc, "read the workers from " + impl_->path);
  return out;
}

Result<std::vector<StoredExit>> StateStore::exits(std::string_view id) const {
  sqlite3_stmt* s = impl_->select_exits.get();
  const ResetOnExit reset{s};
  const std::string what = "read the exits of '" + std::string(id) + "' from " + impl_->path;
  if (const int rc = bind_all(s, id, kExitsKept); rc != SQLITE_OK) return impl_->fail(rc, what);
  std::vector<StoredExit> out;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    StoredExit e;
    e.id = id;
    e.at_ms = column_num(s, 0);
    e.uptime_ms = column_num(s, 1);
    e.exit.kind = parse_exit_kind(column_text(s, 2)).value_or(ExitInfo::Kind::kNone);
    e.exit.code = sqlite3_column_int(s, 3);
    e.exit.reason = column_text(s, 4);
    e.restarted = column_num(s, 5) != 0;
    e.restart_in_ms = column_num(s, 6);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return impl_->fail(rc, what);
  return out;
}

Status StateStore::staged() {
  if (!impl_->pending_since && has_pending()) impl_->pending_since = MonoClock::now();
  return impl_->options.durability == Durability::kSync ? flush() : Status{};
}

Status StateStore::put(const StoredWorker& w) {
  PendingOp& op = impl_->ops[w.id];
  const bool erase = op.erase;  // a remove() earlier in the batch still deletes the old exits
  op = PendingOp{};
  op.erase = erase;
  op.row = w;
  return staged();
}

Status StateStore::set_payload(std::string_view id, std::string payload_json,
                               std::string value_json) {
  if (PendingOp* op = impl_->updatable(id)) {
    (op->row ? op->row->payload_json : op->payload.emplace()) = std::move(payload_json);
    (op->row ? op->row->value_json : op->value.emplace()) = std::move(value_json);
  }
  return staged();
}

Status StateStore::set_wanted(std::string_view id, bool running) {
  if (PendingOp* op = impl_->updatable(id)) {
    if (op->row) {
      op->row->wanted_running = running;
      op->row->passive = false;
    } else {
      op->wanted = running ? 1 : 0;
    }
  }
  return staged();
}

Status StateStore::set_passive(std::string_view id, bool passive) {
  if (PendingOp* op = impl_->updatable(id)) {
    if (op->row) {
      op->row->wanted_running = true;
      op->row->passive = passive;
    } else {
      op->wanted = passive ? 2 : 1;
    }
  }
  return staged();
}

Status StateStore::set_restarts(std::string_view id, std::uint32_t restarts) {
  if (PendingOp* op = impl_->updatable(id))
    (op->row ? op->row->restarts : op->restarts.emplace()) = restarts;
  return staged();
}

Status StateStore::remove(std::string_view id) {
  PendingOp gone;
  gone.erase = true;
  impl_->ops.insert_or_assign(std::string(id), std::move(gone));
  std::erase_if(impl_->pending_exits, [&](const StoredExit& e) { return e.id == id; });
  return staged();
}

Status StateStore::record_exit(const StoredExit& e) {
  auto& exits = impl_->pending_exits;
  exits.push_back(e);
  // Bounded while commits fail: past kExitsKept, the id's oldest pending exit goes.
  const auto same = [&](const StoredExit& x) { return x.id == e.id; };
  if (std::count_if(exits.begin(), exits.end(), same) > std::ptrdiff_t{kExitsKept}) {
    exits.erase(std::find_if(exits.begin(), exits.end(), same));
  }
  return staged();
}

Status StateStore::flush() {
  Impl& s = *impl_;
  if (!has_pending()) return {};
  if (Status st = s.commit_pending(); !st) {
    s.failed_at = MonoClock::now();
    s.health.ok = false;
    s.health.error = st.error().message;
    return st;
  }
  s.ops.clear();
  s.pending_exits.clear();
  s.pending_since.reset();
  s.failed_at.reset();
  s.health.ok = true;
  s.health.error.clear();
  ++s.health.commits;
  s.health.last_commit_ms = wall_ms();
  return {};
}

bool StateStore::has_pending() const {
  return !impl_->ops.empty() || !impl_->pending_exits.empty();
}

std::optional<std::chrono::steady_clock::time_point> StateStore::next_flush() const {
  const Impl& s = *impl_;
  if (!has_pending() || !s.pending_since) return std::nullopt;
  auto due = *s.pending_since + s.options.sync_interval;
  if (s.failed_at) due = std::max(due, *s.failed_at + kRetryAfterFailure);
  return due;
}

StoreHealth StateStore::health() const {
  StoreHealth h = impl_->health;
  h.pending = impl_->ops.size() + impl_->pending_exits.size();
  if (impl_->pending_since) {
    h.lag_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              MonoClock::now() - *impl_->pending_since)
                                              .count());
  }
  return h;
}

std::string StateStore::path() const { return impl_->path; }

}  // namespace dynmgr
