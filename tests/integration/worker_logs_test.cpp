// Worker logs (README "Worker logs"): real supervisors, workers and log
// collectors, real files, SIGKILLs. Workers print through the probe's
// ["print", n] / ["print_err", n] calls (one write(2) per line, answered after
// the writes) and ["flood", n] casts (64 KiB writes, as fast as they can).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "probe_harness.hpp"
#include "shared/log_files.hpp"
#include "support/worker_output.hpp"

namespace dynmgr::testing {
namespace {

namespace lf = logfiles;
namespace fs = std::filesystem;

class WorkerLogs : public ProbeTest {
 protected:
  std::string dir() const { return worker_log_dir(instance_); }

  // Every record of id's files, oldest first (rotated .N .. .1, then current).
  std::vector<lf::Record> records(const std::string& id, const std::string& in = "") const {
    const std::string d = in.empty() ? dir() : in;
    const std::string cur = d + "/" + lf::file_name(id);
    std::vector<std::string> files;
    for (unsigned k = 10'000; k >= 1; --k) {
      const std::string r = lf::rotated_name(cur, k);
      if (fs::exists(r)) files.push_back(r);
    }
    files.push_back(cur);
    std::vector<lf::Record> out;
    for (const auto& f : files) {
      for (const auto& line : read_lines(f)) {
        auto r = lf::parse_record(line);
        EXPECT_TRUE(r) << "not a record in " << f << ": " << line.substr(0, 200);
        if (r) out.push_back(std::move(*r));
      }
    }
    return out;
  }

  bool has_line(const std::string& id, const std::string& stream, const std::string& line) const {
    for (const auto& r : records(id)) {
      if (r.stream == stream && r.line == line && !r.partial) return true;
    }
    return false;
  }

  pid_t pid_of(const std::string& id) {
    auto r = get(id);
    return r ? r->pid : -1;
  }
};

ChildSpec printer(bool print_init = false) {
  json::object p;
  if (print_init) p["print_init"] = true;
  return spec(json::value(std::move(p)));
}

// The numbers k of "<id> <k>" flood records, in file order; fails on anything else.
std::vector<long> flood_numbers(const std::vector<lf::Record>& recs, const std::string& id) {
  std::vector<long> out;
  for (const auto& r : recs) {
    if (r.stream != "out") continue;  // the worker's own log lines are on err
    EXPECT_FALSE(r.partial) << r.line;
    const std::string prefix = id + " ";
    if (r.line.rfind(prefix, 0) != 0) {
      ADD_FAILURE() << "split or foreign line: " << r.line;
      continue;
    }
    long k = 0;
    const char* b = r.line.data() + prefix.size();
    const auto res = std::from_chars(b, r.line.data() + r.line.size(), k);
    if (res.ec != std::errc() || res.ptr != r.line.data() + r.line.size()) {
      ADD_FAILURE() << "split line: " << r.line;
      continue;
    }
    out.push_back(k);
  }
  return out;
}

TEST_F(WorkerLogs, LinesOfBothStreamsGoToTheWorkersOwnFileWithTimeAndStream) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("w1", printer(true)));
  ASSERT_TRUE(put("a/b c%", printer()));
  ASSERT_TRUE(client().call("w1", P(R"(["print", 2])")));
  ASSERT_TRUE(client().call("w1", P(R"(["print_err", 1])")));
  ASSERT_TRUE(client().call("a/b c%", P(R"(["print", 1])")));
  ASSERT_TRUE(wait_until([&] { return has_line("w1", "err", "w1 err 1"); }, kWait));
  EXPECT_TRUE(has_line("w1", "out", "w1 init " + std::to_string(pid_of("w1"))));
  EXPECT_TRUE(has_line("w1", "out", "w1 out 1"));
  EXPECT_TRUE(has_line("w1", "out", "w1 out 2"));
  ASSERT_TRUE(wait_until([&] { return has_line("a/b c%", "out", "a/b c% out 1"); }, kWait));
  // The id's escaped file name, reversible; nothing of w1 in it.
  EXPECT_TRUE(fs::exists(dir() + "/a%2Fb%20c%25.log"));
  for (const auto& r : records("a/b c%")) EXPECT_EQ(r.line.find("w1"), std::string::npos);
  // Each record's time is the UTC time it was read, to the microsecond.
  const auto recs = records("w1");
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.front().time.size(), lf::kTimeBytes);
  EXPECT_EQ(recs.front().time.back(), 'Z');
  // The worker's output is no longer in the supervisor's.
  std::ifstream in(log_path("supervisor"));
  const std::string sup((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(sup.find("w1 out 1"), std::string::npos);
}

TEST_F(WorkerLogs, TheLinesPrintedJustBeforeASigkillAreInTheLog) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("k", printer()));
  for (int round = 1; round <= 3; ++round) {
    const pid_t pid = pid_of("k");
    ASSERT_GT(pid, 0);
    // Answered once the 500 lines are written: the kill comes right after the last.
    ASSERT_TRUE(client().call("k", P(R"(["print", 500])")));
    ASSERT_TRUE(client().call("k", P(R"(["print_err", 1])")));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(wait_record(
        "k",
        [&](const WorkerInfo& w) { return w.pid != pid && w.status == WorkerStatus::kRunning; }))
        << "round " << round;
    ASSERT_TRUE(wait_until([&] { return has_line("k", "err", "k err 1"); }, kWait));
  }
  // Restarts append to the same file: every line of every incarnation, in order.
  std::vector<std::string> outs;
  for (const auto& r : records("k")) {
    if (r.stream == "out") outs.push_back(r.line);
  }
  ASSERT_EQ(outs.size(), 1500u);
  for (std::size_t i = 0; i < outs.size(); ++i) {
    EXPECT_EQ(outs[i], "k out " + std::to_string(i % 500 + 1));
  }
}

