// Nothing lost when the host dies: the supervisor's state database (SQLite,
// WAL) brings every worker back after a simulated reboot (the supervisor and
// every worker SIGKILLed, the instance's /dev/shm objects removed), runtime-
// added ones too, each with every change a call acknowledged. Failures of the
// database (a newer schema, a state dir that is a file, writes over the file
// size limit, a dir held by another supervisor) are reported and never stop
// the service. Real processes, real files; every wait has a deadline.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "probe_harness.hpp"
#include "shared/shm_objects.hpp"

namespace dynmgr {
namespace {

using testing::ProbeStart;
using testing::spec;
using testing::wait_until;
using namespace std::chrono_literals;

constexpr int kLanes = 4;

// Reads the database as an operator would (sqlite3 state.db 'select ...').
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 2000);
  }
  ~Db() { sqlite3_close_v2(db_); }
  // The first column of every row of a query.
  std::vector<std::string> column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    sqlite3_finalize(s);
    return out;
  }
  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? std::string("<none>") : c.front();
  }

 private:
  sqlite3* db_ = nullptr;
};

// Clients appending to their own worker's payload with calls; a value is
// "acknowledged" once its call answered, and then it must survive anything.
class AppendLoad {
 public:
  explicit AppendLoad(std::string instance) : instance_(std::move(instance)) {}
  ~AppendLoad() { stop(); }
  static std::string id(int lane) { return "r" + std::to_string(lane + 1); }
  void start() {
    for (int i = 0; i < kLanes; ++i) threads_.emplace_back([this, i] { run(i); });
  }
  void stop() {
    done_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  bool wait_acked(std::size_t each) {
    return wait_until([&] {
      std::lock_guard<std::mutex> l(mu_);
      for (int i = 0; i < kLanes; ++i) {
        if (acked_[i].size() < each) return false;
      }
      return true;
    });
  }
  ::testing::AssertionResult all_in(int lane, const json::value& payload) {
    std::set<std::int64_t> have;
    if (payload.is_array()) {
      for (const auto& v : payload.get_array()) {
        if (v.is_int64()) have.insert(v.get_int64());
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    for (std::int64_t k : acked_[lane]) {
      if (!have.count(k))
        return ::testing::AssertionFailure() << "acknowledged append " << k << " is lost";
    }
    return ::testing::AssertionSuccess() << acked_[lane].size() << " acknowledged";
  }

 private:
  void run(int lane) {
    auto c = Client::connect(Client::Options{instance_, Millis(2000)});
    if (!c) return;
    for (std::int64_t k = 1; !done_; ++k) {
      auto r = c->call(id(lane), json::array{"append", k});
      if (!r) continue;  // the supervisor or the worker was killed meanwhile: not acknowledged
      std::lock_guard<std::mutex> l(mu_);
      acked_[lane].push_back(k);
    }
  }

  std::string instance_;
  std::atomic<bool> done_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<std::int64_t> acked_[kLanes];
};

class Persistence : public testing::ProbeTest {
 protected:
  std::string state_dir() const { return dir_ + "/state"; }
  std::string db_path() const { return state_dir() + "/state.db"; }
  ProbeStart with_state(std::vector<std::string> more = {}) const {
    std::vector<std::string> f = {"--state-dir", state_dir()};
    f.insert(f.end(), more.begin(), more.end());
    return ProbeStart{}.with_flags(f);
  }

  PersistenceStatus persistence() { return client().header().persistence; }

  // Waits until every change so far is committed (batch durability).
  bool wait_committed() {
    return wait_until([&] {
      const auto p = persistence();
      return p.enabled && p.ok && p.pending == 0 && p.last_commit_ms > 0;
    });
  }

  // The host dies: the supervisor and every worker SIGKILLed at once, and
  // /dev/shm (a tmpfs) emptied of the instance's objects.
  void reboot() {
    std::vector<pid_t> pids = {supervisor_pid()};
    if (auto all = client().state()) {
      for (const auto& w : *all) {
        if (w.pid > 0) pids.push_back(w.pid);
      }
    }
    for (pid_t p : pids) ::kill(p, SIGKILL);
    ASSERT_TRUE(wait_supervisor_exit());
    for (pid_t p : pids) {
      ASSERT_TRUE(wait_until([&] { return process_gone(p); })) << "pid " << p;
    }
    drop_client();
    for (const auto& n : list_shm_objects(names_.prefix())) ::unlink(Names::shm_path(n).c_str());
    // Clients of this process (the load) outlive the simulated host: one whose
    // request failed makes a new reply queue for its next one at any time.
    for (const auto& n : list_shm_objects(names_.prefix())) {
      ASSERT_EQ(n.rfind(names_.reply_prefix(), 0), 0u) << n << " is left after the reboot";
    }
  }

  // Stops the supervisor cleanly and waits for it to exit.
  void stop_cleanly() {
    ASSERT_TRUE(client().stop());
    ASSERT_TRUE(wait_supervisor_exit());
    drop_client();
  }

  std::set<std::string> ids() {
    std::set<std::string> out;
    auto all = client().state();
    EXPECT_TRUE(all);
    if (all) {
      for (const auto& w : *all) out.insert(w.id);
    }
    return out;
  }

  // A started supervisor must answer puts and calls whatever the database does.
  void expect_service_goes_on() {
    auto r = put("alive", spec(json::array{}));
    ASSERT_TRUE(r) << r.error().message;
    auto c = client().call("alive", json::array{"append", 1});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(to_json(*c), "[1]");
  }

  void reboot_under_load_loses_no_acknowledged_add(const std::vector<std::string>& durability) {
    const ProbeStart start_flags =
        with_state(durability).with_children(R"({"c1":{"payload":[],"timeout":0}})");
    ASSERT_TRUE(start(start_flags));
    for (int i = 0; i < kLanes; ++i) ASSERT_TRUE(put(AppendLoad::id(i), spec(json::array{})));
    AppendLoad load(instance_);
    load.start();
    ASSERT_TRUE(load.wait_acked(20));
    const bool sync = durability.size() > 1 && durability[1] == "sync";
    if (!sync) {
      // batch: a power loss loses at most the last --sync-interval of changes.
      // Stop the load and let the last batch commit: then nothing may be lost.
      load.stop();
      ASSERT_TRUE(wait_committed());
    }
    // sync: the host dies with calls in flight; every one answered is on disk.
    reboot();
    load.stop();
    ASSERT_TRUE(take_over(start_flags));
    EXPECT_EQ(ids(), (std::set<std::string>{"c1", "r1", "r2", "r3", "r4"}));
    for (int i = 0; i < kLanes; ++i) {
      auto w = get(AppendLoad::id(i));
      ASSERT_TRUE(w);
      EXPECT_TRUE(load.all_in(i, testing::parse(w->payload))) << w->payload;
      // Restored, not adopted: a new process, serving.
      auto c = client().call(AppendLoad::id(i), json::array{"append", -1});
      EXPECT_TRUE(c) << AppendLoad::id(i);
    }
    EXPECT_EQ(client().header().adopted, 0u);
    EXPECT_TRUE(persistence().ok) << persistence().error;
  }
};

TEST_F(Persistence, SimulatedRebootWithSyncDurabilityLosesNoAcknowledgedAdd) {
  reboot_under_load_loses_no_acknowledged_add({"--durability", "sync"});
}

TEST_F(Persistence, SimulatedRebootWithBatchDurabilityLosesNothingCommitted) {
  reboot_under_load_loses_no_acknowledged_add({"--durability", "batch"});
}

TEST_F(Persistence, TheExitHistoryComesBackAfterAReboot) {
  ASSERT_TRUE(start(with_state()));
  ASSERT_TRUE(put("k", spec(json::value(nullptr))));
  for (int i = 0; i < 3; ++i) {
    auto w = get("k");
    ASSERT_TRUE(w);
    ::kill(w->pid, SIGKILL);
    ASSERT_TRUE(wait_until([&] {
      auto g = get("k");
      return g && g->status == WorkerStatus::kRunning &&
             g->restarts == static_cast<unsigned>(i + 1);
    }));
  }
  const auto before = get("k")->exits;
  ASSERT_EQ(before.size(), 3u);
  ASSERT_TRUE(wait_committed());
  reboot();
  ASSERT_TRUE(take_over(with_state()));
  auto after = get("k");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->exits.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(after->exits[k].at_ms, before[k].at_ms) << k;
    EXPECT_EQ(after->exits[k].exit.kind, ExitInfo::Kind::kSignaled);
    EXPECT_EQ(after->exits[k].exit.code, SIGKILL);
    EXPECT_EQ(after->exits[k].restarted, before[k].restarted);
    EXPECT_EQ(after->exits[k].restart_in_ms, before[k].restart_in_ms);
  }
}

// The resource limits are part of the stored spec (README "Resource limits and hangs").
TEST_F(Persistence, TheLimitsComeBackAfterAReboot) {
  ASSERT_TRUE(start(with_state()));
  ChildSpec s = spec(json::value(nullptr));
  s.on_overrun = OnOverrun::kKill;
  s.max_memory = std::uint64_t{256} << 20;
  s.rlimits.nofile = 200;
  s.rlimits.core = 0;
  ASSERT_TRUE(put("lim", s));
  ASSERT_TRUE(wait_committed());
  reboot();
  ASSERT_TRUE(take_over(with_state()));
  auto after = get("lim");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->on_overrun, OnOverrun::kKill);
  EXPECT_EQ(after->max_memory, std::uint64_t{256} << 20);
  EXPECT_EQ(testing::parse(after->rlimits), testing::P(R"({"nofile": 200, "core": 0})"));
}

// Passivation (README "Passivation"): a passive id survives the host's death
// as passive, with its last payload; it starts at its first call. A worker
// that was running comes back running.
TEST_F(Persistence, APassiveWorkerComesBackPassiveAfterAReboot) {
  ASSERT_TRUE(start(with_state()));
  auto p = client().put_passive("p", spec(testing::P(R"({"n": 3})")));
  ASSERT_TRUE(p) << p.error().message;
  ChildSpec idle = spec(json::value(7));
  idle.passivate_after_ms = 50;
  ASSERT_TRUE(put("i", idle));
  ASSERT_TRUE(put("r", spec(json::value(1))));
  ASSERT_TRUE(wait_record("i", [](const WorkerInfo& w) { return w.status == WorkerStatus::kPassive; }));
  ASSERT_TRUE(wait_committed());
  const auto stamped = Db(db_path()).column("select updated_ms from workers where id = 'p'");
  ASSERT_EQ(stamped.size(), 1u);
  reboot();
  ASSERT_TRUE(take_over(with_state()));
  // A change of its own, so that a commit follows whatever the restore wrote.
  ASSERT_TRUE(client().put_passive("x", spec(json::value(0))));
  ASSERT_TRUE(wait_committed());
  // Restored as stored: its row is not written again (a million of them were,
  // in one transaction in the loop, at every reboot).
  EXPECT_EQ(Db(db_path()).column("select updated_ms from workers where id = 'p'"), stamped);
  auto after = get("p");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, WorkerStatus::kPassive);
  EXPECT_EQ(after->pid, 0);
  auto i = get("i");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->status, WorkerStatus::kPassive);
  EXPECT_EQ(i->passivate_after_ms, 50u);
  auto r = wait_record("r", [](const WorkerInfo& w) { return w.status == WorkerStatus::kRunning; });
  ASSERT_TRUE(r);
  auto v = client().call("p", testing::P(R"("get")"));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, testing::P(R"({"n": 3})"));
  // Its ready report may reach the supervisor after the reply reached us.
  EXPECT_TRUE(wait_record("p", [](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid > 0;
  }));
}

