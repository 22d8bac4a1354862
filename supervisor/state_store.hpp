#pragma once
// What the supervisor keeps across its own restarts: one SQLite database,
// <dir>/state.db, holding each worker's spec, last committed payload and value,
// whether it is wanted running ("want", kept apart from the live "is" in the
// registry), its restart count and its last exits.
//
// Writers: the supervisor only, from its event loop thread (no locking here;
// one StateStore per database). Operators may read the file at any time with
// `sqlite3 state.db 'select id, payload from workers'` (WAL mode: readers never
// block the writer).
//
// Durability: a committed change survives a crash of dynmgrd and a power loss
// (WAL, synchronous=FULL). In kBatch mode changes are first kept in memory,
// coalesced per id (the latest version of a row wins), and committed together
// by flush() in one transaction: what is pending at a crash is lost, which is at
// most sync_interval of changes while the disk is healthy.
//
// Failures are values, never exceptions. A failed commit (disk full, read-only
// file system, I/O error, the database locked by someone else for more than a
// few tens of ms) loses nothing: the changes stay pending, flush() retries them,
// health() reports the error until a commit succeeds. Pending state is bounded
// by the number of ids (plus 10 exits per id), however long the disk fails.
//
// Blocking: a commit is one fsync of the WAL (and, every 1000 pages, a
// checkpoint). Waiting for a lock held by another process is capped at a few
// tens of ms. Nothing else waits.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/error.hpp"
#include "shared/types.hpp"

namespace dynmgr {

enum class Durability {
  kSync,   // every change commits before its call returns
  kBatch,  // changes wait in memory for flush()
};

struct StoredWorker {
  std::string id;
  std::string spec_json;  // ChildSpec::to_json() text (payload in it or not: the caller's choice)
  std::string payload_json;    // last committed payload, JSON text
  std::string value_json;      // last value, JSON text
  bool wanted_running = true;  // false: stopped on purpose, not to be started at boot
  std::uint32_t restarts = 0;
  std::uint64_t updated_ms = 0;  // wall clock; set_* stamp it with the time of the call
  // Passive (README "Passivation"): restored without a process. Stored in the
  // `wanted` column as 2 (1: running, 0: stopped), no schema change.
  bool passive = false;
};

struct StoredExit {
  std::string id;
  std::uint64_t at_ms = 0;  // wall clock
  std::uint64_t uptime_ms = 0;
  ExitInfo exit;
  bool restarted = false;
  std::uint64_t restart_in_ms = 0;
};

struct StoreHealth {
  bool ok = true;                    // false from a failed commit until the next successful one
  std::string error;                 // the failed commit's message ("" when ok)
  std::uint64_t pending = 0;         // changes not yet committed (one per id, plus exits)
  std::uint64_t lag_ms = 0;          // age of the oldest uncommitted change
  std::uint64_t commits = 0;         // successful commits since open
  std::uint64_t last_commit_ms = 0;  // wall clock of the last one, 0 if none
};

class StateStore {
 public:
  static constexpr int kSchemaVersion = 1;  // PRAGMA user_version of the files this code writes
  static constexpr std::size_t kExitsKept = 10;  // per id, newest first

  struct Options {
    std::string dir;
    Durability durability = Durability::kBatch;
    std::chrono::milliseconds sync_interval{20};  // kBatch: how long a change may wait
  };

  // Creates dir as `mkdir -p` does, each new directory with mode 0700 (an
  // existing one is left as it is), then opens or creates dir/state.db: WAL,
  // synchronous=FULL, schema created on first use.
  // Errors: kStale "state database <path> has schema N; this dynmgrd knows up
  // to 1" for a file written by a newer dynmgrd (the file is not modified);
  // kInvalid for an empty dir; kSystem naming the path and the reason for
  // anything else (dir not creatable or not a directory, not a database, ...).
  static Result<StateStore> open(const Options& o);

  // $DYNMGR_STATE_ROOT/<instance> when that is set to an absolute path.
  // Else root (euid 0): /var/lib/dynmgr/<instance>. Others: $XDG_STATE_HOME/dynmgr/<instance>
  // ($XDG_STATE_HOME used only when absolute, as the XDG spec says), else
  // $HOME/.local/state/dynmgr/<instance>. "" when HOME is unset too (the password
  // database is not read: that needs NSS, which the static dynmgrd cannot rely on).
  static std::string default_dir(std::string_view instance);
  // The same as a pure function of its inputs (null or "" = unset). "" when no
  // directory can be derived (not root, no usable XDG_STATE_HOME, no home).
  static std::string default_dir_for(uid_t euid, std::string_view instance,
                                     const char* xdg_state_home, const char* home);

  // Read the committed state only: pending changes are not included (flush first).
  // Every stored worker, ordered by id (bytewise).
  Result<std::vector<StoredWorker>> load() const;
  // The id's last exits, newest first (at most kExitsKept).
  Result<std::vector<StoredExit>> exits(std::string_view id) const;

  // Changes. kSync: each commits (with anything still pending from a failed
  // commit) before returning, and returns that commit's status; a failed one
  // stays pending like a kBatch change. kBatch: each only records the change in
  // memory and returns {}; the loop calls flush() when next_flush() is due.
  Status put(const StoredWorker& w);  // insert or replace the whole row
  // Update columns of an existing row; nothing happens for an id that has no
  // row (stored or pending).
  Status set_payload(std::string_view id, std::string payload_json, std::string value_json);
  Status set_wanted(std::string_view id, bool running);
  // Passive or not (wanted running either way).
  Status set_passive(std::string_view id, bool passive);
  Status set_restarts(std::string_view id, std::uint32_t restarts);
  Status remove(std::string_view id);       // the row and its exits
  Status record_exit(const StoredExit& e);  // keeps the newest kExitsKept per id

  // Commits everything pending in one transaction; {} if nothing is pending.
  // On failure everything stays pending (the next flush retries all of it),
  // health() carries the error, and next_flush() is at least 1 s away.
  Status flush();
  bool has_pending() const;
  // When the loop must call flush(): sync_interval after the first pending
  // change, and no sooner than 1 s after a failed commit. nullopt: nothing pending.
  std::optional<std::chrono::steady_clock::time_point> next_flush() const;
  StoreHealth health() const;
  std::string path() const;  // dir/state.db

  // Movable, not copyable. A moved-from store may only be destroyed or assigned.
  // The destructor closes the database without flushing (that is the caller's job).
  StateStore(StateStore&&) noexcept;
  StateStore& operator=(StateStore&&) noexcept;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

 private:
  struct Impl;
  explicit StateStore(std::unique_ptr<Impl> impl);
  Status staged();  // after a change: starts the batch clock; kSync: flush()

  std::unique_ptr<Impl> impl_;  // the connection, its statements and the pending changes
};

}  // namespace dynmgr
