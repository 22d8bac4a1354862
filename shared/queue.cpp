#include "shared/queue.hpp"

#include "shared/signal_guard.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>
#include <cerrno>
#include <cstring>

namespace bip = boost::interprocess;

namespace dynmgr {

struct Queue::Impl {
  std::unique_ptr<bip::message_queue> mq;
};

namespace {

// Boost's managed_open_or_create_impl keeps its state word at offset 0 of the
// segment: 0 uninitialized, 1 initializing, 2 initialized, 3 corrupted.
constexpr std::uint32_t kBoostInitializedSegment = 2;

// Checks that a queue segment is complete before Boost's open_only sees it.
Status precheck_segment(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, "no queue " + name);
    return errno_error("unable to open queue " + name, errno);
  }
  struct stat st{};
  std::uint32_t word = 0;
  const bool sized = ::fstat(fd, &st) == 0 && st.st_size > 64;
  const bool read_ok = sized && ::pread(fd, &word, sizeof word, 0) == sizeof word;
  ::close(fd);
  if (!sized) {
    return make_error(Errc::kDeadQueue, "queue " + name + " is stale (size " +
                                            std::to_string(st.st_size) + ")");
  }
  if (!read_ok || word != kBoostInitializedSegment) {
    return make_error(Errc::kDeadQueue, "queue " + name + " was never fully initialized");
  }
  return {};
}

std::chrono::system_clock::time_point slice_end(const Deadline& d) {
  // Boost waits on CLOCK_REALTIME: convert the remaining monotonic time of this
  // slice into a wall-clock point right before waiting.
  return std::chrono::system_clock::now() + d.remaining(Queue::kSlice);
}

}  // namespace

Queue::Queue(std::unique_ptr<Impl> impl, std::string name, std::uint32_t max_msg_size)
    : impl_(std::move(impl)), name_(std::move(name)), max_msg_size_(max_msg_size) {
  buffer_.resize(max_msg_size_);
}
Queue::Queue(Queue&&) noexcept = default;
Queue& Queue::operator=(Queue&&) noexcept = default;
Queue::~Queue() = default;

Result<Queue> Queue::create(const std::string& name, std::uint32_t depth,
                            std::uint32_t max_msg_size) {
  SignalGuard guard;
  bip::message_queue::remove(name.c_str());
  auto impl = std::make_unique<Impl>();
  try {
    bip::permissions perm;
    perm.set_permissions(0600);
    impl->mq = std::make_unique<bip::message_queue>(bip::create_only, name.c_str(), depth,
                                                    max_msg_size, perm);
  } catch (const std::exception& e) {
    bip::message_queue::remove(name.c_str());
    return make_error(Errc::kSystem, "unable to create queue " + name + ": " + e.what());
  }
  return Queue(std::move(impl), name, max_msg_size);
}

Result<Queue> Queue::open(const std::string& name) {
  if (auto st = precheck_segment(name); !st) return st.error();
  SignalGuard guard;
  auto impl = std::make_unique<Impl>();
  try {
    impl->mq = std::make_unique<bip::message_queue>(bip::open_only, name.c_str());
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      return make_error(Errc::kNotFound, "no queue " + name);
    }
    return make_error(Errc::kDeadQueue, "unable to open queue " + name + ": " + e.what());
  } catch (const std::exception& e) {
    return make_error(Errc::kDeadQueue, "unable to open queue " + name + ": " + e.what());
  }
  const auto size = static_cast<std::uint32_t>(impl->mq->get_max_msg_size());
  return Queue(std::move(impl), name, size);
}

void Queue::remove(const std::string& name) noexcept {
  try {
    bip::message_queue::remove(name.c_str());
  } catch (...) {
  }
}

std::uint32_t Queue::max_body_size() const noexcept {
  return max_msg_size_ > kFrameHeaderSize
             ? max_msg_size_ - static_cast<std::uint32_t>(kFrameHeaderSize)
             : 0;
}

Status Queue::mark_dead(const char* op, const std::exception& e) {
  dead_ = true;
  return make_error(Errc::kDeadQueue, std::string("queue ") + name_ + " is dead (" + op +
                                          " threw: " + e.what() + ")");
}

Status Queue::send(const Frame& frame, Deadline deadline, unsigned priority) {
  if (dead_) return make_error(Errc::kDeadQueue, "queue " + name_ + " is dead");
  encode_frame(frame, encoded_);
  if (encoded_.size() > max_msg_size_) {
    return make_error(Errc::kTooLarge, "message of " + std::to_string(frame.body.size()) +
                                           " bytes exceeds the queue limit of " +
                                           std::to_string(max_body_size()) + " bytes");
  }
  for (;;) {
    {
      SignalGuard guard;
      try {
        if (impl_->mq->timed_send(encoded_.data(), encoded_.size(), priority,
                                  slice_end(deadline))) {
          return {};
        }
      } catch (const std::exception& e) {
        return mark_dead("send", e);
      }
    }
    if (deadline.expired()) {
      return make_error(Errc::kTimeout, "queue " + name_ + " stayed full");
    }
  }
}

Result<Frame> Queue::receive(Deadline deadline) {
  for (;;) {
    if (dead_) return make_error(Errc::kDeadQueue, "queue " + name_ + " is dead");
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    bool got = false;
    {
      SignalGuard guard;
      try {
        got = impl_->mq->timed_receive(buffer_.data(), buffer_.size(), received, priority,
                                       slice_end(deadline));
      } catch (const std::exception& e) {
        return mark_dead("receive", e).error();
      }
    }
    if (got) {
      auto frame = decode_frame(std::string_view(buffer_.data(), received));
      if (frame) return frame;
      ++dropped_;  // torn or foreign: counted, never parsed
      continue;
    }
    if (deadline.expired()) return make_error(Errc::kTimeout, "nothing received");
  }
}

Result<std::optional<Frame>> Queue::try_receive() {
  for (;;) {
    if (dead_) return make_error(Errc::kDeadQueue, "queue " + name_ + " is dead");
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    bool got = false;
    {
      SignalGuard guard;
      try {
        got = impl_->mq->try_receive(buffer_.data(), buffer_.size(), received, priority);
      } catch (const std::exception& e) {
        return mark_dead("receive", e).error();
      }
    }
    if (!got) return std::optional<Frame>{};
    auto frame = decode_frame(std::string_view(buffer_.data(), received));
    if (frame) return std::optional<Frame>(std::move(*frame));
    ++dropped_;
  }
}

std::size_t Queue::pending() const {
  if (dead_) return 0;
  try {
    return impl_->mq->get_num_msg();
  } catch (...) {
    return 0;
  }
}

}  // namespace dynmgr

namespace dynmgr {
bool Queue::probe() {
  if (dead_) return false;
  SignalGuard guard;
  try {
    (void)impl_->mq->get_num_msg();
    return true;
  } catch (const std::exception&) {
    dead_ = true;
    return false;
  }
}
}  // namespace dynmgr