TEST_F(Persistence, SyncCommitsBeforeTheReply) {
  ASSERT_TRUE(start(with_state({"--durability", "sync"})));
  ASSERT_TRUE(put("w", spec(json::array{})));
  Db db(db_path());
  // put: the row is on disk once the put is answered.
  EXPECT_EQ(db.one("select payload from workers where id = 'w'"), "[]");
  for (int k = 1; k <= 5; ++k) {
    ASSERT_TRUE(client().call("w", json::array{"append", k}));
    // Read at once by another connection, with no wait: already committed.
    const std::string stored = db.one("select payload from workers where id = 'w'");
    EXPECT_TRUE(testing::parse(stored).is_array() &&
                testing::parse(stored).get_array().size() == std::size_t(k))
        << stored;
  }
  ASSERT_TRUE(client().del("w"));
  EXPECT_EQ(db.one("select count(*) from workers where id = 'w'"), "0");
}

TEST_F(Persistence, CleanStopRestoresRuntimeWorkersAndMergesChildren) {
  ASSERT_TRUE(start(with_state().with_children(R"({"c1":{"payload":[],"timeout":0}})")));
  ASSERT_TRUE(client().call("c1", json::array{"append", 7}));
  ASSERT_TRUE(put("r1", spec("x")));
  ASSERT_TRUE(put("r2", spec("y")));
  ASSERT_TRUE(client().del("r2"));
  // A crash and its restart are remembered: the restart count and the exit.
  const auto before = get("r1");
  ASSERT_TRUE(before);
  (void)client().call("r1", "crash");
  ASSERT_TRUE(wait_record("r1", [&](const WorkerInfo& w) {
    return w.restarts == 1 && w.status == WorkerStatus::kRunning && w.pid != before->pid;
  }));
  stop_cleanly();
  {
    Db db(db_path());
    EXPECT_EQ(db.column("select id from workers order by id"),
              (std::vector<std::string>{"c1", "r1"}));
    EXPECT_EQ(db.one("select restarts from workers where id = 'r1'"), "1");
    EXPECT_EQ(db.one("select count(*) from exits where id = 'r1' and kind != 'normal'"), "1");
  }
  // The code now names c2 too: it starts fresh; c1 keeps its committed payload.
  ASSERT_TRUE(take_over(with_state().with_children(
      R"({"c1":{"payload":[],"timeout":0},"c2":{"payload":[9],"timeout":0}})")));
  EXPECT_EQ(ids(), (std::set<std::string>{"c1", "c2", "r1"}));
  EXPECT_EQ(get("c1")->payload, "[7]");
  EXPECT_EQ(get("c2")->payload, "[9]");
  EXPECT_EQ(get("r1")->payload, "\"x\"");
  EXPECT_EQ(get("r1")->restarts, 1u);
}

