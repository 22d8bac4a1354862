#include "shared/queue.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>

#include "shared/queue_impl.hpp"
#include "shared/signal_guard.hpp"

namespace bip = boost::interprocess;

namespace dynmgr {

namespace {

std::string bell_name(const std::string& queue) { return queue + ".bell"; }

}  // namespace

namespace {

// Boost's managed_open_or_create_impl keeps its state word at offset 0 of the
// segment: 0 uninitialized, 1 initializing, 2 initialized, 3 corrupted.
constexpr std::uint32_t kBoostInitializedSegment = 2;

// Checks that a queue segment is complete before Boost's open_only sees it;
// its size then.
Result<std::uint64_t> precheck_segment(const std::string& name) {
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
  return static_cast<std::uint64_t>(st.st_size);
}

Result<Bell*> create_bell(const std::string& queue, bool on_demand) {
  const std::string name = bell_name(queue);
  ::shm_unlink(name.c_str());
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("unable to create queue bell " + name, errno);
  ::fchmod(fd, 0600);  // explicit, whatever the umask (as Boost does for the queue)
  void* p = MAP_FAILED;
  // Allocated before the first store: a store into a page a full /dev/shm
  // cannot give is a SIGBUS, an allocation that fails is this error.
  if (::ftruncate(fd, sizeof(Bell)) == 0 && ::fallocate(fd, 0, 0, sizeof(Bell)) == 0) {
    // MAP_POPULATE: its one page is written at once; one call, not a fault.
    p = ::mmap(nullptr, sizeof(Bell), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  }
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    ::shm_unlink(name.c_str());
    return errno_error("unable to map queue bell " + name, err);
  }
  auto* bell = new (p) Bell{};
  ::sem_init(&bell->readable, /*pshared=*/1, 0);
  ::sem_init(&bell->writable, /*pshared=*/1, 0);
  if (on_demand) {
    pthread_mutexattr_t a;
    ::pthread_mutexattr_init(&a);
    ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutex_init(&bell->pages_lock, &a);
    ::pthread_mutexattr_destroy(&a);
    bell->committed.store(1, std::memory_order_relaxed);  // Boost allocates it whole
    bell->on_demand.store(kOnDemandMagic, std::memory_order_relaxed);
  }
  // Before any queue exists under the name: every sender that can open it
  // sees the on-demand fields.
  bell->magic.store(kBellMagic, std::memory_order_release);
  return bell;
}

Result<Bell*> open_bell(const std::string& queue, bool* on_demand = nullptr) {
  const std::string name = bell_name(queue);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(Errc::kDeadQueue, "queue " + queue + " has no bell: " + std::strerror(errno));
  }
  struct stat st{};
  void* p = MAP_FAILED;
  // A bell shorter than today's (kPlainBellSize: made before pages on
  // demand) is mapped whole all the same: Bell fits in its one page.
  if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= kPlainBellSize) {
    // MAP_POPULATE: the magic word is read at once (the size was checked: no SIGBUS).
    p = ::mmap(nullptr, sizeof(Bell), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  }
  ::close(fd);
  if (p == MAP_FAILED) return make_error(Errc::kDeadQueue, "queue bell " + name + " is stale");
  auto* bell = static_cast<Bell*>(p);
  if (bell->magic.load(std::memory_order_acquire) != kBellMagic) {
    ::munmap(p, sizeof(Bell));
    return make_error(Errc::kDeadQueue, "queue bell " + name + " was never fully initialized");
  }
  if (on_demand != nullptr) {
    *on_demand = static_cast<std::size_t>(st.st_size) >= sizeof(Bell) &&
                 bell->on_demand.load(std::memory_order_acquire) == kOnDemandMagic;
  }
  return bell;
}

// The pages lock of an on-demand bell: taken with a deadline (a lock word
// overwritten with garbage must not hold anyone forever), taken over from a
// holder that died (robust), never held across a wait for room.
class PagesLock {
 public:
  PagesLock(Bell* bell, bool wait, const Deadline& deadline) : bell_(bell) {
    int rc = 0;
    if (wait) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
          deadline.remaining(Millis(24L * 3600 * 1000)));
      timespec at{};
      ::clock_gettime(CLOCK_MONOTONIC, &at);
      const auto ns = static_cast<long long>(at.tv_nsec) + std::max<long long>(left.count(), 0);
      at.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
      at.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      rc = ::pthread_mutex_clocklock(&bell->pages_lock, CLOCK_MONOTONIC, &at);
    } else {
      rc = ::pthread_mutex_trylock(&bell->pages_lock);
    }
    if (rc == EOWNERDEAD) {
      // What the dead holder left is safe to go on from: a commit's flag is
      // set only after its fallocate, a release's cleared before its punch.
      ::pthread_mutex_consistent(&bell->pages_lock);
      rc = 0;
    }
    held_ = rc == 0;
    error_ = rc;
  }
  ~PagesLock() {
    if (held_) ::pthread_mutex_unlock(&bell_->pages_lock);
  }
  PagesLock(const PagesLock&) = delete;
  PagesLock& operator=(const PagesLock&) = delete;
  bool held() const noexcept { return held_; }
  int error() const noexcept { return error_; }

 private:
  Bell* bell_;
  bool held_ = false;
  int error_ = 0;
};

