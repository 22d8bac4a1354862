// dynmgrctl reload [FILE] (issue 11 §2): a changed children file applied to a
// live dynmgrd. Only what changed moves: a new id starts, a removed one is
// deleted, a changed one is put over, an unchanged one keeps its process, and
// ids put by hand are left alone. A bad file changes nothing.
#include <filesystem>
#include <fstream>

#include "dynmgrd_harness.hpp"

namespace dynmgr::testing {
namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// One child running the probe command, with an env entry and a payload.
std::string child(const std::string& id, const std::string& env, int n) {
  return "\"" + id + R"(": {"exec": [")" + probe_command_path() + R"("], "env": {"TAG": ")" + env +
         R"("}, "timeout": 0, "payload": {"n": )" + std::to_string(n) + "}}";
}

std::string children(const std::vector<std::string>& entries) {
  std::string out = "{";
  for (const auto& e : entries) out += (out.size() > 1 ? ",\n" : "\n") + e;
  return out + "\n}\n";
}

class Reload : public DynmgrdTest {
 protected:
  // The fleet from `entries`, booted from a --children file; pids by id.
  void boot(const std::vector<std::string>& entries, std::vector<std::string> flags = {}) {
    file_ = path("children.json");
    write_file(file_, children(entries));
    flags.insert(flags.begin(), {"--children", file_});
    ASSERT_TRUE(start(flags));
  }
  // The TAG variable the probe command of id was started with.
  std::string tag_of(const std::string& id) {
    const auto r = ctl({"call", id, R"("env")"});
    auto v = parse_json(r.out, "env");
    if (!v || !v->is_object()) return "(" + r.out + r.err + ")";
    return std::string(get_string(v->get_object(), "TAG").value_or(""));
  }
  std::string file_;
};

TEST_F(Reload, OnlyWhatChangedMoves) {
  boot({child("same", "s", 1), child("changed", "old", 2), child("gone", "g", 3)});
  const pid_t same = worker_pid("same");
  const pid_t changed = worker_pid("changed");
  ASSERT_GT(worker_pid("gone"), 0);
  auto r = ctl({"put", "byhand", "--timeout", "0", "--exec", probe_command_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const pid_t byhand = worker_pid("byhand");

  const std::string next = path("next.json");
  write_file(next, children({child("same", "s", 1), child("changed", "new", 20), child("fresh", "f", 4)}));
  r = ctl({"reload", next});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "reloaded: 1 added, 1 replaced, 1 removed, 1 unchanged\n"
            "added: fresh\nreplaced: changed\nremoved: gone\n");
  EXPECT_EQ(r.err, "");

  EXPECT_TRUE(wait_until([&] { return !record("gone").has_value(); }, kWait)) << log();
  auto fresh = wait_record("fresh", [](const WorkerInfo& w) { return w.status == WorkerStatus::kRunning; });
  ASSERT_TRUE(fresh) << log();
  EXPECT_EQ(fresh->status, WorkerStatus::kRunning);
  auto c = wait_record("changed", [&](const WorkerInfo& w) {
    return w.status == WorkerStatus::kRunning && w.pid != changed;
  });
  ASSERT_TRUE(c && c->pid != changed) << log();
  EXPECT_EQ(c->payload, R"({"n":20})");
  EXPECT_EQ(tag_of("changed"), "new");
  EXPECT_EQ(record("same")->pid, same);
  EXPECT_EQ(record("byhand")->pid, byhand);

  // The same file again: nothing to do.
  r = ctl({"--json", "reload", next});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, R"({"added":[],"replaced":[],"removed":[],"unchanged":["changed","fresh","same"]})"
                   "\n");
  EXPECT_EQ(record("same")->pid, same);
}

