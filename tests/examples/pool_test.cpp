// The seed's Pool ("Workers Pool") through the real dynmgrctl, for every
// pickup strategy:
//
//   Enum.map(1..3, &Pool.synch(&1))     call --any '["synch", n]'   -> 1, 2, 3
//   Enum.map(1..3, &Pool.asynch(&1))    cast --any '["asynch", n]'  -> accepted
//   Enum.reduce(... .value)             sum of the payloads in state --json -> 6
//
// And "no free worker is an error, not a hang": with the only member busy in a
// long call, call/cast --any fail at once (probe --pool 1, whose calls can sleep).
#include <gtest/gtest.h>

#include <thread>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

class PoolExample : public ::testing::TestWithParam<std::string> {};

std::int64_t payload_sum(const std::string& state_json, std::size_t* members = nullptr) {
  auto v = parse(state_json);
  if (!v.is_object()) return -1;
  std::int64_t sum = 0;
  std::size_t n = 0;
  for (const auto& w : v.as_object()["workers"].as_array()) {
    const auto& o = w.as_object();
    if (o.at("pool") != json::value(true)) continue;
    ++n;
    sum += o.at("payload").is_int64() ? o.at("payload").as_int64() : -1000;
  }
  if (members != nullptr) *members = n;
  return sum;
}

TEST_P(PoolExample, TheSeedSession) {
  Daemon pool("pool", {"--pickup", GetParam()}, {}, "pl");
  ASSERT_TRUE(pool.ok()) << pool.start_result().err;

  // pool_size 2, timeout 0, every payload initialised to 0 by init().
  const auto st = pool.ctl({"--json", "state"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto workers = parse(st.out).as_object()["workers"].as_array();
  ASSERT_EQ(workers.size(), 2u) << st.out;
  for (std::size_t i = 0; i < 2; ++i) {
    auto& o = workers[i].as_object();
    EXPECT_EQ(o["id"], json::value("pool-" + std::to_string(i + 1)));
    EXPECT_EQ(o["pool"], json::value(true));
    EXPECT_EQ(o["timeout_ms"], json::value(0));
    EXPECT_EQ(o["payload"], json::value(0));
  }

  for (int n = 1; n <= 3; ++n) {
    const auto r = pool.ctl({"call", "--any", "[\"synch\", " + std::to_string(n) + "]"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, std::to_string(n) + "\n");
    EXPECT_EQ(r.err, "");
  }
  EXPECT_EQ(payload_sum(pool.ctl({"--json", "state"}).out), 0);  // synch changes nothing

  for (int n = 1; n <= 3; ++n) {
    const auto r = pool.ctl({"cast", "--any", "[\"asynch\", " + std::to_string(n) + "]"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "accepted\n");
  }
  std::string last;
  EXPECT_TRUE(wait_until(
      [&] {
        last = pool.ctl({"--json", "state"}).out;
        return payload_sum(last) == 6;
      },
      5s, 5ms))
      << last;
  std::size_t members = 0;
  payload_sum(last, &members);
  EXPECT_EQ(members, 2u);
}

INSTANTIATE_TEST_SUITE_P(Pickup, PoolExample, ::testing::Values("stream", "random", "hashring"),
                         [](const auto& param_info) { return param_info.param; });

TEST(PoolExampleFlags, PoolSizeAndUnknownPickup) {
  Daemon pool("pool", {"--pool-size", "5"}, {}, "pl");
  ASSERT_TRUE(pool.ok()) << pool.start_result().err;
  std::size_t members = 0;
  EXPECT_EQ(payload_sum(pool.ctl({"--json", "state"}).out, &members), 0);
  EXPECT_EQ(members, 5u);

  const auto bad = run_command({bin_path("pool"), "-n", unique_instance("pl"), "--pickup", "lifo"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "pool: invalid pickup strategy 'lifo': expected hashring, random or stream\n");
}

// ---------------------------------------------------------------- no free worker

class PoolBusy : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolBusy, AnyOnAPoolWithEveryWorkerBusyFailsAtOnce) {
  Daemon d("probe", {"--pool", "1", "--pickup", GetParam()}, {}, "pb");
  ASSERT_TRUE(d.ok()) << d.start_result().err;
  Client c = d.client();

  CommandResult long_call;
  // Busy long enough for every check below, however slow the machine (ASan
  // runs each dynmgrctl several times slower); the call then completes.
  std::thread caller([&] {
    long_call = d.ctl({"--wait", "30000", "call", "--any", R"(["sleep", 6000])"});
  });
  const bool busy = wait_until(
      [&] {
        auto r = c.get("pool-1");
        return r && r->busy_since_ms != 0;
      },
      5s, 1ms);
  if (!busy) caller.join();
  ASSERT_TRUE(busy) << "the only member never became busy";

  // The table shows it.
  const auto table = d.ctl({"state"});
  EXPECT_NE(table.out.find(" busy "), std::string::npos) << table.out;

  for (const std::string verb : {"call", "cast"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = d.ctl({verb, "--any", R"("get")"});
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "dynmgrctl: " + verb + " --any: no free worker in the pool\n");
    EXPECT_LT(took, 1000ms) << verb << " waited instead of failing";
  }
  // The C++ client says the same.
  auto r = c.call_any(json::value("get"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNoFreeWorker);

  caller.join();
  EXPECT_EQ(long_call.exit_code, 0) << long_call.err;
  EXPECT_EQ(long_call.out, "\"slept\"\n");
  // Free again: served.
  const auto after = d.ctl({"call", "--any", R"(["echo", 5])"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, "5\n");
}

TEST_P(PoolBusy, AMemberThatCrashedInACallIsFreeAgain) {
  Daemon d("probe", {"--pool", "1", "--pickup", GetParam()}, {}, "pb");
  ASSERT_TRUE(d.ok()) << d.start_result().err;
  const auto crash = d.ctl({"call", "--any", R"("crash")"});
  EXPECT_EQ(crash.exit_code, 1) << crash.err;
  Client c = d.client();
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = c.get("pool-1");
        return r && r->restarts == 1 && r->status == WorkerStatus::kRunning;
      },
      5s));
  // The killed incarnation was busy; the new one is not.
  EXPECT_EQ(c.get("pool-1").value().busy_since_ms, 0u);
  const auto r = d.ctl({"call", "--any", R"(["echo", 1])"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

INSTANTIATE_TEST_SUITE_P(Pickup, PoolBusy, ::testing::Values("stream", "random"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace dynmgr::testing
