#include "worker/template.hpp"

#include <fcntl.h>
#include <link.h>
#include <linux/sched.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/template_wire.hpp"
#include "shared/worker_args.hpp"

extern char** environ;

// The bounds of the code a worker's start runs, linked together at the front
// of .text (cmake/startup-order.ld); null where the executable was linked
// without that order (a sanitized build, a program of one's own).
extern "C" const char dynmgr_startup_begin[] __attribute__((weak, visibility("hidden")));
extern "C" const char dynmgr_startup_end[] __attribute__((weak, visibility("hidden")));

namespace dynmgr {
namespace {

namespace wire = template_wire;

struct ThreadSelf {
  int* tid_address = nullptr;  // the thread descriptor's tid (glibc's fork sets it too)
  void* robust_head = nullptr;
  std::size_t robust_len = 0;
};

void reply(int sock, const wire::TemplateReply& r) {
  const std::string bytes = wire::encode(r);
  (void)!::send(sock, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

void close_all(const std::vector<int>& fds) {
  for (const int fd : fds) ::close(fd);
}

// The argument area /proc/PID/cmdline shows: [argv[0], end of the last one].
struct ArgArea {
  char* begin = nullptr;
  std::size_t size = 0;
  // From here on the area already reads as a child that cannot end it
  // (no PR_SET_MM) leaves it: filler, then the last byte's NUL (see settle).
  std::size_t settled = 0;
};

// Where the filler before the area's final NUL begins: found once, in the
// template, so each child writes only what differs before it and builds
// nothing the size of the room (16 KiB of blanks built in a child's heap
// were four fresh pages, a fault each).
ArgArea settle(ArgArea a, char filler) {
  a.settled = a.size;
  if (a.begin == nullptr || a.size == 0 || a.begin[a.size - 1] != '\0') return a;
  a.settled = a.size - 1;
  while (a.settled > 0 && a.begin[a.settled - 1] == filler) --a.settled;
  return a;
}

ArgArea arg_area(int argc, char** argv) {
  if (argc <= 0) return {};
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;
  return {argv[0], static_cast<std::size_t>(end - argv[0])};
}

// The environment area /proc/PID/environ shows, read before anything changes
// `environ` (the strings stay where the kernel put them).
ArgArea env_area() {
  if (environ == nullptr || environ[0] == nullptr) return {};
  char** last = environ;
  while (last[1] != nullptr) ++last;
  char* end = *last + std::strlen(*last) + 1;
  return {environ[0], static_cast<std::size_t>(end - environ[0])};
}

// Writes `strings`, NUL-separated, over an area and ends the area the kernel
// shows after them (PR_SET_MM: needs CAP_SYS_RESOURCE, as a root supervisor's
// template has). Without that right the rest is filled: with NULs in the
// argument area (ps shows trailing blanks), with blanks in the environment
// area (one last entry of blanks), rather than thousands of empty entries.
// Only the pages whose bytes change are written: every page written is a
// copy-on-write fault, the dearest thing a fresh worker does on a VM.
// Nothing is written when the strings do not fit.
void write_area(const ArgArea& area, const std::vector<std::string>& strings, int end_option,
                char filler) {
  std::string desired;
  for (const auto& a : strings) {
    desired += a;
    desired += '\0';
  }
  if (area.begin == nullptr || desired.size() > area.size) return;
  const std::size_t used = desired.size();
  const bool ended =
      ::prctl(PR_SET_MM, end_option, reinterpret_cast<unsigned long>(area.begin + used), 0, 0) == 0;
  if (!ended) {
    // Filler up to the area's last byte, a NUL as the kernel laid it out
    // (the last string ends); what is settled already is left alone.
    const std::size_t upto = std::max(used, std::min(area.settled, area.size));
    desired.resize(upto, filler);
    if (upto == area.size) desired.back() = '\0';
  }
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::size_t at = 0;
  while (at < desired.size()) {
    const auto addr = reinterpret_cast<std::uintptr_t>(area.begin + at);
    const std::size_t n = std::min(desired.size() - at, static_cast<std::size_t>(page - addr % page));
    if (std::memcmp(area.begin + at, desired.data() + at, n) != 0) {
      std::memcpy(area.begin + at, desired.data() + at, n);
    }
    at += n;
  }
}

// ps and pgrep show the worker's command line, and /proc/PID/environ its
// environment, as after an exec, when they fit the template's areas (the
// supervisor gives it room in both). `environ` moves to strings of our own
// first: the area it pointed into is overwritten.
void show_as_exec(const ArgArea& args, const ArgArea& env, const std::vector<std::string>& argv) {
  write_area(args, argv, PR_SET_MM_ARG_END, '\0');
  static std::vector<std::string> own;
  static std::vector<char*> pointers;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, kTemplateRoomEnv, std::strlen(kTemplateRoomEnv)) == 0 &&
        (*e)[std::strlen(kTemplateRoomEnv)] == '=') {
      continue;
    }
    own.emplace_back(*e);
  }
  for (auto& s : own) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  environ = pointers.data();
  write_area(env, own, PR_SET_MM_ENV_END, ' ');
}

// In the child, between the fork and the worker's main: what posix_spawn's
// attributes and file actions did for an exec'd worker.
[[noreturn]] void become_worker(int sock, const ThreadSelf& self, const ArgArea& args,
                                const ArgArea& env, wire::SpawnRequest& req,
                                const std::vector<int>& fds, const WorkerRoleMain& worker_main) {
  (void)::syscall(SYS_set_robust_list, self.robust_head, self.robust_len);
  ::close(sock);
  // Out of the way of every `to` first, so no dup2 overwrites a later source.
  int highest_to = 2;
  for (const int to : req.to) highest_to = std::max(highest_to, to);
  std::vector<int> moved;
  for (const int fd : fds) moved.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, highest_to + 1));
  for (std::size_t i = 0; i < moved.size(); ++i) {
    if (moved[i] < 0 || ::dup2(moved[i], req.to[i]) < 0) std::_Exit(127);
  }
  ::close_range(static_cast<unsigned>(highest_to + 1), ~0U, 0);
  if (req.new_session) {
    ::setsid();
  } else {
    ::setpgid(0, 0);  // its own process group: stop/kill reach its children
  }
  for (auto& kv : req.env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    kv[eq] = '\0';
    ::setenv(kv.c_str(), kv.c_str() + eq + 1, 1);
  }
  // The dispositions spawn_process resets (SIGPIPE stays ignored, as the
  // supervisor's is), then an empty mask.
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGXFSZ}) {
    ::signal(s, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  show_as_exec(args, env, req.argv);
  std::vector<char*> argv;
  for (auto& a : req.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::exit(worker_main(static_cast<int>(req.argv.size()), argv.data()));
}

// One request from `sock`, its descriptors in `fds`. nullopt with `eof` at
// the end of the socket; with errno EINVAL for a malformed request (its
// descriptors are in `fds`, to be closed); else the socket failed.
std::optional<wire::SpawnRequest> receive(int sock, std::vector<char>& buf, std::vector<int>& fds,
                                          bool& eof) {
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * wire::kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0) {
      eof = true;
      return std::nullopt;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL) errno = EIO;
      return std::nullopt;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    auto req = wire::decode(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (!req || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || req->to.size() != fds.size()) {
      errno = EINVAL;
      return std::nullopt;
    }
    return req;
  }
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14; older kernels refuse it (EINVAL): no harm
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void populate_read(std::uintptr_t from, std::uintptr_t to) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  from &= ~(page - 1);
  to = (to + page - 1) & ~(page - 1);
  if (from < to) (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_READ);
}

// The executable's read-only data, and its start-up code (all of its code
// where that is not known): their page table entries filled in one call
// each, instead of a fault per 16 pages as the worker first reads each part.
int populate_read_only(dl_phdr_info* info, std::size_t, void*) {
  const bool startup_known = dynmgr_startup_begin != nullptr && dynmgr_startup_end != nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    if ((ph.p_flags & PF_X) != 0 && startup_known) continue;
    populate_read(info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
  if (startup_known) {
    populate_read(reinterpret_cast<std::uintptr_t>(dynmgr_startup_begin),
                  reinterpret_cast<std::uintptr_t>(dynmgr_startup_end));
  }
  return 1;  // the executable only (it comes first)
}

// Writes a page of each of the next `kStackRoom` bytes of stack, as deep as a
// worker's start goes: fresh or copied pages now, not faults then.
[[gnu::noinline]] void touch_stack() {
  constexpr std::size_t kStackRoom = 16 * 1024;
  char room[kStackRoom];
  for (std::size_t i = 0; i < kStackRoom; i += 4096) room[i] = 0;
  asm volatile("" : : "r"(room) : "memory");  // the writes happen
}

// What a spare does before it waits: the faults every new address space
// takes at the start of a worker (README "Worker start"), taken while nothing
// waits on them. Its code and read-only data mapped; its stack and the heap
// a start grows into written; the vDSO's pages read. Of the data it shares
// with the template only what every start writes is written (the
// environment's lock and pointer): a page written only to warm it would be a
// copy the worker may never need.
void warm_up() {
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool kSanitized = true;  // 100 MiB of instrumented code, no section
#else
  constexpr bool kSanitized = false;
#endif
  if (!kSanitized) (void)::dl_iterate_phdr(populate_read_only, nullptr);
  touch_stack();
  // The heap's top chunk, where a start's allocations go when nothing freed
  // fits: its first pages (and the one before, where the last chunk ends).
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto brk_end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  const std::uintptr_t top = brk_end - ::mallinfo2().keepcost;
  constexpr std::uintptr_t kHeapRoom = 16 * 1024;
  const std::uintptr_t from = (top & ~(page - 1)) - page;
  const std::uintptr_t to = std::min(brk_end, (top + kHeapRoom + page - 1) & ~(page - 1));
  if (top < brk_end && from < to) {
    (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE);
  }
  // The environment's lock and pointer, which every start's setenv writes;
  // the room's entry goes as it would from a worker's (show_as_exec).
  (void)::unsetenv(kTemplateRoomEnv);
  *static_cast<char** volatile*>(&environ) = environ;
  timespec ts{};
  for (const clockid_t c : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
    (void)::clock_gettime(c, &ts);
  }
}

// A spare (README "Worker start"): the supervisor's child (CLONE_PARENT),
// shown as `--dynmgr-spare`, warmed up, then waiting on its own socket for
// the request that makes it a worker. It leaves, making nothing, at the
// socket's end or its supervisor's.
[[noreturn]] void run_spare(int template_sock, int spare_sock, pid_t supervisor,
                            const ThreadSelf& self, const ArgArea& args, const ArgArea& env,
                            const wire::SpawnRequest& shown, std::vector<char>& buf,
                            const WorkerRoleMain& worker_main) {
  ::close(template_sock);
  (void)::syscall(SYS_set_robust_list, self.robust_head, self.robust_len);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != supervisor) std::_Exit(0);
  write_area(args, shown.argv, PR_SET_MM_ARG_END, '\0');
  warm_up();
  std::vector<int> fds;
  bool eof = false;
  auto req = receive(spare_sock, buf, fds, eof);
  if (!req || req->spare) std::_Exit(eof ? 0 : 127);
  // As a forked worker starts: no parent-death signal (the worker sets its
  // own; a worker outlives its supervisor, to be adopted).
  ::prctl(PR_SET_PDEATHSIG, 0);
  become_worker(spare_sock, self, args, env, *req, fds, worker_main);
}

}  // namespace

