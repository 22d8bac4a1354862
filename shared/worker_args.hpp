#pragma once
// The worker role's command line, shared by the supervisor (which builds it) and
// the worker runtime (which parses it):
//   <exe> --dynmgr-worker INSTANCE SLOT INCARNATION SUPERVISOR_PID CONTAINMENT
// CONTAINMENT (README "Containment"): `none`, `subreaper`, or `cgroup:DIR` with
// DIR the instance's cgroup directory, in which the worker makes its leaf.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dynmgr {

inline constexpr const char* kWorkerRoleFlag = "--dynmgr-worker";
// The worker template's role (README "Worker start"):
//   <exe> --dynmgr-template INSTANCE SUPERVISOR_PID PADDING
// with its request socket on descriptor 3. PADDING only reserves room in the
// argument area, where each worker it forks writes its own command line.
inline constexpr const char* kTemplateRoleFlag = "--dynmgr-template";
inline constexpr int kTemplateSocketFd = 3;
// What `ps` shows of the template's spare, forked ahead of a restart and
// waiting to become a worker: <exe> --dynmgr-spare INSTANCE SUPERVISOR_PID.
// Never a role an exec starts (the template writes it over its own).
inline constexpr const char* kSpareShownFlag = "--dynmgr-spare";
// In the template's environment only: room in its environment area, where
// each worker it forks writes its own environment (not passed on).
inline constexpr const char* kTemplateRoomEnv = "DYNMGR_TEMPLATE_ROOM";
// Set in an activated passive worker's environment: ms until its first
// perform (its schedule from before it passivated), instead of one timeout
// (or none, instant_perform) after init. README "Passivation".
inline constexpr const char* kFirstPerformEnv = "DYNMGR_FIRST_PERFORM_MS";

struct WorkerArgs {
  std::string instance;
  std::uint32_t slot = 0;
  std::uint64_t incarnation = 0;
  pid_t supervisor_pid = 0;
  std::string containment = "none";
};

std::vector<std::string> worker_argv(const std::string& exe, const WorkerArgs& args);
// nullopt when argv does not select the worker role (or is malformed).
std::optional<WorkerArgs> parse_worker_args(int argc, char** argv);

}  // namespace dynmgr