TEST_F(WorkerLogs, RotationUnderAFloodLosesAndSplitsNoLine) {
  constexpr long kLines = 60'000;  // about 2.6 MB of records: some 320 rotations
  constexpr std::uint64_t kMax = 8192;
  ASSERT_TRUE(start(
      ProbeStart{}.with_flags({"--log-max-bytes", std::to_string(kMax), "--log-keep", "1000"})));
  ASSERT_TRUE(put("fl", printer()));
  ASSERT_TRUE(client().cast("fl", P(R"(["flood", 60000])")));
  const std::string last = "fl " + std::to_string(kLines);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto recs = read_lines(dir() + "/" + lf::file_name("fl"));
        for (auto it = recs.rbegin(); it != recs.rend(); ++it) {
          if (it->size() > last.size() && it->ends_with(" out " + last)) return true;
        }
        return false;
      },
      kWait, 5ms));
  const auto nums = flood_numbers(records("fl"), "fl");
  ASSERT_EQ(nums.size(), static_cast<std::size_t>(kLines));
  for (long i = 0; i < kLines; ++i) {
    if (nums[static_cast<std::size_t>(i)] != i + 1) {
      FAIL() << "record " << i << " is line " << nums[static_cast<std::size_t>(i)];
    }
  }
  // Rotated: every file within the limit (whole records only), .1 the newest.
  const std::string cur = dir() + "/" + lf::file_name("fl");
  EXPECT_TRUE(fs::exists(lf::rotated_name(cur, 1)));
  EXPECT_TRUE(fs::exists(lf::rotated_name(cur, 300)));
  for (const auto& e : fs::directory_iterator(dir())) {
    if (e.path().filename().string().rfind("fl.log", 0) == 0) {
      EXPECT_LE(fs::file_size(e.path()), kMax) << e.path();
    }
  }
}

TEST_F(WorkerLogs, RotationKeepsOnlyTheNewestFiles) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-max-bytes", "4096", "--log-keep", "2"})));
  ASSERT_TRUE(put("r", printer()));
  ASSERT_TRUE(client().cast("r", P(R"(["flood", 5000])")));
  ASSERT_TRUE(wait_until([&] { return has_line("r", "out", "r 5000"); }, kWait, 5ms));
  const std::string cur = dir() + "/" + lf::file_name("r");
  EXPECT_TRUE(fs::exists(lf::rotated_name(cur, 2)));
  EXPECT_FALSE(fs::exists(lf::rotated_name(cur, 3)));
  // What is kept is the end, without a gap.
  const auto nums = flood_numbers(records("r"), "r");
  ASSERT_FALSE(nums.empty());
  EXPECT_EQ(nums.back(), 5000);
  for (std::size_t i = 1; i < nums.size(); ++i) ASSERT_EQ(nums[i], nums[i - 1] + 1);
}

