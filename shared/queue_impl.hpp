#pragma once
// The inside of a Queue (shared/queue.hpp): the bell beside each queue and
// the handle's state. Only shared/queue.cpp and the queue tests include it.

#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shared/queue.hpp"

namespace dynmgr {

namespace bip = boost::interprocess;

// Why a bell: Boost 1.81 waits for "not empty"/"not full" on a condition
// variable. If another process dies holding the queue mutex while we sleep in
// that wait, pthread_cond_timedwait re-takes the mutex with EOWNERDEAD, which
// Boost ignores (BOOST_ASSERT in debug builds); it loops, the mutex becomes
// not-recoverable, every later wait returns at once with an error that Boost
// again takes for a wake-up, and the caller spins at 100% CPU forever, past any
// deadline, with our SignalGuard blocking SIGTERM. So we never wait inside
// Boost: we only use try_send/try_receive (a plain lock, which throws on
// EOWNERDEAD) and sleep on two process-shared semaphores in a companion object,
// "<queue>.bell". A semaphore has no owner, so a process killed anywhere near
// it cannot wedge anyone; a lost post costs at most one kSlice of latency.
struct Bell {
  sem_t readable;                    // posted after every send
  sem_t writable;                    // posted after every receive
  std::atomic<std::uint32_t> magic;  // kBellMagic once both are initialized
  // Message pages on demand (Queue::Pages::kOnDemand; README "What an id
  // costs"). A bell made before these fields existed is shorter: its queue
  // keeps its pages (Impl::on_demand is false).
  std::atomic<std::uint32_t> on_demand;  // kOnDemandMagic: senders commit before sending
  std::atomic<std::uint32_t> committed;  // 1 while every page of the segment is allocated
  // Held by a sender from its commit through its send, and by the receiver
  // while it releases: a release never runs under a send in flight. Robust:
  // a holder killed anywhere costs the next one a pthread_mutex_consistent.
  pthread_mutex_t pages_lock;
};
constexpr std::uint32_t kBellMagic = 0x4c4c4542;      // "BELL"
constexpr std::uint32_t kOnDemandMagic = 0x444e4d44;  // "DMND"
// How long a bell made before the on-demand fields is (still opened).
constexpr std::size_t kPlainBellSize = offsetof(Bell, on_demand);

struct Queue::Impl {
  std::unique_ptr<bip::message_queue> mq;
  Bell* bell = nullptr;  // our mapping of <name>.bell
  // Pages on demand: the bell says so, and this descriptor of the segment
  // (the object this handle mapped) commits and releases them.
  bool on_demand = false;
  int fd = -1;
  ~Impl() {
    if (bell != nullptr) ::munmap(bell, sizeof(Bell));
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace dynmgr