int run_worker_template(int argc, char** argv, const WorkerRoleMain& worker_main) {
  const int sock = kTemplateSocketFd;
  pid_t supervisor = 0;
  if (argc >= 4) std::from_chars(argv[3], argv[3] + std::strlen(argv[3]), supervisor);
  // Never outlives the supervisor (a clean stop closes the socket first).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (supervisor <= 0 || ::getppid() != supervisor) return 1;
  ThreadSelf self;
  if (::prctl(PR_GET_TID_ADDRESS, &self.tid_address) != 0 || self.tid_address == nullptr ||
      ::syscall(SYS_get_robust_list, 0, &self.robust_head, &self.robust_len) != 0) {
    return 1;  // the supervisor reads EOF instead of the hello: it execs its workers
  }
  // No stop signal of the operator's (a terminal's ^C reaches the whole group)
  // ends the template before the supervisor: it leaves on EOF.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  const ArgArea args = settle(arg_area(argc, argv), '\0');
  const ArgArea env = settle(env_area(), ' ');
  if (::send(sock, wire::kHello.data(), wire::kHello.size(), MSG_NOSIGNAL) < 0) return 1;
  std::vector<char> buf(wire::kMaxMessage);
  for (;;) {
    std::vector<int> fds;
    bool eof = false;
    auto req = receive(sock, buf, fds, eof);
    if (eof) return 0;
    if (!req && fds.empty() && errno != EINVAL) return 1;
    if (!req || (req->spare && fds.size() != 1)) {
      close_all(fds);
      reply(sock, wire::TemplateReply{0, EINVAL});
      continue;
    }
    clone_args ca{};
    ca.flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    ca.child_tid = reinterpret_cast<std::uint64_t>(self.tid_address);
    const long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) {
      if (req->spare) run_spare(sock, fds[0], supervisor, self, args, env, *req, buf, worker_main);
      become_worker(sock, self, args, env, *req, fds, worker_main);
    }
    const int err = errno;
    close_all(fds);
    reply(sock,
          pid > 0 ? wire::TemplateReply{static_cast<pid_t>(pid), 0} : wire::TemplateReply{0, err});
  }
}

}  // namespace dynmgr
