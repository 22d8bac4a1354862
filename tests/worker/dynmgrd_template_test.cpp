// How dynmgrd starts its workers (README "Worker start"): forked from a
// worker template process, each worker is still the supervisor's own child
// with its own command line; a template that dies is replaced and no worker
// start is lost; `--worker-start exec` starts none; a stop leaves none. A
// restart after an exit becomes the template's spare, made ahead of it.
// Nothing sleeps: every wait is wait_until with a deadline.
#include <fstream>
#include <sstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

std::vector<std::string> cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  while (!out.empty() && out.back().find_first_not_of(' ') == std::string::npos) out.pop_back();
  return out;
}

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

pid_t ppid_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  char state = 0;
  long ppid = 0;
  rest >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

class WorkerStart : public DynmgrdTest {
 protected:
  // The supervisor's live children whose first argument is `role`.
  std::vector<pid_t> children_shown_as(const std::string& role) {
    std::vector<pid_t> out;
    for (pid_t c : children_of(supervisor_pid())) {
      const auto args = cmdline_of(c);
      if (args.size() > 1 && args[1] == role && state_of(c) != 'Z') out.push_back(c);
    }
    return out;
  }
  std::vector<pid_t> templates() { return children_shown_as("--dynmgr-template"); }
  std::vector<pid_t> spares() { return children_shown_as("--dynmgr-spare"); }

  // Waits for exactly one spare other than `not_this`; 0 on timeout.
  pid_t one_spare(pid_t not_this = 0) {
    pid_t spare = 0;
    (void)wait_until(
        [&] {
          const auto s = spares();
          spare = s.size() == 1 && s[0] != not_this ? s[0] : 0;
          return spare > 0;
        },
        kWait);
    return spare;
  }

  std::vector<pid_t> zombies() {
    std::vector<pid_t> out;
    for (pid_t c : children_of(supervisor_pid())) {
      if (state_of(c) == 'Z') out.push_back(c);
    }
    return out;
  }

  pid_t put_and_wait(const std::string& id) {
    const auto r = ctl({"put", id, "--timeout", "0", "--exec", "sh", script_path("counter.sh")});
    EXPECT_EQ(r.exit_code, 0) << r.err << log();
    return worker_pid(id);
  }

  // A worker as after an exec: the supervisor's child, its own command line.
  void expect_worker_shape(pid_t worker) {
    EXPECT_EQ(ppid_of(worker), supervisor_pid());
    const auto args = cmdline_of(worker);
    ASSERT_GE(args.size(), 3u);
    EXPECT_EQ(args[1], "--dynmgr-worker");
    EXPECT_EQ(args[2], instance_);
  }
};

TEST_F(WorkerStart, WorkersAreForkedFromOneTemplateAsTheSupervisorsChildren) {
  ASSERT_TRUE(start());
  const pid_t a = put_and_wait("a");
  ASSERT_GT(a, 0) << log();
  const pid_t b = put_and_wait("b");
  ASSERT_GT(b, 0) << log();
  expect_worker_shape(a);
  expect_worker_shape(b);
  const auto t = templates();
  ASSERT_EQ(t.size(), 1u) << log();
  EXPECT_NE(log().find("started the worker template (pid " + std::to_string(t[0]) + ")"),
            std::string::npos)
      << log();
  // Of the words object each maps its own page only: a page punched out at
  // another id's del has nothing to unmap in them (RegistryReader::Words).
  for (pid_t w : {a, b}) {
    std::ifstream maps("/proc/" + std::to_string(w) + "/maps");
    int words = 0;
    for (std::string line; std::getline(maps, line);) {
      if (line.find(names_.words()) != std::string::npos) ++words;
    }
    EXPECT_EQ(words, 1) << "worker " << w;
  }
  // They answer, as any worker does (counter.sh counts the calls).
  EXPECT_EQ(ctl({"call", "a", "1"}).exit_code, 0);
  EXPECT_EQ(ctl({"call", "b", "1"}).exit_code, 0);
}

TEST_F(WorkerStart, AKilledTemplateIsReplacedAndNoWorkerStartIsLost) {
  ASSERT_TRUE(start());
  ASSERT_GT(put_and_wait("a"), 0) << log();
  const auto first = templates();
  ASSERT_EQ(first.size(), 1u);
  ::kill(first[0], SIGKILL);
  ASSERT_TRUE(
      wait_until([&] { return state_of(first[0]) == 'Z' || process_dead(first[0]); }, kWait));
  // The next start finds it dead: that worker is exec'd, the dead template
  // reaped, and the start after it has a new template.
  const pid_t b = put_and_wait("b");
  ASSERT_GT(b, 0) << log();
  expect_worker_shape(b);
  const pid_t c = put_and_wait("c");
  ASSERT_GT(c, 0) << log();
  expect_worker_shape(c);
  const auto second = templates();
  ASSERT_EQ(second.size(), 1u) << log();
  EXPECT_NE(second[0], first[0]);
  EXPECT_TRUE(zombies().empty()) << "a dead template was left unreaped";
  EXPECT_NE(log().find("starting this worker with exec"), std::string::npos) << log();
}

