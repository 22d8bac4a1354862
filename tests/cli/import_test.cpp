// dynmgrctl import and Client::put_many against a real supervisor (the probe
// manager): good lines, bad lines reported by number while the good ones go
// in, --new against ids that exist, stdin, batches cut across several frames,
// an item too large alone, a worker whose init fails inside a batch, --passive
// (refused until passivation exists), and no supervisor.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

// Small frames: with --max-payload 512 the control queue's messages are
// 2 048 bytes, so a batch holds only a handful of items (put_many's reserve
// per item of the reply) and a hundred lines take many frames.
constexpr std::uint32_t kMaxPayload = 512;

class Import : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(
        "probe",
        std::vector<std::string>{"--max-payload", std::to_string(kMaxPayload),
                                 "--terminate-timeout", "500"},
        std::vector<std::string>{}, "im");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().err;
    file_ = "/tmp/dynmgr-test." + daemon_->name() + ".jsonl";
  }
  void TearDown() override {
    daemon_.reset();
    ::unlink(file_.c_str());
  }

  void write(const std::string& text) {
    std::ofstream out(file_, std::ios::trunc);
    out << text;
  }

  bool has(const std::string& id) { return daemon_->client().get(id).has_value(); }

  std::unique_ptr<Daemon> daemon_;
  std::string file_;
};

