// dynmgrctl, golden: every verb and every error path through the real binary
// against a real supervisor (the probe test manager, started with --daemon under
// a unique name). Success: exact stdout. Failure: exact exit code, nothing on
// stdout, exactly one line "dynmgrctl: <what failed>: <why>" on stderr, and
// nothing stored changed (state --json byte-identical before and after).
//
// Workers are put with --timeout 0 (they never perform), so `state --json` is
// stable between commands and can be compared byte for byte.
#include <gtest/gtest.h>
#include <locale.h>
#include <signal.h>
#include <unistd.h>

#include <cwchar>
#include <regex>

#include "cli/ctl_support.hpp"
#include "shared/instance_lock.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"
#include "shared/registry.hpp"
#include "shared/state_json.hpp"

namespace dynmgr::testing {
namespace {

constexpr std::uint32_t kMaxPayload = 1024;

class CtlGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(
        "probe", std::vector<std::string>{"--max-payload", std::to_string(kMaxPayload)},
        std::vector<std::string>{R"(PROBE_CHILDREN={"boot":{"payload":0,"timeout":0}})"}, "g");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().exit_code << ": "
                               << daemon_->start_result().err;
    name_ = daemon_->name();
  }
  void TearDown() override { daemon_.reset(); }

  CommandResult run(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    return daemon_->ctl(std::move(args), env);
  }

