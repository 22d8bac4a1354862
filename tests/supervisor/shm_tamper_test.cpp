// Shared memory tampered with from outside (issue 11, defect 10; README
// "Tampered shared memory"): a removed mailbox, a removed registry and a
// truncated control queue are each noticed by the supervisor within seconds,
// recreated, logged in one line, and the instance works again; the
// supervisor never dies of it. Real processes, real /dev/shm objects removed
// with unlink(2) and truncated with truncate(2), as an operator's clean-up
// script would; every wait is a condition with a deadline.

#include "probe_harness.hpp"
#include "shared/json.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <string>

namespace dynmgr {
namespace {

using testing::bin_path;
using testing::run_command;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

class Tamper : public testing::ProbeTest {
 protected:
  // The instance's objects whose name contains `part` (e.g. ".mbox."), with
  // and without their bells.
  std::vector<std::string> objects(const std::string& part) {
    std::vector<std::string> out;
    for (const auto& n : testing::shm_objects(names_)) {
      if (n.find(part) != std::string::npos) out.push_back(n);
    }
    return out;
  }

  // `dynmgrctl state --json` as a map id -> {pid, status, payload, value, restarts}.
  std::map<std::string, std::string> state_by_id(int* exit_code = nullptr) {
    auto r = run_command({bin_path("dynmgrctl"), "-n", instance_, "--json", "state"});
    if (exit_code != nullptr) *exit_code = r.exit_code;
    std::map<std::string, std::string> out;
    if (r.exit_code != 0) return out;
    auto v = testing::parse(r.out);
    if (!v.is_object() || !v.as_object().contains("workers")) return out;
    for (const auto& w : v.at("workers").as_array()) {
      const auto& o = w.as_object();
      json::object kept;
      for (const char* k : {"pid", "status", "payload", "value", "restarts"}) {
        if (o.contains(k)) kept[k] = o.at(k);
      }
      out[std::string(o.at("id").as_string())] = to_json(json::value(std::move(kept)));
    }
    return out;
  }

  bool supervisor_alive() { return ::kill(supervisor_pid(), 0) == 0; }
};

TEST_F(Tamper, ARemovedMailboxIsRecreatedAndTheSameWorkerAnswersAgain) {
  ASSERT_TRUE(start());
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a) << a.error().message;
  auto b = put("b", spec(json::array{}));
  ASSERT_TRUE(b) << b.error().message;
  // a's mailbox and its bell: the one in a's slot.
  const std::string mbox_part = ".mbox." + std::to_string(a->slot) + ".";
  const auto removed = objects(mbox_part);
  ASSERT_EQ(removed.size(), 2u);
  for (const auto& n : removed) ASSERT_EQ(::unlink(Names::shm_path(n).c_str()), 0) << n;

  // The same process answers again, through a mailbox under a new name.
  EXPECT_TRUE(wait_until(
      [&] {
        auto pid = client().call("a", "pid");
        return pid && pid->is_int64() && pid->as_int64() == a->pid;
      },
      testing::kWait, 20ms))
      << supervisor_output();
  EXPECT_EQ(objects(mbox_part).size(), 2u);
  EXPECT_NE(supervisor_output().find("mailbox of worker 'a': queue "), std::string::npos)
      << supervisor_output();
  auto again = get("a");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pid, a->pid);
  EXPECT_EQ(again->restarts, 0u);
  // The other worker was never touched.
  auto pid_b = client().call("b", "pid");
  ASSERT_TRUE(pid_b);
  EXPECT_EQ(pid_b->as_int64(), b->pid);
  EXPECT_TRUE(supervisor_alive());
}

