// supervisor/state_store.cpp against real SQLite files, one fresh directory per
// test: what is written is what load() and a second connection (an operator's
// sqlite3 shell) read back; batch changes stay invisible until flush(); a file
// of a newer schema is refused untouched; a failed commit (RLIMIT_FSIZE in a
// forked child, or a lock held by another connection) loses nothing.

#include "supervisor/state_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

#include "support/test_support.hpp"

namespace dynmgr {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

StoredWorker worker(const std::string& id, const std::string& payload = "{\"n\":0}") {
  StoredWorker w;
  w.id = id;
  w.spec_json = "{\"timeout\":1000,\"options\":{\"command\":[\"/bin/true\"]}}";
  w.payload_json = payload;
  w.value_json = "null";
  w.updated_ms = 1'700'000'000'000;
  return w;
}

StoredExit exit_at(const std::string& id, std::uint64_t at_ms) {
  StoredExit e;
  e.id = id;
  e.at_ms = at_ms;
  e.uptime_ms = at_ms * 10;
  e.exit = ExitInfo{ExitInfo::Kind::kSignaled, 9, "killed by SIGKILL"};
  e.restarted = true;
  e.restart_in_ms = 200;
  return e;
}

auto fields(const StoredWorker& w) {
  return std::tuple(w.id, w.spec_json, w.payload_json, w.value_json, w.wanted_running, w.restarts,
                    w.updated_ms);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Another connection to the file, as an operator's sqlite3 shell would open it.
class Raw {
 public:
  explicit Raw(const std::string& path) {
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
  }
  ~Raw() { sqlite3_close(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  // The first column of the first row as text; "" without a row.
  std::string one(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  void exec(const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

class StateStoreTest : public ::testing::Test {
 protected:
  StateStoreTest() {
    char tmpl[] = "/tmp/dynmgr-store-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) root_ = tmpl;
    dir_ = root_ + "/state";
  }
  ~StateStoreTest() override {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }
  void SetUp() override { ASSERT_FALSE(root_.empty()) << "mkdtemp failed"; }

  // Throws (and so fails the test) when the store does not open.
  StateStore open(Durability d = Durability::kBatch) {
    return StateStore::open({dir_, d, 20ms}).value();
  }
  std::string db_path() const { return dir_ + "/state.db"; }

  std::string root_;
  std::string dir_;
};

TEST_F(StateStoreTest, PutThenLoadReturnsEveryRowOrderedById) {
  StateStore store = open();
  EXPECT_EQ(store.path(), db_path());
  StoredWorker b = worker("b", "{\"x\":[1,2]}");
  b.wanted_running = false;
  b.restarts = 7;
  for (const auto& w : {b, worker("c"), worker("a")}) ASSERT_TRUE(store.put(w));
  ASSERT_TRUE(store.flush());

  auto rows = store.load();
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(fields((*rows)[0]), fields(worker("a")));
  EXPECT_EQ(fields((*rows)[1]), fields(b));
  EXPECT_EQ(fields((*rows)[2]), fields(worker("c")));
  // Readable by an operator.
  EXPECT_EQ(Raw(db_path()).one("select payload from workers where id = 'b'"), "{\"x\":[1,2]}");
  const std::string created_by =
      Raw(db_path()).one("select value from meta where key = 'created_by'");
  EXPECT_EQ(created_by.rfind("dynmgrd ", 0), 0u) << created_by;  // "dynmgrd <version>"
}

TEST_F(StateStoreTest, PartialUpdatesChangeOnlyTheirColumnsOfKnownRows) {
  StateStore store = open();
  ASSERT_TRUE(store.put(worker("a")));
  ASSERT_TRUE(store.put(worker("b")));
  ASSERT_TRUE(store.flush());

  ASSERT_TRUE(store.set_payload("a", "{\"n\":5}", "\"five\""));
  ASSERT_TRUE(store.set_wanted("a", false));
  ASSERT_TRUE(store.set_restarts("b", 3));
  ASSERT_TRUE(store.set_payload("ghost", "{}", "null"));  // no row: nothing happens
  ASSERT_TRUE(store.set_wanted("ghost", false));
  ASSERT_TRUE(store.flush());

  auto rows = store.load();
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  const StoredWorker& a = (*rows)[0];
  EXPECT_EQ(a.payload_json, "{\"n\":5}");
  EXPECT_EQ(a.value_json, "\"five\"");
  EXPECT_FALSE(a.wanted_running);
  EXPECT_EQ(a.restarts, 0u);
  EXPECT_EQ(a.spec_json, worker("a").spec_json);
  EXPECT_GT(a.updated_ms, worker("a").updated_ms);  // stamped with the wall clock of the call
  const StoredWorker& b = (*rows)[1];
  EXPECT_EQ(b.restarts, 3u);
  EXPECT_EQ(b.payload_json, worker("b").payload_json);
  EXPECT_TRUE(b.wanted_running);
}

TEST_F(StateStoreTest, RemoveDeletesTheRowAndItsExits) {
  StateStore store = open();
  ASSERT_TRUE(store.put(worker("a")));
  ASSERT_TRUE(store.put(worker("b")));
  ASSERT_TRUE(store.record_exit(exit_at("a", 1)));
  ASSERT_TRUE(store.record_exit(exit_at("b", 1)));
  ASSERT_TRUE(store.flush());

  ASSERT_TRUE(store.remove("a"));
  ASSERT_TRUE(store.set_payload("a", "{\"late\":1}", "null"));  // after remove: ignored
  ASSERT_TRUE(store.flush());
  auto rows = store.load();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, "b");
  EXPECT_TRUE(store.exits("a")->empty());
  EXPECT_EQ(store.exits("b")->size(), 1u);
}

TEST_F(StateStoreTest, RemoveThenPutInOneBatchStartsAFreshRow) {
  StateStore store = open();
  ASSERT_TRUE(store.put(worker("a")));
  ASSERT_TRUE(store.record_exit(exit_at("a", 1)));
  ASSERT_TRUE(store.flush());

  ASSERT_TRUE(store.record_exit(exit_at("a", 2)));
  ASSERT_TRUE(store.remove("a"));
  ASSERT_TRUE(store.put(worker("a", "{\"new\":true}")));
  ASSERT_TRUE(store.set_restarts("a", 1));  // folds into the pending row
  ASSERT_TRUE(store.record_exit(exit_at("a", 3)));
  ASSERT_TRUE(store.flush());

  auto rows = store.load();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].payload_json, "{\"new\":true}");
  EXPECT_EQ((*rows)[0].restarts, 1u);
  auto exits = store.exits("a");
  ASSERT_TRUE(exits);
  ASSERT_EQ(exits->size(), 1u);  // only the one recorded after remove
  EXPECT_EQ((*exits)[0].at_ms, 3u);
}

TEST_F(StateStoreTest, BatchChangesAreInvisibleToOtherConnectionsUntilFlush) {
  StateStore store = open(Durability::kBatch);
  EXPECT_FALSE(store.has_pending());
  EXPECT_FALSE(store.next_flush());

  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store.put(worker("w" + std::to_string(i))));
  const auto after = std::chrono::steady_clock::now();
  EXPECT_TRUE(store.has_pending());
  EXPECT_EQ(store.health().pending, 5u);
  auto due = store.next_flush();
  ASSERT_TRUE(due);  // sync_interval after the first change
  EXPECT_GE(*due, before + 20ms);
  EXPECT_LE(*due, after + 20ms);

  Raw raw(db_path());
  EXPECT_EQ(raw.one("select count(*) from workers"), "0");
  ASSERT_TRUE(store.flush());
  EXPECT_EQ(raw.one("select count(*) from workers"), "5");
  EXPECT_FALSE(store.has_pending());
  EXPECT_FALSE(store.next_flush());
  const StoreHealth h = store.health();
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.pending, 0u);
  EXPECT_EQ(h.lag_ms, 0u);
  EXPECT_GT(h.last_commit_ms, 0u);
}

TEST_F(StateStoreTest, ManyChangesToOneIdCoalesceIntoOneRowWithTheLast) {
  StateStore store = open(Durability::kBatch);
  ASSERT_TRUE(store.put(worker("a")));
  for (int i = 1; i <= 1000; ++i) {
    ASSERT_TRUE(store.set_payload("a", "{\"n\":" + std::to_string(i) + "}", std::to_string(i)));
  }
  EXPECT_EQ(store.health().pending, 1u);
  const auto commits = store.health().commits;
  ASSERT_TRUE(store.flush());
  EXPECT_EQ(store.health().commits, commits + 1);

  Raw raw(db_path());
  EXPECT_EQ(raw.one("select count(*) from workers"), "1");
  EXPECT_EQ(raw.one("select payload from workers where id = 'a'"), "{\"n\":1000}");
  EXPECT_EQ(raw.one("select value from workers where id = 'a'"), "1000");
}

TEST_F(StateStoreTest, SyncModeCommitsEachChangeBeforeReturning) {
  StateStore store = open(Durability::kSync);
  Raw raw(db_path());
  ASSERT_TRUE(store.put(worker("a")));
  EXPECT_FALSE(store.has_pending());
  EXPECT_FALSE(store.next_flush());
  EXPECT_EQ(raw.one("select count(*) from workers"), "1");
  ASSERT_TRUE(store.set_payload("a", "{\"n\":2}", "2"));
  EXPECT_EQ(raw.one("select payload from workers where id = 'a'"), "{\"n\":2}");
  ASSERT_TRUE(store.set_wanted("a", false));
  EXPECT_EQ(raw.one("select wanted from workers where id = 'a'"), "0");
  ASSERT_TRUE(store.record_exit(exit_at("a", 1)));
  EXPECT_EQ(raw.one("select count(*) from exits"), "1");
  ASSERT_TRUE(store.remove("a"));
  EXPECT_EQ(raw.one("select count(*) from workers"), "0");
  EXPECT_EQ(raw.one("select count(*) from exits"), "0");
  EXPECT_EQ(store.health().commits, 5u);
}

class StateStoreExitsTest : public StateStoreTest,
                            public ::testing::WithParamInterface<Durability> {};

TEST_P(StateStoreExitsTest, KeepsTheNewestTenPerIdNewestFirst) {
  StateStore store = open(GetParam());
  ASSERT_TRUE(store.put(worker("a")));
  ASSERT_TRUE(store.record_exit(exit_at("b", 100)));
  for (std::uint64_t t = 1; t <= 15; ++t) ASSERT_TRUE(store.record_exit(exit_at("a", t)));
  if (GetParam() == Durability::kBatch) {
    EXPECT_EQ(store.health().pending, 1u + 1u + 10u);  // row a, b's exit, a's newest 10 exits
  }
  ASSERT_TRUE(store.flush());

  auto exits = store.exits("a");
  ASSERT_TRUE(exits) << exits.error().message;
  ASSERT_EQ(exits->size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ((*exits)[i].at_ms, 15 - i);
  const StoredExit& e = exits->front();
  EXPECT_EQ(e.id, "a");
  EXPECT_EQ(e.uptime_ms, 150u);
  EXPECT_EQ(e.exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(e.exit.code, 9);
  EXPECT_EQ(e.exit.reason, "killed by SIGKILL");
  EXPECT_TRUE(e.restarted);
  EXPECT_EQ(e.restart_in_ms, 200u);
  EXPECT_EQ(Raw(db_path()).one("select count(*) from exits where id = 'a'"), "10");
  EXPECT_EQ(Raw(db_path()).one("select kind from exits where at_ms = 15"), "signaled");
  EXPECT_EQ(store.exits("b")->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, StateStoreExitsTest,
                         ::testing::Values(Durability::kSync, Durability::kBatch),
                         [](const ::testing::TestParamInfo<Durability>& mode) {
                           return mode.param == Durability::kSync ? "Sync" : "Batch";
                         });

TEST_F(StateStoreTest, ReopeningKeepsEverythingCommitted) {
  StoredWorker a = worker("a", "{\"big\":\"" + std::string(10000, 'x') + "\"}");
  a.wanted_running = false;
  {
    StateStore store = open();
    ASSERT_TRUE(store.put(a));
    ASSERT_TRUE(store.put(worker("b")));
    ASSERT_TRUE(store.record_exit(exit_at("a", 5)));
    ASSERT_TRUE(store.flush());
  }
  StateStore again = open();
  auto rows = again.load();
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(fields((*rows)[0]), fields(a));
  EXPECT_EQ(fields((*rows)[1]), fields(worker("b")));
  ASSERT_EQ(again.exits("a")->size(), 1u);
  EXPECT_EQ(Raw(db_path()).one("pragma user_version"), "1");
  EXPECT_EQ(Raw(db_path()).one("pragma journal_mode"), "wal");
}

TEST_F(StateStoreTest, ANewerSchemaIsRefusedAndLeftUntouched) {
  ASSERT_TRUE(fs::create_directories(dir_));
  {
    Raw raw(db_path());
    raw.exec("create table future(x); insert into future values (1); pragma user_version = 99");
  }
  const std::string bytes = file_bytes(db_path());
  ASSERT_FALSE(bytes.empty());

  auto store = StateStore::open({dir_});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kStale);
  EXPECT_EQ(store.error().message,
            "state database " + db_path() + " has schema 99; this dynmgrd knows up to 1");
  EXPECT_EQ(file_bytes(db_path()), bytes);
  EXPECT_FALSE(fs::exists(db_path() + "-wal"));
}

TEST_F(StateStoreTest, AFileThatIsNoDatabaseIsACleanError) {
  ASSERT_TRUE(fs::create_directories(dir_));
  std::ofstream(db_path()) << std::string(4096, 'z');
  auto store = StateStore::open({dir_});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kSystem);
  EXPECT_EQ(store.error().message,
            "unable to read the schema version of " + db_path() + ": file is not a database");
}

TEST_F(StateStoreTest, CreatesMissingDirectoriesWithMode0700) {
  dir_ = root_ + "/a/b/state";
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  StateStore store = open();
  for (const std::string& d : {root_ + "/a", root_ + "/a/b", dir_}) {
    struct stat st {};
    ASSERT_EQ(::stat(d.c_str(), &st), 0) << d;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0700u) << d;
  }
  struct stat st {};
  ASSERT_EQ(::stat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);  // an existing directory is left as it is
}

TEST_F(StateStoreTest, AStateDirThatIsARegularFileIsACleanError) {
  std::ofstream(dir_) << "not a directory";
  auto store = StateStore::open({dir_});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, Errc::kSystem);
  EXPECT_EQ(store.error().message, "unable to use state directory " + dir_ + ": Not a directory");

  auto below = StateStore::open({dir_ + "/sub"});
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().message,
            "unable to create state directory " + dir_ + "/sub: Not a directory");

