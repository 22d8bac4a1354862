// shared/protocol.cpp: a worker record survives the trip through its JSON
// form (record_to_json, then record_from_json), as a put reply makes it.

#include "shared/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dynmgr {
namespace {

SlotRecord sample(WorkerStatus status, ExitInfo::Kind exit_kind) {
  SlotRecord r;
  r.slot = 42;
  r.id = "device-7";
  r.status = status;
  r.pid = 4321;
  r.restarts = 3;
  r.payload = R"({"n":5,"tags":["a","b"]})";
  r.value = "17";
  r.timeout_ms = 250;
  r.lull = 1.5;
  r.instant_perform = true;
  r.pool = true;
  r.restart = RestartType::kTransient;
  r.max_restarts = 9;
  r.within_ms = 60000;
  r.started_ms = 1700000000123;
  r.last_perform_ms = 1700000000456;
  r.last_exit.kind = exit_kind;
  r.last_exit.code = exit_kind == ExitInfo::Kind::kNone ? 0 : 9;
  r.last_exit.reason = exit_kind == ExitInfo::Kind::kNone ? "" : "killed by SIGKILL";
  return r;
}

struct RoundTripCase {
  const char* label;
  WorkerStatus status;
  ExitInfo::Kind exit_kind;
};

class RecordJson : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RecordJson, RoundTrips) {
  const SlotRecord in = sample(GetParam().status, GetParam().exit_kind);
  auto out = protocol::record_from_json(protocol::record_to_json(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->slot, in.slot);
  EXPECT_EQ(out->id, in.id);
  EXPECT_EQ(out->status, in.status);
  EXPECT_EQ(out->pid, in.pid);
  EXPECT_EQ(out->restarts, in.restarts);
  EXPECT_EQ(out->payload, in.payload);
  EXPECT_EQ(out->value, in.value);
  EXPECT_EQ(out->timeout_ms, in.timeout_ms);
  EXPECT_DOUBLE_EQ(out->lull, in.lull);
  EXPECT_EQ(out->instant_perform, in.instant_perform);
  EXPECT_EQ(out->pool, in.pool);
  EXPECT_EQ(out->restart, in.restart);
  EXPECT_EQ(out->max_restarts, in.max_restarts);
  EXPECT_EQ(out->within_ms, in.within_ms);
  EXPECT_EQ(out->started_ms, in.started_ms);
  EXPECT_EQ(out->last_perform_ms, in.last_perform_ms);
  EXPECT_EQ(out->last_exit.kind, in.last_exit.kind);
  EXPECT_EQ(out->last_exit.code, in.last_exit.code);
  EXPECT_EQ(out->last_exit.reason, in.last_exit.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, RecordJson,
    ::testing::Values(RoundTripCase{"running", WorkerStatus::kRunning, ExitInfo::Kind::kNone},
                      RoundTripCase{"restarting_signaled", WorkerStatus::kRestarting,
                                    ExitInfo::Kind::kSignaled},
                      RoundTripCase{"failed_exited", WorkerStatus::kFailed, ExitInfo::Kind::kExited},
                      RoundTripCase{"exited_spawn_failed", WorkerStatus::kExited,
                                    ExitInfo::Kind::kSpawnFailed},
                      RoundTripCase{"halted", WorkerStatus::kHalted, ExitInfo::Kind::kNone}),
    [](const auto& tp) { return std::string(tp.param.label); });

// A busy worker is shown as "busy"; it comes back as running.
TEST(RecordJsonBusy, BusyReadsBackAsRunning) {
  SlotRecord in = sample(WorkerStatus::kRunning, ExitInfo::Kind::kNone);
  in.busy_since_ms = 1700000000999;
  const auto o = protocol::record_to_json(in);
  ASSERT_EQ(o.at("status"), json::value("busy"));
  auto out = protocol::record_from_json(o);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, WorkerStatus::kRunning);
  EXPECT_EQ(out->busy_since_ms, in.busy_since_ms);
}

TEST(RecordJsonInvalid, SomethingElseIsRefused) {
  json::object o;
  o["ok"] = true;
  auto out = protocol::record_from_json(o);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, Errc::kInvalid);
}

// An exec worker's command ended (restart in place): the exit, its uptime and
// the number the verdict echoes travel whole; an exit that is not one is refused.
TEST(WorkerMessage, CommandExitedRoundTrips) {
  protocol::WorkerMessage in;
  in.kind = MessageKind::kWorkerCommandExited;
  in.slot = 3;
  in.incarnation = 9;
  in.pid = 1234;
  in.exit = ExitInfo::from_wait_status(9);  // killed by SIGKILL
  in.exit->reason = "command killed by SIGKILL; stderr: bye";
  in.uptime_ms = 1500;
  in.seq = 7;
  auto out = protocol::parse_worker_message(protocol::make_worker_message(in));
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(out->exit);
  EXPECT_EQ(out->exit->kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(out->exit->code, 9);
  EXPECT_EQ(out->exit->reason, in.exit->reason);
  EXPECT_EQ(out->uptime_ms, 1500u);
  EXPECT_EQ(out->seq, 7u);
  // Other worker messages carry no exit.
  in.kind = MessageKind::kWorkerReady;
  in.exit.reset();
  out = protocol::parse_worker_message(protocol::make_worker_message(in));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->exit);

  Frame bad{MessageKind::kWorkerCommandExited, 0,
            R"({"slot":3,"incarnation":9,"pid":1234,"exit":{"kind":99,"code":1},"seq":1})"};
  EXPECT_FALSE(protocol::parse_worker_message(bad));
}

}  // namespace
}  // namespace dynmgr