TEST_F(WorkerLogs, ALongLineIsCutInMarkedPieces) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("long", printer()));
  const std::size_t n = 2 * lf::kMaxLineBytes + 1000;
  ASSERT_TRUE(client().call("long", P("[\"print_long\", " + std::to_string(n) + "]")));
  ASSERT_TRUE(client().call("long", P(R"(["print", 1])")));
  ASSERT_TRUE(wait_until([&] { return has_line("long", "out", "long out 1"); }, kWait));
  std::vector<lf::Record> pieces;
  for (const auto& r : records("long")) {
    if (r.stream == "out" && r.line.rfind("xx", 0) == 0) pieces.push_back(r);
  }
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_TRUE(pieces[0].partial);
  EXPECT_TRUE(pieces[1].partial);
  EXPECT_FALSE(pieces[2].partial);
  EXPECT_EQ(pieces[0].line.size() + pieces[1].line.size() + pieces[2].line.size(), n);
  EXPECT_EQ(pieces[0].line.size(), lf::kMaxLineBytes);
}

TEST_F(WorkerLogs, ASupervisorKilledAndAdoptedLosesNoLine) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("ad", printer()));
  const pid_t worker = pid_of("ad");
  ASSERT_TRUE(client().call("ad", P(R"(["print", 1])")));
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_supervisor_exit());
  // No supervisor: the worker still writes (calls go to its mailbox), nothing blocks.
  ASSERT_TRUE(client().call("ad", P(R"(["print", 2])")));
  ASSERT_TRUE(wait_until([&] { return has_line("ad", "out", "ad out 2"); }, kWait));
  ASSERT_TRUE(take_over());
  EXPECT_EQ(pid_of("ad"), worker);
  ASSERT_TRUE(client().call("ad", P(R"(["print", 3])")));
  ASSERT_TRUE(wait_until([&] { return has_line("ad", "out", "ad out 3"); }, kWait));
  // A worker the successor starts logs through the same collector.
  ASSERT_TRUE(put("new", printer()));
  ASSERT_TRUE(client().call("new", P(R"(["print", 1])")));
  ASSERT_TRUE(wait_until([&] { return has_line("new", "out", "new out 1"); }, kWait));
  std::vector<std::string> outs;
  for (const auto& r : records("ad")) {
    if (r.stream == "out") outs.push_back(r.line);
  }
  EXPECT_EQ(outs, (std::vector<std::string>{"ad out 1", "ad out 1", "ad out 2", "ad out 1",
                                            "ad out 2", "ad out 3"}));
}

TEST_F(WorkerLogs, ReexecKeepsLogging) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("rx", printer()));
  const pid_t sup = supervisor_pid();
  ASSERT_EQ(::kill(sup, SIGUSR2), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        return supervisor_output().find("re-executed; adopted 1 worker(s)") != std::string::npos &&
               client().header().manager_state == ManagerState::kUp;
      },
      kWait));
  ASSERT_TRUE(client().call("rx", P(R"(["print", 1])")));
  ASSERT_TRUE(put("rx2", printer()));
  ASSERT_TRUE(client().call("rx2", P(R"(["print", 1])")));
  EXPECT_TRUE(wait_until([&] { return has_line("rx", "out", "rx out 1"); }, kWait));
  EXPECT_TRUE(wait_until([&] { return has_line("rx2", "out", "rx2 out 1"); }, kWait));
}

