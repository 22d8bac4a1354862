#pragma once
// dynmgr::Client — the C++ way to drive a running dynmgr instance.
//
//  * put / put_new / del / restart / stop / ping go to the supervisor over the
//    control queue and are synchronous: they return once the supervisor says
//    what happened (put: once the worker is registered and has finished init).
//  * get / state / header read the registry directly from shared memory (no
//    round trip).
//  * call / cast go straight to the worker's mailbox; the supervisor is not on
//    the data path. call waits for the reply, and reports kCrashed (found through
//    the registry, not by timing out) when the worker dies before replying.
//
// Errors are values (Result/Status); error.code maps to the CLI's exit codes
// (exit_code()), and error.message says what failed and why. Every method may
// also return kNoSupervisor when the supervisor is gone (or was replaced) and,
// for a round trip, kTimeout when no answer came within timeout(). The other
// codes are listed per method. A failed request changes nothing that is stored,
// except where noted.
//
// A Client is not thread-safe; use one per thread. It owns one reply queue,
// created on first use and removed by the destructor (the supervisor removes
// those of clients that died).

#include "dynmgr/child_spec.hpp"
#include "dynmgr/error.hpp"
#include "dynmgr/json.hpp"
#include "dynmgr/types.hpp"
#include "dynmgr/worker_info.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr {

class Client {
 public:
  struct Options {
    std::string instance;        // empty: $DYNMGR_NAME or "default"
    Millis timeout{10'000};      // per request
  };

  // Opens the instance's registry. Never waits. A registry whose supervisor
  // died with live workers opens (they await adoption): reads, calls and casts
  // go on; requests to the supervisor wait up to the timeout for a successor.
  // Errors: kInvalid (bad instance name); kNoSupervisor (nothing runs under
  // the name, or its registry was left by a dead supervisor with no live
  // worker); kStale (a registry of another layout or Boost version); kSystem.
  static Result<Client> connect(Options options);
  static Result<Client> connect();

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  void set_timeout(Millis timeout) noexcept { timeout_ = timeout; }
  Millis timeout() const noexcept { return timeout_; }
  const std::string& instance() const noexcept;