TEST_F(WorkerStart, ARestartAfterAnExitBecomesTheSpareAndANewSpareIsMade) {
  ASSERT_TRUE(start());
  const pid_t a = put_and_wait("a");
  ASSERT_GT(a, 0) << log();
  // Made at a's ready: the supervisor's child, named for what it is.
  const pid_t spare = one_spare();
  ASSERT_GT(spare, 0) << log();
  EXPECT_EQ(ppid_of(spare), supervisor_pid());
  const auto shown = cmdline_of(spare);
  ASSERT_EQ(shown.size(), 4u);
  EXPECT_EQ(shown[1], "--dynmgr-spare");
  EXPECT_EQ(shown[2], instance_);
  EXPECT_EQ(shown[3], std::to_string(supervisor_pid()));
  // A put forks a worker of its own: the spare waits for a restart.
  const pid_t b = put_and_wait("b");
  ASSERT_GT(b, 0) << log();
  EXPECT_NE(b, spare);
  EXPECT_EQ(spares(), std::vector<pid_t>{spare});
  ::kill(a, SIGKILL);
  const auto restarted = wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid != a && w.pid > 0;
  });
  ASSERT_TRUE(restarted) << log();
  EXPECT_EQ(restarted->pid, spare) << log();
  track(spare);
  EXPECT_EQ(restarted->restarts, 1u);
  expect_worker_shape(spare);
  // A worker like any other: its environment, its command, its answers.
  std::ifstream environ_file("/proc/" + std::to_string(spare) + "/environ");
  const std::string environ_text((std::istreambuf_iterator<char>(environ_file)),
                                 std::istreambuf_iterator<char>());
  EXPECT_NE(environ_text.find(std::string("DYNMGR_WORKER_ID=a") + '\0'), std::string::npos);
  EXPECT_GT(command_of(spare), 0);
  EXPECT_EQ(ctl({"call", "a", "1"}).exit_code, 0) << log();
  // The next restart's spare is made at this one's ready.
  const pid_t next = one_spare(spare);
  EXPECT_GT(next, 0) << log();
  EXPECT_TRUE(zombies().empty());
}

TEST_F(WorkerStart, ADeadSpareIsReapedAndTheRestartIsForkedInstead) {
  ASSERT_TRUE(start());
  const pid_t a = put_and_wait("a");
  ASSERT_GT(a, 0) << log();
  const pid_t spare = one_spare();
  ASSERT_GT(spare, 0) << log();
  ::kill(spare, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return state_of(spare) == 'Z' || process_dead(spare); }, kWait));
  ::kill(a, SIGKILL);
  const auto restarted = wait_record("a", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid != a && w.pid > 0;
  });
  ASSERT_TRUE(restarted) << log();
  track(restarted->pid);
  EXPECT_NE(restarted->pid, spare);
  expect_worker_shape(restarted->pid);
  EXPECT_EQ(ctl({"call", "a", "1"}).exit_code, 0) << log();
  EXPECT_GT(one_spare(spare), 0) << log();
  EXPECT_TRUE(zombies().empty()) << "the dead spare was left unreaped";
}

TEST_F(WorkerStart, ExecModeStartsNoTemplate) {
  ASSERT_TRUE(start({"--worker-start", "exec"}));
  const pid_t a = put_and_wait("a");
  ASSERT_GT(a, 0) << log();
  expect_worker_shape(a);
  EXPECT_TRUE(templates().empty());
  EXPECT_TRUE(spares().empty());
}

TEST_F(WorkerStart, AStopLeavesNoTemplateAndNoSpare) {
  ASSERT_TRUE(start());
  ASSERT_GT(put_and_wait("a"), 0) << log();
  const auto t = templates();
  ASSERT_EQ(t.size(), 1u);
  const pid_t spare = one_spare();
  ASSERT_GT(spare, 0) << log();
  ASSERT_EQ(ctl({"--wait", "15000", "stop"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return process_dead(t[0]); }, kWait));
  EXPECT_TRUE(wait_until([&] { return process_dead(spare); }, kWait));
}

TEST_F(WorkerStart, ABadWorkerStartModeIsRefused) {
  const CommandResult r = start_raw({"--worker-start", "vfork"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--worker-start"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dynmgr::testing