TEST_F(Persistence, FreshStartsFromChildrenSpecsOnlyAndForgetsTheRest) {
  const ProbeStart s = with_state().with_children(R"({"c1":{"payload":[],"timeout":0}})");
  ASSERT_TRUE(start(s));
  ASSERT_TRUE(client().call("c1", json::array{"append", 7}));
  ASSERT_TRUE(put("r1", spec("x")));
  stop_cleanly();
  ASSERT_TRUE(take_over(s.with_flags({"--fresh"})));
  EXPECT_EQ(ids(), (std::set<std::string>{"c1"}));
  EXPECT_EQ(get("c1")->payload, "[]");
  bool said = false;
  for (const auto& l : log("supervisor"))
    said = said || l.find("--fresh: dropping 2 stored worker(s)") != std::string::npos;
  EXPECT_TRUE(said) << supervisor_output();
  stop_cleanly();
  ASSERT_TRUE(take_over(s));  // without --fresh: r1 stays forgotten
  EXPECT_EQ(ids(), (std::set<std::string>{"c1"}));
}

TEST_F(Persistence, AdoptionMakesTheDatabaseMatchTheRegistry) {
  ASSERT_TRUE(start(with_state()));
  ASSERT_TRUE(put("a", spec(json::array{})));
  ASSERT_TRUE(put("b", spec(json::array{})));
  ASSERT_TRUE(wait_committed());
  ASSERT_TRUE(client().call("a", json::array{"append", 1}));
  ASSERT_TRUE(client().del("b"));
  // Killed before (or after: either way) the batch with those changes commits.
  ASSERT_EQ(::kill(supervisor_pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_supervisor_exit());
  ASSERT_TRUE(take_over(with_state()));
  ASSERT_TRUE(wait_committed());
  Db db(db_path());
  EXPECT_EQ(db.column("select id from workers"), std::vector<std::string>{"a"});
  EXPECT_EQ(db.one("select payload from workers where id = 'a'"), "[1]");
}

TEST_F(Persistence, NewerSchemaIsLeftUntouchedAndTheServiceGoesOn) {
  std::filesystem::create_directories(state_dir());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(
            db, "create table future(x); insert into future values(42); pragma user_version = 99;",
            nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_TRUE(start(with_state()));
  const auto p = persistence();
  EXPECT_TRUE(p.enabled);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("schema 99"), std::string::npos) << p.error;
  expect_service_goes_on();
  stop_cleanly();
  Db db(db_path());
  EXPECT_EQ(db.one("pragma user_version"), "99");
  EXPECT_EQ(db.one("select x from future"), "42");
}

TEST_F(Persistence, StateDirThatIsAFileIsReportedAndTheServiceGoesOn) {
  std::ofstream(state_dir()) << "not a directory\n";
  ASSERT_TRUE(start(with_state()));
  const auto p = persistence();
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find(state_dir()), std::string::npos) << p.error;
  expect_service_goes_on();
  const auto ping = testing::run_command({testing::bin_path("dynmgrctl"), "-n", instance_, "ping"});
  EXPECT_EQ(ping.exit_code, 0);
  EXPECT_NE(ping.out.find("FAILING"), std::string::npos) << ping.out;
}