TEST_F(WorkerLogs, AFullDiskDropsLinesWithAWarningAndNeverBlocksTheWorker) {
  // RLIMIT_FSIZE on the collector (prlimit) stands for a full disk: its
  // writes past 64 KiB fail with EFBIG.
  const std::string logs = dir_ + "/logs";
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--no-state", "--log-dir", logs})));
  ASSERT_TRUE(put("full", printer()));
  const std::string out = supervisor_output();
  const auto at = out.find("started the log collector (pid ");
  ASSERT_NE(at, std::string::npos) << out;
  const pid_t collector = static_cast<pid_t>(std::stol(out.substr(at + 31)));
  rlimit small{64 * 1024, 64 * 1024};
  ASSERT_EQ(::prlimit(collector, RLIMIT_FSIZE, &small, nullptr), 0) << std::strerror(errno);
  ASSERT_TRUE(client().cast("full", P(R"(["flood", 50000])")));
  // The worker goes on: its flood ends and it answers.
  ASSERT_TRUE(client().call("full", P(R"("get")")));
  ASSERT_TRUE(wait_until(
      [&] {
        return supervisor_output().find("log collector: unable to write") != std::string::npos;
      },
      kWait));
  EXPECT_NE(supervisor_output().find("line(s) of 'full'"), std::string::npos);
  // What made it is whole lines, without a gap, from the first.
  const auto nums = flood_numbers(records("full", logs), "full");
  ASSERT_FALSE(nums.empty());
  EXPECT_LT(nums.size(), 50000u);
  for (std::size_t i = 0; i < nums.size(); ++i) ASSERT_EQ(nums[i], static_cast<long>(i) + 1);
  EXPECT_LE(fs::file_size(logs + "/" + lf::file_name("full")), 64u * 1024);
  std::error_code ec;
  fs::remove_all(logs, ec);  // TearDown removes only the files of dir_ itself
}

TEST_F(WorkerLogs, TheCollectorExitsAfterACleanStopAndTheNextStartBringsAnother) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("cs", printer()));
  ASSERT_TRUE(client().call("cs", P(R"(["print", 1])")));
  const std::string out = supervisor_output();
  const auto at = out.find("started the log collector (pid ");
  ASSERT_NE(at, std::string::npos) << out;
  const pid_t collector = static_cast<pid_t>(std::stol(out.substr(at + 31)));
  ASSERT_TRUE(client().stop());
  ASSERT_TRUE(wait_supervisor_exit());
  EXPECT_TRUE(wait_until([&] { return process_gone(collector); }, kWait));
  EXPECT_FALSE(fs::exists(dir() + "/" + lf::kSocketName));
  EXPECT_TRUE(has_line("cs", "out", "cs out 1"));
  // The stored worker is restored at the next start and logs again, to the same file.
  drop_client();
  ASSERT_TRUE(take_over());
  ASSERT_TRUE(client().call("cs", P(R"(["print", 2])")));
  EXPECT_TRUE(wait_until([&] { return has_line("cs", "out", "cs out 2"); }, kWait));
}

TEST_F(WorkerLogs, NoLogsLeavesWorkersOnTheSupervisorsOutput) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--no-logs"})));
  ASSERT_TRUE(put("nl", printer()));
  ASSERT_TRUE(client().call("nl", P(R"(["print", 1])")));
  EXPECT_TRUE(
      wait_until([&] { return supervisor_output().find("nl out 1") != std::string::npos; }, kWait));
  EXPECT_FALSE(fs::exists(dir()));
}

TEST(WorkerLogFlags, BadValuesAreUsageErrors) {
  const std::string name = unique_instance("lf");
  for (const auto& [flags, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--log-max-bytes", "100"}, "--log-max-bytes"},
           {{"--log-max-bytes", "x"}, "--log-max-bytes"},
           {{"--log-keep", "0"}, "--log-keep"},
           {{"--no-logs", "--log-dir", "/tmp/x"}, "--no-logs and --log-dir exclude each other"},
           {{"--log-dir", "/tmp/" + std::string(120, 'd')}, "too long"}}) {
    std::vector<std::string> argv{bin_path("probe"), "-n", name};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << flags[0];
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
  }
}

// ------------------------------------------------------------ dynmgrctl logs

