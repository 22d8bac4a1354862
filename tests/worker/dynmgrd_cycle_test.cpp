// One worker's whole life under the stock dynmgrd, for a Python command (the
// shipped examples/exec/counter.py, journaled) and a POSIX sh command
// (scripts/counter.sh): put --exec, performs changing the payload, call (get;
// add with reply + replace, visible in the registry when the reply arrives),
// cast, SIGKILL of the command, SIGKILL of the worker (the command must not
// outlive it), del (worker and command gone, the command got `terminate`).
#include <signal.h>

#include <fstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

struct Language {
  std::string name;
  std::vector<std::string> exec;  // the command after --exec
  std::string payload;            // initial payload
};

std::ostream& operator<<(std::ostream& os, const Language& l) { return os << l.name; }

std::int64_t field(const json::value& payload, const char* key) {
  if (!payload.is_object()) return -1;
  return get_int(payload.get_object(), key).value_or(-1);
}

std::vector<json::object> journal_of(const std::string& path) {
  std::vector<json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto v = parse(line);
    if (v.is_object()) out.push_back(v.get_object());
  }
  return out;
}

class ExecCycle : public DynmgrdTest, public ::testing::WithParamInterface<Language> {};

TEST_P(ExecCycle, PutPerformCallCastKillAndDel) {
  const Language& lang = GetParam();
  ASSERT_TRUE(start());
  const std::string journal = path("journal");
  const std::string id = "w";

  // put --exec: synchronous, the worker is running when it returns. A generous
  // lull: the first perform must not race the interpreter's start-up.
  std::vector<std::string> put{"put",   id,       "--payload", lang.payload, "--timeout",
                               "100",   "--lull", "30",        "--env",      "JOURNAL=" + journal,
                               "--exec"};
  put.insert(put.end(), lang.exec.begin(), lang.exec.end());
  auto r = ctl(put);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("put 'w': running (pid ", 0), 0u) << r.out;

  // perform replaces the payload: n counts up.
  ASSERT_TRUE(wait_until([&] { return field(payload(id), "n") >= 2; }, kWait))
      << to_json(payload(id));

  // call "get": the reply is the payload the command saw.
  const std::int64_t n_before = field(payload(id), "n");
  r = ctl({"call", id, R"("get")"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::int64_t n_reply = field(parse(r.out), "n");
  EXPECT_GE(n_reply, n_before) << r.out;
  EXPECT_LE(n_reply, field(payload(id), "n")) << r.out;

  // call ["add",5] answers {"reply":S,"replace":P}: once the caller has the
  // reply, the registry already shows the new payload.
  r = ctl({"call", id, R"(["add",5])"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "5\n");
  EXPECT_EQ(field(payload(id), "sum"), 5) << to_json(payload(id));

  // cast: accepted at once, applied by the worker.
  r = ctl({"cast", id, R"(["add",2])"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "accepted\n");
  ASSERT_TRUE(wait_until([&] { return field(payload(id), "sum") == 7; }, kWait))
      << to_json(payload(id));

  // SIGKILL the command (not the worker): the worker starts it again in
  // place (README "Exec workers"), from the last committed payload (sum 7 and
  // the count so far, not the put's), whether it was idle or performing.
  const pid_t w1 = worker_pid(id);
  ASSERT_GT(w1, 0);
  const pid_t c1 = command_of(w1);
  ASSERT_GT(c1, 0);
  const std::int64_t n_at_kill = field(payload(id), "n");
  ASSERT_EQ(::kill(c1, SIGKILL), 0);
  auto rec = wait_record(id, [&](const WorkerInfo& s) {
    return s.restarts == 1 && s.status == WorkerStatus::kRunning;
  });
  ASSERT_TRUE(rec && rec->restarts == 1 && rec->status == WorkerStatus::kRunning) << log();
  EXPECT_EQ(rec->pid, w1);
  EXPECT_NE(last_exit_reason(*rec).find("command killed by SIGKILL"), std::string::npos)
      << last_exit_reason(*rec);
  EXPECT_TRUE(wait_until([&] { return process_dead(c1); }, kWait));
  EXPECT_NE(command_of(w1), c1);
  EXPECT_EQ(field(payload(id), "sum"), 7);
  EXPECT_GE(field(payload(id), "n"), n_at_kill);

  // SIGKILL the worker: its command dies with it (PR_SET_PDEATHSIG), and the
  // pair restarts from the last payload.
  const pid_t w2 = worker_pid(id);
  ASSERT_GT(w2, 0);
  const pid_t c2 = command_of(w2);
  ASSERT_GT(c2, 0);
  EXPECT_NE(c2, c1);
  ASSERT_EQ(::kill(w2, SIGKILL), 0);
  EXPECT_TRUE(wait_until([&] { return process_dead(c2); }, kWait))
      << "the command outlived its worker";
  rec = wait_record(id, [&](const WorkerInfo& s) {
    return s.restarts == 2 && s.status == WorkerStatus::kRunning && s.pid > 0 && s.pid != w2;
  });
  ASSERT_TRUE(rec && rec->restarts == 2 && rec->pid != w2) << log();
  EXPECT_NE(last_exit_reason(*rec).find("killed by SIGKILL"), std::string::npos)
      << last_exit_reason(*rec);
  EXPECT_EQ(field(payload(id), "sum"), 7);
  const pid_t w3 = worker_pid(id);
  const pid_t c3 = command_of(w3);
  ASSERT_GT(c3, 0);
  ASSERT_TRUE(wait_until([&] { return field(payload(id), "n") > n_at_kill; }, kWait));

  // del: worker and command gone, and the command was told (terminate, "del").
  r = ctl({"del", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "deleted 'w'\n");
  EXPECT_TRUE(process_dead(w3));  // del returns once the worker is reaped
  EXPECT_TRUE(wait_until([&] { return process_dead(c3); }, kWait));
  EXPECT_EQ(ctl({"get", id}).exit_code, 3);

  const auto requests = journal_of(journal);
  ASSERT_FALSE(requests.empty());
  const json::object& last = requests.back();
  EXPECT_EQ(get_string(last, "op").value_or(""), "terminate") << to_json(json::value(last));
  EXPECT_EQ(get_string(last, "reason").value_or(""), "del") << to_json(json::value(last));
  EXPECT_EQ(get_string(last, "id").value_or(""), "w");
  EXPECT_EQ(field(last.at("payload"), "sum"), 7);  // terminate sees the committed payload
  std::size_t calls = 0, casts = 0;
  for (const auto& req : requests) {
    calls += get_string(req, "op").value_or("") == "call";
    casts += get_string(req, "op").value_or("") == "cast";
  }
  EXPECT_EQ(calls, 2u);
  EXPECT_EQ(casts, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Languages, ExecCycle,
    ::testing::Values(Language{"Python",
                               {"python3", script_path("journal.py"),
                                source_path("examples/exec/counter.py")},
                               "{}"},
                      Language{"Sh", {"sh", script_path("counter.sh")}, R"({"n":0,"sum":0})"}),
    [](const auto& row) { return row.param.name; });

}  // namespace
}  // namespace dynmgr::testing
