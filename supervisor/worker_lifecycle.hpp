#pragma once
// A worker's life cycle as a pure state machine (the model: s6-supervise's
// actions[state][event] table).
//
//   step(state, event, now, context) -> Transition{next state, actions}
//
// No syscalls, no clock reads, no I/O: time comes in as `now` (monotonic ms),
// the process's exit status as an event, and everything the supervisor must do
// (spawn, signal, arm a timer, publish, reply, remove the slot) goes out as an
// Action for the event loop to carry out. Every (phase, event) pair has a row in
// the table test (tests/supervisor/worker_lifecycle_test.cpp), and a pair
// missing from that table fails it.
//
// What is *not* life cycle: a worker's value/payload/interval updates are data,
// committed by the loop whatever the phase while the reporting process is the
// slot's current one; "busy" is a word the worker itself stores in its slot
// (the overrun scan reads it). Neither changes the phase.
//
// Phases (and the registry status each publishes):
//   kStarting    spawned, init not finished                       starting
//                (an exec worker: its command not yet ready, also
//                while a command restarted in place gets ready)
//   kRunning     reported ready                                   running
//   kStopping    asked to go (del, put-over, restart, shutdown);  stopping
//                stage: terminate sent -> SIGTERM -> SIGKILL
//   kRestarting  exited; waiting out its backoff delay             restarting
//   kFailed      over its restart intensity; no process            failed
//   kExited      exited and not restarted by policy                exited
//   kHalting     perform answered halt(); the process is ending    halted
//   kReplacing   perform answered replace(new_id, p); ending       stopping
//   kPassivating idle for passivate_after: terminate("passivate")  passivating
//                sent; stage as kStopping
//   kPassive     no process and no mailbox; payload and value     passive
//                kept; a caller (kActivate) or its due perform
//                (kPerformDue) starts it again
//   kGone        removed from the registry (terminal)              (free)

#include <sys/types.h>

#include <boost/describe/enum.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/child_spec.hpp"
#include "shared/types.hpp"
#include "supervisor/restart_policy.hpp"