  auto none = StateStore::open({""});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kInvalid);
}

TEST_F(StateStoreTest, EveryFileDescriptorIsCloseOnExec) {
  StateStore store = open();
  ASSERT_TRUE(store.put(worker("a")));
  ASSERT_TRUE(store.flush());
  int seen = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (ec || target.string().rfind(dir_ + "/", 0) != 0) continue;
    const int fd = std::stoi(entry.path().filename().string());
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << target;
    ++seen;
  }
  EXPECT_GE(seen, 3);  // state.db, -wal, -shm
}

TEST_F(StateStoreTest, ALockHeldElsewhereFailsTheCommitAndKeepsTheChanges) {
  StateStore store = open(Durability::kBatch);
  Raw raw(db_path());
  raw.exec("begin immediate");
  ASSERT_TRUE(store.put(worker("a")));
  const auto before = std::chrono::steady_clock::now();
  Status st = store.flush();  // waits the busy timeout (tens of ms), then gives up
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kSystem);
  EXPECT_EQ(st.error().message,
            "unable to begin a transaction on " + db_path() + ": database is locked");
  EXPECT_TRUE(store.has_pending());
  EXPECT_FALSE(store.health().ok);
  EXPECT_EQ(store.health().error, st.error().message);
  auto due = store.next_flush();
  ASSERT_TRUE(due);
  EXPECT_GE(*due, before + 1s);  // no retry sooner than 1 s after a failure

  raw.exec("rollback");
  ASSERT_TRUE(store.flush());
  EXPECT_TRUE(store.health().ok);
  EXPECT_TRUE(store.health().error.empty());
  EXPECT_EQ(raw.one("select count(*) from workers"), "1");
}

