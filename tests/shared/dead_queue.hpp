#pragma once
// Makes a real queue dead the way a crash does (DESIGN §5): a helper process
// locks the queue's robust mutex and exits holding it, so Boost throws on
// every later operation and dynmgr reports kDeadQueue.

#include "shm_fixture.hpp"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <chrono>
#include <string>

namespace dynmgr::testing {

// Forks a child (via `fixture_spawn`, so the fixture reaps it) that takes the
// mutex of queue `name` and _exits holding it; returns once it has exited.
// False if the child failed.
template <class Spawn>
bool kill_queue_mutex(const std::string& name, Spawn&& fixture_spawn) {
  namespace bip = boost::interprocess;
  using MqHeader = bip::ipcdetail::mq_hdr_t<bip::offset_ptr<void>>;
  using MqSegment =
      bip::ipcdetail::managed_open_or_create_impl<bip::shared_memory_object, 0, true, false>;
  const pid_t pid = fixture_spawn([&]() -> int {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    bip::mapped_region region(shm, bip::read_write);
    auto* hdr = reinterpret_cast<MqHeader*>(static_cast<char*>(region.get_address()) +
                                            MqSegment::ManagedOpenOrCreateUserOffset);
    hdr->m_mutex.lock();
    ::_exit(0);
  });
  return pid > 0 && exited_with(wait_child(pid), 0);
}

}  // namespace dynmgr::testing
