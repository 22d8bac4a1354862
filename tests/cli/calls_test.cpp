// call / cast across real processes with the C++ Client (DESIGN.md §3, §5):
// replies, replace committed before the reply, a worker killed mid-call seen
// through the registry (not by timing out), casts queued across a restart,
// clients killed mid-traffic, many concurrent clients, oversized messages.
//
// Built twice: calls_test (the everyday run) and calls_slow_test
// (DYNMGR_SLOW_TESTS: also waits for the supervisor's 10 s reply-queue scan).
#include "cli/ctl_support.hpp"
#include "shared/frame.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <thread>

namespace dynmgr::testing {
namespace {

constexpr std::uint32_t kMaxPayload = 2048;

class Calls : public ::testing::Test {
 protected:
  void start(std::vector<std::string> env = {}) {
    daemon_ = std::make_unique<Daemon>(
        "probe",
        std::vector<std::string>{"--max-payload", std::to_string(kMaxPayload),
                                 "--terminate-timeout", "500"},
        std::move(env), "cl");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().exit_code << ": " << daemon_->start_result().err;
  }
  void SetUp() override { start(); }
  void TearDown() override { daemon_.reset(); }

  WorkerInfo put(Client& c, const std::string& id, json::value payload) {
    ChildSpec spec;
    spec.payload = std::move(payload);
    spec.timeout_ms = 0;
    auto r = c.put(id, spec);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : WorkerInfo{};
  }