namespace dynmgr::lifecycle {

enum class Phase : std::uint8_t {
  kStarting,
  kRunning,
  kStopping,
  kRestarting,
  kFailed,
  kExited,
  kHalting,
  kReplacing,
  kPassivating,
  kPassive,
  kGone,
};
BOOST_DESCRIBE_ENUM(Phase, kStarting, kRunning, kStopping, kRestarting, kFailed, kExited, kHalting,
                    kReplacing, kPassivating, kPassive, kGone)
// How many enumerators a described enum has (the table test enumerates them).
template <class E>
inline constexpr int kCount =
    static_cast<int>(boost::mp11::mp_size<boost::describe::describe_enumerators<E>>::value);
inline constexpr int kPhaseCount = kCount<Phase>;

// Where a stop has got to (kStopping only).
enum class Stage : std::uint8_t { kNone, kTerminateSent, kSigtermSent, kSigkillSent };
BOOST_DESCRIBE_ENUM(Stage, kNone, kTerminateSent, kSigtermSent, kSigkillSent)

// Why a worker is asked to stop; decides what happens once it has exited.
enum class StopCause : std::uint8_t {
  kNone,
  kDelete,      // del: remove the slot
  kReplace,     // put over an existing id: start the new spec in the same slot
  kRestartAll,  // restart: remove, the manager then boots children_specs()
  kShutdown,    // the supervisor is stopping: remove
  kPassivate,   // idle for passivate_after (kPassivating only): passive once gone
};
BOOST_DESCRIBE_ENUM(StopCause, kNone, kDelete, kReplace, kRestartAll, kShutdown, kPassivate)

// A client waiting for an answer (its reply queue and request id). An item of
// a put-many request names its batch (non-zero) and its place in it: its
// answer is collected by the loop, which replies once for the whole batch.
// The machine never looks at them; it only hands the waiter back.
struct Waiter {
  std::string reply_to;
  std::uint64_t request_id = 0;
  std::uint64_t batch = 0;
  std::uint32_t item = 0;
  bool operator==(const Waiter&) const = default;
};

// A spec waiting to be started once the current process is gone.
struct Replacement {
  std::string id;  // the same id (put-over) or the new one (replace(new_id, p))
  ChildSpec spec;
  // restart ID: the same spec again. The restart count goes on (+1) and the
  // last exit stays; only the intensity window starts afresh, as after a put.
  bool restart = false;
  // put --passive over an existing id: the new spec is registered passive
  // (not started) once the old process is gone.
  bool passive = false;
};

// Everything the machine knows about one worker. The loop keeps one per slot,
// beside the spec and the published record.
struct WorkerState {
  Phase phase = Phase::kStarting;
  Stage stage = Stage::kNone;
  StopCause cause = StopCause::kNone;
  std::uint64_t timer_token = 0;  // a timer event with another token is stale
  RestartLimits limits;
  RestartHistory history;
  std::uint32_t restarts = 0;  // published restart count
  ExitInfo last_exit;
  std::string failing_reason;  // what the worker said before exiting abnormally
  bool boot_child = false;     // counts toward the manager's `starting` -> `up`
  bool ever_ready = false;
  // Started by a put (or put-new) that waits for it: ending before its first
  // ready fails the put and removes the id, so a failed put adds nothing
  // (README "Exit codes"). Boot, restored, replace(new_id) and restart ID
  // starts are not: their failures follow the restart policy.
  bool put_start = false;
  std::vector<Waiter> ready_waiters;  // put/put-over: answered at ready (or failure)
  std::vector<Waiter> exit_waiters;   // del: answered once the slot is removed
  // activate (a caller found the worker passive): answered once the new
  // process exists and is published, so the caller finds its mailbox.
  std::vector<Waiter> activate_waiters;
  std::uint64_t passivations = 0;  // published: clean stops for idleness
  // Started from passive (kActivate, kPerformDue) and not spawned yet: a
  // spawn that fails leaves it passive, not a crash for the restart policy.
  bool activating = false;
  // Activations in a row whose process could not be started (a full
  // /dev/shm, no pids left): the retry waits the restart backoff for as many.
  std::uint32_t failed_activations = 0;
  // Monotonic ms the worker's next perform is due, as it said when it
  // reported idle (0: none): a passive worker is started then.
  std::uint64_t perform_due_ms = 0;
  std::optional<Replacement> replacement;
  OnOverrun on_overrun = OnOverrun::kReport;  // the spec's: does an overrun kill the worker?
  // Set when the machine killed the process for a limit (kOverLimit): its
  // exit is then counted as that kind (overrun, max_memory), not as the signal.
  std::optional<ExitInfo> killed_for;
};

// ---- events
enum class EventKind : std::uint8_t {
  kSpawned,        // the process exists
  kSpawnFailed,    // it could not be started (exit: kSpawnFailed + reason)
  kReady,          // the worker reported ready
  kExited,         // the process ended (exit, uptime_ms)
  kFailing,        // the worker said why it is about to exit abnormally (reason)
  kStopRequested,  // cause, waiter (optional), replacement (kReplace)
  kTerminateLost,  // the terminate message could not be delivered
  kStageTimer,     // a stop stage's timer fired (token)
  kBackoffTimer,   // the restart backoff ended (token)
  kHalt,           // perform/call/cast answered halt()
  kReplaceId,      // perform/call/cast answered replace(new_id, payload) (replacement)
  kOverLimit,      // the process went over a limit (limit: kOverrun or kMaxMemory, reason):
                   // killed (an overrun only with on_overrun kill), then restarted by policy
  kIdle,           // the worker had no call, cast or perform for passivate_after
                   // (next_perform_ms: when its next perform is due, if any)
  kActivate,       // a caller wants a passive worker started (waiter, optional)
  kPerformDue,     // a passive worker's next perform is due (token)
  kCommandExited,  // the worker's command ended, the worker is sound (exit, uptime_ms, seq):
                   // restarted in place (kRestartCommand) or refused (kRefuseRestart)
};
BOOST_DESCRIBE_ENUM(EventKind, kSpawned, kSpawnFailed, kReady, kExited, kFailing, kStopRequested,
                    kTerminateLost, kStageTimer, kBackoffTimer, kHalt, kReplaceId, kOverLimit,
                    kIdle, kActivate, kPerformDue, kCommandExited)
inline constexpr int kEventKindCount = kCount<EventKind>;

struct Event {
  Event() = default;
  explicit Event(EventKind k) : kind(k) {}
  EventKind kind = EventKind::kReady;
  ExitInfo exit;                       // kExited, kSpawnFailed, kCommandExited
  std::uint64_t uptime_ms = 0;         // kExited, kCommandExited
  pid_t pid = 0;                       // kExited: the process that ended (for the event ring)
  std::string reason;                  // kFailing, kOverLimit
  ExitInfo::Kind limit = ExitInfo::Kind::kOverrun;  // kOverLimit: kOverrun or kMaxMemory
  StopCause cause = StopCause::kNone;  // kStopRequested
  std::optional<Waiter> waiter;        // kStopRequested (del: exit waiter; put-over: ready
                                       // waiter), kActivate
  std::optional<Replacement> replacement;  // kStopRequested(kReplace), kReplaceId
  std::uint64_t token = 0;                 // kStageTimer, kBackoffTimer, kPerformDue
  std::optional<std::uint64_t> next_perform_ms;  // kIdle
  std::uint64_t seq = 0;  // kCommandExited: the worker's number for it, echoed by the verdict
};

// ---- actions
enum class ActionKind : std::uint8_t {
  kSpawn,             // start a process for the slot (answer: kSpawned / kSpawnFailed)
  kSendTerminate,     // put terminate(message) in the mailbox (if it cannot: kTerminateLost)
  kSignalGroup,       // signal the worker's process group (signal)
  kArmTimer,          // after delay_ms, deliver `timer` with the state's current token
  kApplySpec,         // the slot takes replacement's spec (put-over): a fresh record
  kPublish,           // write the record (status from the phase, restarts, last_exit)
  kReplyRecord,       // answer waiters with the worker's record
  kReplyError,        // answer waiters with kFailed and message
  kReplyDeleted,      // answer waiters "deleted"
  kRemoveSlot,        // free the slot and its mailbox (no more events after this)
  kStartReplacement,  // put replacement's id with its spec (replace(new_id, p))
  kLog,               // one line in the supervisor log (level, message)
  kReleaseMailbox,    // the process is gone for passivation: unlink the mailbox, then take
                      // out what is in it; anything found goes to a new mailbox and the
                      // worker is started again (the loop raises kActivate, after
                      // delay_ms: a failed activation's retry)
  kRestartCommand,    // answer a kCommandExited (seq): start the command again in the same
                      // worker process, which then reports ready
  kRefuseRestart,     // answer a kCommandExited (seq): no restart in place; the worker
                      // ends as for a crash and its exit is decided as any exit
};
BOOST_DESCRIBE_ENUM(ActionKind, kSpawn, kSendTerminate, kSignalGroup, kArmTimer, kApplySpec,
                    kPublish, kReplyRecord, kReplyError, kReplyDeleted, kRemoveSlot,
                    kStartReplacement, kLog, kReleaseMailbox, kRestartCommand, kRefuseRestart)

enum class TimerKind : std::uint8_t { kStage, kBackoff, kPerformDue };
enum class LogLevel : std::uint8_t { kInfo, kWarn, kError };

struct Action {
  Action() = default;
  explicit Action(ActionKind k) : kind(k) {}
  ActionKind kind = ActionKind::kPublish;
  int signal = 0;                          // kSignalGroup
  TimerKind timer = TimerKind::kStage;     // kArmTimer
  std::uint64_t delay_ms = 0;              // kArmTimer, kReleaseMailbox
  std::vector<Waiter> waiters;             // kReply*
  std::string message;                     // kSendTerminate (reason), kReplyError, kLog
  LogLevel level = LogLevel::kInfo;        // kLog
  std::optional<Replacement> replacement;  // kApplySpec, kStartReplacement
  std::uint64_t seq = 0;                   // kRestartCommand, kRefuseRestart: the event's
};

// What the machine needs from the supervisor's configuration and phase.
struct Context {
  BackoffConfig backoff;
  std::uint32_t terminate_timeout_ms = 2000;  // terminate -> SIGTERM
  std::uint32_t kill_timeout_ms = 3000;       // SIGTERM -> SIGKILL
  bool shutting_down = false;                 // no immediate respawn while stopping
  std::string id;                             // for messages
};

// kApplied: next and actions are the row's. kIgnored: the event can happen in
// this phase and means nothing (a stale timer, a repeated report): next ==
// state, no actions. kInvalid: the loop never delivers it in this phase (no
// process to report it); next == state, no actions, and the loop logs it.
enum class Verdict : std::uint8_t { kApplied, kIgnored, kInvalid };

struct Transition {
  WorkerState next;
  std::vector<Action> actions;
  Verdict verdict = Verdict::kApplied;
};

// The machine. Pure: same arguments, same result.
Transition step(const WorkerState& state, const Event& event, std::uint64_t now_ms,
                const Context& context);

// A freshly put worker (about to be spawned): phase kStarting with its limits.
WorkerState initial_state(const ChildSpec& spec, bool boot_child);

// A worker registered without a process (put --passive, a passive worker
// restored from the state database): phase kPassive, published, and its
// first perform's activation armed when the spec performs (timeout > 0: at
// once with instant_perform, else after one timeout).
Transition register_passive(const ChildSpec& spec, std::uint64_t now_ms, const Context& context);

// A worker a supervisor finds in the registry when it takes over the segment
// (its predecessor crashed, or re-executed itself): adoption, the machine's
// other entry point beside initial_state. What the record showed and whether
// the recorded process is still alive decide the phase; a live process is
// never restarted for the takeover.
//   alive, starting            -> kStarting (its ready report is still to come)
//   alive, running             -> kRunning
//   alive, stopping            -> kStopping(kDelete): the stop goes on from the
//                                 terminate message (a put-over's new spec was
//                                 lost with the supervisor: the id is deleted)
//   alive, halted              -> kHalting (its exit is still to come)
//   dead, one of the above     -> that phase, then kExited with an unknown status
//                                 (its parent is gone): the restart policy decides
//   alive, passivating         -> kPassivating, its stop stage timer armed again
//   restarting                 -> kRestarting, its backoff timer armed at 0
//   passive                    -> kPassive (activated after one timeout if it performs)
//   failed / exited            -> unchanged
struct Found {
  WorkerStatus status = WorkerStatus::kRunning;
  bool alive = false;  // the recorded pid lives and has the recorded start time
  std::uint32_t restarts = 0;
  ExitInfo last_exit;
};
Transition adopt(const ChildSpec& spec, const Found& found, std::uint64_t now_ms,
                 const Context& context);

// The registry status a phase publishes (kGone: kFree).
WorkerStatus status_of(Phase phase) noexcept;
// Does the phase have a live process?
bool has_process(Phase phase) noexcept;

// Names from the descriptions above (kSpawnFailed is "spawn_failed").
std::string_view to_string(Phase p) noexcept;
std::string_view to_string(EventKind e) noexcept;
std::string_view to_string(ActionKind a) noexcept;
std::string_view to_string(StopCause c) noexcept;

}  // namespace dynmgr::lifecycle