TEST_F(Import, GoodLinesAreAllPut) {
  write(R"({"id": "a", "timeout": 0}
{"id": "b", "timeout": 0, "payload": {"n": 2}}

{"id": "c", "timeout": 0, "restart": "transient"}
)");
  auto r = daemon_->ctl({"import", file_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 3 of 3 ids; 0 lines failed\n");
  EXPECT_EQ(r.err, "");
  Client c = daemon_->client();
  for (const char* id : {"a", "b", "c"}) {
    auto w = c.get(id);
    ASSERT_TRUE(w) << id;
    EXPECT_EQ(w->status, WorkerStatus::kRunning) << id;
    EXPECT_GT(w->pid, 0) << id;
  }
  EXPECT_EQ(c.get("b")->payload, R"({"n":2})");
  EXPECT_EQ(c.get("c")->restart, RestartType::kTransient);
}

TEST_F(Import, BadLinesAreReportedByNumberAndTheGoodOnesGoIn) {
  write(R"({"id": "good1", "timeout": 0}
not json
{"timeout": 0}
{"id": "lully", "lull": 0.5}
{"id": "good1", "timeout": 0}
["id", "x"]
{"id": "crashy", "timeout": 0, "payload": {"init": "crash"}}
{"id": "good2", "timeout": 0, "bogus": 1}
{"id": "good3", "timeout": 0}
)");
  auto r = daemon_->ctl({"import", file_});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "imported 2 of 9 ids; 7 lines failed\n");
  const auto errs = lines_of(r.err);
  ASSERT_EQ(errs.size(), 7u) << r.err;
  EXPECT_EQ(errs[0].rfind("dynmgrctl: import: line 2: ", 0), 0u) << errs[0];
  EXPECT_EQ(errs[1], "dynmgrctl: import: line 3: no string \"id\"");
  EXPECT_EQ(errs[2].rfind("dynmgrctl: import: line 4: 'lully': invalid spec field 'lull'", 0), 0u)
      << errs[2];
  EXPECT_EQ(errs[3], "dynmgrctl: import: line 5: 'good1': the id appears earlier, on line 1");
  EXPECT_EQ(errs[4], "dynmgrctl: import: line 6: not a JSON object");
  EXPECT_EQ(errs[5], "dynmgrctl: import: line 8: 'good2': unknown spec field 'bogus'");
  // Put errors come back after the batch, in line order after the parse errors.
  EXPECT_EQ(
      errs[6].rfind("dynmgrctl: import: line 7: 'crashy': worker 'crashy' exited during start", 0),
      0u)
      << errs[6];
  EXPECT_TRUE(has("good1"));
  EXPECT_TRUE(has("good3"));
  EXPECT_FALSE(has("crashy"));  // a failed put adds nothing
  EXPECT_FALSE(has("lully"));
  EXPECT_FALSE(has("good2"));
}

TEST_F(Import, NewLeavesExistingIdsAlone) {
  Client c = daemon_->client();
  ChildSpec spec;
  spec.timeout_ms = 0;
  auto a = c.put("a", spec);
  ASSERT_TRUE(a) << a.error().message;
  write("{\"id\": \"a\", \"timeout\": 0, \"payload\": 7}\n{\"id\": \"b\", \"timeout\": 0}\n");
  auto r = daemon_->ctl({"import", "--new", file_});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "dynmgrctl: import: line 1: 'a': worker 'a' already exists\n");
  EXPECT_EQ(r.out, "imported 1 of 2 ids; 1 line failed\n");
  auto now = c.get("a");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->pid, a->pid);
  EXPECT_EQ(now->payload, "null");
  EXPECT_TRUE(has("b"));
  // Without --new the same file puts over "a".
  r = daemon_->ctl({"import", file_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  now = c.get("a");
  ASSERT_TRUE(now);
  EXPECT_NE(now->pid, a->pid);
  EXPECT_EQ(now->payload, "7");
}

TEST_F(Import, ReadsStdin) {
  write("{\"id\": \"s1\", \"timeout\": 0}\n{\"id\": \"s2\", \"timeout\": 0}\n");
  auto r = run_command({"/bin/sh", "-c", "exec \"$0\" -n \"$1\" import - < \"$2\"",
                        bin_path("dynmgrctl"), daemon_->name(), file_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 2 of 2 ids; 0 lines failed\n");
  EXPECT_TRUE(has("s1"));
  EXPECT_TRUE(has("s2"));
}

TEST_F(Import, ManyLinesTakeSeveralFramesAndAnItemTooLargeAloneFailsAlone) {
  constexpr int kLines = 120;
  std::string text;
  for (int i = 0; i < kLines; ++i) {
    if (i == 50) {
      // Within --max-payload, but its spec alone is over the 2 048-byte frame.
      text += R"({"id": "huge", "timeout": 0, "options": {"pad": ")" + std::string(3000, 'x') +
              "\"}}\n";
    }
    text += "{\"id\": \"w" + std::to_string(i) +
            "\", \"timeout\": 0, \"payload\": " + std::to_string(i) + "}\n";
  }
  write(text);
  // Passive: the batches and the replies are what is tested, not 120 spawns
  // (minutes under ASan); the spawning path has its own tests above.
  auto r = daemon_->ctl({"--json", "import", "--passive", file_});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto errs = lines_of(r.err);
  ASSERT_EQ(errs.size(), 1u) << r.err;
  EXPECT_NE(errs[0].find("line 51: 'huge': the put of"), std::string::npos) << errs[0];
  EXPECT_NE(errs[0].find("exceeds the control queue's message size"), std::string::npos) << errs[0];
  EXPECT_EQ(r.out, "{\"imported\":120,\"lines\":121,\"failed\":1,\"complete\":true}\n");
  Client c = daemon_->client();
  auto all = c.state();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), static_cast<std::size_t>(kLines));
  for (int i = 0; i < kLines; i += 17) {
    auto w = c.get("w" + std::to_string(i));
    ASSERT_TRUE(w) << i;
    EXPECT_EQ(w->payload, std::to_string(i));
    EXPECT_EQ(w->status, WorkerStatus::kPassive);
  }
}

TEST_F(Import, PutManyFromCpp) {
  Client c = daemon_->client();
  ChildSpec quick;
  quick.timeout_ms = 0;
  ChildSpec crash = quick;
  crash.payload = parse(R"({"init": "crash"})");
  ChildSpec bad = quick;
  bad.lull = 0.5;
  std::vector<Client::PutItem> items{{"p1", quick}, {"p2", crash}, {"p1", quick},
                                     {"", quick},   {"p3", bad},   {"p4", quick}};
  auto rs = c.put_many(items);
  ASSERT_EQ(rs.size(), items.size());
  ASSERT_TRUE(rs[0]) << rs[0].error().message;
  EXPECT_EQ(rs[0]->id, "p1");
  EXPECT_EQ(rs[0]->status, WorkerStatus::kRunning);
  EXPECT_GT(rs[0]->pid, 0);
  ASSERT_FALSE(rs[1]);
  EXPECT_EQ(rs[1].error().code, Errc::kFailed);
  EXPECT_NE(rs[1].error().message.find("exited during start"), std::string::npos);
  ASSERT_FALSE(rs[2]);
  EXPECT_EQ(rs[2].error().code, Errc::kInvalid);
  ASSERT_FALSE(rs[3]);
  EXPECT_EQ(rs[3].error().code, Errc::kInvalid);
  ASSERT_FALSE(rs[4]);
  EXPECT_EQ(rs[4].error().code, Errc::kInvalid);
  ASSERT_TRUE(rs[5]) << rs[5].error().message;
  EXPECT_EQ(rs[5]->id, "p4");
  EXPECT_FALSE(has("p2"));
  EXPECT_FALSE(has("p3"));

  // put_new semantics: p1 exists, p5 does not.
  Client::PutManyOptions only_new;
  only_new.only_new = true;
  rs = c.put_many({{"p1", quick}, {"p5", quick}}, only_new);
  ASSERT_EQ(rs.size(), 2u);
  ASSERT_FALSE(rs[0]);
  EXPECT_EQ(rs[0].error().code, Errc::kExists);
  EXPECT_TRUE(rs[1]);
  EXPECT_TRUE(c.put_many({}).empty());
}