TEST_F(Persistence, FailedWritesAreReportedRetriedAndLoseNothing) {
  ASSERT_TRUE(start(with_state()));
  ASSERT_TRUE(put("w", spec(json::array{})));
  ASSERT_TRUE(wait_committed());
  // The disk is "full" for the supervisor: every write past byte 1 fails (EFBIG).
  // (Only the soft limit moves: raising a hard one back needs CAP_SYS_RESOURCE.)
  rlimit old{};
  ASSERT_EQ(::prlimit(supervisor_pid(), RLIMIT_FSIZE, nullptr, &old), 0) << std::strerror(errno);
  const rlimit tiny{1, old.rlim_max};
  ASSERT_EQ(::prlimit(supervisor_pid(), RLIMIT_FSIZE, &tiny, nullptr), 0) << std::strerror(errno);
  for (int k = 1; k <= 10; ++k) ASSERT_TRUE(client().call("w", json::array{"append", k}));
  ASSERT_TRUE(wait_until([&] { return !persistence().ok; }));
  const auto p = persistence();
  EXPECT_FALSE(p.error.empty());
  EXPECT_GT(p.pending, 0u);
  // Calls and casts go on (new workers would not: the limit is per process,
  // so it also refuses their /dev/shm mailboxes, unlike a full disk).
  auto c = client().call("w", json::array{"append", 11});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(to_json(*c), "[1,2,3,4,5,6,7,8,9,10,11]");
  ASSERT_TRUE(client().cast("w", json::array{"append", 12}));
  ASSERT_TRUE(wait_record(
      "w", [](const WorkerInfo& w) { return w.payload.find(",12]") != std::string::npos; }));
  // The disk has room again: the pending changes are committed by a retry.
  ASSERT_EQ(::prlimit(supervisor_pid(), RLIMIT_FSIZE, &old, nullptr), 0) << std::strerror(errno);
  ASSERT_TRUE(wait_committed()) << persistence().error;
  Db db(db_path());
  EXPECT_EQ(db.one("select payload from workers where id = 'w'"), "[1,2,3,4,5,6,7,8,9,10,11,12]");
}