TEST_F(StateStoreTest, InSyncModeAFailedCommitIsReturnedAndRetriedWithTheNextChange) {
  StateStore store = open(Durability::kSync);
  Raw raw(db_path());
  raw.exec("begin immediate");
  Status st = store.put(worker("a"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "unable to begin a transaction on " + db_path() + ": database is locked");
  EXPECT_TRUE(store.has_pending());
  EXPECT_TRUE(store.next_flush());
  raw.exec("rollback");
  ASSERT_TRUE(store.put(worker("b")));  // commits a too
  EXPECT_FALSE(store.has_pending());
  EXPECT_EQ(raw.one("select group_concat(id) from workers"), "a,b");
}

// Runs in a forked child: a file size limit makes the commit's writes fail
// (EFBIG), as a full disk would, then is lifted.
int fill_past_a_size_limit(const std::string& dir) {
  const auto fail = [](int code, const std::string& why) {
    std::fprintf(stderr, "child: %s\n", why.c_str());
    return code;
  };
  ::signal(SIGXFSZ, SIG_IGN);  // write(2) then fails with EFBIG instead of killing us
  auto opened = StateStore::open({dir, Durability::kBatch});
  if (!opened) return fail(10, opened.error().message);
  StateStore& store = *opened;
  rlimit lim{};
  ::getrlimit(RLIMIT_FSIZE, &lim);
  lim.rlim_cur = 128 * 1024;
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return fail(11, "setrlimit");

  const std::string big(16 * 1024, 'p');
  for (int i = 0; i < 100; ++i) {
    if (!store.put(worker("w" + std::to_string(i), "\"" + big + std::to_string(i) + "\""))) {
      return fail(12, "put");
    }
  }
  const auto before = std::chrono::steady_clock::now();
  Status st = store.flush();
  if (st) return fail(13, "flush succeeded past the limit");
  std::fprintf(stderr, "child: flush failed as expected: %s\n", st.error().message.c_str());
  if (st.error().message.rfind("unable to ", 0) != 0 ||
      st.error().message.find(store.path()) == std::string::npos) {
    return fail(14, "unclear message");
  }
  if (!store.has_pending()) return fail(15, "the changes were dropped");
  const StoreHealth h = store.health();
  if (h.ok || h.error != st.error().message || h.pending != 100) return fail(16, "health");
  if (!store.next_flush() || *store.next_flush() < before + 1s) return fail(17, "retry too soon");
  if (store.flush()) return fail(18, "second flush succeeded past the limit");

  lim.rlim_cur = RLIM_INFINITY;  // up to the hard limit, which setrlimit left unlimited
  if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return fail(19, "setrlimit back");
  if (st = store.flush(); !st) return fail(20, "retry failed: " + st.error().message);
  if (store.has_pending() || !store.health().ok) return fail(21, "still pending after the retry");
  auto rows = store.load();
  if (!rows || rows->size() != 100) return fail(22, "rows missing after the retry");
  if ((*rows)[0].payload_json != "\"" + big + "0\"") return fail(23, "payload");
  return 0;
}

TEST_F(StateStoreTest, AFailedWriteKeepsEverythingPendingUntilARetrySucceeds) {
  const pid_t pid = testing::fork_child([&] { return fill_past_a_size_limit(dir_); });
  ASSERT_GT(pid, 0);
  const int status = testing::wait_child(pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "see the child's message above";

  // What the child committed after its failures is whole, for a new process too.
  StateStore store = open();
  auto rows = store.load();
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(rows->size(), 100u);
  EXPECT_EQ(Raw(db_path()).one("pragma integrity_check"), "ok");
}

TEST_F(StateStoreTest, DefaultDirDependsOnTheUserAndTheEnvironment) {
  EXPECT_EQ(StateStore::default_dir_for(0, "i", "/x", "/home/u"), "/var/lib/dynmgr/i");
  EXPECT_EQ(StateStore::default_dir_for(1000, "i", "/x/state", "/home/u"), "/x/state/dynmgr/i");
  EXPECT_EQ(StateStore::default_dir_for(1000, "i", nullptr, "/home/u"),
            "/home/u/.local/state/dynmgr/i");
  EXPECT_EQ(StateStore::default_dir_for(1000, "i", "", "/home/u"), "/home/u/.local/state/dynmgr/i");
  // The XDG base directory spec: a relative path is to be ignored.
  EXPECT_EQ(StateStore::default_dir_for(1000, "i", "rel", "/home/u"),
            "/home/u/.local/state/dynmgr/i");
  EXPECT_EQ(StateStore::default_dir_for(1000, "i", nullptr, nullptr), "");

  // $DYNMGR_STATE_ROOT (absolute) comes first; a relative one is ignored.
  struct SavedEnv {
    explicit SavedEnv(const char* n)
        : name(n), had(std::getenv(n) != nullptr), value(had ? std::getenv(n) : "") {}
    ~SavedEnv() { had ? (void)::setenv(name, value.c_str(), 1) : (void)::unsetenv(name); }
    const char* name;
    bool had;
    std::string value;
  };
  const SavedEnv root("DYNMGR_STATE_ROOT");
  const SavedEnv xdg("XDG_STATE_HOME");
  ::setenv("DYNMGR_STATE_ROOT", (root_ + "/r").c_str(), 1);
  EXPECT_EQ(StateStore::default_dir("inst"), root_ + "/r/inst");
  ::setenv("DYNMGR_STATE_ROOT", "relative", 1);
  ::setenv("XDG_STATE_HOME", (root_ + "/xdg").c_str(), 1);
  EXPECT_EQ(StateStore::default_dir("inst"),
            ::geteuid() == 0 ? "/var/lib/dynmgr/inst" : root_ + "/xdg/dynmgr/inst");
  ::unsetenv("DYNMGR_STATE_ROOT");
  EXPECT_EQ(StateStore::default_dir("inst"),
            ::geteuid() == 0 ? "/var/lib/dynmgr/inst" : root_ + "/xdg/dynmgr/inst");
}

}  // namespace
}  // namespace dynmgr