  // Runs a command that must succeed with exactly `out` on stdout.
  void expect_ok(std::vector<std::string> args, const std::string& out) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, out);
    EXPECT_EQ(r.err, "");
  }

  // The "supervisor", "adopted" and "persistence" members of `state --json`
  // once every change is committed; started_ms and last_commit_ms as the
  // supervisor published them.
  std::string supervisor_json() {
    const json::value v = testing::parse(state_json());
    return R"("supervisor":{"pid":)" + std::to_string(daemon_->pid()) +
           R"(,"running":true,"started_ms":)" + to_json(v.at("supervisor").at("started_ms")) +
           R"(,"orphan_grace_ms":60000},"adopted":0,)" + persistence_json(v) + ",";
  }
  std::string persistence_json(const json::value& state) {
    return R"("persistence":{"enabled":true,"ok":true,"dir":")" + state_root() + "/" + name_ +
           R"(","error":"","pending":0,"last_commit_ms":)" +
           to_json(state.at("persistence").at("last_commit_ms")) + "}";
  }

  // `state --json` once the state database has committed every change (so
  // that two of them differ only if something was stored meanwhile).
  std::string state_json() {
    CommandResult r;
    const bool settled = wait_until([&] {
      r = run({"--json", "state"});
      const json::value v = testing::parse(r.out);
      return r.exit_code == 0 && v.is_object() && v.at("persistence").at("pending") == 0;
    });
    EXPECT_TRUE(settled) << r.out << r.err;
    return r.out;
  }

  // Runs a command that must fail with `code` and exactly `err` (one line), and
  // change nothing stored.
  void expect_fail(std::vector<std::string> args, int code, const std::string& err) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const std::string before = state_json();
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, code);
    EXPECT_EQ(r.err, err + "\n");
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(state_json(), before);
  }

  json::object record(const std::string& id) {
    const auto r = run({"--json", "get", id});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto v = parse(r.out);
    return v.is_object() ? v.get_object() : json::object{};
  }

  std::string pid_of(const std::string& id) { return to_json(record(id)["pid"]); }

  void put_quiet(const std::string& id, const std::string& payload) {
    const auto r = run({"put", id, "--payload", payload, "--timeout", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::unique_ptr<Daemon> daemon_;
  std::string name_;
};

// The exact `get --json` / `state --json` record of a worker put with
// --timeout 0 and otherwise default options.
std::string default_record(const std::string& id, const std::string& pid,
                           const std::string& started, const std::string& payload,
                           const std::string& slot) {
  return fill(
      R"({"id":"{ID}","pid":{PID},"status":"running","restarts":0,"payload":{PAYLOAD},)"
      R"("value":null,"timeout_ms":0,"lull":1.1,"restart":"permanent","instant_perform":false,)"
      R"("max_restarts":5,"within_ms":30000,"pool":false,"started_ms":{STARTED},"busy_since_ms":0,)"
      R"("last_perform_ms":0,"slot":{SLOT},"last_exit":null,"exits":[],"options":{},)"
      R"("on_overrun":"report","max_memory":0,"rlimits":{},"user":"","group":"",)"
      R"("passivate_after_ms":0,"passivations":0})",
      {{"ID", id}, {"PID", pid}, {"STARTED", started}, {"PAYLOAD", payload}, {"SLOT", slot}});
}

// ----------------------------------------------------------------- success

TEST_F(CtlGolden, PingHumanAndJson) {
  const std::string pid = std::to_string(daemon_->pid());
  const json::value state = testing::parse(state_json());
  // auto: cgroup where this host lets the supervisor make a leaf, else subreaper.
  const std::string containment = daemon_->client().header().containment;
  EXPECT_TRUE(containment == "cgroup" || containment == "subreaper") << containment;
  expect_ok({"ping"}, "pong: supervisor '" + name_ + "' (pid " + pid +
                          "), manager up, containment " + containment + "; state: " + state_root() +
                          "/" + name_ + " (ok)\n");
  expect_ok({"--json", "ping"},
            R"({"name":")" + name_ + R"(","manager":"up","supervisor":{"pid":)" + pid +
                R"(},"containment":")" + containment + R"(",)" + persistence_json(state) + "}\n");
}

TEST_F(CtlGolden, PutHumanPrintsStatusAndPid) {
  const auto r = run({"put", "a", "--payload", R"({"x":1})", "--timeout", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "put 'a': running (pid " + pid_of("a") + ")\n");
}

// README "Passivation": registered, no process, so no pid.
TEST_F(CtlGolden, PutPassivePrintsPassiveAndStartsNothing) {
  const auto r = run({"put", "pa", "--passive", "--passivate-after", "5000", "--timeout", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "put 'pa': passive\n");
  const json::value rec = record("pa");
  EXPECT_EQ(rec.at("status"), json::value("passive"));
  EXPECT_EQ(rec.at("pid"), json::value(0));
  EXPECT_EQ(rec.at("passivate_after_ms"), json::value(5000));
  expect_fail({"put", "pb", "--passivate-after", "-1"}, 2,
              "dynmgrctl: put: --passivate-after: Value -1 not in range 0 to 2147483647 (see "
              "dynmgrctl help put)");
}

TEST_F(CtlGolden, PutJsonPrintsTheRecordWithEveryOption) {
  const auto r = run({"--json", "put", "b", "--payload", "5", "--timeout", "0", "--lull", "2.5",
                      "--restart", "transient", "--max-restarts", "3", "--within", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto o = parse(r.out).as_object();
  EXPECT_EQ(r.out, fill(R"({"id":"b","pid":{PID},"status":"running","restarts":0,"payload":5,)"
                        R"("value":null,"timeout_ms":0,"lull":2.5,"restart":"transient",)"
                        R"("instant_perform":false,"max_restarts":3,"within_ms":1000,"pool":false,)"
                        R"("started_ms":{STARTED},"busy_since_ms":0,"last_perform_ms":0,"slot":1,)"
                        R"("last_exit":null,"exits":[],"options":{},"on_overrun":"report",)"
                        R"("max_memory":0,"rlimits":{},"user":"","group":"",)"
                        R"("passivate_after_ms":0,"passivations":0})"
                        "\n",
                        {{"PID", to_json(o["pid"])}, {"STARTED", to_json(o["started_ms"])}}));
  EXPECT_GT(o["pid"].to_number<std::int64_t>(), 0);
  EXPECT_GT(o["started_ms"].to_number<std::int64_t>(), 0);
}

// AddressSanitizer reserves about 20 TiB of address space for its shadow at
// start: an `as` limit below that kills an ASan-built worker before main.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kAsLimit = std::uint64_t{1} << 45;
#else
constexpr std::uint64_t kAsLimit = std::uint64_t{2} << 30;
#endif

TEST_F(CtlGolden, PutLimitFlagsAreInTheRecord) {
  const std::string as = std::to_string(kAsLimit);
  const auto r = run({"--json", "put", "l", "--timeout", "0", "--on-overrun", "kill",
                      "--max-memory", "1G", "--rlimit", "nofile=1024", "--rlimit", "core=0",
                      "--rlimit", "as=" + as});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = parse(r.out).as_object();
  EXPECT_EQ(o["on_overrun"], json::value("kill"));
  EXPECT_EQ(to_json(o["max_memory"]), "1073741824");
  const std::string limits = R"({"nofile":1024,"as":)" + as + R"(,"core":0})";
  EXPECT_EQ(to_json(o["rlimits"]), limits);
  EXPECT_EQ(to_json(record("l")["rlimits"]), limits);
}

// Root to root: allowed, and shown as given (README "User and group").
TEST_F(CtlGolden, PutUserAndGroupFlagsAreInTheRecord) {
  if (::geteuid() != 0) GTEST_SKIP() << "a supervisor that is not root refuses user root";
  const auto r = run({"--json", "put", "u", "--timeout", "0", "--user", "root", "--group", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = parse(r.out).as_object();
  EXPECT_EQ(o["user"], json::value("root"));
  EXPECT_EQ(o["group"], json::value("0"));
  EXPECT_EQ(record("u")["user"], json::value("root"));
}

TEST_F(CtlGolden, PutUserAndGroupFlagsAreChecked) {
  expect_fail({"put", "u", "--user", ""}, 2, "dynmgrctl: put 'u': invalid --user: empty");
  expect_fail({"put", "u", "--group", "a b"}, 2,
              "dynmgrctl: put 'u': invalid spec field 'group': 'a b' is not a user or group name "
              "(letters, digits, '.', '_', '-')");
  expect_fail({"put", "u", "--user", std::string(33, 'n')}, 2,
              "dynmgrctl: put 'u': invalid spec field 'user': '" + std::string(33, 'n') +
                  "' is longer than 32 bytes");
  expect_fail({"put", "u", "--user", "no-such-user-dynmgr"}, 2,
              "dynmgrctl: put 'u': unknown user 'no-such-user-dynmgr'");
  EXPECT_EQ(run({"get", "u"}).exit_code, 3);
}

TEST_F(CtlGolden, PutLimitFlagsAreCheckedInTheClient) {
  expect_fail({"put", "l", "--on-overrun", "restart"}, 2,
              "dynmgrctl: put 'l': invalid spec field 'on_overrun': 'restart' is not report or kill");
  expect_fail({"put", "l", "--max-memory", "12X"}, 2,
              "dynmgrctl: put 'l': invalid --max-memory: '12X' is not a size in bytes (a number, "
              "or with K, M or G)");
  expect_fail({"put", "l", "--rlimit", "nofile=3"}, 2,
              "dynmgrctl: put 'l': invalid spec field 'rlimits.nofile': 3 is not in 16..1048576");
  expect_fail({"put", "l", "--rlimit", "stack=1"}, 2,
              "dynmgrctl: put 'l': unknown spec field 'rlimits.stack' (expected nofile, as, cpu "
              "or core)");
  expect_fail({"put", "l", "--rlimit", "nofile"}, 2,
              "dynmgrctl: put 'l': invalid --rlimit 'nofile': expected NAME=VALUE (nofile, as, cpu "
              "or core)");
  EXPECT_NE(run({"get", "l"}).exit_code, 0) << "nothing was put";
}

TEST_F(CtlGolden, PutInstantPerformsRightAway) {
  // --instant and a short --timeout: the first perform (probe counts n) comes at once.
  const auto r = run({"put", "i", "--payload", "{}", "--timeout", "60000", "--instant"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_until([&] { return to_json(record("i")["payload"]) == R"({"n":1})"; }, 5s));
  EXPECT_EQ(record("i")["instant_perform"], json::value(true));
}

TEST_F(CtlGolden, PutReplacesAnExistingWorker) {
  put_quiet("a", "1");
  const std::string old_pid = pid_of("a");
  const auto r = run({"put", "a", "--payload", "2", "--timeout", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string new_pid = pid_of("a");
  EXPECT_NE(new_pid, old_pid);
  EXPECT_EQ(r.out, "put 'a': running (pid " + new_pid + ")\n");
  EXPECT_EQ(to_json(record("a")["payload"]), "2");
}

TEST_F(CtlGolden, PutNewStartsAnAbsentWorker) {
  const auto r = run({"put-new", "n", "--payload", R"(["x"])", "--timeout", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "put-new 'n': running (pid " + pid_of("n") + ")\n");
  EXPECT_EQ(to_json(record("n")["payload"]), R"(["x"])");
}

TEST_F(CtlGolden, IdOf255BytesIsAccepted) {
  const std::string id(255, 'k');
  const auto r = run({"put", id, "--timeout", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run({"get", id}).exit_code, 0);
}

TEST_F(CtlGolden, GetHuman) {
  put_quiet("a", R"({"x":1})");
  const auto r = run({"get", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto lines = lines_of(r.out);
  // One line per described member of the record (shared/worker_info.hpp), then the uptime.
  const std::vector<std::string> expected = {
      "id:                  a",  "pid:                 " + pid_of("a"),
      "status:              running",  "restarts:            0",
      R"(payload:             {"x":1})",  "value:               null",
      "timeout_ms:          0",  "lull:                1.1",
      "restart:             permanent",  "instant_perform:     false",
      "max_restarts:        5",  "within_ms:           30000",
      "pool:                false",  "started_ms:          <any>",
      "busy_since_ms:       0",  "last_perform_ms:     0",
      "slot:                <any>",  "last_exit:           -",
      "exits:               -",  "options:             {}",
      "on_overrun:          report",  "max_memory:          0",
      "rlimits:             {}",  "user:                ",
      "group:               ",  "passivate_after_ms:  0",
      "passivations:        0",  "uptime:              <any>",
  };
  ASSERT_EQ(lines.size(), expected.size()) << r.out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (expected[i] == "uptime:              <any>") {
      EXPECT_TRUE(std::regex_match(lines[i], std::regex(R"(uptime:              [0-9]+s)")))
          << lines[i];
    } else if (expected[i] == "slot:                <any>") {
      EXPECT_TRUE(std::regex_match(lines[i], std::regex(R"(slot:                [0-9]+)")))
          << lines[i];
    } else if (expected[i] == "started_ms:          <any>") {
      EXPECT_TRUE(std::regex_match(lines[i], std::regex(R"(started_ms:          [0-9]{13})")))
          << lines[i];
    } else {
      EXPECT_EQ(lines[i], expected[i]);
    }
  }
}

TEST_F(CtlGolden, GetJson) {
  put_quiet("a", R"({"x":1})");
  auto o = record("a");
  const auto r = run({"--json", "get", "a"});
  EXPECT_EQ(r.out, default_record("a", to_json(o["pid"]), to_json(o["started_ms"]), R"({"x":1})",
                                  to_json(o["slot"])) +
                       "\n");
}

TEST_F(CtlGolden, StateTableHasTheDocumentedColumns) {
  put_quiet("a", R"({"x":1})");
  const auto r = run({"state"}, {"COLUMNS=200"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0], "instance " + name_ + ": manager up, supervisor pid " +
                          std::to_string(daemon_->pid()) + ", 2 worker(s)");
  // ID is as wide as the longest id ("boot").
  EXPECT_EQ(lines[1], "ID       PID STATUS     RESTARTS   UPTIME  PAYLOAD");
  EXPECT_TRUE(
      std::regex_match(lines[2], std::regex("boot +" + pid_of("boot") + " running +0 +[0-9]+s  0")))
      << lines[2];
  EXPECT_TRUE(std::regex_match(
      lines[3], std::regex("a +" + pid_of("a") + R"( running +0 +[0-9]+s  \{"x":1\})")))
      << lines[3];
}

// Terminal columns of a UTF-8 line, as glibc's wcswidth counts them.
std::size_t terminal_columns(const std::string& s) {
  locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  EXPECT_NE(utf8, nullptr) << "the C.UTF-8 locale is missing";
  if (utf8 == nullptr) return s.size();
  const locale_t old = ::uselocale(utf8);
  std::wstring w(s.size() + 1, L'\0');
  const std::size_t n = std::mbstowcs(w.data(), s.c_str(), w.size());
  const int cols = n == static_cast<std::size_t>(-1) ? -1 : ::wcswidth(w.c_str(), n);
  ::uselocale(old);
  ::freelocale(utf8);
  EXPECT_GE(cols, 0) << s;
  return cols < 0 ? s.size() : static_cast<std::size_t>(cols);
}

TEST_F(CtlGolden, StateTableAlignsNonAsciiIdsByTerminalColumns) {
  put_quiet("ñandú", "1");  // 7 bytes, 5 columns
  put_quiet("数据", "2");   // 6 bytes, 4 columns (two wide characters)
  const auto r = run({"state"}, {"COLUMNS=120"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  // The ID column is 5 columns wide; the 7-column PID field follows a space.
  char pid[16];
  EXPECT_EQ(lines[1].rfind("ID        PID STATUS", 0), 0u) << lines[1];
  std::snprintf(pid, sizeof pid, " %7s ", pid_of("boot").c_str());
  EXPECT_EQ(lines[2].rfind(std::string("boot ") + pid, 0), 0u) << lines[2];
  std::snprintf(pid, sizeof pid, " %7s ", pid_of("ñandú").c_str());
  EXPECT_EQ(lines[3].rfind(std::string("ñandú") + pid, 0), 0u) << lines[3];
  std::snprintf(pid, sizeof pid, " %7s ", pid_of("数据").c_str());
  EXPECT_EQ(lines[4].rfind(std::string("数据 ") + pid, 0), 0u) << lines[4];
}

TEST_F(CtlGolden, StateTableFitsANarrowTerminal) {
  put_quiet("数据", "\"" + std::string(100, 'p') + "\"");
  for (const std::size_t width : {30u, 12u}) {
    const auto r = run({"state"}, {"COLUMNS=" + std::to_string(width)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 4u) << r.out;
    for (std::size_t i = 1; i < lines.size(); ++i) {  // the table; the summary line is whole
      EXPECT_LE(terminal_columns(lines[i]), width) << lines[i];
      EXPECT_EQ(lines[i].substr(lines[i].size() - 3), "...") << lines[i];
    }
  }
}

TEST_F(CtlGolden, StateTableCutsLongPayloadsToTheWidth) {
  put_quiet("a", "\"" + std::string(300, 'p') + "\"");
  const auto r = run({"state"}, {"COLUMNS=80"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[3].size(), 80u) << lines[3];
  EXPECT_EQ(lines[3].substr(lines[3].size() - 3), "...");
}

TEST_F(CtlGolden, StateWithoutWorkersIsOneLine) {
  expect_ok({"del", "boot"}, "deleted 'boot'\n");
  expect_ok({"state"}, "instance " + name_ + ": manager up, supervisor pid " +
                           std::to_string(daemon_->pid()) + ", 0 worker(s)\n");
  expect_ok({"--json", "state"}, fill(R"({"name":"{N}","manager":"up",{S})"
                                      R"("capacity":4096,"max_payload":1024,"workers":[]})"
                                      "\n",
                                      {{"N", name_}, {"S", supervisor_json()}}));
}

TEST_F(CtlGolden, StateJson) {
  put_quiet("a", R"({"x":1})");
  auto boot = record("boot");
  auto a = record("a");
  // Once the database has committed the put: its "pending" is in the document.
  EXPECT_EQ(state_json(),
            fill(R"({"name":"{N}","manager":"up",{S}"capacity":4096,)"
                 R"("max_payload":1024,"workers":[{BOOT},{A}]})"
                 "\n",
                 {{"N", name_},
                  {"S", supervisor_json()},
                  {"BOOT", default_record("boot", to_json(boot["pid"]), to_json(boot["started_ms"]),
                                          "0", to_json(boot["slot"]))},
                  {"A", default_record("a", to_json(a["pid"]), to_json(a["started_ms"]),
                                       R"({"x":1})", to_json(a["slot"]))}}));
}

// `state --json` is written a worker at a time (StateJsonWriter): its text is
// what the whole document (state_json) serializes to, for payloads with
// escapes and non-ASCII text, an exit history and a passive id.
TEST_F(CtlGolden, StateJsonStreamedIsTheWholeDocument) {
  put_quiet("\xc3\xbcnicode-\xe2\x9c\x93",
            R"({"s":"tab\tnew\nline \"q\" \\ \u00e9 \ud83d\ude00 \u0001","d":[1.5,0.00225,-2.0]})");
  put_quiet("crashed", R"("\u2028")");
  const auto passive = run({"put", "pa", "--passive", "--timeout", "0", "--payload", R"({"k":"\u00ff"})"});
  ASSERT_EQ(passive.exit_code, 0) << passive.err;
  // An exit history: the worker dies in a call and is restarted.
  EXPECT_EQ(run({"call", "crashed", R"("crash")"}).exit_code, 1);
  ASSERT_TRUE(wait_until([&] {
    auto rec = record("crashed");
    return rec["status"] == json::value("running") && rec["exits"].as_array().size() == 1;
  }));
  Client c = daemon_->client();
  std::string streamed;
  std::string tree;
  // Equal once nothing moves between the two reads (the state database commits).
  const bool same = wait_until([&] {
    streamed = state_json();
    auto all = c.state();
    if (!all) return false;
    tree = to_json(dynmgr::state_json(c.header(), name_, *all)) + "\n";
    return streamed == tree;
  });
  EXPECT_TRUE(same) << "streamed: " << streamed << "\ntree:     " << tree;
  const json::value v = parse(streamed);
  ASSERT_TRUE(v.is_object()) << streamed;
  EXPECT_EQ(v, parse(tree));
  const auto& workers = v.at("workers").as_array();
  ASSERT_EQ(workers.size(), 4u);  // boot, the unicode id, crashed, pa
  EXPECT_EQ(workers[1].at("id"), json::value("\xc3\xbcnicode-\xe2\x9c\x93"));
  EXPECT_EQ(workers[1].at("payload").at("s"),
            json::value("tab\tnew\nline \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80 \x01"));
  EXPECT_EQ(workers[2].at("exits").as_array().size(), 1u);
  EXPECT_EQ(workers[3].at("status"), json::value("passive"));
}

TEST_F(CtlGolden, CallPrintsTheReplyAsJson) {
  put_quiet("a", R"({"x":1})");
  expect_ok({"call", "a", R"("get")"}, "{\"x\":1}\n");
  expect_ok({"--json", "call", "a", R"("get")"}, "{\"x\":1}\n");
  expect_ok({"call", "a", R"(["echo", [1, "two", null]])"}, "[1,\"two\",null]\n");
}

TEST_F(CtlGolden, CallWithReplaceCommitsThePayload) {
  put_quiet("a", "1");
  expect_ok({"call", "a", R"(["set", {"y": 2}])"}, "{\"y\":2}\n");
  // Committed before the reply was printed: no wait needed.
  EXPECT_EQ(to_json(record("a")["payload"]), R"({"y":2})");
}

TEST_F(CtlGolden, CastIsAcceptedAndApplied) {
  put_quiet("a", "1");
  expect_ok({"cast", "a", R"(["add", 3])"}, "accepted\n");
  expect_ok({"--json", "cast", "a", R"(["add", 2])"}, "{\"accepted\":true}\n");
  EXPECT_TRUE(wait_until([&] { return to_json(record("a")["payload"]) == "6"; }, 5s));
  // Mailbox order: a call after the casts sees them.
  expect_ok({"call", "a", R"("get")"}, "6\n");
}

TEST_F(CtlGolden, DelHumanAndJson) {
  put_quiet("a", "1");
  put_quiet("b", "2");
  expect_ok({"del", "a"}, "deleted 'a'\n");
  expect_ok({"--json", "del", "b"}, "{\"deleted\":\"b\"}\n");
  EXPECT_EQ(run({"get", "a"}).exit_code, 3);
  EXPECT_EQ(run({"get", "b"}).exit_code, 3);
  EXPECT_EQ(parse(state_json()).as_object()["workers"].as_array().size(), 1u);  // boot
}

// A worker deaf to terminate outlasts --wait: the timeout says the stop goes on.
TEST(CtlDel, AWorkerSlowToStopIsReportedStillStopping) {
  Daemon d("probe", {"--terminate-timeout", "2000", "--kill-timeout", "100"}, {}, "gd");
  ASSERT_TRUE(d.ok()) << d.start_result().err;
  ASSERT_EQ(d.ctl({"put", "a", "--timeout", "10", "--payload", R"({"on_perform":"ignore_term"})"})
                .exit_code,
            0);
  ASSERT_TRUE(wait_until([&] {
    return d.ctl({"--json", "get", "a"}).out.find("\"busy_since_ms\":0") == std::string::npos;
  }));
  const auto r = d.ctl({"--wait", "300", "del", "a"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err,
            "dynmgrctl: del 'a': still stopping after 300 ms; it is removed once it exits "
            "(SIGTERM after --terminate-timeout, SIGKILL after --kill-timeout)\n");
  // ... and it is: SIGKILL ends it.
  EXPECT_TRUE(wait_until([&] { return d.ctl({"get", "a"}).exit_code == 3; }));
}

TEST_F(CtlGolden, RestartGoesBackToChildrenSpecs) {
  put_quiet("a", "1");
  expect_ok({"call", "boot", R"(["set", 42])"}, "42\n");
  expect_ok({"restart"}, "restarted\n");
  // Only children_specs() again, with their initial payload.
  auto workers = parse(state_json()).as_object()["workers"].as_array();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].as_object()["id"], json::value("boot"));
  EXPECT_EQ(workers[0].as_object()["payload"], json::value(0));
  expect_ok({"--json", "restart"}, "{\"manager\":\"up\"}\n");
}

// restart ID: the same worker, a new process, from its last committed payload.
TEST_F(CtlGolden, RestartOfOneWorkerStartsItAgainFromItsLastPayload) {
  put_quiet("a", "1");
  put_quiet("b", "2");
  expect_ok({"call", "a", R"(["set", {"y": 2}])"}, "{\"y\":2}\n");
  const std::string old_pid = pid_of("a");
  const std::string b_pid = pid_of("b");
  const auto r = run({"restart", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string new_pid = pid_of("a");
  EXPECT_NE(new_pid, old_pid);
  EXPECT_EQ(r.out, "restarted 'a': running (pid " + new_pid + ")\n");
  EXPECT_TRUE(wait_until([&] { return process_gone(std::stoi(old_pid)); }, 10s));
  auto rec = record("a");
  EXPECT_EQ(to_json(rec["payload"]), R"({"y":2})");
  EXPECT_EQ(rec["restarts"], json::value(1));
  EXPECT_EQ(rec["status"], json::value("running"));
  EXPECT_EQ(pid_of("b"), b_pid);  // nobody else
  // --json prints the new record, as put does.
  const auto j = run({"--json", "restart", "a"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto v = parse(j.out);
  ASSERT_TRUE(v.is_object()) << j.out;
  EXPECT_EQ(v.at("restarts"), json::value(2));
  EXPECT_EQ(to_json(v.at("pid")), pid_of("a"));
}

TEST_F(CtlGolden, StopHuman) {
  expect_ok({"stop"}, "stopped\n");
  // Every shared object is gone (and the lock free) once stop returned; the
  // supervisor process exits right after.
  EXPECT_EQ(shm_objects(daemon_->names()), std::vector<std::string>{});
  EXPECT_TRUE(wait_until([&] { return process_gone(daemon_->pid()); }, 5s));
  // The name can be reused at once.
  const std::string log = "/tmp/dynmgr-test." + name_ + ".again.log";
  const auto again = run_command({bin_path("probe"), "-n", name_, "--daemon", "--log-file", log});
  EXPECT_EQ(again.exit_code, 0) << again.err << read_file(log);
  EXPECT_EQ(run({"stop"}).exit_code, 0);
  ::unlink(log.c_str());
  EXPECT_EQ(run({"ping"}).exit_code, 5);
}

TEST_F(CtlGolden, StopJson) { expect_ok({"--json", "stop"}, "{\"stopped\":true}\n"); }

TEST_F(CtlGolden, DynmgrNameSelectsTheInstance) {
  const std::string pid = std::to_string(daemon_->pid());
  const auto r = ctl_raw({"ping"}, {"DYNMGR_NAME=" + name_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string containment = daemon_->client().header().containment;
  EXPECT_EQ(r.out, "pong: supervisor '" + name_ + "' (pid " + pid + "), manager up, containment " +
                       containment + "; state: " + state_root() + "/" + name_ + " (ok)\n");
  // -n wins over $DYNMGR_NAME.
  const std::string other = unique_instance("none");
  const auto r2 = ctl_raw({"-n", other, "ping"}, {"DYNMGR_NAME=" + name_});
  EXPECT_EQ(r2.exit_code, 5);
  EXPECT_EQ(r2.err, "dynmgrctl: ping: no supervisor running under '" + other + "'\n");
  const auto r3 = ctl_raw({"-n", name_, "ping"}, {"DYNMGR_NAME=" + other});
  EXPECT_EQ(r3.exit_code, 0) << r3.err;
}

TEST_F(CtlGolden, HelpExitsZero) {
  const auto r = ctl_raw({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  for (const char* verb : {"ping", "put", "put-new", "del", "get", "call", "cast", "state",
                           "restart", "stop", "Exit codes"}) {
    EXPECT_NE(r.out.find(verb), std::string::npos) << verb;
  }
  const auto p = ctl_raw({"put", "--help"});
  EXPECT_EQ(p.exit_code, 0);
  for (const char* flag :
       {"--payload", "--timeout", "--lull", "--instant", "--restart", "--max-restarts", "--within",
        "--exec", "--on-overrun", "--max-memory", "--rlimit", "--user", "--group"}) {
    EXPECT_NE(p.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_EQ(ctl_raw({"call", "--help"}).exit_code, 0);
}

// ----------------------------------------------------------------- errors: input (2)

TEST_F(CtlGolden, InvalidJsonIsExit2) {
  put_quiet("a", "1");
  expect_fail({"put", "a", "--payload", "{x"}, 2,
              "dynmgrctl: put 'a': invalid JSON in --payload: syntax error");
  expect_fail({"put", "z", "--payload", "[1,"}, 2,
              "dynmgrctl: put 'z': invalid JSON in --payload: incomplete JSON");
  expect_fail({"put-new", "z", "--payload", "tru"}, 2,
              "dynmgrctl: put-new 'z': invalid JSON in --payload: incomplete JSON");
  expect_fail({"call", "a", "{x"}, 2, "dynmgrctl: call 'a': invalid JSON in MESSAGE: syntax error");
  expect_fail({"cast", "a", "1 2"}, 2, "dynmgrctl: cast 'a': invalid JSON in MESSAGE: extra data");
  expect_fail({"call", "--any", "{"}, 2,
              "dynmgrctl: call --any: invalid JSON in MESSAGE: incomplete JSON");
  expect_fail({"cast", "--any", "]"}, 2,
              "dynmgrctl: cast --any: invalid JSON in MESSAGE: syntax error");
}

TEST_F(CtlGolden, BadIdIsExit2ForEveryVerb) {
  const std::string long_id(256, 'k');
  const std::string ctrl = "a\tb";
  for (const auto& [verb, extra] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"put", {"--timeout", "0"}},
           {"put-new", {"--timeout", "0"}},
           {"del", {}},
           {"restart", {}},
           {"get", {}},
           {"call", {R"("get")"}},
           {"cast", {R"(["add",1])"}}}) {
    for (const auto& [id, why] : std::vector<std::pair<std::string, std::string>>{
             {"", "invalid id: must not be empty"},
             {long_id, "invalid id: 256 bytes, the limit is 255"},
             {ctrl, "invalid id: contains a control character"},
             {"a\nb", "invalid id: contains a control character"},
             {std::string("a\x7f"), "invalid id: contains a control character"}}) {
      std::vector<std::string> args{verb, id};
      args.insert(args.end(), extra.begin(), extra.end());
      expect_fail(args, 2, "dynmgrctl: " + verb + ": " + why);
    }
  }
}

TEST_F(CtlGolden, PayloadOverMaxPayloadIsExit2AndNamesTheLimit) {
  put_quiet("a", "1");
  const std::string big = "\"" + std::string(kMaxPayload, 'x') + "\"";  // limit + 2 bytes
  const std::string size = std::to_string(big.size());
  expect_fail({"put", "a", "--payload", big}, 2,
              "dynmgrctl: put 'a': payload of " + size + " bytes exceeds the limit of 1024 bytes");
  expect_fail(
      {"put-new", "b", "--payload", big}, 2,
      "dynmgrctl: put-new 'b': payload of " + size + " bytes exceeds the limit of 1024 bytes");
  expect_fail({"call", "a", big}, 2,
              "dynmgrctl: call 'a': message of " + size + " bytes exceeds the limit of 1024 bytes");
  expect_fail({"cast", "a", big}, 2,
              "dynmgrctl: cast 'a': message of " + size + " bytes exceeds the limit of 1024 bytes");
  // Exactly the limit is fine.
  const std::string fits = "\"" + std::string(kMaxPayload - 2, 'x') + "\"";
  EXPECT_EQ(run({"put", "a", "--payload", fits, "--timeout", "0"}).exit_code, 0);
}

TEST_F(CtlGolden, PutNewOnAnExistingIdIsExit2AndChangesNothing) {
  put_quiet("a", "1");
  expect_fail({"put-new", "a", "--payload", "2", "--timeout", "0"}, 2,
              "dynmgrctl: put-new 'a': worker 'a' already exists");
  expect_fail({"put-new", "boot", "--payload", "2"}, 2,
              "dynmgrctl: put-new 'boot': worker 'boot' already exists");
}

TEST_F(CtlGolden, InvalidSpecValuesAreExit2) {
  expect_fail({"put", "a", "--restart", "sometimes"}, 2,
              "dynmgrctl: put 'a': invalid restart type 'sometimes': expected permanent, "
              "transient or temporary");
  const auto r = run({"put", "a", "--lull", "0.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("dynmgrctl: ", 0), 0u) << r.err;
  const auto w = run({"--wait", "0", "ping"});
  EXPECT_EQ(w.exit_code, 2);
  EXPECT_EQ(lines_of(w.err).size(), 1u) << w.err;
}

TEST_F(CtlGolden, UnknownVerbAndMissingArgumentsAreExit2) {
  put_quiet("a", "1");
  const std::string before = state_json();
  for (const auto& args : std::vector<std::vector<std::string>>{{"bogus"},
                                                                {},
                                                                {"put"},
                                                                {"put-new"},
                                                                {"del"},
                                                                {"get"},
                                                                {"call"},
                                                                {"cast"},
                                                                {"get", "a", "b"},
                                                                {"ping", "extra"},
                                                                {"put", "a", "--no-such-flag"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("dynmgrctl: ", 0), 0u) << r.err;
  }
  expect_fail({"bogus"}, 2, "dynmgrctl: unknown verb 'bogus' (see dynmgrctl --help)");
  expect_fail({"--json", "pingg", "x"}, 2,
              R"x({"error":{"code":2,"message":"unknown verb 'pingg' (see dynmgrctl --help)"}})x");
  expect_fail({"put"}, 2, "dynmgrctl: put: ID is required (see dynmgrctl help put)");
  expect_fail({"--json", "get"}, 2,
              R"x({"error":{"code":2,"message":"get: ID is required (see dynmgrctl help get)"}})x");
  expect_fail({"call", "a"}, 2, "dynmgrctl: call: MESSAGE is missing (usage: call ID MESSAGE)");
  expect_fail({"cast", "a"}, 2, "dynmgrctl: cast: MESSAGE is missing (usage: cast ID MESSAGE)");
  expect_fail({"call", "--any", "a", R"("get")"}, 2,
              "dynmgrctl: call: --any takes a MESSAGE and no ID (usage: call --any MESSAGE)");
  expect_fail({"cast", "--any", "a", R"("get")"}, 2,
              "dynmgrctl: cast: --any takes a MESSAGE and no ID (usage: cast --any MESSAGE)");
  EXPECT_EQ(state_json(), before);
}

TEST_F(CtlGolden, ExecOnANonPutVerbIsExit2AndDoesNothing) {
  put_quiet("a", "1");
  const auto err = [](const std::string& verb) {
    return "dynmgrctl: " + verb + ": --exec: only valid with put and put-new (see dynmgrctl help " +
           verb + ")";
  };
  expect_fail({"del", "a", "--exec", "/bin/true"}, 2, err("del"));
  expect_fail({"call", "a", R"(["set", 7])", "--exec", "/bin/true"}, 2, err("call"));
  expect_fail({"cast", "a", R"(["add", 7])", "--exec", "/bin/true"}, 2, err("cast"));
  expect_fail({"get", "a", "--exec", "/bin/true"}, 2, err("get"));
  expect_fail({"state", "--exec", "/bin/true"}, 2, err("state"));
  expect_fail({"restart", "--exec", "/bin/true"}, 2, err("restart"));
  expect_fail({"stop", "--exec", "/bin/true"}, 2, err("stop"));
  expect_fail({"put", "b", "--exec"}, 2, "dynmgrctl: --exec needs a command");
  EXPECT_EQ(run({"ping"}).exit_code, 0);  // stop did not run
}

// ----------------------------------------------------------------- errors: not found (3)

TEST_F(CtlGolden, UnknownIdIsExit3) {
  expect_fail({"get", "nope"}, 3, "dynmgrctl: get 'nope': no such worker 'nope'");
  expect_fail({"del", "nope"}, 3, "dynmgrctl: del 'nope': no such worker 'nope'");
  expect_fail({"restart", "nope"}, 3, "dynmgrctl: restart 'nope': no such worker 'nope'");
  expect_fail({"call", "nope", R"("get")"}, 3, "dynmgrctl: call 'nope': no such worker 'nope'");
  expect_fail({"cast", "nope", R"(["add",1])"}, 3, "dynmgrctl: cast 'nope': no such worker 'nope'");
  // --json: the error is JSON too, its code the exit code.
  expect_fail({"--json", "get", "nope"}, 3,
              R"({"error":{"code":3,"message":"get 'nope': no such worker 'nope'"}})");
}

// ----------------------------------------------------------------- errors: timeout (4)

TEST_F(CtlGolden, CallLongerThanWaitIsExit4) {
  put_quiet("a", "1");
  const std::string before = state_json();
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run({"--wait", "200", "call", "a", R"(["sleep", 1500])"});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "dynmgrctl: call 'a': no reply within the deadline\n");
  EXPECT_LT(took, 1200ms);
  // The worker finishes its sleep and serves the next caller normally.
  EXPECT_EQ(run({"call", "a", R"("get")"}).out, "1\n");
  EXPECT_EQ(state_json(), before);
}

// Bad input found by trying dynmgrctl as a hostile user would: each is refused
// at once in the client (exit 2), with one line, and changes nothing.
TEST_F(CtlGolden, NonFiniteNumbersAreInvalidJson) {
  put_quiet("a", "1");
  const std::string range = "a number is out of range (not a finite double)";
  expect_fail({"put", "b", "--payload", "1e999"}, 2,
              "dynmgrctl: put 'b': invalid JSON in --payload: " + range);
  expect_fail({"call", "a", "1e999"}, 2, "dynmgrctl: call 'a': invalid JSON in MESSAGE: " + range);
  expect_fail({"cast", "a", "[1e999]"}, 2,
              "dynmgrctl: cast 'a': invalid JSON in MESSAGE: " + range);
}

TEST_F(CtlGolden, AnIdThatIsNotUtf8IsInvalid) {
  expect_fail({"put", "bad\xffutf8"}, 2, "dynmgrctl: put: invalid id: not valid UTF-8");
  expect_fail({"get", "bad\xffutf8"}, 2, "dynmgrctl: get: invalid id: not valid UTF-8");
}

TEST_F(CtlGolden, AnEmptyInstanceNameIsAUsageError) {
  const auto r = run_command({bin_path("dynmgrctl"), "-n", "", "ping"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "dynmgrctl: -n: the instance name must not be empty (see dynmgrctl --help)\n");
}

// A reply too large for the caller is the worker's fault (exit 1), not a usage
// error; the caller is told at once instead of waiting out its deadline.
TEST_F(CtlGolden, AReplyTooLargeForTheCallerIsAWorkerFailure) {
  put_quiet("a", "1");
  const auto r = run({"call", "a", R"(["big", 1000000])"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(
      r.err.rfind(
          "dynmgrctl: call 'a': worker 'a' answered with a reply too large for the caller: ", 0),
      0u)
      << r.err;
  EXPECT_EQ(run({"call", "a", R"("get")"}).out, "1\n");
}

// A call that ends without its reply (timed out, the worker crashed) leaves no
// reply queue behind: dynmgrctl removes it on its error path too.
TEST_F(CtlGolden, ACallThatFailsLeavesNoReplyQueue) {
  put_quiet("a", "1");
  const auto others_queues = [&] {
    std::vector<std::string> out;
    for (const auto& n : shm_objects(daemon_->names())) {
      const auto owner = daemon_->names().parse_reply(n);
      if (owner && owner->pid != ::getpid()) out.push_back(n);
    }
    return out;
  };
  const auto timed_out = run({"--wait", "150", "call", "a", R"(["sleep", 400])"});
  EXPECT_EQ(timed_out.exit_code, 4) << timed_out.err;
  EXPECT_EQ(others_queues(), std::vector<std::string>{});
  const auto crashed = run({"call", "a", R"("crash")"});
  EXPECT_EQ(crashed.exit_code, 1) << crashed.err;
  EXPECT_EQ(others_queues(), std::vector<std::string>{});
  EXPECT_TRUE(wait_until([&] { return run({"call", "a", R"("get")"}).out == "1\n"; }, 5s));
  EXPECT_EQ(others_queues(), std::vector<std::string>{});
}

// A command that timed out changes nothing later: with the supervisor frozen,
// put, del, restart and stop each exit 4; once it runs again, none of them is
// carried out (each request carries its client's deadline, and the supervisor
// drops what it takes off the queue after it).
TEST_F(CtlGolden, ATimedOutCommandChangesNothingLater) {
  put_quiet("a", "1");
  const std::string before = state_json();
  ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
  for (std::vector<std::string> args :
       {std::vector<std::string>{"put", "b", "--payload", "2"},
        std::vector<std::string>{"del", "a"}, std::vector<std::string>{"restart"},
        std::vector<std::string>{"stop"}}) {
    args.insert(args.begin(), {"--wait", "300"});
    const auto r = run(args);
    EXPECT_EQ(r.exit_code, 4) << ::testing::PrintToString(args) << r.err;
  }
  ASSERT_EQ(::kill(daemon_->pid(), SIGCONT), 0);
  // The ping queues behind the four: once it is answered they have been taken.
  EXPECT_EQ(run({"ping"}).exit_code, 0);
  EXPECT_EQ(state_json(), before);
  EXPECT_EQ(run({"get", "b"}).exit_code, 3);
  EXPECT_NE(daemon_->log().find("dropped a restart request whose client gave up"),
            std::string::npos)
      << daemon_->log();
}

// A supervisor that takes requests more slowly than they come: a put that
// finds its control queue full fails at once as "supervisor busy" (exit 4).
TEST_F(CtlGolden, AFullControlQueueIsSupervisorBusy) {
  const auto header = RegistryReader::open(daemon_->names()).value().header();
  auto control = Queue::open(daemon_->names().control(header.control_generation));
  ASSERT_TRUE(control) << control.error().message;
  ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
  protocol::ControlRequest ping;
  ping.kind = MessageKind::kPing;
  int sent = 0;
  while (control->send(protocol::make_control_request(1, ping), Deadline::now())) ++sent;
  EXPECT_GT(sent, 0);
  const auto r = run({"--wait", "300", "put", "x"});
  ASSERT_EQ(::kill(daemon_->pid(), SIGCONT), 0);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err,
            "dynmgrctl: put 'x': supervisor busy: its control queue stayed full for 300 ms\n");
  EXPECT_EQ(run({"ping"}).exit_code, 0);
  EXPECT_EQ(run({"get", "x"}).exit_code, 3);
}

// ----------------------------------------------------------------- errors: failed (1)

TEST_F(CtlGolden, CallThatCrashesTheWorkerIsExit1) {
  put_quiet("a", "1");
  const auto r = run({"call", "a", R"("crash")"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(lines_of(r.err).size(), 1u);
  EXPECT_EQ(r.err.rfind("dynmgrctl: call 'a': worker 'a' crashed while handling the call", 0), 0u)
      << r.err;
  EXPECT_NE(r.err.find("SIGABRT"), std::string::npos) << r.err;
  // Restarted with its last committed payload.
  EXPECT_TRUE(wait_until([&] { return run({"call", "a", R"("get")"}).out == "1\n"; }, 5s));
}

TEST_F(CtlGolden, CallThatThrowsIsExit1WithTheReason) {
  put_quiet("a", "1");
  const auto r = run({"call", "a", R"("throw")"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "dynmgrctl: call 'a': worker 'a' crashed while handling the call: call failed on "
            "purpose\n");
}

TEST_F(CtlGolden, AnyOnANonPoolIsExit1) {
  expect_fail({"call", "--any", R"("get")"}, 1,
              "dynmgrctl: call --any: this manager is not a pool");
  expect_fail({"cast", "--any", R"(["add",1])"}, 1,
              "dynmgrctl: cast --any: this manager is not a pool");
}

// ----------------------------------------------------------------- errors: no supervisor (5)

TEST(CtlNoSupervisor, EveryVerbIsExit5) {
  const std::string name = unique_instance("ns");
  const std::string why = ": no supervisor running under '" + name + "'\n";
  for (const auto& [args, what] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"ping"}, "ping"},
           {{"put", "a"}, "put 'a'"},
           {{"put", "a", "--payload", "{}", "--timeout", "5"}, "put 'a'"},
           {{"put-new", "a"}, "put-new 'a'"},
           {{"del", "a"}, "del 'a'"},
           {{"get", "a"}, "get 'a'"},
           {{"call", "a", R"("get")"}, "call 'a'"},
           {{"cast", "a", R"("get")"}, "cast 'a'"},
           {{"call", "--any", R"("get")"}, "call --any"},
           {{"cast", "--any", R"("get")"}, "cast --any"},
           {{"state"}, "state"},
           {{"--json", "state"}, "state"},
           {{"restart"}, "restart"},
           {{"stop"}, "stop"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = ctl(name, args);
    EXPECT_EQ(r.exit_code, 5);
    EXPECT_EQ(r.out, "");
    if (args.front() == "--json") {
      const std::string message = what + why.substr(0, why.size() - 1);
      EXPECT_EQ(r.err, to_json(json::object{{"error", json::object{{"code", 5}, {"message", message}}}}) +
                           "\n");
    } else {
      EXPECT_EQ(r.err, "dynmgrctl: " + what + why);
    }
  }
  // Input errors are found before looking for the supervisor.
  EXPECT_EQ(ctl(name, {"put", "a", "--payload", "{"}).exit_code, 2);
  EXPECT_TRUE(shm_objects(Names(name)).empty());  // a client leaves nothing behind
}

TEST(CtlNoSupervisor, AfterTheSupervisorAndItsWorkersAreKilledEveryVerbIsExit5) {
  Daemon d("probe", {}, {}, "k");
  ASSERT_TRUE(d.ok()) << d.start_result().exit_code << ": " << d.start_result().err;
  ASSERT_EQ(d.ctl({"put", "a", "--timeout", "0"}).exit_code, 0);
  const auto got = d.ctl({"--json", "get", "a"});
  const pid_t worker = static_cast<pid_t>(testing::parse(got.out).at("pid").as_int64());
  ::kill(d.pid(), SIGKILL);
  ASSERT_TRUE(wait_until([&] { return process_gone(d.pid()); }, 5s));
  ::kill(worker, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return process_gone(worker); }, 5s));
  // The registry is left behind with nothing alive in it; its dead owner is recognised.
  for (const auto& args : std::vector<std::vector<std::string>>{{"ping"},
                                                                {"get", "a"},
                                                                {"state"},
                                                                {"call", "a", R"("get")"},
                                                                {"cast", "a", "1"},
                                                                {"put", "b"},
                                                                {"del", "a"},
                                                                {"restart"},
                                                                {"restart", "a"},
                                                                {"stop"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = d.ctl(args);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("no supervisor running under '" + d.name() + "'"), std::string::npos)
        << r.err;
  }
}

// Between a supervisor's death and a successor: reads, calls and casts go on
// (the worker lives); verbs that need the supervisor wait --wait, then exit 5.
TEST(CtlNoSupervisor, AfterTheSupervisorIsKilledItsWorkersServeAndItsVerbsAreExit5) {
  Daemon d("probe", {}, {}, "o");
  ASSERT_TRUE(d.ok()) << d.start_result().exit_code << ": " << d.start_result().err;
  ASSERT_EQ(d.ctl({"put", "a", "--timeout", "0", "--payload", "1"}).exit_code, 0);
  const auto got = d.ctl({"--json", "get", "a"});
  const pid_t worker = static_cast<pid_t>(testing::parse(got.out).at("pid").as_int64());
  ::kill(d.pid(), SIGKILL);
  ASSERT_TRUE(wait_until([&] { return process_gone(d.pid()); }, 5s));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"get", "a"}, {"state"}, {"call", "a", R"("get")"}, {"cast", "a", "1"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto r = d.ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_NE(d.ctl({"state"}).out.find("(not running: workers await a successor)"),
            std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ping"}, {"put", "b"}, {"del", "a"}, {"restart"}, {"stop"}, {"reexec"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    std::vector<std::string> with_wait = {"--wait", "300"};
    with_wait.insert(with_wait.end(), args.begin(), args.end());
    const auto r = d.ctl(with_wait);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("no supervisor running under '" + d.name() + "' (waited"),
              std::string::npos)
        << r.err;
  }
  ::kill(worker, SIGKILL);
}


// ----------------------------------------------------------------- list, cleanup, help

namespace {
pid_t worker_pid(const Daemon& d, const std::string& id) {
  const auto got = d.ctl({"--json", "get", id});
  const auto v = testing::parse(got.out);
  return v.is_object() ? static_cast<pid_t>(v.at("pid").as_int64()) : 0;
}

// This instance's entry in `list --json`, or null.
json::value listed(const std::string& name) {
  const auto r = ctl_raw({"--json", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto v = testing::parse(r.out);
  if (!v.is_object()) return nullptr;
  for (const auto& i : v.at("instances").as_array()) {
    if (i.at("name") == json::value(name)) return i;
  }
  return nullptr;
}
}  // namespace

TEST(CtlList, ListTellsLiveOrphanedAndStaleAndCleanupRemovesOnlyTheDead) {
  Daemon live("probe", {}, {}, "ll");
  Daemon orphaned("probe", {}, {}, "lo");
  Daemon stale("probe", {}, {}, "ls");
  for (const Daemon* d : {&live, &orphaned, &stale}) {
    ASSERT_TRUE(d->ok()) << d->start_result().err;
    ASSERT_EQ(d->ctl({"put", "a", "--timeout", "0"}).exit_code, 0);
  }
  const pid_t orphan = worker_pid(orphaned, "a");
  const pid_t dead = worker_pid(stale, "a");
  ASSERT_GT(orphan, 0);
  ASSERT_GT(dead, 0);
  for (const Daemon* d : {&orphaned, &stale}) {
    ::kill(d->pid(), SIGKILL);
    ASSERT_TRUE(wait_until([&] { return process_gone(d->pid()); }, 10s));
  }
  ::kill(dead, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return process_gone(dead); }, 10s));

  const auto l = listed(live.name());
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l.at("state"), json::value("live"));
  EXPECT_EQ(l.at("supervisor_pid"), json::value(live.pid()));
  EXPECT_EQ(l.at("workers"), json::value(1));
  EXPECT_EQ(l.at("live_workers"), json::value(1));
  const auto o = listed(orphaned.name());
  ASSERT_TRUE(o.is_object());
  EXPECT_EQ(o.at("state"), json::value("orphaned"));
  EXPECT_EQ(o.at("supervisor_pid"), json::value(0));
  EXPECT_EQ(o.at("live_workers"), json::value(1));
  const auto s = listed(stale.name());
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s.at("state"), json::value("stale"));
  // The table has a line per instance.
  const auto table = ctl_raw({"list"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find(stale.name() + " "), std::string::npos) << table.out;

  // A live or orphaned instance is refused, and keeps every object.
  const auto objects_live = shm_objects(live.names());
  auto r = ctl_raw({"cleanup", live.name()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "dynmgrctl: cleanup '" + live.name() + "': its supervisor is running (pid " +
                       std::to_string(live.pid()) + "): stop it with dynmgrctl -n " +
                       live.name() + " stop\n");
  EXPECT_EQ(shm_objects(live.names()), objects_live);
  EXPECT_EQ(live.ctl({"ping"}).exit_code, 0);
  r = ctl_raw({"cleanup", orphaned.name()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("worker(s) still run and wait to be adopted"), std::string::npos) << r.err;
  EXPECT_FALSE(shm_objects(orphaned.names()).empty());

  // A stale one goes, all of it.
  const std::size_t n = shm_objects(stale.names()).size();
  ASSERT_GT(n, 0u);
  r = ctl_raw({"cleanup", stale.name()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "cleaned '" + stale.name() + "': removed " + std::to_string(n) + " object(s)\n");
  EXPECT_EQ(shm_objects(stale.names()), std::vector<std::string>{});
  EXPECT_TRUE(listed(stale.name()).is_null());
  r = ctl_raw({"cleanup", stale.name()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "dynmgrctl: cleanup '" + stale.name() + "': no objects of instance '" +
                       stale.name() + "' in /dev/shm\n");
  r = ctl_raw({"cleanup", "bad.name"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;

  // The orphan's worker is ours to end (no supervisor will).
  ::kill(orphan, SIGKILL);
  EXPECT_TRUE(wait_until([&] { return process_gone(orphan); }, 10s));
}

// A registry this dynmgrctl cannot read (another version's layout, a damaged
// segment) is named in the listing, under a held lock (live) or not (stale).
TEST(CtlList, AnUnreadableRegistryIsNamed) {
  const Names names(unique_instance("lu"));
  auto lock = InstanceLock::acquire(names);
  ASSERT_TRUE(lock) << lock.error().message;
  const std::string path = Names::shm_path(names.registry());
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(100, 'x');
  }
  auto l = listed(names.instance());
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l.at("state"), json::value("live"));
  const std::string why(l.at("registry_error").as_string());
  EXPECT_NE(why.find("truncated (100 bytes)"), std::string::npos) << why;
  const auto table = ctl_raw({"list"});
  EXPECT_NE(table.out.find("unreadable: " + why), std::string::npos) << table.out;
  lock->release_and_remove();
  l = listed(names.instance());
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l.at("state"), json::value("stale"));
  EXPECT_EQ(ctl_raw({"cleanup", names.instance()}).exit_code, 0);
  EXPECT_EQ(shm_objects(names), std::vector<std::string>{});
}

TEST(CtlHelp, HelpVerbPrintsTheVerbsHelp) {
  const auto all = ctl_raw({"help"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_EQ(all.out, ctl_raw({"--help"}).out);
  const auto put = ctl_raw({"help", "put"});
  EXPECT_EQ(put.exit_code, 0);
  EXPECT_EQ(put.out, ctl_raw({"put", "--help"}).out);
  EXPECT_NE(put.out.find("--payload"), std::string::npos) << put.out;
  const auto bad = ctl_raw({"help", "nope"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "dynmgrctl: help: unknown verb 'nope' (see dynmgrctl --help)\n");
}

}  // namespace
}  // namespace dynmgr::testing
