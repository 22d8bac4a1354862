// User and group under the stock dynmgrd (README "User and group"): a worker
// dropped to the spec's user/group after it attached, its exec command with
// it; specs a supervisor cannot honour refused with exit 2; a dropped worker's
// mailbox recreated as its own, and the worker restarted when the registry is
// replaced under it.
//
// Needs root (the tests switch to nobody, 65534, and nogroup, 65534).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

constexpr unsigned kNobody = 65534;

// The "Uid:" / "Gid:" line of /proc/<pid>/status as its four ids (real,
// effective, saved, filesystem), or the "Groups:" line's ids; "" if unreadable.
std::string status_line(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream words(line.substr(key.size() + 1));
    std::string w;
    std::string out;
    while (words >> w) out += (out.empty() ? "" : " ") + w;
    return out;
  }
  return "";
}

constexpr const char* kAllNobody = "65534 65534 65534 65534";

class DynmgrdUserTest : public DynmgrdTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "switching to another user needs root";
    DynmgrdTest::SetUp();
  }

  // The mailbox of slot's worker now: "<prefix>mbox.<slot>.<generation>" (not its bell).
  std::string mailbox_of(std::uint32_t slot) {
    const std::string head = names_.prefix() + "mbox." + std::to_string(slot) + ".";
    for (const auto& n : shm_objects(names_)) {
      if (n.rfind(head, 0) == 0 && n.find(".bell") == std::string::npos) return n;
    }
    return "";
  }
};

std::uint32_t owner_of(const std::string& shm_name) {
  struct stat st {};
  if (::stat(("/dev/shm/" + shm_name).c_str(), &st) != 0) return UINT32_MAX;
  return st.st_uid;
}