TEST_F(Tamper, ARemovedRegistryIsRecreatedWithEveryWorkerAndTheCliWorksAgain) {
  ASSERT_TRUE(start(testing::ProbeStart{}.with_flags({"--log-level", "debug"})));
  ASSERT_TRUE(put("a", spec(json::array{})));
  ASSERT_TRUE(put("b", spec(testing::P(R"({"x": 2})"))));
  ASSERT_TRUE(client().call("a", json::array{"append", 5}));
  // A passive id asleep in the supervisor (no Entry: its slot is all it has).
  ASSERT_TRUE(client().put_passive("p", spec(testing::P(R"({"p": 3})"))));
  ASSERT_TRUE(
      wait_until([&] { return supervisor_output().find("(1 asleep in all)") != std::string::npos; },
                 testing::kWait));
  const auto before = state_by_id();
  ASSERT_EQ(before.size(), 3u);

  ASSERT_EQ(::unlink(Names::shm_path(names_.registry()).c_str()), 0);

  // `state` works again and shows every worker as it was.
  int code = -1;
  EXPECT_TRUE(wait_until([&] { return state_by_id(&code) == before; }, testing::kWait, 20ms))
      << "last exit " << code << "\n"
      << supervisor_output();
  EXPECT_NE(supervisor_output().find("was removed; recreated it with 3 worker(s)"),
            std::string::npos)
      << supervisor_output();
  // The workers go on: a cast commits (the worker reports through the control
  // queue it finds in the new registry), a call answers.
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {bin_path("dynmgrctl"), "-n", instance_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  };
  EXPECT_EQ(run({"cast", "a", R"(["append", 6])"}).exit_code, 0);
  EXPECT_TRUE(wait_until([&] {
    auto r = run({"--json", "get", "a"});
    return r.exit_code == 0 && r.out.find("[5,6]") != std::string::npos;
  }));
  auto call = run({"call", "b", "\"get\""});
  EXPECT_EQ(call.exit_code, 0) << call.err;
  auto woken = run({"call", "p", "\"get\""});
  EXPECT_EQ(woken.exit_code, 0) << woken.err;
  EXPECT_EQ(testing::parse(woken.out), testing::P(R"({"p": 3})")) << woken.out;
  // And the supervisor can be stopped from the command line.
  auto stop = run({"stop"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(wait_supervisor_exit());
}

TEST_F(Tamper, ATruncatedControlQueueIsRecreatedAndTheSupervisorLives) {
  ASSERT_TRUE(start());
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a) << a.error().message;
  std::string control;
  for (const auto& n : objects(".control.")) {
    if (n.find(".bell") == std::string::npos) control = n;
  }
  ASSERT_FALSE(control.empty());
  ASSERT_EQ(::truncate(Names::shm_path(control).c_str(), 0), 0);

  // The supervisor touches the queue at its next receive: it must not die of
  // it, must say so, and must take requests again under a new queue.
  EXPECT_TRUE(wait_until(
      [&] {
        return supervisor_output().find("control queue " + control + " was truncated") !=
               std::string::npos;
      },
      testing::kWait, 20ms))
      << supervisor_output();
  EXPECT_TRUE(supervisor_alive()) << supervisor_output();
  auto c = put("c", spec(json::array{}));
  EXPECT_TRUE(c) << (c ? "" : c.error().message) << "\n" << supervisor_output();
  EXPECT_TRUE(supervisor_alive());
  // The worker that was there reports through the new queue too.
  EXPECT_TRUE(client().call("a", json::array{"append", 1}));
  EXPECT_TRUE(wait_record("a", [](const WorkerInfo& w) { return w.payload == "[1]"; }));
}

// A supervisor that adopted its fleet (its predecessor was SIGKILLed) knows
// the mailboxes it did not create: one removed afterwards is recreated too.
TEST_F(Tamper, AfterAnAdoptionARemovedMailboxIsStillRecreated) {
  ASSERT_TRUE(start());
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_supervisor_exit());
  ASSERT_TRUE(take_over());
  const std::string mbox_part = ".mbox." + std::to_string(a->slot) + ".";
  const auto removed = objects(mbox_part);
  ASSERT_EQ(removed.size(), 2u);
  for (const auto& n : removed) ASSERT_EQ(::unlink(Names::shm_path(n).c_str()), 0) << n;
  EXPECT_TRUE(wait_until(
      [&] {
        auto pid = client().call("a", "pid");
        return pid && pid->is_int64() && pid->as_int64() == a->pid;
      },
      testing::kWait, 20ms))
      << supervisor_output();
  EXPECT_EQ(get("a")->restarts, 0u);
}