// Forgets wake-ups already accounted for. Called before looking at the queue,
// so a post that lands after it is still there for the wait that follows.
// At most kDrainLimit: a semaphore overwritten with a huge count (a stray
// write) must not keep the caller here for billions of rounds; the wake-ups
// left over cost a few extra looks at the queue.
constexpr int kDrainLimit = 1 << 16;
void drain(sem_t* sem) noexcept {
  for (int i = 0; i < kDrainLimit && ::sem_trywait(sem) == 0; ++i) {
  }
}

// Sleeps until sem is posted or the current slice of the deadline ends, on the
// monotonic clock (a wall-clock jump can neither stretch nor cut it).
void wait_bell(sem_t* sem, const Deadline& d, Millis max_slice = Queue::kSlice) noexcept {
  const auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(d.remaining(max_slice));
  if (slice.count() <= 0) return;
  timespec at{};
  ::clock_gettime(CLOCK_MONOTONIC, &at);
  const auto ns = static_cast<long long>(at.tv_nsec) + slice.count();
  at.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
  at.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  // A signal ends the wait early (EINTR): the caller looks at the queue (and
  // at its interrupt flag) and waits again if there is nothing to do.
  (void)::sem_clockwait(sem, CLOCK_MONOTONIC, &at);
}

}  // namespace

Queue::Queue(std::unique_ptr<Impl> impl, std::string name, std::uint32_t max_msg_size,
             std::uint64_t segment_bytes)
    : impl_(std::move(impl)),
      name_(std::move(name)),
      max_msg_size_(max_msg_size),
      segment_bytes_(segment_bytes) {
  // The receive buffer is made by the first receive: most handles only send
  // (a worker's reply queues, a client's mailboxes), and a fresh process
  // would fault in max_msg_size zeroed bytes for nothing.
  depth_ = impl_->mq->get_max_msg();
  if (segment_bytes_ == 0) {
    struct stat st {};
    if (::stat(("/dev/shm/" + name_).c_str(), &st) == 0) {
      segment_bytes_ = static_cast<std::uint64_t>(st.st_size);
    }
  }
}

bool Queue::header_sane() const noexcept {
  if (dead_) return false;
  return impl_->mq->get_max_msg() == depth_ && impl_->mq->get_max_msg_size() == max_msg_size_ &&
         impl_->bell->magic.load(std::memory_order_relaxed) == kBellMagic;
}

Status Queue::check_sane(const char* op) {
  if (dead_) return make_error(Errc::kDeadQueue, "queue " + name_ + " is dead");
  if (header_sane()) return {};
  dead_ = true;
  overwritten_ = true;
  return make_error(Errc::kDeadQueue, "queue " + name_ + " was overwritten (" + op +
                                          " found its header changed)");
}