TEST_F(DynmgrdUserTest, AWorkerAndItsCommandRunAsTheSpecsUser) {
  ASSERT_TRUE(start());
  const auto r =
      ctl({"put", "u", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err << log();
  const pid_t worker = worker_pid("u");
  ASSERT_GT(worker, 0);
  EXPECT_EQ(status_line(worker, "Uid"), kAllNobody);
  EXPECT_EQ(status_line(worker, "Gid"), kAllNobody);
  EXPECT_EQ(status_line(worker, "Groups"), "65534");  // nobody's groups only
  const pid_t command = command_of(worker);
  ASSERT_GT(command, 0);
  EXPECT_EQ(status_line(command, "Uid"), kAllNobody);
  EXPECT_EQ(status_line(command, "Gid"), kAllNobody);
  EXPECT_EQ(status_line(command, "Groups"), "65534");
  // The call's reply queue is the client's (root): given to the worker first.
  const auto pid = ctl({"call", "u", R"("pid")"});
  ASSERT_EQ(pid.exit_code, 0) << pid.err << log();
  EXPECT_EQ(pid.out, std::to_string(command) + "\n");
  // Its mailbox is its own, mode 0600.
  const auto rec = record("u");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->user, "nobody");
  EXPECT_EQ(rec->group, "");
  EXPECT_EQ(owner_of(mailbox_of(rec->slot)), kNobody);
  EXPECT_EQ(owner_of(mailbox_of(rec->slot) + ".bell"), kNobody);
  const auto get = ctl({"get", "u"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("nobody"), std::string::npos) << get.out;
}

TEST_F(DynmgrdUserTest, AGroupAloneKeepsTheSupervisorsUser) {
  ASSERT_TRUE(start());
  const auto r =
      ctl({"put", "g", "--timeout", "0", "--group", "nogroup", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err << log();
  const pid_t worker = worker_pid("g");
  ASSERT_GT(worker, 0);
  EXPECT_EQ(status_line(worker, "Uid"), "0 0 0 0");
  EXPECT_EQ(status_line(worker, "Gid"), kAllNobody);
  const pid_t command = command_of(worker);
  ASSERT_GT(command, 0);
  EXPECT_EQ(status_line(command, "Gid"), kAllNobody);
  const auto call = ctl({"call", "g", R"("pid")"});
  EXPECT_EQ(call.exit_code, 0) << call.err;
  ASSERT_TRUE(record("g"));
  EXPECT_EQ(record("g")->group, "nogroup");
}

TEST_F(DynmgrdUserTest, AnUnknownUserOrGroupIsAUsageErrorAndAddsNothing) {
  ASSERT_TRUE(start());
  const auto r = ctl({"put", "x", "--user", "no-such-user-dynmgr", "--exec", "true"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.err, "dynmgrctl: put 'x': unknown user 'no-such-user-dynmgr'\n");
  EXPECT_EQ(ctl({"get", "x"}).exit_code, 3);
  const auto g = ctl({"put", "y", "--group", "no-such-group-dynmgr", "--exec", "true"});
  EXPECT_EQ(g.exit_code, 2) << g.out << g.err;
  EXPECT_EQ(g.err, "dynmgrctl: put 'y': unknown group 'no-such-group-dynmgr'\n");
  EXPECT_EQ(ctl({"get", "y"}).exit_code, 3);
}

// A supervisor that is not root cannot switch users: the put is refused with
// exit 2 and one line, before anything is added.
TEST_F(DynmgrdUserTest, ASupervisorThatIsNotRootRefusesAnotherUser) {
  char tmpl[] = "/tmp/dynmgr-nobody-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string home = tmpl;
  ASSERT_EQ(::chown(home.c_str(), kNobody, kNobody), 0);
  const std::string instance = unique_instance("nb");
  const auto as_nobody = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(),
                {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    return run_command(argv, {"HOME=" + home}, kWait);
  };
  const auto up = as_nobody({bin_path("dynmgrd"), "-n", instance, "--daemon", "--log-file",
                             home + "/dynmgrd.log", "--state-dir", home + "/state", "--log-dir",
                             home + "/logs"});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  const auto ctl_nobody = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {bin_path("dynmgrctl"), "-n", instance});
    return as_nobody(args);
  };
  const auto r = ctl_nobody({"put", "w", "--user", "root", "--exec", "true"});
  const auto g = ctl_nobody({"put", "w", "--group", "root", "--exec", "true"});
  const auto same = ctl_nobody(
      {"put", "s", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()});
  const auto get = ctl_nobody({"get", "w"});
  const auto stopped = ctl_nobody({"stop"});
  // Its objects are under uid 65534's names; removed whatever happened.
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string n = entry.path().filename().string();
    if (n.rfind("dynmgr.65534." + instance + ".", 0) == 0) ::unlink(entry.path().c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(home, ec);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.err,
            "dynmgrctl: put 'w': cannot run a worker as user 'root': the supervisor runs as uid "
            "65534, not root\n");
  EXPECT_EQ(g.exit_code, 2) << g.out << g.err;
  EXPECT_EQ(get.exit_code, 3) << get.out;
  // Its own identity is no switch at all.
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
}

// A removed mailbox is recreated as the worker's own, and the worker, no
// longer root, opens it: calls go on with the same process.
TEST_F(DynmgrdUserTest, ADroppedWorkersMailboxIsRecreatedAsItsOwn) {
  ASSERT_TRUE(start());
  ASSERT_EQ(ctl({"put", "m", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()})
                .exit_code,
            0)
      << log();
  const pid_t worker = worker_pid("m");
  ASSERT_GT(worker, 0);
  const auto rec = record("m");
  ASSERT_TRUE(rec);
  const std::string old = mailbox_of(rec->slot);
  ASSERT_FALSE(old.empty());
  ASSERT_EQ(::unlink(("/dev/shm/" + old).c_str()), 0);
  std::string now;
  // The supervisor creates the new generation, then gives it to the worker's
  // user, then publishes it: the name can be seen a moment before its owner.
  ASSERT_TRUE(wait_until(
      [&] {
        now = mailbox_of(rec->slot);
        return !now.empty() && now != old && owner_of(now) == kNobody &&
               owner_of(now + ".bell") == kNobody;
      },
      kWait))
      << "mailbox " << now << " owned by " << owner_of(now) << "\n" << log();
  const auto call = ctl({"call", "m", R"("pid")"});
  ASSERT_EQ(call.exit_code, 0) << call.err << log();
  EXPECT_EQ(worker_pid("m"), worker);
  EXPECT_EQ(log().find("unable to open the recreated mailbox"), std::string::npos) << log();
}

// The registry is root's and shared: a dropped worker cannot reopen a new one,
// so it is restarted (a new process, which opens it before its drop); a worker
// of the supervisor's user is told to reopen it and keeps its process.
TEST_F(DynmgrdUserTest, ARecreatedRegistryRestartsDroppedWorkersOnly) {
  ASSERT_TRUE(start());
  ASSERT_EQ(ctl({"put", "d", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()})
                .exit_code,
            0)
      << log();
  ASSERT_EQ(ctl({"put", "r", "--timeout", "0", "--exec", probe_command_path()}).exit_code, 0)
      << log();
  const pid_t dropped = worker_pid("d");
  const pid_t plain = worker_pid("r");
  ASSERT_GT(dropped, 0);
  ASSERT_GT(plain, 0);
  ASSERT_EQ(::unlink(("/dev/shm/" + names_.registry()).c_str()), 0);
  // Read through dynmgrctl: the fixture's client maps the removed registry.
  pid_t restarted = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto g = ctl({"--json", "get", "d"});
        if (g.exit_code != 0) return false;
        const json::value v = parse(g.out);
        if (!v.is_object() || v.at("status") != json::value("running")) return false;
        restarted = static_cast<pid_t>(v.at("pid").to_number<std::int64_t>());
        return restarted > 0 && restarted != dropped;
      },
      kWait))
      << log();
  track(restarted);
  EXPECT_TRUE(process_dead(dropped));
  EXPECT_EQ(status_line(restarted, "Uid"), kAllNobody);
  EXPECT_NE(log().find("restarting worker 'd' (uid 65534): it cannot open the new registry"),
            std::string::npos)
      << log();
  const auto d = ctl({"call", "d", R"("pid")"});
  EXPECT_EQ(d.exit_code, 0) << d.err << log();
  const auto r = ctl({"call", "r", R"("pid")"});
  EXPECT_EQ(r.exit_code, 0) << r.err << log();
  const auto g = ctl({"--json", "get", "r"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(parse(g.out).at("pid").to_number<std::int64_t>(), plain);
}

// The control queue too is root's and shared: removed, it is recreated under
// the next generation, and a dropped worker is restarted to open it.
TEST_F(DynmgrdUserTest, ARecreatedControlQueueRestartsDroppedWorkers) {
  ASSERT_TRUE(start());
  ASSERT_EQ(ctl({"put", "c", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()})
                .exit_code,
            0)
      << log();
  const pid_t dropped = worker_pid("c");
  ASSERT_GT(dropped, 0);
  std::string control;
  for (const auto& n : shm_objects(names_)) {
    if (n.rfind(names_.prefix() + "control.", 0) == 0 && n.find(".bell") == std::string::npos) {
      control = n;
    }
  }
  ASSERT_FALSE(control.empty());
  ASSERT_EQ(::unlink(("/dev/shm/" + control).c_str()), 0);
  std::optional<WorkerInfo> rec;
  ASSERT_TRUE(wait_until(
      [&] {
        rec = record("c");
        return rec && rec->status == WorkerStatus::kRunning && rec->pid > 0 && rec->pid != dropped;
      },
      kWait))
      << log();
  track(rec->pid);
  EXPECT_EQ(status_line(rec->pid, "Uid"), kAllNobody);
  EXPECT_NE(log().find("restarting worker 'c' (uid 65534): it cannot open the new control queue"),
            std::string::npos)
      << log();
  const auto call = ctl({"call", "c", R"("pid")"});
  EXPECT_EQ(call.exit_code, 0) << call.err << log();
}

// A successor finds the control queue usable: a dropped worker still holds the
// registry and control queue it opened, so it is adopted like any other (same
// process), and serves calls and del under the new supervisor.
TEST_F(DynmgrdUserTest, ASuccessorAdoptsADroppedWorker) {
  ASSERT_TRUE(start());
  ASSERT_EQ(ctl({"put", "a", "--timeout", "0", "--user", "nobody", "--exec", probe_command_path()})
                .exit_code,
            0)
      << log();
  const pid_t worker = worker_pid("a");
  ASSERT_GT(worker, 0);
  const pid_t first = supervisor_pid();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return process_dead(first); }, kWait));
  ASSERT_TRUE(start());
  ASSERT_NE(supervisor_pid(), first);
  const auto rec = record("a");
  ASSERT_TRUE(rec) << log();
  EXPECT_EQ(rec->pid, worker);  // adopted, not restarted
  const auto call = ctl({"call", "a", R"("pid")"});
  EXPECT_EQ(call.exit_code, 0) << call.err << log();
  EXPECT_EQ(log().find("restarting worker 'a'"), std::string::npos) << log();
  EXPECT_EQ(ctl({"del", "a"}).exit_code, 0) << log();
  EXPECT_TRUE(wait_until([&] { return process_dead(worker); }, kWait)) << log();
}

