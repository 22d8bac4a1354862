#pragma once
// What a worker's life-cycle transition means to an operator: the events
// `dynmgrctl watch` shows and the entry it adds to the exit history. Pure,
// like the machine it reads (supervisor/worker_lifecycle.hpp): the loop calls
// it with the state before an applied transition, the event, and the
// transition, then publishes what it returns.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/event_ring.hpp"
#include "supervisor/worker_lifecycle.hpp"

namespace dynmgr::fleet_events {

// The events, in order (time and seq are the ring's to stamp). pid: the
// worker's process (for kExited, the one that ended).
std::vector<FleetEvent> observe(const std::string& id, pid_t pid,
                                const lifecycle::WorkerState& before, const lifecycle::Event& ev,
                                const lifecycle::Transition& t);

// The exit-history entry an exit (kExited, kSpawnFailed) makes, with whether
// and after what delay the restart policy starts the worker again; nullopt for
// other events, and when the transition removes the worker (its history goes
// with it).
std::optional<ExitRecord> exit_record(const lifecycle::Event& ev, const lifecycle::Transition& t,
                                      std::uint64_t now_wall_ms);

// Why a worker leaves the registry: "del", "shutdown", "restart", "halt" or
// "replace" ("exited" if none applies, which the machine never does today: a
// worker its policy does not restart stays, with status exited).
std::string removal_cause(const lifecycle::WorkerState& before, const lifecycle::Transition& t);

}  // namespace dynmgr::fleet_events