TEST_F(Persistence, OneStateDirServesOneSupervisor) {
  ASSERT_TRUE(start(with_state()));
  ASSERT_TRUE(put("mine", spec(1)));
  const std::string other = testing::unique_instance("ps");
  const auto r =
      testing::run_command({testing::bin_path("probe"), "-n", other, "--daemon", "--log-file",
                            dir_ + "/other.log", "--state-dir", state_dir()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    auto c = Client::connect(Client::Options{other, Millis(5000)});
    ASSERT_TRUE(c);
    const auto p = c->header().persistence;
    EXPECT_FALSE(p.ok);
    EXPECT_NE(p.error.find("in use by another supervisor"), std::string::npos) << p.error;
    EXPECT_TRUE(c->stop());
  }  // (the client's reply queue goes with it)
  EXPECT_TRUE(wait_until([&] { return list_shm_objects(Names(other).prefix()).empty(); }));
  EXPECT_TRUE(persistence().ok);
  ASSERT_TRUE(wait_committed()) << persistence().error;  // the put's row: batched
  Db db(db_path());
  EXPECT_EQ(db.column("select id from workers"), std::vector<std::string>{"mine"});
}

TEST_F(Persistence, NoStateKeepsNothing) {
  ASSERT_TRUE(start(ProbeStart{}.with_flags({"--no-state"})));
  ASSERT_TRUE(put("w", spec(1)));
  EXPECT_FALSE(persistence().enabled);
  EXPECT_FALSE(std::filesystem::exists(testing::state_root() + "/" + instance_));
  const auto ping = testing::run_command({testing::bin_path("dynmgrctl"), "-n", instance_, "ping"});
  EXPECT_NE(ping.out.find("state: off"), std::string::npos) << ping.out;
}

TEST_F(Persistence, BadStateFlagsAreRefusedWithExitTwo) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--durability", "fast"}, "invalid --durability 'fast': must be sync or batch"},
      {{"--no-state", "--state-dir", "/tmp/x"}, "--no-state and --state-dir exclude each other"},
      {{"--sync-interval", "0"}, "--sync-interval"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {testing::bin_path("probe"), "-n", instance_};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const auto r = testing::run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << c.flags.front();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  EXPECT_TRUE(list_shm_objects(names_.prefix()).empty());
}

}  // namespace
}  // namespace dynmgr