class CtlLogs : public WorkerLogs {
 protected:
  CommandResult logs(std::vector<std::string> args) {
    std::vector<std::string> argv{bin_path("dynmgrctl"), "-n", instance_, "logs"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  }
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (std::size_t e = text.find('\n'); e != std::string::npos; e = text.find('\n', b)) {
    out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

TEST_F(CtlLogs, TheLastLinesOfOneWorkerOrOfAll) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(put("c1", printer()));
  ASSERT_TRUE(put("c2", printer()));
  ASSERT_TRUE(client().call("c1", P(R"(["print", 30])")));
  ASSERT_TRUE(client().call("c2", P(R"(["print", 1])")));
  ASSERT_TRUE(wait_until([&] { return has_line("c2", "out", "c2 out 1"); }, kWait));

  auto r = logs({"c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 20u) << r.out;
  EXPECT_TRUE(lines.back().ends_with(" out c1 out 30")) << lines.back();
  EXPECT_TRUE(lines.front().ends_with(" out c1 out 11")) << lines.front();

  r = logs({"c1", "-n", "2", "--since", "10m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(split_lines(r.out).size(), 2u);
  r = logs({"c1", "--since", "2000-01-01T00:00:00Z"});  // --since without -n: all of them
  EXPECT_EQ(split_lines(r.out).size(), 30u + 0u) << r.out;
  r = logs({"c1", "--since", "2999-01-01T00:00:00+02:00"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");

  // --all: by time, the id on each line; --json: one object per line.
  r = logs({"--all", "-n", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines.back().find(" c2 out c2 out 1"), std::string::npos) << lines.back();
  std::vector<std::string> argv{
      bin_path("dynmgrctl"), "-n", instance_, "--json", "logs", "c2", "-n", "1"};
  r = run_command(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value v = parse(split_lines(r.out).at(0));
  ASSERT_TRUE(v.is_object()) << r.out;
  EXPECT_EQ(v.at("id"), json::value("c2"));
  EXPECT_EQ(v.at("stream"), json::value("out"));
  EXPECT_EQ(v.at("line"), json::value("c2 out 1"));
  EXPECT_EQ(v.at("time").as_string().size(), lf::kTimeBytes);
}

TEST_F(CtlLogs, UnknownWorkerBadSinceAndBadIdAreOneLineErrors) {
  ASSERT_TRUE(start());
  auto r = logs({"nobody"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "dynmgrctl: logs 'nobody': no log for worker 'nobody' in " + dir() + "\n");
  r = logs({"nobody", "--since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("invalid --since 'yesterday'"), std::string::npos) << r.err;
  r = logs({});
  EXPECT_EQ(r.exit_code, 2);
  r = logs({std::string("bad\x01id")});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CtlLogs, FollowGoesOnAcrossRotationsAndRestartsUntilCtrlC) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--log-max-bytes", "2048", "--log-keep", "3"})));
  ASSERT_TRUE(put("fw", printer()));
  ASSERT_TRUE(client().call("fw", P(R"(["print", 5])")));
  ASSERT_TRUE(wait_until([&] { return has_line("fw", "out", "fw out 5"); }, kWait));

  const std::string out = dir_ + "/follow.out";
  const pid_t follower = fork_child([&] {
    ::setpgid(0, 0);  // its own group: TearDown may kill it by group
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);  // not the test's: ctest waits for every holder of its pipe
    const std::string ctl = bin_path("dynmgrctl");
    ::execl(ctl.c_str(), ctl.c_str(), "-n", instance_.c_str(), "logs", "fw", "-f", "-n", "1",
            static_cast<char*>(nullptr));
    return 127;
  });
  track(follower);  // SIGKILLed by TearDown if an assertion below ends the test early
  auto followed = [&] {
    std::vector<std::string> outs;
    for (const auto& l : read_lines(out)) {
      const auto pos = l.find(" out ");
      if (pos != std::string::npos) outs.push_back(l.substr(pos + 5));
    }
    return outs;
  };
  ASSERT_TRUE(wait_until([&] { return !followed().empty(); }, kWait));
  // Rotations: 60 lines of ~45 bytes fill a 2 KiB file about once a call.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client().call("fw", P(R"(["print", 60])")));
  // A restart (SIGKILL): the next incarnation appends to the same file.
  const pid_t pid = pid_of("fw");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_record("fw", [&](const WorkerInfo& w) {
    return w.pid != pid && w.status == WorkerStatus::kRunning;
  }));
  ASSERT_TRUE(client().call("fw", P(R"(["print", 2])")));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto f = followed();
        return f.size() >= 183 && f.back() == "fw out 2";
      },
      kWait));
  ASSERT_EQ(::kill(follower, SIGINT), 0);
  const int status = wait_child(follower);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Every line once, in order: the last of the first 5, 3 x 60, then 2.
  std::vector<std::string> want{"fw out 5"};
  for (int i = 0; i < 3; ++i) {
    for (int k = 1; k <= 60; ++k) want.push_back("fw out " + std::to_string(k));
  }
  want.push_back("fw out 1");
  want.push_back("fw out 2");
  EXPECT_EQ(followed(), want);
  EXPECT_TRUE(fs::exists(lf::rotated_name(dir() + "/" + lf::file_name("fw"), 2)));
}

}  // namespace
}  // namespace dynmgr::testing
