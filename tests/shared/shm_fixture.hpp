#pragma once
// Common ground for the shared-layer tests:
//  * ShmTest: a fixture with a unique instance name whose /dev/shm objects are
//    removed in TearDown (even when the test failed), and which SIGKILLs and
//    reaps every helper process it started that is still running.
//  * SharedBlock<T>: a T in an anonymous MAP_SHARED mapping, created before a
//    fork, so parent and children share counters and flags (atomics only).
//  * Helpers to report what a forked child saw (its exit code is the verdict).

#include "shared/error.hpp"
#include "shared/names.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace dynmgr::testing {

// A T living in shared anonymous memory: visible to the parent and every child
// forked after construction. T must be usable across processes (atomics, PODs).
template <class T>
class SharedBlock {
 public:
  SharedBlock() {
    void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ptr_ = new (p) T{};
  }
  ~SharedBlock() {
    ptr_->~T();
    ::munmap(ptr_, sizeof(T));
  }
  SharedBlock(const SharedBlock&) = delete;
  SharedBlock& operator=(const SharedBlock&) = delete;
  T* operator->() const noexcept { return ptr_; }
  T& operator*() const noexcept { return *ptr_; }

 private:
  T* ptr_ = nullptr;
};

// A short message a child leaves for the parent (the first failure wins).
struct ChildNote {
  std::atomic<int> set{0};
  char text[512] = {};

  void write(const std::string& s) noexcept {
    int expected = 0;
    if (!set.compare_exchange_strong(expected, 1)) return;
    const std::size_t n = std::min(s.size(), sizeof text - 1);
    std::memcpy(text, s.data(), n);
    text[n] = '\0';
    set.store(2, std::memory_order_release);
  }
  std::string read() const {
    return set.load(std::memory_order_acquire) == 2 ? std::string(text) : std::string();
  }
};

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

inline bool exited_with(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

// True once pid has exited (it is left unreaped: the caller still collects its status).
inline bool exited_already(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

inline std::string errc_of(const Error& e) {
  return std::string(errc_name(e.code)) + ": " + e.message;
}

// A fixture owning one unique instance name and the helper processes it forks.
class ShmTest : public ::testing::Test {
 protected:
  ShmTest() : names_(unique_instance("ts")) {}

  void TearDown() override {
    for (pid_t pid : children_) {
      if (::waitpid(pid, nullptr, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
    children_.clear();
    remove_shm_objects(names_);
  }

  // Forks a helper that runs fn and _exits with its result; TearDown kills it
  // if it is still running.
  pid_t spawn(const std::function<int()>& fn) {
    const pid_t pid = fork_child(fn);
    if (pid > 0) children_.push_back(pid);
    return pid;
  }

  // SIGKILLs pid and reaps it; returns the wait status.
  static int kill_and_reap(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  // A seeded generator whose seed is printed with any failure of the test.
  std::mt19937_64 seeded_rng() {
    const std::uint64_t seed = std::random_device{}();
    ::testing::Test::RecordProperty("seed", std::to_string(seed));
    seed_ = seed;
    return std::mt19937_64(seed);
  }
  std::string seed_note() const { return "random seed " + std::to_string(seed_); }

  Names names_;
  std::vector<pid_t> children_;
  std::uint64_t seed_ = 0;
};

}  // namespace dynmgr::testing
