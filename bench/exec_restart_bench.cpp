// Exec worker restart: the command SIGKILLed -> a new command running,
// dynmgr beside daemontools' `supervise` (DESIGN.md §8: no slower than it).
//
// Both run the same tiny program, `ready_fifo`, which writes its pid to a FIFO
// once it runs; the benchmark holds the FIFO open, kills the pid it read and
// times until the next pid arrives. The kills alternate between the two
// supervisors, so both see the same machine. supervise sleeps a second after
// every start before it looks at its child again, so each of its kills waits
// until its command has run 1.1 s: what is timed is its restart, not that sleep.
//
// dynmgr: the stock dynmgrd, one exec worker (timeout 0, restart intensity out
// of the way, backoff reset by --healthy-uptime 0, as in restart_bench); its
// worker restarts the command in place. For scale, a third row kills the
// exec worker process itself (the worker and its command started again).
//
//   exec_restart_bench [KILLS]   (default 30; about 1.2 s per kill)
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "bench/bench_util.hpp"

namespace {

// Reads one pid from the FIFO; 0 after `ms` without one.
pid_t read_pid(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return 0;
  pid_t pid = 0;
  return ::read(fd, &pid, sizeof pid) == static_cast<ssize_t>(sizeof pid) ? pid : 0;
}

// A FIFO held open both ways: writers never block, reads wait for a writer's pid.
int open_fifo(const std::string& path) {
  if (::mkfifo(path.c_str(), 0600) != 0) {
    std::perror("mkfifo");
    std::exit(1);
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) std::exit(1);
  return fd;
}

pid_t spawn_quiet(const std::vector<std::string>& argv, const std::string& cwd = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    bench::exec_child(argv);
  }
  return pid;
}

double since_ms(std::uint64_t t0) { return static_cast<double>(bench::now_ns() - t0) / 1e6; }

struct Side {
  explicit Side(const char* n) : name(n) {}
  const char* name;
  int fifo = -1;
  pid_t current = 0;
  std::uint64_t started_ns = 0;
  std::vector<double> ms;
};

// Kills the side's command and waits for the next one's pid.
bool restart(Side& s) {
  const std::uint64_t t0 = bench::now_ns();
  ::kill(s.current, SIGKILL);
  const pid_t next = read_pid(s.fifo, 10'000);
  if (next <= 0) {
    std::cerr << s.name << ": no new command within 10 s\n";
    return false;
  }
  s.ms.push_back(since_ms(t0));
  s.current = next;
  s.started_ns = bench::now_ns();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int kills = argc > 1 ? std::atoi(argv[1]) : 30;
  const std::string bin = bench::bin_dir();
  const std::string supervise = "/usr/bin/supervise";
  if (::access(supervise.c_str(), X_OK) != 0) {
    std::cerr << "exec_restart_bench: " << supervise << " not found (Debian package daemontools)\n";
    return 2;
  }
  std::string tmpl = "/tmp/dynmgr-exec-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  const std::string dir = tmpl;
  const std::string service = dir + "/service";
  std::filesystem::create_directory(service);
  std::filesystem::create_symlink(bin + "/ready_fifo", service + "/run");

  Side sup("supervise");
  sup.fifo = open_fifo(service + "/fifo");
  const pid_t sup_pid = spawn_quiet({supervise, service});

  Side dyn("dynmgr");
  dyn.fifo = open_fifo(dir + "/dyn.fifo");
  const std::string name = "benchexec" + std::to_string(::getpid());
  const std::string ctl = bin + "/dynmgrctl";
  int rc = bench::run({bin + "/dynmgrd", "-n", name, "--daemon", "--log-file",
                       "/tmp/" + name + ".log", "--log-level", "error", "--state-dir",
                       "/tmp/" + name + ".state", "--healthy-uptime", "0"});
  if (rc == 0) {
    rc = bench::run({ctl, "-n", name, "put", "e", "--timeout", "0", "--max-restarts", "1000000",
                     "--within", "1", "--exec", bin + "/ready_fifo", dir + "/dyn.fifo"});
  }
  sup.current = read_pid(sup.fifo, 10'000);
  dyn.current = rc == 0 ? read_pid(dyn.fifo, 10'000) : 0;
  sup.started_ns = dyn.started_ns = bench::now_ns();
  bool ok = sup.current > 0 && dyn.current > 0;
  if (!ok) std::cerr << "exec_restart_bench: a supervisor did not start its command\n";

  // Warm-up: one restart each, not counted.
  ok = ok && restart(sup) && restart(dyn);
  sup.ms.clear();
  dyn.ms.clear();
  for (int i = 0; ok && i < kills; ++i) {
    ok = restart(dyn);
    // supervise looks at its child again 1 s after it started it.
    const std::uint64_t ready_at = sup.started_ns + 1'100'000'000ULL;
    while (ok && bench::now_ns() < ready_at) {
      std::this_thread::sleep_for(std::chrono::microseconds((ready_at - bench::now_ns()) / 1000));
    }
    ok = ok && restart(sup);
  }

  // The whole exec worker killed: worker process and command started again.
  Side whole("dynmgr worker");
  whole.fifo = dyn.fifo;
  whole.current = dyn.current;
  for (int i = 0; ok && i < kills; ++i) {
    const std::uint64_t t0 = bench::now_ns();
    // The worker is the command's parent.
    std::ifstream stat("/proc/" + std::to_string(whole.current) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    pid_t worker = 0;
    if (close != std::string::npos) {
      std::istringstream in(text.substr(close + 2));
      std::string state;
      in >> state >> worker;
    }
    if (worker <= 1) {
      ok = false;
      break;
    }
    ::kill(worker, SIGKILL);
    const pid_t next = read_pid(whole.fifo, 10'000);
    if (next <= 0) {
      ok = false;
      break;
    }
    whole.ms.push_back(since_ms(t0));
    whole.current = next;
  }

  bench::run({ctl, "-n", name, "stop"});
  ::kill(sup_pid, SIGKILL);
  ::kill(sup.current, SIGKILL);
  ::waitpid(sup_pid, nullptr, 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::remove_all("/tmp/" + name + ".state", ec);
  if (!ok) return 1;

  const auto d = bench::summarize(dyn.ms);
  const auto s = bench::summarize(sup.ms);
  bench::print("exec worker: command SIGKILLed -> new command", d);
  bench::print("daemontools supervise: same program", s);
  if (!whole.ms.empty())
    bench::print("exec worker process SIGKILLed -> new command", bench::summarize(whole.ms));
  std::printf("ratio dynmgr / supervise (medians): %.2f  (target <= 1)\n",
              d.median_ms / s.median_ms);
  return 0;
}
