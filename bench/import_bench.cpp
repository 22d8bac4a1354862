// Batch import against one put per id (issue 14 §2), in the same run: N ids
// with a cheap spec (timeout 0, payload null) put
//   1. one Client::put at a time (the per-id floor of a C++ client),
//   2. by one Client::put_many call (batches, one supervisor request each),
//   3. by `dynmgrctl import FILE` (the whole process, reading the file),
//   4. and, for the first M ids, one `dynmgrctl put` process per id (what a
//      shell loop costs), extrapolated per id.
// Each phase gets a fresh probe supervisor, so every phase starts the same
// ids into an empty registry. Reported as ids/s and the ratios to phase 1.
//
//   import_bench [N] [M]   (defaults 2000, 200)
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

namespace {

struct Phase {
  double seconds = 0;
  double machine_cpu = 0;  // CPU-seconds of the whole machine meanwhile
  int failed = 0;
};

// bench::run with stdout on /dev/null (dynmgrctl put prints a line per id).
int run_quiet(const std::vector<std::string>& argv) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string id_of(int i) { return "id-" + std::to_string(i); }

template <class F>
Phase with_supervisor(int n, const char* tag, F body) {
  const std::string name = std::string("benchimport") + tag + std::to_string(::getpid());
  Phase p;
  if (!bench::start_probe(name, {"--max-workers", std::to_string(n + 16)})) {
    p.failed = n;
    return p;
  }
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(30000)});
  if (!client) {
    p.failed = n;
    return p;
  }
  const double cpu0 = bench::system_cpu_seconds();
  const std::uint64_t t0 = bench::now_ns();
  p.failed = body(*client, name);
  p.seconds = static_cast<double>(bench::now_ns() - t0) / 1e9;
  p.machine_cpu = bench::system_cpu_seconds() - cpu0;
  if (auto all = client->state(); !all || static_cast<int>(all->size()) + p.failed < n) {
    std::fprintf(stderr, "%s: the registry holds fewer workers than reported put\n", tag);
  }
  (void)client->stop();
  return p;
}

void report(const char* what, int n, const Phase& p, double floor_rate) {
  const double rate = p.seconds > 0 ? n / p.seconds : 0;
  std::printf("%-40s %5d ids in %7.3f s = %6.0f ids/s, machine CPU %5.2f ms/id", what, n, p.seconds,
              rate, n > 0 ? p.machine_cpu * 1000 / n : 0);
  if (floor_rate > 0) std::printf("  (x%.2f of one Client::put per id)", rate / floor_rate);
  if (p.failed > 0) std::printf("  [%d failed]", p.failed);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int m = argc > 2 ? std::atoi(argv[2]) : 200;
  const std::string bin = bench::bin_dir();
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;

  const Phase single = with_supervisor(n, "p", [&](dynmgr::Client& c, const std::string&) {
    int failed = 0;
    for (int i = 0; i < n; ++i) failed += c.put(id_of(i), spec) ? 0 : 1;
    return failed;
  });

  const Phase many = with_supervisor(n, "m", [&](dynmgr::Client& c, const std::string&) {
    std::vector<dynmgr::Client::PutItem> items;
    items.reserve(n);
    for (int i = 0; i < n; ++i) items.push_back({id_of(i), spec});
    int failed = 0;
    for (const auto& r : c.put_many(items)) failed += r ? 0 : 1;
    return failed;
  });

  const std::string file = "/tmp/benchimport" + std::to_string(::getpid()) + ".jsonl";
  {
    std::ofstream out(file);
    for (int i = 0; i < n; ++i) out << "{\"id\": \"" << id_of(i) << "\", \"timeout\": 0}\n";
  }
  const Phase cli = with_supervisor(n, "i", [&](dynmgr::Client&, const std::string& name) {
    return run_quiet({bin + "/dynmgrctl", "-n", name, "--wait", "30000", "import", file}) == 0 ? 0
                                                                                                : n;
  });
  ::unlink(file.c_str());

  const Phase ctl_put = with_supervisor(m, "c", [&](dynmgr::Client&, const std::string& name) {
    int failed = 0;
    for (int i = 0; i < m; ++i) {
      failed += run_quiet({bin + "/dynmgrctl", "-n", name, "put", id_of(i), "--timeout", "0"}) == 0
                    ? 0
                    : 1;
    }
    return failed;
  });

  const double floor_rate = single.seconds > 0 ? n / single.seconds : 0;
  report("one Client::put per id", n, single, 0);
  report("Client::put_many (batches)", n, many, floor_rate);
  report("dynmgrctl import FILE (whole process)", n, cli, floor_rate);
  report("one dynmgrctl put process per id", m, ctl_put, floor_rate);
  return 0;
}