// A process that maps the control queue (every worker does) and writes zeros
// over its header: Boost then takes the queue for full forever, and every
// request used to time out ("supervisor busy", exit 4) while the supervisor
// noticed nothing.
TEST_F(Tamper, AControlQueueOverwrittenWithZerosIsRecreated) {
  ASSERT_TRUE(start());
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a) << a.error().message;
  std::string control;
  for (const auto& n : objects(".control.")) {
    if (n.find(".bell") == std::string::npos) control = n;
  }
  ASSERT_FALSE(control.empty());
  {
    const int fd = ::open(Names::shm_path(control).c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const std::string zeros(4096, '\0');
    ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 0), 4096);
    ::close(fd);
  }
  EXPECT_TRUE(wait_until(
      [&] {
        return supervisor_output().find("control queue " + control + " was overwritten") !=
               std::string::npos;
      },
      testing::kWait, 20ms))
      << supervisor_output();
  auto c = put("c", spec(json::array{}));
  EXPECT_TRUE(c) << (c ? "" : c.error().message) << "\n" << supervisor_output();
  EXPECT_TRUE(client().call("a", json::array{"append", 1}));
  EXPECT_TRUE(wait_record("a", [](const WorkerInfo& w) { return w.payload == "[1]"; }));
  EXPECT_TRUE(supervisor_alive());
}

// Issue 11, defect 19: a worker whose code writes over every shared mapping
// it has (its words page, its mailbox, the control queue, a caller's reply
// queue, their bells; then the registry, which it maps read-only) damages
// itself alone. It dies of a SIGSEGV at the registry; every other worker's
// record, payload and process are untouched; the supervisor lives, replaces
// the overwritten control queue and the worker's mailbox, logs both, and the
// worker comes back and answers.
TEST_F(Tamper, AWorkerScribblingOverEverySharedMappingDamagesOnlyItself) {
  ASSERT_TRUE(start());
  auto a = put("a", spec(json::array{}));
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(put("b", spec(testing::P(R"({"x": 2})"))));
  auto c = put("c", spec(json::array{}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(client().call("a", json::array{"append", 1}));
  ASSERT_TRUE(client().call("c", json::array{"append", 3}));
  ASSERT_TRUE(wait_record("c", [](const WorkerInfo& w) { return w.payload == "[3]"; }));
  auto before = state_by_id();
  ASSERT_EQ(before.size(), 3u);
  before.erase("a");

  auto scribbled = client().call("a", "scribble");
  EXPECT_FALSE(scribbled);  // the worker died before it could answer

  // a died of its own write into the read-only registry, and was restarted.
  EXPECT_TRUE(wait_record("a", [&](const WorkerInfo& w) {
    return w.restarts >= 1 && w.pid != a->pid && w.status == WorkerStatus::kRunning;
  })) << supervisor_output();
  auto after_a = get("a");
  ASSERT_TRUE(after_a);
  EXPECT_NE(after_a->last_exit.describe().find("SIGSEGV"), std::string::npos)
      << after_a->last_exit.describe();
  EXPECT_EQ(after_a->payload, "[1]");  // its own state as the supervisor last stored it
  // The supervisor replaced what the worker could reach and said so.
  EXPECT_TRUE(wait_until(
      [&] { return supervisor_output().find("was overwritten") != std::string::npos; },
      testing::kWait, 20ms))
      << supervisor_output();
  EXPECT_TRUE(supervisor_alive()) << supervisor_output();
  // The restarted worker answers (through a new mailbox), so do the others,
  // and the instance takes new work.
  EXPECT_TRUE(wait_until(
      [&] {
        auto pid = client().call("a", "pid");
        return pid && pid->is_int64() && pid->as_int64() == after_a->pid;
      },
      testing::kWait, 20ms))
      << supervisor_output();
  auto pid_c = client().call("c", "pid");
  ASSERT_TRUE(pid_c) << pid_c.error().message;
  EXPECT_EQ(pid_c->as_int64(), c->pid);
  auto d = put("d", spec(json::array{}));
  EXPECT_TRUE(d) << (d ? "" : d.error().message) << "\n" << supervisor_output();
  // Every other worker's record is as it was: pid, status, payload, value,
  // restarts.
  auto now = state_by_id();
  now.erase("a");
  now.erase("d");
  EXPECT_EQ(now, before);
  EXPECT_EQ(get("b")->restarts, 0u);
}

}  // namespace
}  // namespace dynmgr
