// `dynmgrctl --json state` streamed against the document built whole (issue
// 14: 1 000 000 ids in <= 5 s, without the whole document in memory), in the
// same run. N passive ids (no process each: the registry holds them all) are
// loaded with Client::put_many into a probe supervisor (--no-state: nothing
// commits meanwhile, so every document is the same), by a child of its own so
// that this process stays small (a forked child's peak RSS counts its image
// before exec). Then each way runs as its own process with stdout to a file
// in /tmp, timed by the wall clock, its peak RSS from wait4() and its peak
// anonymous (private) RSS sampled from /proc every few milliseconds:
//   floor: `cat` of the streamed output into another file (the same bytes out),
//   tree:  this program re-executed as `--tree NAME FILE`: Client::state(),
//          state_json(), one serialization, one write (what `state --json`
//          did before it streamed),
//   stream: `dynmgrctl -n NAME --json state`.
// The two documents must be byte-identical. Reported as medians of RUNS.
//
//   state_stream_bench [N] [RUNS]   (defaults 100000, 3)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"
#include "shared/state_json.hpp"

namespace {

// What `state --json` did before it streamed: every record, then the tree.
int tree_main(const std::string& name, const std::string& file) {
  auto c = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(30000)});
  if (!c) return 5;
  auto all = c->state();
  if (!all) return 1;
  const std::string text =
      dynmgr::to_json(dynmgr::state_json(c->header(), c->instance(), *all)) + "\n";
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) return 1;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok ? 0 : 1;
}

// Puts n passive ids with a small payload each (timeout 0: nothing starts
// them), in batches so that only a batch of items is in memory at once.
int load_main(const std::string& name, int n) {
  auto c = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(60000)});
  if (!c) return 5;
  int failed = 0;
  constexpr int kBatch = 10000;
  for (int base = 0; base < n; base += kBatch) {
    std::vector<dynmgr::Client::PutItem> items;
    for (int i = base; i < std::min(n, base + kBatch); ++i) {
      dynmgr::ChildSpec spec;
      spec.timeout_ms = 0;
      spec.payload = dynmgr::json::object{{"n", i}, {"name", "id " + std::to_string(i)}};
      items.push_back({"id-" + std::to_string(i), std::move(spec)});
    }
    for (const auto& r : c->put_many(items, {.passive = true})) failed += r ? 0 : 1;
  }
  return failed == 0 ? 0 : 1;
}

struct Run {
  double seconds = 0;
  double max_rss_mib = 0;    // wait4: every resident page, the shared registry's too
  double peak_anon_mib = 0;  // sampled RssAnon: the process's own memory
  int exit_code = -1;
};

// kB of one "Name:" line of /proc/PID/status (0 when it is gone).
long status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::size_t n = std::strlen(key);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
  }
  return 0;
}

