#pragma once
// DynmgrdTest: a fixture that runs the stock `dynmgrd` (exec manager) as a real
// daemon under a unique instance name and drives it the way an operator does,
// through the real `dynmgrctl`; registry polling goes through dynmgr::Client
// (a shared-memory read, no process per poll).
//
//  * The test process is a child subreaper: the daemon (`--daemon` forks and its
//    parent exits), and any command orphaned by a killed worker, are re-parented
//    to it, so "dead" is checked for real and zombies are reaped here.
//  * TearDown prints the daemon log when the test failed, stops the daemon
//    (`dynmgrctl stop`, SIGKILL as a last resort), SIGKILLs every tracked worker
//    and command (and their process groups) still alive, reaps, removes the
//    instance's /dev/shm objects and the per-test directory.
//
// Nothing sleeps to synchronise: every wait is wait_until with a deadline.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dynmgr/client.hpp"
#include "shared/json.hpp"
#include "shared/names.hpp"
#include "support/test_support.hpp"

namespace dynmgr::testing {

using namespace std::chrono_literals;

// Generous: sanitizer builds and a loaded 2-core machine start processes slowly.
inline constexpr std::chrono::milliseconds kWait{20'000};

// Absolute paths of the test inputs.
std::string source_path(const std::string& relative);  // in the repository
std::string script_path(const std::string& name);      // tests/worker/scripts/NAME
std::string probe_command_path();                      // the exec_probe_command binary

// ---- processes (from /proc)
// Direct children of pid.
std::vector<pid_t> children_of(pid_t pid);
// True when pid does not exist or is a zombie (an adopted zombie is reaped).
bool process_dead(pid_t pid);
// Open descriptors of pid; empty if it cannot be read.
std::vector<int> fds_of(pid_t pid);
// Reaps every adopted child that has exited (never blocks).
void reap_adopted();

// Parses JSON text; null when it is not JSON.
json::value parse(const std::string& text);
// o[key] as a string ("" when absent); o["last_exit"]["reason"] is last_exit_reason.
std::string last_exit_reason(const WorkerInfo& r);

class DynmgrdTest : public ::testing::Test {
 protected:
  DynmgrdTest();
  void SetUp() override;
  void TearDown() override;

  // dynmgrd -n <instance> --daemon --log-file <dir>/dynmgrd.log
  //   --backoff-base 20 --backoff-cap 200 FLAGS... (EXEC appended last, it takes the rest)
  // with `env` added to the test's environment. Success once the daemon is up.
  ::testing::AssertionResult start(std::vector<std::string> flags = {},
                                   std::vector<std::string> env = {});
  // The same start, returning what dynmgrd itself printed and exited with.
  CommandResult start_raw(std::vector<std::string> flags, std::vector<std::string> env = {});

  // dynmgrctl -n <instance> ARGS...
  CommandResult ctl(std::vector<std::string> args) const;
  // The record of id in the registry (nullopt when absent).
  std::optional<WorkerInfo> record(const std::string& id);
  // Waits until id's record satisfies pred; the last record seen (nullopt: never present).
  std::optional<WorkerInfo> wait_record(const std::string& id,
                                        const std::function<bool(const WorkerInfo&)>& pred,
                                        std::chrono::milliseconds timeout = kWait);
  // The payload of id as JSON (null when absent).
  json::value payload(const std::string& id);
  // The running worker of id (tracked), waiting until it has one; 0 on timeout.
  pid_t worker_pid(const std::string& id);
  // The command a worker runs (its only child, tracked), waiting for it; 0 on timeout.
  pid_t command_of(pid_t worker);

  // Remembers a pid to SIGKILL (with its group) in TearDown if still alive.
  void track(pid_t pid);
  std::string log() const;  // the daemon log
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  pid_t supervisor_pid() const { return sup_pid_; }

  std::string instance_;
  Names names_;
  std::string dir_;

 private:
  pid_t sup_pid_ = 0;
  std::optional<Client> client_;
  std::vector<pid_t> tracked_;
};

}  // namespace dynmgr::testing