  // A round trip to the supervisor. Errors: kNoSupervisor, kTimeout.
  Status ping();
  // Starts a worker under id, replacing (stopping) one already there; returns
  // once it has run init and is running.
  // Errors: kInvalid (bad id, or a spec the manager's check_spec refused);
  // kTooLarge (payload over --max-payload); kFull (registry full); kFailed (the
  // worker exited before it was ready — it stays registered and the restart
  // policy goes on; the supervisor is stopping); kNoSupervisor; kTimeout (the
  // put may still complete).
  Result<WorkerInfo> put(std::string_view id, const ChildSpec& spec);
  // As put, but kExists (and nothing changed) when id is present.
  Result<WorkerInfo> put_new(std::string_view id, const ChildSpec& spec);
  // As put (only_new: put_new), but the worker is registered passive (README
  // "Passivation"): status `passive`, no process and no mailbox until the
  // first call or cast, or its first perform when the spec performs
  // (timeout > 0). Over an existing id, that worker is stopped first. Returns
  // once registered. Errors: as put and put_new, without the start's kFailed.
  Result<WorkerInfo> put_passive(std::string_view id, const ChildSpec& spec,
                                 bool only_new = false);
  // Many puts, cut into as few supervisor requests as the control queue's
  // message size allows, at most 128 items each (`dynmgrctl import`). Each item is checked and
  // started exactly as put (or, with only_new, put_new) would, and the supervisor answers a request
  // once every item in it has its outcome, so the workers of one request start side by side; two
  // requests are in flight at a time. A bad item never keeps the others from starting.
  //
  // Returns one Result per item, in the order of `items` (the vector is
  // always items.size() long): the worker's record once it was ready, read
  // from the registry (if its slot has moved on since, only the id, slot,
  // status and pid of the answer), or that item's error: put's errors (kInvalid, kTooLarge, kFull,
  // kExists, kFailed), plus kInvalid for an id that appears earlier in
  // `items` (the later one is refused, nothing is put for it) and kTooLarge
  // for an item whose request alone exceeds the control queue's message size.
  // Errors of the request itself (kNoSupervisor, kTimeout) are given to every
  // item of that request; after one, the items not yet sent are not sent and
  // get the same error, saying so (as do those of a request in flight behind
  // one that got no answer). kTimeout: the items of that request may still
  // start. Each request has the deadline timeout().
  //
  // passive registers the ids without starting them (README "Passivation"):
  // each is answered with its `passive` record at once, no process is started.
  struct PutItem {
    std::string id;
    ChildSpec spec;
  };
  struct PutManyOptions {
    bool only_new = false;  // put_new semantics: an id present fails with kExists
    bool passive = false;
  };
  std::vector<Result<WorkerInfo>> put_many(const std::vector<PutItem>& items,
                                           PutManyOptions options);
  std::vector<Result<WorkerInfo>> put_many(const std::vector<PutItem>& items) {
    return put_many(items, PutManyOptions{});
  }
  // Stops the worker (terminate, then SIGTERM, then SIGKILL) and removes it;
  // returns once it is gone. Errors: kInvalid (bad id); kNotFound;
  // kFailed (the supervisor is stopping); kNoSupervisor; kTimeout.
  Status del(std::string_view id);
  // Back to children_specs(): every worker is stopped, the initial ones started.
  // Errors: kFailed (the supervisor is stopping); kNoSupervisor; kTimeout.
  Status restart();
  // One worker, stopped as del stops it (terminate("restart"), then SIGTERM,
  // then SIGKILL) and started again with the same spec from its last
  // committed payload; its restart count goes up by one and its restart
  // intensity window starts afresh, so a `failed` or `exited` worker comes
  // back too. Returns once the new process has run init, as put does.
  // Errors: kInvalid (bad id); kNotFound; kFailed (the new process exited
  // before it was ready; the worker is being removed; the supervisor is
  // stopping); kNoSupervisor; kTimeout (the restart may still complete).
  Result<WorkerInfo> restart_worker(std::string_view id);
  // Re-executes the supervisor's binary as it is on disk now, in place (same
  // pid); the new image adopts every worker, none restarts. Returns
  // {"pid", "adopted"} from the new image. Errors: kFailed (the file is
  // missing or not executable: the running supervisor goes on);
  // kNoSupervisor; kTimeout.
  Result<json::value> reexec();
  // Applies the manager's children anew (`dynmgrctl reload [FILE]`): `file`
  // (made absolute here) or, empty, the manager's own source (dynmgrd's
  // --children file). Children that are gone are deleted, new ones started,
  // changed ones put over, the rest left alone; ids put by hand are not
  // touched. Returns {"added", "replaced", "removed", "unchanged"} (arrays of
  // ids) once the changes are under way. Errors: kInvalid (unreadable file,
  // bad JSON or spec, a manager without a children file given a FILE:
  // nothing changed); kFull (not enough free slots: nothing changed);
  // kFailed (the manager is not up); kNoSupervisor; kTimeout.
  Result<json::value> reload(std::string_view file = {});
  // Stops the supervisor and every worker; returns once they are gone. A
  // supervisor that is already gone is success. Errors: kTimeout.
  Status stop();

  // One worker, read from the registry. Errors: kInvalid (bad id); kNotFound;
  // kTorn (its slot stayed mid-update: the supervisor died while writing it);
  // kNoSupervisor.
  Result<WorkerInfo> get(std::string_view id) const;
  // Every worker, in slot order. Errors: kTorn; kNoSupervisor.
  Result<std::vector<WorkerInfo>> state() const;
  // The same workers one at a time, never all in memory at once (a fleet of
  // millions): fn gets each, in slot order, until it returns false (then
  // success). Errors: as state(); on kTorn fn has seen only the workers
  // before the torn slot, so what it made of them is not the whole fleet.
  Status for_each_worker(const std::function<bool(const WorkerInfo&)>& fn) const;
  // The instance as the registry's header shows it now. Never fails.
  InstanceInfo header() const;

  // Sends message to the worker's mailbox and waits for the reply (the
  // response's value). A passive worker is started first (the supervisor
  // starts one process however many callers ask); a worker that passivates
  // while the message is on its way handles it or leaves it to its next
  // process, never drops it (README "Passivation").
  // Errors: kInvalid (bad id); kTooLarge (message over
  // --max-payload); kNotFound; kFailed (the worker is failed, exited, halted
  // or stopping; the outcome is unknown because the reply queue died);
  // kCrashed (the worker died before replying — the call may have run);
  // kTimeout (no reply, or the mailbox stayed full); kNoSupervisor.
  Result<json::value> call(std::string_view id, const json::value& message);
  // Puts message in the worker's mailbox; returns once it is there.
  // Errors: as call, without kCrashed.
  Status cast(std::string_view id, const json::value& message);
  // Pool dispatch: the worker is chosen by the manager's pickup strategy.
  // Errors: as call/cast, plus kNotPool (the manager is not a pool) and
  // kNoFreeWorker (every member is busy or not running; never a wait).
  Result<json::value> call_any(const json::value& message);
  Status cast_any(const json::value& message);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl, Millis timeout);
  std::unique_ptr<Impl> impl_;
  Millis timeout_;
};

}  // namespace dynmgr