bool Queue::linked(const std::string& name) noexcept {
  struct stat st {};
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

Status Queue::intact(const std::string& name, std::uint64_t queue_bytes) {
  struct stat st {};
  const std::string path = "/dev/shm/" + name;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, "queue " + name + " was removed");
    return errno_error("unable to stat queue " + name, errno);
  }
  if (static_cast<std::uint64_t>(st.st_size) < queue_bytes) {
    return make_error(Errc::kDeadQueue, "queue " + name + " was truncated to " +
                                            std::to_string(st.st_size) + " bytes (of " +
                                            std::to_string(queue_bytes) + ")");
  }
  const std::string bell = bell_name(name);
  if (::stat(("/dev/shm/" + bell).c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, "queue bell " + bell + " was removed");
    return errno_error("unable to stat queue bell " + bell, errno);
  }
  if (static_cast<std::size_t>(st.st_size) < sizeof(Bell)) {
    return make_error(Errc::kDeadQueue, "queue bell " + bell + " was truncated to " +
                                            std::to_string(st.st_size) + " bytes");
  }
  return {};
}
Queue::Queue(Queue&&) noexcept = default;
Queue& Queue::operator=(Queue&&) noexcept = default;
Queue::~Queue() = default;

Result<Queue> Queue::create(const std::string& name, std::uint32_t depth,
                            std::uint32_t max_msg_size, Pages pages) {
  SignalGuard guard;
  bip::message_queue::remove(name.c_str());
  auto impl = std::make_unique<Impl>();
  // The bell first: a queue that can be opened always has one.
  auto bell = create_bell(name, pages == Pages::kOnDemand);
  if (!bell) return bell.error();
  impl->bell = *bell;
  try {
    bip::permissions perm;
    perm.set_permissions(0600);
    impl->mq = std::make_unique<bip::message_queue>(bip::create_only, name.c_str(), depth,
                                                    max_msg_size, perm);
  } catch (const std::exception& e) {
    bip::message_queue::remove(name.c_str());
    ::shm_unlink(bell_name(name).c_str());
    return make_error(Errc::kSystem, "unable to create queue " + name + ": " + e.what());
  }
  if (pages == Pages::kOnDemand) {
    impl->fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
    impl->on_demand = impl->fd >= 0;
  }
  Queue q(std::move(impl), name, max_msg_size, /*segment_bytes=*/0);
  // Boost allocated the whole segment (posix_fallocate): the message pages
  // go back to /dev/shm until a sender needs them.
  if (pages == Pages::kOnDemand) (void)q.release_pages();
  return q;
}

Result<Queue> Queue::open(const std::string& name) {
  // Its size is what it was when checked: a segment shrunk after this is
  // found by intact(), which compares against the size the queue was made with.
  auto segment_bytes = precheck_segment(name);
  if (!segment_bytes) return segment_bytes.error();
  SignalGuard guard;
  auto impl = std::make_unique<Impl>();
  auto bell = open_bell(name, &impl->on_demand);
  if (!bell) return bell.error();
  impl->bell = *bell;
  if (impl->on_demand) {
    // Names are never reused (generations): this is the object Boost maps below.
    impl->fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (impl->fd < 0) return errno_error("unable to open queue " + name, errno);
  }
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
  return Queue(std::move(impl), name, size, *segment_bytes);
}

void Queue::remove(const std::string& name) noexcept {
  try {
    bip::message_queue::remove(name.c_str());
  } catch (...) {
  }
  ::shm_unlink(bell_name(name).c_str());
}

Status Queue::give_to(const std::string& name, unsigned uid, unsigned gid) {
  for (const std::string& object : {name, bell_name(name)}) {
    // Through a descriptor, not /dev/shm/<name>: the object opened is the one
    // chowned, and a symlink planted under the name is not followed.
    const int fd = ::shm_open(object.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
      return errno_error("unable to open " + object + " to give it to uid " + std::to_string(uid),
                         errno);
    const int rc = ::fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid));
    const int err = errno;
    ::close(fd);
    if (rc != 0) {
      return errno_error("unable to give " + object + " to uid " + std::to_string(uid) + " gid " +
                             std::to_string(gid),
                         err);
    }
  }
  return {};
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
    // Before every lock: the queue's mutex lives in memory every peer can
    // write, and a lock over garbage would wait forever.
    if (auto st = check_sane("send"); !st) return st;
    drain(&impl_->bell->writable);
    {
      SignalGuard guard;
      std::optional<PagesLock> pages;
      if (impl_->on_demand) {
        pages.emplace(impl_->bell, /*wait=*/true, deadline);
        if (!pages->held()) {
          if (pages->error() == ETIMEDOUT) {
            return make_error(Errc::kTimeout, "queue " + name_ + "'s page lock stayed held");
          }
          dead_ = true;
          return make_error(Errc::kDeadQueue, "queue " + name_ + "'s page lock is unusable: " +
                                                  std::strerror(pages->error()));
        }
        if (auto st = commit_pages(); !st) return st;
      }
      try {
        if (impl_->mq->try_send(encoded_.data(), encoded_.size(), priority)) {
          ::sem_post(&impl_->bell->readable);
          return {};
        }
      } catch (const std::exception& e) {
        return mark_dead("send", e);
      }
    }
    if (deadline.expired()) {
      return make_error(Errc::kTimeout, "queue " + name_ + " stayed full");
    }
    wait_bell(&impl_->bell->writable, deadline);
  }
}