TEST_F(Reload, WithoutAFileRereadsTheChildrenFile) {
  boot({child("a", "a", 1)});
  const pid_t a = worker_pid("a");
  write_file(file_, children({child("a", "a", 1), child("b", "b", 2)}));
  const auto r = ctl({"reload"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "reloaded: 1 added, 0 replaced, 0 removed, 1 unchanged\nadded: b\n");
  EXPECT_GT(worker_pid("b"), 0);
  EXPECT_EQ(record("a")->pid, a);
}

TEST_F(Reload, ABadFileChangesNothing) {
  boot({child("a", "a", 1), child("b", "b", 2)});
  const pid_t a = worker_pid("a");
  const pid_t b = worker_pid("b");
  const std::string bad = path("bad.json");
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases{
      {"{ not json", "dynmgrctl: reload " + bad + ": " + bad + ": invalid JSON in children file: "},
      {R"({"a": {"exec": ["true"], "bogus": 1}})",
       "dynmgrctl: reload " + bad + ": " + bad + ": children file: 'a': unknown spec field 'bogus'\n"},
      {R"({"a": {"payload": 1}})",
       "dynmgrctl: reload " + bad + ": " + bad +
           ": worker 'a' has no command: use --exec CMD ARGS... (this dynmgrd has no default command)\n"},
  };
  for (const auto& c : cases) {
    write_file(bad, c.text);
    const auto r = ctl({"reload", bad});
    EXPECT_EQ(r.exit_code, 2) << c.text;
    EXPECT_EQ(r.err.rfind(c.error, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto r = ctl({"reload", path("missing.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "dynmgrctl: reload " + path("missing.json") + ": unable to read children file " +
                       path("missing.json") + ": No such file or directory\n");
  r = ctl({"--json", "reload", path("missing.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind(R"({"error":{"code":2,"message":"reload )", 0), 0u) << r.err;

  EXPECT_EQ(record("a")->pid, a);
  EXPECT_EQ(record("b")->pid, b);
  // ... and the children it remembers are still the booted ones: removing b
  // from the real file still deletes b.
  write_file(file_, children({child("a", "a", 1)}));
  r = ctl({"reload"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "reloaded: 0 added, 0 replaced, 1 removed, 1 unchanged\nremoved: b\n");
}

TEST_F(Reload, MoreNewIdsThanFreeSlotsChangesNothing) {
  boot({child("a", "a", 1)}, {"--max-workers", "2"});
  const std::string next = path("next.json");
  write_file(next, children({child("a", "a", 1), child("b", "b", 2), child("c", "c", 3)}));
  const auto r = ctl({"reload", next});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "dynmgrctl: reload " + next +
                       ": reload would start 2 worker(s) and only 1 slot(s) are free "
                       "(--max-workers 2)\n");
  EXPECT_FALSE(record("b").has_value());
  EXPECT_FALSE(record("c").has_value());
}

// Issue 11 §2: `get` shows the whole spec, the exec command, env and cwd too.
TEST_F(Reload, GetShowsTheCommandEnvAndCwd) {
  ASSERT_TRUE(start());
  auto r = ctl({"put", "p", "--timeout", "0", "--env", "TAG=x", "--cwd", dir_, "--exec",
                probe_command_path(), "arg 1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ctl({"--json", "get", "p"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value v = parse(r.out);
  ASSERT_TRUE(v.is_object()) << r.out;
  const json::value* options = v.get_object().if_contains("options");
  ASSERT_NE(options, nullptr) << r.out;
  const auto expected = parse_json(R"({"exec":[")" + probe_command_path() + R"(","arg 1"],"env":{"TAG":"x"},"cwd":")" +
                                   dir_ + R"("})", "expected");
  ASSERT_TRUE(expected);
  EXPECT_EQ(*options, *expected) << r.out;
  r = ctl({"get", "p"});
  EXPECT_NE(r.out.find("options:             {\"exec\":[\"" + probe_command_path()), std::string::npos)
      << r.out;
}

TEST_F(Reload, WithoutChildrenFileNeedsAFile) {
  ASSERT_TRUE(start());
  const auto r = ctl({"reload"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "dynmgrctl: reload: this dynmgrd was started without --children: give reload a FILE\n");
}

}  // namespace
}  // namespace dynmgr::testing
