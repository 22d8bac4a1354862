#include "shared/bus_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace dynmgr {
namespace {

std::atomic<std::uint64_t> g_faults{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// DANGER: a signal handler. Only async-signal-safe work: mmap is a plain
// system call, the counter a lock-free atomic.
extern "C" void on_bus(int sig, siginfo_t* info, void*) {
  const int saved = errno;
  if (info != nullptr && info->si_code == BUS_ADRERR) {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    void* at = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(info->si_addr) & ~(page - 1));
    if (::mmap(at, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
        MAP_FAILED) {
      g_faults.fetch_add(1, std::memory_order_relaxed);
      errno = saved;
      return;
    }
  }
  // Not ours to absorb: die of it, as without the guard.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  errno = saved;
}

}  // namespace

void install_bus_guard() {
  struct sigaction sa {};
  sa.sa_sigaction = on_bus;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  ::sigaction(SIGBUS, &sa, nullptr);
}

std::uint64_t bus_faults() noexcept { return g_faults.load(std::memory_order_relaxed); }

}  // namespace dynmgr
