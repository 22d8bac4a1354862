#include "shared/control_sender.hpp"

#include <thread>

namespace dynmgr {

ControlSender::ControlSender(const Names& names, GenerationSource generation)
    : names_(names), source_(std::move(generation)) {}

Status ControlSender::open() {
  const std::uint64_t gen = source_();
  if (!queue_ || queue_->dead() || gen != generation_) {
    auto q = Queue::open(names_.control(gen));
    // The old handle (if any) is kept but not used: the next attempt
    // reopens, since its generation or health still differs.
    if (!q) return q.error();
    queue_.emplace(std::move(*q));
    generation_ = gen;
  }
  return {};
}

Status ControlSender::attempt(const Frame& frame, Deadline deadline, Failed& failed) {
  if (auto st = open(); !st) {
    failed = Failed::kOpen;
    return st;
  }
  Status st = queue_->send(frame, deadline);
  if (!st) failed = Failed::kSend;
  return st;
}

Status ControlSender::try_send(const Frame& frame, Deadline deadline) {
  Failed failed = Failed::kNone;
  return attempt(frame, deadline, failed);
}

Status ControlSender::send(const Frame& frame, Deadline deadline, Millis poll,
                           const KeepTrying& keep_trying) {
  for (;;) {
    Failed failed = Failed::kNone;
    Status st = attempt(frame, deadline, failed);
    if (st) return st;
    const Errc code = st.error().code;
    // Full until the deadline, or too large: waiting for a new queue cannot help.
    if (failed == Failed::kSend && code != Errc::kDeadQueue) return st;
    if (keep_trying) {
      if (Status alive = keep_trying(); !alive) return alive;
    }
    if (code != Errc::kDeadQueue && code != Errc::kNotFound) return st;
    if (deadline.expired()) return make_error(Errc::kTimeout, "the control queue stayed unusable");
    // The supervisor publishes a new generation within one receive slice of
    // noticing the dead queue; poll for it. (A sender may have no queue of its
    // own to wait on — a cast has no reply queue — so this is a plain sleep.)
    std::this_thread::sleep_for(deadline.remaining(poll));
  }
}

}  // namespace dynmgr