Result<Frame> Queue::receive(Deadline deadline, Millis slice,
                             const volatile std::sig_atomic_t* interrupted) {
  for (;;) {
    auto got = try_receive();
    if (!got) return got.error();
    if (*got) return std::move(**got);
    if (deadline.expired()) return make_error(Errc::kTimeout, "nothing received");
    if (interrupted != nullptr && *interrupted != 0) {
      return make_error(Errc::kTimeout, "interrupted by a signal");
    }
    wait_bell(&impl_->bell->readable, deadline, slice);
  }
}

sem_t* Queue::receive_wakeup() const noexcept { return &impl_->bell->readable; }

void Queue::ring(const std::string& name) noexcept {
  auto bell = open_bell(name);
  if (!bell) return;
  ::sem_post(&(*bell)->readable);
  ::sem_post(&(*bell)->writable);
  ::munmap(*bell, sizeof(Bell));
}

Result<std::optional<Frame>> Queue::try_receive() {
  for (;;) {
    if (auto st = check_sane("receive"); !st) return st.error();
    drain(&impl_->bell->readable);
    if (buffer_.size() != max_msg_size_) buffer_.resize(max_msg_size_);
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
    ::sem_post(&impl_->bell->writable);
    auto frame = decode_frame(std::string_view(buffer_.data(), received));
    if (frame) return std::optional<Frame>(std::move(*frame));
    ++dropped_;  // torn or foreign: counted, never parsed
  }
}

// Under the pages lock. A store into a page of /dev/shm that cannot be
// allocated is a SIGBUS; an fallocate that cannot is this error.
Status Queue::commit_pages() {
  if (impl_->bell->committed.load(std::memory_order_acquire) != 0) return {};
  if (::fallocate(impl_->fd, 0, 0, static_cast<off_t>(segment_bytes_)) != 0) {
    return errno_error("no room in /dev/shm for the messages of queue " + name_, errno);
  }
  impl_->bell->committed.store(1, std::memory_order_release);
  return {};
}

Status Queue::release_pages() {
  if (!impl_->on_demand || dead_) return {};
  if (impl_->bell->committed.load(std::memory_order_acquire) == 0) return {};
  if (auto st = check_sane("release"); !st) return st;
  SignalGuard guard;
  PagesLock lock(impl_->bell, /*wait=*/false, Deadline::now());
  if (!lock.held()) return {};  // a send in flight: its message comes first
  try {
    if (impl_->mq->get_num_msg() != 0) return {};
  } catch (const std::exception& e) {
    return mark_dead("release", e);
  }
  // The messages are the segment's last depth x max_msg_size bytes at most
  // (each has a header of its own too): the whole pages among them.
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t body = std::min(depth_ * max_msg_size_, segment_bytes_);
  const std::uint64_t from = (segment_bytes_ - body + page - 1) / page * page;
  // Cleared first: a release cut short leaves senders to commit again.
  impl_->bell->committed.store(0, std::memory_order_release);
  if (from < segment_bytes_ &&
      ::fallocate(impl_->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                  static_cast<off_t>(segment_bytes_ - from)) != 0) {
    return errno_error("unable to release the message pages of queue " + name_, errno);
  }
  return {};
}

bool Queue::pages_on_demand() const noexcept { return impl_->on_demand; }

std::size_t Queue::pending() const {
  if (!header_sane()) return 0;
  try {
    return impl_->mq->get_num_msg();
  } catch (...) {
    return 0;
  }
}

}  // namespace dynmgr

namespace dynmgr {
bool Queue::probe() {
  if (!check_sane("probe")) return false;
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