// argv with stdout to `out` (truncated).
Run measure(const std::vector<std::string>& argv, const std::string& out) {
  Run r;
  const std::uint64_t t0 = bench::now_ns();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    bench::exec_child(argv);
  }
  long anon_kb = 0;
  int st = 0;
  rusage ru{};
  for (;;) {
    const pid_t w = ::wait4(pid, &st, WNOHANG, &ru);
    if (w == pid) break;
    anon_kb = std::max(anon_kb, status_kb(pid, "RssAnon:"));
    const timespec step{0, 2'000'000};  // a sampling period, not a synchronisation
    ::nanosleep(&step, nullptr);
  }
  r.seconds = static_cast<double>(bench::now_ns() - t0) / 1e9;
  r.max_rss_mib = static_cast<double>(ru.ru_maxrss) / 1024;
  r.peak_anon_mib = static_cast<double>(anon_kb) / 1024;
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--tree") == 0) return tree_main(argv[2], argv[3]);
  if (argc == 4 && std::strcmp(argv[1], "--load") == 0)
    return load_main(argv[2], std::atoi(argv[3]));
  bench::setup_output();
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string bin = bench::bin_dir();
  const std::string name = "benchstream" + std::to_string(::getpid());
  // --max-payload 256: a slot's data area is 3 x max_payload + its exit
  // history, and the registry lives in tmpfs: at the default 4096 a million
  // slots make a 16 GB segment, which ran a 24 GB machine out of memory (the
  // payloads here are 30 bytes).
  if (!bench::start_probe(name, {"--max-workers", std::to_string(std::min(n + 16, 1000000)),
                                 "--no-state", "--max-payload", "256"}))
    return 1;
  int status = 0;
  {
    const std::uint64_t t0 = bench::now_ns();
    const int loaded = bench::run({bin + "/state_stream_bench", "--load", name, std::to_string(n)});
    std::printf("loaded %d passive ids in %.1f s%s\n", n,
                static_cast<double>(bench::now_ns() - t0) / 1e9,
                loaded == 0 ? "" : " (some failed)");
    auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(60000)});
    if (!client) {
      std::fprintf(stderr, "unable to connect: %s\n", client.error().message.c_str());
      return 1;
    }

    const std::string stem = "/tmp/" + name;
    std::vector<double> t_floor, t_tree, t_stream, rss_floor, rss_tree, rss_stream, anon_floor,
        anon_tree, anon_stream;
    for (int k = 0; k < runs; ++k) {
      const Run s = measure({bin + "/dynmgrctl", "-n", name, "--json", "state"}, stem + ".stream");
      const Run t =
          measure({bin + "/state_stream_bench", "--tree", name, stem + ".tree"}, stem + ".out");
      const Run f = measure({"/bin/cat", stem + ".stream"}, stem + ".cat");
      if (s.exit_code != 0 || t.exit_code != 0 || f.exit_code != 0) {
        std::fprintf(stderr, "a run failed: stream %d, tree %d, cat %d\n", s.exit_code, t.exit_code,
                     f.exit_code);
        status = 1;
        break;
      }
      if (k == 0) {
        const std::string a = read_all(stem + ".stream");
        const std::string b = read_all(stem + ".tree");
        std::printf("document: %.1f MiB, streamed and tree %s\n",
                    static_cast<double>(a.size()) / (1 << 20),
                    a == b ? "byte-identical" : "DIFFER");
        if (a != b) {
          std::size_t at = 0;
          while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
          const std::size_t from = at > 80 ? at - 80 : 0;
          std::printf("first difference at byte %zu:\n  stream ...%s\n  tree   ...%s\n", at,
                      a.substr(from, 160).c_str(), b.substr(from, 160).c_str());
          status = 1;
        }
      }
      t_floor.push_back(f.seconds);
      t_tree.push_back(t.seconds);
      t_stream.push_back(s.seconds);
      rss_floor.push_back(f.max_rss_mib);
      rss_tree.push_back(t.max_rss_mib);
      rss_stream.push_back(s.max_rss_mib);
      anon_floor.push_back(f.peak_anon_mib);
      anon_tree.push_back(t.peak_anon_mib);
      anon_stream.push_back(s.peak_anon_mib);
    }
    for (const char* ext : {".stream", ".tree", ".out", ".cat"}) ::unlink((stem + ext).c_str());
    const double floor = median(t_floor);
    const auto row = [&](const char* what, const std::vector<double>& t,
                         const std::vector<double>& rss, const std::vector<double>& anon) {
      std::printf("%-44s %7.3f s (x%6.1f of cat)  max RSS %7.1f MiB  peak anon %7.1f MiB\n", what,
                  median(t), floor > 0 ? median(t) / floor : 0, median(rss), median(anon));
    };
    std::printf("%d ids, medians of %d runs\n", n, runs);
    row("floor: cat of the output", t_floor, rss_floor, anon_floor);
    row("tree: state() + state_json() + serialize", t_tree, rss_tree, anon_tree);
    row("stream: dynmgrctl --json state", t_stream, rss_stream, anon_stream);
    (void)client->stop();
  }
  return status;
}
