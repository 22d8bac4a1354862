#pragma once
// ProbeTest: a fixture that runs the scriptable `probe` manager (tests/apps/
// probe_manager.cpp) as a real supervisor process and drives it with
// dynmgr::Client.
//
//  * start() fork+execs `probe -n <unique instance> <flags>` in its own process
//    group, with stdout/stderr in a per-test directory and every PROBE_*_LOG
//    pointing into that directory, then waits (with a deadline) for `up`.
//  * The test process is made a child subreaper, so workers orphaned by a
//    supervisor killed with SIGKILL are re-parented to it and can be reaped:
//    "gone" then really means gone (kill(pid, 0) fails), never "a zombie".
//  * TearDown stops whatever is still running (SIGTERM, then SIGKILL to the
//    supervisor's group and to every worker group it saw), reaps, removes the
//    instance's /dev/shm objects and the directory, and prints the supervisor's
//    output when the test failed.
//
// Nothing here sleeps to synchronise: every wait is wait_until with a deadline.

#include "dynmgr/client.hpp"
#include "shared/json.hpp"
#include "shared/names.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dynmgr::testing {

using namespace std::chrono_literals;

// Generous: sanitizer builds start processes several times slower.
inline constexpr std::chrono::milliseconds kWait{20'000};

// Reaps every adopted child that has exited, except `keep` (never blocks).
void reap_adopted(pid_t keep);
// CLOCK_MONOTONIC in ms (the clock probe's init log uses).
std::uint64_t mono_now_ms();

// The lines of a file (empty if it does not exist).
std::vector<std::string> read_lines(const std::string& path);
// Parses a registry JSON text (payload/value); null on error.
json::value parse(const std::string& text);
// A JSON literal written in a test; one that does not parse fails the test.
json::value P(std::string_view text);
// payload[key] as an integer, or -1.
std::int64_t int_field(const std::string& json_text, const char* key);

struct ProbeStart {
  std::vector<std::string> flags;   // extra supervisor flags
  std::string children;             // $PROBE_CHILDREN (JSON object id -> spec), empty: none
  std::vector<std::string> env;     // extra "K=V"
  bool wait_up = true;              // wait for manager state `up` and connect
  std::string binary;               // the supervisor's executable; empty: the probe

  ProbeStart with_flags(std::vector<std::string> f) const {
    ProbeStart s = *this;
    s.flags.insert(s.flags.end(), f.begin(), f.end());
    return s;
  }
  ProbeStart with_children(std::string c) const {
    ProbeStart s = *this;
    s.children = std::move(c);
    return s;
  }
  ProbeStart with_env(std::vector<std::string> e) const {
    ProbeStart s = *this;
    s.env.insert(s.env.end(), e.begin(), e.end());
    return s;
  }
  ProbeStart with_binary(std::string b) const {
    ProbeStart s = *this;
    s.binary = std::move(b);
    return s;
  }
  ProbeStart without_waiting() const {
    ProbeStart s = *this;
    s.wait_up = false;
    return s;
  }
};

class ProbeTest : public ::testing::Test {
 protected:
  ProbeTest();
  void SetUp() override;
  void TearDown() override;

  // Starts the supervisor; on success client() is connected and the state is up.
  ::testing::AssertionResult start(const ProbeStart& s = {});
  Client& client() { return *client_; }
  bool has_client() const { return client_.has_value(); }
  // Drops the client (removes its reply queue).
  void drop_client() { client_.reset(); }
  pid_t supervisor_pid() const { return sup_pid_; }
  // After the supervisor was killed and reaped: starts a successor under the
  // same instance and waits until it has taken over the registry and is up.
  ::testing::AssertionResult take_over(const ProbeStart& s = {});
  // Waits for the supervisor process to exit; returns its wait status, or
  // nullopt if it is still running at the deadline.
  std::optional<int> wait_supervisor_exit(std::chrono::milliseconds timeout = kWait);

  // put with the harness' bookkeeping (remembers the worker's pid for cleanup).
  Result<WorkerInfo> put(const std::string& id, const ChildSpec& spec);
  // get(id) and remember its pid.
  Result<WorkerInfo> get(const std::string& id);
  // Waits until get(id) succeeds and pred(record) holds; the last record seen.
  std::optional<WorkerInfo> wait_record(const std::string& id,
                                        const std::function<bool(const WorkerInfo&)>& pred,
                                        std::chrono::milliseconds timeout = kWait);
  // Waits until id is not in the registry.
  bool wait_absent(const std::string& id, std::chrono::milliseconds timeout = kWait);

  std::string log_path(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  std::vector<std::string> log(const std::string& name) const { return read_lines(log_path(name)); }
  // Lines of a log starting with prefix.
  std::vector<std::string> log_lines(const std::string& name, const std::string& prefix) const;
  bool wait_log_line(const std::string& name, const std::string& line,
                     std::chrono::milliseconds timeout = kWait) const;
  std::string supervisor_output() const;

  // True once pid no longer exists (reaping it first if it is an adopted zombie).
  bool process_gone(pid_t pid);
  // True once no process is left in process group pgid.
  bool group_gone(pid_t pgid);

  // Remembers a process (pid + start time, read now when 0) whose process group
  // TearDown SIGKILLs if that very process is still alive (never a reused pid).
  void track(pid_t pid, std::uint64_t start_time = 0);

  std::string instance_;
  Names names_;
  std::string dir_;

 private:
  pid_t sup_pid_ = -1;
  bool sup_reaped_ = false;
  std::optional<Client> client_;
  struct Tracked {
    pid_t pid;
    std::uint64_t start_time;
  };
  std::vector<Tracked> tracked_;
};

// Spec helpers.
ChildSpec spec(json::value payload, std::uint32_t timeout_ms = 0);

}  // namespace dynmgr::testing