// put_many keeps two requests in flight: a later batch's reply that arrives
// before an earlier one's (whose worker is slow to start) is kept for its
// turn, not dropped as stale. Without that the later batch's items would fail
// with a timeout.
TEST_F(Import, ALaterBatchAnsweredFirstIsKeptForItsTurn) {
  Client c = daemon_->client();
  ChildSpec quick;
  quick.timeout_ms = 0;
  ChildSpec slow = quick;
  slow.payload = parse(R"({"init": "sleep", "init_sleep_ms": 1500})");
  // A batch holds 8 items here (2 048-byte frames, the reply's reserve per item).
  std::vector<Client::PutItem> items{{"s0", slow}};
  for (int i = 1; i < 12; ++i) items.push_back({"q" + std::to_string(i), quick});
  auto rs = c.put_many(items);
  ASSERT_EQ(rs.size(), items.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    ASSERT_TRUE(rs[i]) << items[i].id << ": " << rs[i].error().message;
    EXPECT_EQ(rs[i]->id, items[i].id);
    EXPECT_EQ(rs[i]->status, WorkerStatus::kRunning) << items[i].id;
    EXPECT_GT(rs[i]->pid, 0) << items[i].id;
  }
  // The same Client goes on with single requests on its two-deep reply queue.
  auto g = c.call("q11", json::value("get"));
  EXPECT_TRUE(g) << g.error().message;
}

// README "Passivation": --passive registers without starting anything; the
// first call starts the worker from the imported payload.
TEST_F(Import, PassiveRegistersTheIdsWithoutAProcess) {
  Client c = daemon_->client();
  ChildSpec quick;
  quick.timeout_ms = 0;
  quick.payload = 7;
  Client::PutManyOptions passive;
  passive.passive = true;
  auto rs = c.put_many({{"q1", quick}, {"q2", quick}, {"q1", quick}}, passive);
  ASSERT_EQ(rs.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(rs[i]) << rs[i].error().message;
    EXPECT_EQ(rs[i]->status, WorkerStatus::kPassive);
    EXPECT_EQ(rs[i]->pid, 0);
  }
  ASSERT_FALSE(rs[2]);  // a duplicate in the input
  EXPECT_EQ(rs[2].error().code, Errc::kInvalid);
  write("{\"id\": \"q3\", \"timeout\": 0}\n\n{\"id\": \"q4\", \"timeout\": 0, \"payload\": 4}\n");
  auto r = daemon_->ctl({"import", "--passive", file_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto g = c.get("q4");
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->status, WorkerStatus::kPassive);
  EXPECT_EQ(g->pid, 0);
  // The first message starts it.
  auto v = c.call("q1", json::value("get"));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, json::value(7));
  auto after = c.get("q1");
  ASSERT_TRUE(after);
  EXPECT_NE(after->status, WorkerStatus::kPassive);
  EXPECT_GT(after->pid, 0);
}

TEST(ImportWithout, NoSupervisorAndNoFile) {
  const std::string name = unique_instance("imn");
  const std::string file = "/tmp/dynmgr-test." + name + ".jsonl";
  {
    std::ofstream out(file);
    out << "{\"id\": \"x\"}\n";
  }
  auto r = ctl(name, {"import", file});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  r = ctl(name, {"import", file + ".missing"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unable to read it"), std::string::npos) << r.err;
  ::unlink(file.c_str());
}

}  // namespace
}  // namespace dynmgr::testing
