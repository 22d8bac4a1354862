#pragma once
// The exec manager: the manager of the stock `dynmgrd`, whose workers run any
// external command (any language) speaking JSON lines on stdin/stdout.
//
// Protocol (one request line from dynmgr, one response line per request):
//   requests   {"op":"perform","id":ID,"payload":P}
//              {"op":"call","id":ID,"payload":P,"message":M}
//              {"op":"cast","id":ID,"payload":P,"message":M}
//              {"op":"terminate","id":ID,"payload":P,"reason":R}
//   responses  {"ok":R} {"replace":P} {"replace":P,"id":NEW} {"timeout":MS,"result":R}
//              {"halt":true}; a call answers {"reply":X} (optionally with
//              "replace":P to change the payload too). Extra fields are ignored.
// Start-up handshake: the command may print {"ready":true} first; init returns
// (the worker reports ready, `put` answers) once it has, or once the command
// has stayed alive and silent for ready_timeout ms. A command that exits
// first, or writes another line first, fails init with its exit status and
// its last stderr lines. A late ready line (after the grace) is taken once.
// The command's stderr is a pipe the worker forwards, line by line, to its own
// stderr (the worker's log), keeping the last lines for failure reasons.
// A line that is not a JSON object of these shapes, a line when no request is
// pending, a command that exits, or one that does not answer in time is a
// worker failure: the worker exits, the restart policy applies, and the reason
// is in the registry's last_exit.
//
// Spawning (worker side, from init): Boost.Process v2, the command is an argv
// (never a shell), in its own process group, with PR_SET_PDEATHSIG(SIGKILL) so
// it never outlives its worker, a clean environment (--env pairs plus PATH and
// DYNMGR_ID/DYNMGR_NAME), --cwd, stdin/stdout/stderr pipes (stderr forwarded),
// and no other descriptor. Boost.Process 1.81 v2 would leak every descriptor
// numbered between 2 and its internal error pipe (close_handles.ipp compares a
// whitelist entry with itself), so CloseOtherFds closes them first; v1 was not
// used because it replaces the process's SIGCHLD disposition.
//
// Spec options (ChildSpec::options, from `dynmgrctl put --exec/--env/--cwd`):
//   "exec": [argv...], "env": {K: V}, "cwd": "dir",
//   "response_timeout": ms for call/cast/terminate answers (default 30000);
//   "ready_timeout": ms the command has to print {"ready":true} before a live,
//   silent command is taken as ready (default 500; 0 = at once);
//   a perform must answer within lull * timeout (30000 when timeout is 0).

#include "dynmgr/manager.hpp"

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace dynmgr {

class ExecManager : public Manager {
 public:
  struct Config {
    std::vector<std::string> default_command;  // used when a spec has no "exec"
    std::string children_file;                 // JSON: id -> spec (+ exec/env/cwd)
  };

  explicit ExecManager(Config config);
  ~ExecManager() override;

  // ---- supervisor side
  std::map<std::string, ChildSpec> children_specs() override;
  // `reload [FILE]`: FILE, or "" for the --children file; each spec checked
  // as put checks it. Errors: kInvalid (unreadable file, bad JSON or spec, no
  // file at all), naming the file.
  Result<std::map<std::string, ChildSpec>> reload_children(const std::string& file) override;
  Status check_spec(const std::string& id, ChildSpec& spec) override;

  // ---- worker side
  json::value init(const std::string& id, const json::value& payload) override;
  Response perform(const std::string& id, const json::value& payload) override;
  Response call(const json::value& message, const WorkerState& state) override;
  Response cast(const json::value& message, const WorkerState& state) override;
  void terminate(std::string_view reason, const WorkerState& state) override;
  void idle(const WorkerState& state) override;
  // Never on a timer: a command that exits wakes the worker (SIGCHLD), and so
  // does a line it writes unasked (its stdout is watched with wake_on_input).
  Millis idle_interval() const override { return kOnEventsOnly; }

  // Parses a children file's content into specs (exec/env/cwd go to options).
  static Result<std::map<std::string, ChildSpec>> parse_children(const std::string& text);
  // Reads and parses a children file. Errors: kInvalid, "unable to read
  // <label><path>: <why>" or parse_children's.
  static Result<std::map<std::string, ChildSpec>> read_children_file(
      const std::string& path, std::string_view label = "children file ");

 private:
  struct Command;
  Config config_;
  std::unique_ptr<Command> cmd_;  // worker side: the running command
};

}  // namespace dynmgr