TEST_F(DynmgrdUserTest, AChildrenFileCarriesUserAndGroup) {
  const std::string children = path("children.json");
  std::ofstream(children) << R"({"cu": {"exec": [")" << probe_command_path()
                          << R"("], "timeout": 0, "user": "nobody"},
                                "cg": {"exec": [")"
                          << probe_command_path()
                          << R"("], "timeout": 0, "user": 65534, "group": "nogroup"}})";
  ASSERT_TRUE(start({"--children", children}));
  for (const std::string id : {"cu", "cg"}) {
    const auto rec =
        wait_record(id, [](const WorkerInfo& s) { return s.status == WorkerStatus::kRunning; });
    ASSERT_TRUE(rec) << id << log();
    const pid_t worker = worker_pid(id);
    ASSERT_GT(worker, 0);
    EXPECT_EQ(status_line(worker, "Uid"), kAllNobody) << id;
    EXPECT_EQ(status_line(worker, "Gid"), kAllNobody) << id;
  }
  EXPECT_EQ(record("cu")->user, "nobody");
  EXPECT_EQ(record("cg")->user, "65534");
  EXPECT_EQ(record("cg")->group, "nogroup");
  const auto get = ctl({"get", "cg"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("65534"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("nogroup"), std::string::npos) << get.out;
}

// An unknown user in a children file is a usage error of dynmgrd, naming it.
TEST_F(DynmgrdUserTest, AnUnknownUserInAChildrenFileIsAUsageError) {
  const std::string children = path("children.json");
  std::ofstream(children) << R"({"z": {"exec": ["true"], "user": "no-such-user-dynmgr"}})";
  const auto bad = start_raw({"--children", children});
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE((bad.out + bad.err).find("'z': unknown user 'no-such-user-dynmgr'"), std::string::npos)
      << bad.out << bad.err;
}

}  // namespace
}  // namespace dynmgr::testing