  std::unique_ptr<Daemon> daemon_;
};

[[maybe_unused]] json::value msg(const std::string& text) { return parse(text); }

// The registry's payload text of id, or "<error>".
[[maybe_unused]] std::string payload_of(const Client& c, const std::string& id) {
  auto r = c.get(id);
  return r ? r->payload : "<" + r.error().message + ">";
}

#ifndef DYNMGR_SLOW_TESTS

TEST_F(Calls, CallReplies) {
  Client c = daemon_->client();
  put(c, "w", json::value(1));
  auto r = c.call("w", msg(R"("get")"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, json::value(1));
  auto e = c.call("w", msg(R"(["echo", {"deep": [1, 2, {"x": null}]}])"));
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(to_json(*e), R"({"deep":[1,2,{"x":null}]})");
  // ok(x) keeps the payload.
  EXPECT_EQ(payload_of(c, "w"), "1");
}

TEST_F(Calls, ReplaceIsInTheRegistryWhenTheCallerGetsItsReply) {
  Client c = daemon_->client();
  put(c, "w", json::value(0));
  for (int i = 1; i <= 300; ++i) {
    auto r = c.call("w", json::array{"set", json::object{{"i", i}}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(to_json(*r), "{\"i\":" + std::to_string(i) + "}");
    // No wait: the supervisor committed it before the reply was sent.
    auto rec = c.get("w");
    ASSERT_TRUE(rec);
    ASSERT_EQ(rec->payload, "{\"i\":" + std::to_string(i) + "}") << "call " << i;
    ASSERT_EQ(rec->value, rec->payload);
  }
}

TEST_F(Calls, WorkerKilledMidCallIsCrashedWellWithinTheDeadline) {
  Client c = daemon_->client(Millis(10'000));
  const WorkerInfo w = put(c, "w", json::value(7));
  Client watcher = daemon_->client();
  std::atomic<long long> killed_at{0};
  std::thread killer([&] {
    // Once the worker is inside the call (busy), SIGKILL it.
    if (wait_until([&] { auto r = watcher.get("w"); return r && r->busy_since_ms != 0; }, 5s)) {
      killed_at = std::chrono::steady_clock::now().time_since_epoch().count();
      ::kill(w.pid, SIGKILL);
    }
  });
  auto r = c.call("w", msg(R"(["sleep", 8000])"));
  const auto returned = std::chrono::steady_clock::now();
  killer.join();
  ASSERT_NE(killed_at.load(), 0) << "the worker never became busy";
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCrashed) << r.error().message;
  EXPECT_NE(r.error().message.find("killed by SIGKILL"), std::string::npos) << r.error().message;
  const auto detect = returned - std::chrono::steady_clock::time_point(
                                     std::chrono::steady_clock::duration(killed_at.load()));
  EXPECT_LT(detect, 1s) << "crash found by timing out, not through the registry";
  // Restarted, with the payload it had.
  EXPECT_TRUE(wait_until([&] { auto g = c.call("w", msg(R"("get")")); return g && *g == json::value(7); }, 5s));
}

TEST_F(Calls, WorkerCrashingInTheCallIsCrashed) {
  Client c = daemon_->client(Millis(10'000));
  put(c, "w", json::value(7));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.call("w", msg(R"("crash")"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCrashed) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  auto t = c.call("w", msg(R"("throw")"));
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kCrashed) << t.error().message;
}

TEST_F(Calls, CallToARestartingWorkerIsServedByTheNextIncarnation) {
  Client c = daemon_->client(Millis(10'000));
  put(c, "w", json::value(5));
  // Two quick crashes: the second restart waits out a backoff delay, status restarting.
  for (int i = 0; i < 2; ++i) {
    auto r = c.call("w", msg(R"("crash")"));
    ASSERT_FALSE(r);
    ASSERT_EQ(r.error().code, Errc::kCrashed);
  }
  auto during = c.get("w");
  ASSERT_TRUE(during);
  ASSERT_EQ(during->status, WorkerStatus::kRestarting);
  // The call waits in the mailbox, which outlives the process; it is neither a
  // crash (nobody took it) nor lost.
  auto r = c.call("w", msg(R"(["set", 9])"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, json::value(9));
  EXPECT_EQ(payload_of(c, "w"), "9");
}

TEST_F(Calls, PutAndDelAreSynchronous) {
  // put returns once the worker is registered and running; del once it is gone
  // from the registry: no wait between the request and what a reader sees.
  Client c = daemon_->client();
  for (int i = 0; i < 200; ++i) {
    const std::string id = "w" + std::to_string(i % 3);
    const WorkerInfo r = put(c, id, json::value(i));
    auto got = c.get(id);
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(got->status, WorkerStatus::kRunning);
    EXPECT_EQ(got->pid, r.pid);
    EXPECT_EQ(got->payload, std::to_string(i));
    ASSERT_TRUE(c.del(id)) << i;
    auto gone = c.get(id);
    ASSERT_FALSE(gone) << "'" << id << "' still in the registry after del returned (" << i << ")";
    EXPECT_EQ(gone.error().code, Errc::kNotFound);
  }
}

TEST_F(Calls, CallLongerThanTheTimeoutIsTimeout) {
  // The put gets the default deadline: 150 ms is the call's, and a worker
  // start under ASan on a slow machine takes longer than that.
  Client c = daemon_->client();
  put(c, "w", json::value(1));
  c.set_timeout(Millis(150));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.call("w", msg(R"(["sleep", 600])"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 550ms);
  // The late reply to the abandoned call is discarded, not taken for the next one.
  c.set_timeout(Millis(5000));
  auto g = c.call("w", msg(R"(["echo", "after"])"));
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(*g, json::value("after"));
}

TEST_F(Calls, UnknownWorkerIsNotFound) {
  Client c = daemon_->client();
  auto r = c.call("nope", msg(R"("get")"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  auto s = c.cast("nope", msg("1"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kNotFound);
}

TEST_F(Calls, MessageLargerThanMaxPayloadIsTooLarge) {
  Client c = daemon_->client();
  put(c, "w", json::value(1));
  // ["echo","xx...x"] is 11 bytes of framing around the string's characters.
  const json::value big = json::array{"echo", std::string(kMaxPayload - 10, 'x')};
  ASSERT_EQ(to_json(big).size(), kMaxPayload + 1);
  auto r = c.call("w", big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTooLarge);
  EXPECT_NE(r.error().message.find("limit of " + std::to_string(kMaxPayload) + " bytes"),
            std::string::npos)
      << r.error().message;
  auto s = c.cast("w", big);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kTooLarge);
  auto a = c.call_any(big);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::kTooLarge);
  // One byte less fits, both ways.
  const json::value fits = json::array{"echo", std::string(kMaxPayload - 11, 'x')};
  auto ok = c.call("w", fits);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, fits.as_array()[1]);
}

TEST_F(Calls, AnyOnANonPoolIsNotPool) {
  Client c = daemon_->client();
  auto r = c.call_any(msg(R"("get")"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotPool);
  auto s = c.cast_any(msg(R"("get")"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kNotPool);
}

// Casts sent while the worker is down (killed, restarting through a slow init)
// wait in its mailbox, which outlives the process, and reach the next incarnation.
class CastsAcrossRestart : public Calls {
 protected:
  void SetUp() override { start({"PROBE_INIT_SLEEP_MS=400"}); }
};

TEST_F(CastsAcrossRestart, AllArriveInOrder) {
  Client c = daemon_->client();
  const WorkerInfo w = put(c, "w", json::array{});
  json::array expected;
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.cast("w", json::array{"append", k}));
    expected.push_back(k);
  }
  ASSERT_TRUE(wait_until([&] { return payload_of(c, "w") == to_json(expected); }, 5s));
  ::kill(w.pid, SIGKILL);
  ASSERT_TRUE(wait_until([&] { auto r = c.get("w"); return r && r->pid != w.pid; }, 5s));
  for (int k = 10; k < 50; ++k) {
    auto st = c.cast("w", json::array{"append", k});
    ASSERT_TRUE(st) << st.error().message;
    expected.push_back(k);
  }
  // They were queued while the new incarnation was still in its (400 ms) init.
  auto during = c.get("w");
  ASSERT_TRUE(during);
  EXPECT_NE(during->status, WorkerStatus::kRunning) << "casts were not sent during the restart";
  EXPECT_TRUE(wait_until([&] { return payload_of(c, "w") == to_json(expected); }, 10s))
      << payload_of(c, "w");
  auto after = c.get("w");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->restarts, 1u);
}

#endif  // !DYNMGR_SLOW_TESTS

// ---------------------------------------------------------------- many clients

// A counter shared with forked children.
struct Shared {
  std::atomic<long> progress[16];
};

Shared* map_shared() {
  void* p = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return new (p) Shared{};
}

// Child body: `calls` echo calls of unique values; 0 when every reply was its own.
int echo_client(const std::string& instance, int k, long calls, Shared* shared) {
  Client::Options o;
  o.instance = instance;
  o.timeout = Millis(10'000);
  auto c = Client::connect(o);
  if (!c) return 2;
  for (long i = 0; calls < 0 || i < calls; ++i) {
    const std::string v = std::to_string(k) + "-" + std::to_string(i);
    auto r = c->call("w", json::array{"echo", v});
    if (!r) {
      std::fprintf(stderr, "client %d call %ld: %s\n", k, i, r.error().message.c_str());
      return 3;
    }
    if (*r != json::value(v)) {
      std::fprintf(stderr, "client %d call %ld: got %s\n", k, i, to_json(*r).c_str());
      return 4;
    }
    shared->progress[k].fetch_add(1);
  }
  return 0;
}

#ifndef DYNMGR_SLOW_TESTS
// Regression: reply queues were named per Client (serial 0, 1, ...), so two
// Clients of one process created — and replaced — the same queue, and their
// requests stalled until the deadline. Several Clients in threads of one
// process, each with its own put/call/del traffic, must all get their replies
// promptly.
TEST_F(Calls, ClientsInThreadsOfOneProcessGetTheirOwnReplies) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const std::string name = daemon_->name();
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      Client::Options o;
      o.instance = name;
      o.timeout = Millis(5'000);  // a stall would show as kTimeout here
      auto c = Client::connect(o);
      if (!c) {
        ++failures;
        return;
      }
      const std::string id = "t" + std::to_string(k);
      ChildSpec spec;
      spec.timeout_ms = 0;
      if (!c->put(id, spec)) ++failures;
      for (int i = 0; i < kRounds; ++i) {
        const std::string v = std::to_string(k) + "-" + std::to_string(i);
        auto r = c->call(id, json::array{"echo", v});
        if (!r || *r != json::value(v)) ++failures;
      }
      if (!c->del(id)) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}
#endif

#ifndef DYNMGR_SLOW_TESTS
TEST_F(Calls, EightClientProcessesGetTheirOwnReplies) {
  Client c = daemon_->client();
  put(c, "w", json::value(0));
  Shared* shared = map_shared();
  const std::string name = daemon_->name();
  std::vector<pid_t> pids;
  for (int k = 0; k < 8; ++k) {
    pids.push_back(fork_child([&, k] { return echo_client(name, k, 1000, shared); }));
  }
  for (int k = 0; k < 8; ++k) {
    const int status = wait_child(pids[k], 60s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "client " << k << " status " << status << " after " << shared->progress[k] << " calls";
    EXPECT_EQ(shared->progress[k].load(), 1000);
  }
  ::munmap(shared, sizeof(Shared));
}
#endif  // !DYNMGR_SLOW_TESTS

// The reply queues of client process pid (each with its ".bell" companion
// when with_bells).
std::vector<std::string> reply_queues_of(const Names& names, pid_t pid, bool with_bells = false) {
  std::vector<std::string> out;
  const std::string prefix = names.prefix() + "reply." + std::to_string(pid) + "-";
  for (const auto& n : shm_objects(names)) {
    const bool bell = n.size() > 5 && n.compare(n.size() - 5, 5, ".bell") == 0;
    if (n.rfind(prefix, 0) == 0 && (with_bells || !bell)) out.push_back(n);
  }
  return out;
}

// Client 0 calls until it is SIGKILLed; clients 1..3 make 1000 calls each
// meanwhile and must all get their own replies. With wait_for_scan, also waits
// for the supervisor's reply-queue scan (every 10 s) to remove the dead client's queue.
void killed_client_scenario(Daemon& daemon, bool wait_for_scan) {
  Client c = daemon.client();
  ChildSpec spec;
  spec.timeout_ms = 0;
  ASSERT_TRUE(c.put("w", spec));
  Shared* shared = map_shared();
  const std::string name = daemon.name();
  // Client 0 calls until it is killed; clients 1..3 make 1000 calls each meanwhile.
  const pid_t victim = fork_child([&] { return echo_client(name, 0, -1, shared); });
  std::vector<pid_t> others;
  for (int k = 1; k <= 3; ++k) {
    others.push_back(fork_child([&, k] { return echo_client(name, k, 1000, shared); }));
  }
  ASSERT_TRUE(wait_until(
      [&] {
        return shared->progress[0] >= 200 && shared->progress[1] >= 100 &&
               shared->progress[2] >= 100 && shared->progress[3] >= 100;
      },
      20s));
  const auto victim_queues = reply_queues_of(daemon.names(), victim);
  EXPECT_EQ(victim_queues.size(), 1u);
  ::kill(victim, SIGKILL);
  const int vs = wait_child(victim, 5s);
  EXPECT_TRUE(WIFSIGNALED(vs));
  for (std::size_t i = 0; i < others.size(); ++i) {
    const int status = wait_child(others[i], 60s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "client " << i + 1 << " status " << status << " after " << shared->progress[i + 1]
        << " calls";
    EXPECT_EQ(shared->progress[i + 1].load(), 1000);
  }
  // The worker still serves new clients.
  auto r = c.call("w", json::array{"echo", "still here"});
  ASSERT_TRUE(r) << r.error().message;
  if (wait_for_scan) {
    // The supervisor removes the dead client's reply queue at its next scan (every 10 s).
    EXPECT_TRUE(wait_until([&] { return reply_queues_of(daemon.names(), victim, true).empty(); },
                           15s, 50ms))
        << "left: " << ::testing::PrintToString(reply_queues_of(daemon.names(), victim, true));
    // ... and only that one: ours is still there.
    EXPECT_EQ(reply_queues_of(daemon.names(), ::getpid()).size(), 1u);
  }
  ::munmap(shared, sizeof(Shared));
}

#ifndef DYNMGR_SLOW_TESTS
// A reply queue holds one message (a Client waits for one reply at a time), of
// the largest frame a reply can be: a reply well beyond what the call itself
// may carry still arrives, one byte more is the worker's fault (kFailed), and
// the same queue then serves the next call.
TEST_F(Calls, TheLargestReplyFitsTheOneMessageReplyQueue) {
  Client c = daemon_->client();
  put(c, "w", json::value(1));
  // The reply frame: a header, then {"ok":true,"result":"<n bytes>"}.
  const std::size_t control_msg_size = 2 * kMaxPayload + 1024;
  const std::size_t largest = control_msg_size - kFrameHeaderSize - 23;
  ASSERT_GT(largest, std::size_t{kMaxPayload} + 1024) << "larger than a mailbox message";
  auto r = c.call("w", json::array{"big", largest});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->is_string());
  EXPECT_EQ(r->as_string().size(), largest);
  auto over = c.call("w", json::array{"big", largest + 1});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Errc::kFailed) << over.error().message;
  EXPECT_NE(over.error().message.find("too large for the caller"), std::string::npos)
      << over.error().message;
  for (int i = 0; i < 3; ++i) {
    auto again = c.call("w", json::array{"big", largest});
    ASSERT_TRUE(again) << i << ": " << again.error().message;
    EXPECT_EQ(again->as_string().size(), largest);
  }
  EXPECT_EQ(reply_queues_of(daemon_->names(), ::getpid(), true).size(), 2u) << "one, and its bell";
}

// A call that ends without its reply removes the reply queue at once (its
// late reply must not take the one message the next call's reply needs): the
// next call makes a new one, gets its own answer, and only that queue is left.
TEST_F(Calls, ACallThatTimesOutRemovesItsReplyQueue) {
  Client c = daemon_->client();
  put(c, "w", json::value(1));
  ASSERT_EQ(reply_queues_of(daemon_->names(), ::getpid()).size(), 1u) << "the put's";
  const auto before = reply_queues_of(daemon_->names(), ::getpid());
  c.set_timeout(Millis(150));
  auto r = c.call("w", msg(R"(["sleep", 400])"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_EQ(reply_queues_of(daemon_->names(), ::getpid(), true), std::vector<std::string>{})
      << "removed with its bell when the call timed out";
  c.set_timeout(Millis(5000));
  // The first of these is taken only once the sleeping call has been answered
  // (one worker, one message at a time): its late reply went nowhere.
  for (int i = 0; i < 3; ++i) {
    auto g = c.call("w", json::array{"echo", i});
    ASSERT_TRUE(g) << i << ": " << g.error().message;
    EXPECT_EQ(*g, json::value(i));
  }
  const auto after = reply_queues_of(daemon_->names(), ::getpid());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after, before) << "a new queue, under a new serial";
  // A call to a worker that crashes while handling it ends the same way.
  auto crashed = c.call("w", msg(R"("crash")"));
  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.error().code, Errc::kCrashed) << crashed.error().message;
  EXPECT_EQ(reply_queues_of(daemon_->names(), ::getpid(), true), std::vector<std::string>{});
}
#endif  // !DYNMGR_SLOW_TESTS

#ifndef DYNMGR_SLOW_TESTS
TEST_F(Calls, ClientKilledMidTrafficDoesNotDisturbOthers) {
  killed_client_scenario(*daemon_, /*wait_for_scan=*/false);
}
#else
TEST_F(Calls, KilledClientsReplyQueueIsRemovedByTheSupervisor) {
  killed_client_scenario(*daemon_, /*wait_for_scan=*/true);
}
#endif

}  // namespace
}  // namespace dynmgr::testing
