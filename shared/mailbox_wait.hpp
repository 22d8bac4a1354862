#pragma once
// Waiting for the supervisor to replace a dead mailbox.
//
// A sender (client) or the receiver (worker) that finds a worker's mailbox dead
// reports it on the control queue (a queue_dead message); the supervisor
// creates a new mailbox under the next generation, publishes it in the slot's
// record and rings the old one. This waits for that record, polling the
// registry on the monotonic clock (there is no queue to wait on: the one we
// had is dead).

#include "shared/clock.hpp"
#include "shared/error.hpp"
#include "shared/registry.hpp"

#include <cstdint>
#include <functional>
#include <optional>

namespace dynmgr {

// Polls slot `slot` every `poll` until its record no longer shows mailbox
// generation `generation` of incarnation `incarnation`:
//  * the record, once it shows another mailbox generation or another
//    incarnation (the slot was reassigned: look the id up again);
//  * nullopt, once the slot is free (the worker was removed);
//  * kTimeout ("the mailbox stayed dead") when `deadline` passes first;
//  * the error of `keep_trying` (may be empty), called after each look that
//    found nothing new and the deadline check (a client: kNoSupervisor).
// A read that meets a slot mid-update (kTorn) looks again.
Result<std::optional<SlotRecord>> await_mailbox_replaced(
    const RegistryReader& reader, std::uint32_t slot, std::uint64_t incarnation,
    std::uint64_t generation, Deadline deadline, Millis poll,
    const std::function<Status()>& keep_trying = {});

}  // namespace dynmgr
