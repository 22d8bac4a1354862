#include "shared/mailbox_wait.hpp"

#include <thread>

namespace dynmgr {

Result<std::optional<SlotRecord>> await_mailbox_replaced(
    const RegistryReader& reader, std::uint32_t slot, std::uint64_t incarnation,
    std::uint64_t generation, Deadline deadline, Millis poll,
    const std::function<Status()>& keep_trying) {
  for (;;) {
    auto now = reader.read(slot);
    if (now) {
      if (now->incarnation != incarnation || now->mailbox_generation != generation) {
        return std::optional<SlotRecord>(std::move(*now));
      }
    } else if (now.error().code != Errc::kTorn) {
      return std::optional<SlotRecord>();  // free (kNotFound) or out of range
    }
    if (deadline.expired()) return make_error(Errc::kTimeout, "the mailbox stayed dead");
    if (keep_trying) {
      if (Status alive = keep_trying(); !alive) return alive.error();
    }
    std::this_thread::sleep_for(deadline.remaining(poll));
  }
}

}  // namespace dynmgr
