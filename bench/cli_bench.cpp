// Whole-process times of dynmgrctl beside /bin/true, in the same run
// (DESIGN.md §8: target <= 2.5x /bin/true, as fast as s6-svstat).
//
//   cli_bench [RUNS]   (default 300)
#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

#include <fcntl.h>
#include <spawn.h>

#include <iostream>

extern char** environ;

namespace {

std::vector<double> time_runs(const std::vector<std::string>& argv, int runs) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    const std::uint64_t t0 = bench::now_ns();
    pid_t pid = 0;
    if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) std::abort();
    int st = 0;
    ::waitpid(pid, &st, 0);
    out.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::cerr << argv[0] << " failed\n";
      std::exit(1);
    }
  }
  posix_spawn_file_actions_destroy(&fa);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int runs = argc > 1 ? std::atoi(argv[1]) : 300;
  const std::string name = "benchcli" + std::to_string(::getpid());
  const std::string bin = bench::bin_dir();
  if (!bench::start_probe(name)) return 1;
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) return 1;
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  for (int i = 0; i < 10; ++i) (void)client->put("w" + std::to_string(i), spec);

  const std::string ctl = bin + "/dynmgrctl";
  std::vector<double> t_true, t_state, t_json, t_call;
  for (int round = 0; round < 3; ++round) {  // interleaved against drift
    auto a = time_runs({"/bin/true"}, runs / 3);
    auto b = time_runs({ctl, "-n", name, "state"}, runs / 3);
    auto c = time_runs({ctl, "-n", name, "--json", "state"}, runs / 3);
    auto d = time_runs({ctl, "-n", name, "call", "w0", "\"get\""}, runs / 3);
    t_true.insert(t_true.end(), a.begin(), a.end());
    t_state.insert(t_state.end(), b.begin(), b.end());
    t_json.insert(t_json.end(), c.begin(), c.end());
    t_call.insert(t_call.end(), d.begin(), d.end());
  }
  const auto st = bench::summarize(t_true);
  bench::print("/bin/true (baseline)", st);
  for (auto [label, v] : {std::pair{"dynmgrctl state (10 workers)", &t_state},
                          std::pair{"dynmgrctl --json state (10 workers)", &t_json},
                          std::pair{"dynmgrctl call w0 '\"get\"'", &t_call}}) {
    const auto s = bench::summarize(*v);
    bench::print(label, s);
    std::printf("   ratio (median) / true: %.2fx   (target <= 2.5x)\n", s.median_ms / st.median_ms);
  }
  (void)client->stop();
  return 0;
}
