// Whole-process times of dynmgrctl beside /bin/true, in the same run
// (DESIGN.md §8: target <= 2.5x /bin/true, as fast as s6-svstat; issue 14:
// `call` <= 1.5x /bin/true).
//
//   cli_bench [RUNS [OTHER_DYNMGRCTL]]   (default 300)
//
// Every command runs once per round, in turn, so a machine whose load drifts
// charges every command alike. OTHER_DYNMGRCTL (e.g. a build of an earlier
// commit) is timed beside this build's against the same supervisor: a
// before/after comparison in one run.
#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

#include <fcntl.h>
#include <spawn.h>

#include <iostream>

extern char** environ;

namespace {

struct Command {
  std::string label;
  std::vector<std::string> argv;
  std::vector<double> ms;
};

double time_run(const std::vector<std::string>& argv, const posix_spawn_file_actions_t* fa) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  const std::uint64_t t0 = bench::now_ns();
  pid_t pid = 0;
  if (posix_spawn(&pid, a[0], fa, nullptr, a.data(), environ) != 0) std::abort();
  int st = 0;
  ::waitpid(pid, &st, 0);
  const double ms = static_cast<double>(bench::now_ns() - t0) / 1e6;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::cerr << argv[0] << " failed\n";
    std::exit(1);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int runs = argc > 1 ? std::atoi(argv[1]) : 300;
  const std::string other = argc > 2 ? argv[2] : "";
  const std::string name = "benchcli" + std::to_string(::getpid());
  const std::string bin = bench::bin_dir();
  if (!bench::start_probe(name)) return 1;
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) return 1;
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  for (int i = 0; i < 10; ++i) (void)client->put("w" + std::to_string(i), spec);

  std::vector<Command> cmds;
  cmds.push_back({"/bin/true (baseline)", {"/bin/true"}, {}});
  const auto add_ctl = [&](const std::string& ctl, const std::string& tag) {
    cmds.push_back({"dynmgrctl state (10 workers)" + tag, {ctl, "-n", name, "state"}, {}});
    cmds.push_back(
        {"dynmgrctl --json state (10 workers)" + tag, {ctl, "-n", name, "--json", "state"}, {}});
    cmds.push_back(
        {"dynmgrctl call w0 '\"get\"'" + tag, {ctl, "-n", name, "call", "w0", "\"get\""}, {}});
  };
  add_ctl(bin + "/dynmgrctl", other.empty() ? "" : " [this]");
  if (!other.empty()) add_ctl(other, " [other]");

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  for (int w = 0; w < 20; ++w) {  // warm the page cache for every binary
    for (auto& c : cmds) (void)time_run(c.argv, &fa);
  }
  for (int i = 0; i < runs; ++i) {
    // Interleaved against drift; the order rotates so none always follows another.
    for (std::size_t k = 0; k < cmds.size(); ++k) {
      auto& c = cmds[(k + static_cast<std::size_t>(i)) % cmds.size()];
      c.ms.push_back(time_run(c.argv, &fa));
    }
  }
  posix_spawn_file_actions_destroy(&fa);

  const auto st = bench::summarize(cmds[0].ms);
  bench::print(cmds[0].label.c_str(), st);
  for (std::size_t k = 1; k < cmds.size(); ++k) {
    const auto s = bench::summarize(cmds[k].ms);
    bench::print(cmds[k].label.c_str(), s);
    const bool call = cmds[k].label.find("call") != std::string::npos;
    std::printf("   ratio (median) / true: %.2fx   (target <= %s)\n", s.median_ms / st.median_ms,
                call ? "1.5x" : "2.5x");
  }
  (void)client->stop();
  return 0;
}
