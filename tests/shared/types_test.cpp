// shared/types.cpp: the vocabulary — enum names, wait statuses as values, id rules.

#include "shared/types.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/mp11/algorithm.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>

#include "shared/clock.hpp"
#include "shared/enum_names.hpp"
#include "support/test_support.hpp"

namespace dynmgr {
namespace {

// ---------------------------------------------------------------- enums

TEST(Types, ManagerStateNamesRoundTrip) {
  for (auto s : {ManagerState::kUnknown, ManagerState::kStarting, ManagerState::kUp,
                 ManagerState::kDown}) {
    auto back = parse_manager_state(to_string(s));
    ASSERT_TRUE(back.has_value()) << to_string(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(to_string(ManagerState::kUp), "up");
  EXPECT_FALSE(parse_manager_state("UP").has_value());
  EXPECT_FALSE(parse_manager_state("").has_value());
  EXPECT_EQ(to_string(static_cast<ManagerState>(77)), "unknown");
}

TEST(Types, WorkerStatusNames) {
  const std::pair<WorkerStatus, const char*> table[] = {
      {WorkerStatus::kFree, "free"},         {WorkerStatus::kStarting, "starting"},
      {WorkerStatus::kRunning, "running"},   {WorkerStatus::kRestarting, "restarting"},
      {WorkerStatus::kStopping, "stopping"}, {WorkerStatus::kFailed, "failed"},
      {WorkerStatus::kHalted, "halted"},     {WorkerStatus::kExited, "exited"},
  };
  for (const auto& [status, name] : table) EXPECT_EQ(to_string(status), name);
  EXPECT_EQ(to_string(static_cast<WorkerStatus>(99)), "unknown");
}

// Every enumerator of every described enum has a name, the names are distinct,
// and each parses back: a new enumerator is covered without editing this test.
template <class E>
void expect_names_round_trip(std::optional<E> (*parse)(std::string_view)) {
  std::set<std::string_view> seen;
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>([&](auto d) {
    const std::string_view name = to_string(d.value);
    EXPECT_EQ(name, enums::snake_name(d.name).view()) << d.name;
    EXPECT_FALSE(name.empty()) << d.name;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    const auto back = parse(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, d.value) << name;
  });
}

TEST(Types, EveryWorkerStatusHasANameThatParsesBack) {
  expect_names_round_trip<WorkerStatus>(&parse_worker_status);
  EXPECT_FALSE(parse_worker_status("busy").has_value());  // a display status, not a state
  EXPECT_FALSE(parse_worker_status("Running").has_value());
}

TEST(Types, EveryExitKindHasANameThatParsesBack) {
  expect_names_round_trip<ExitInfo::Kind>(&parse_exit_kind);
  EXPECT_EQ(to_string(ExitInfo::Kind::kSpawnFailed), "spawn_failed");
}

TEST(Types, EveryManagerStateAndRestartTypeHasANameThatParsesBack) {
  expect_names_round_trip<ManagerState>(&parse_manager_state);
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<RestartType>>([&](auto d) {
    auto back = parse_restart_type(to_string(d.value));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, d.value);
  });
}

TEST(Types, EnumeratorNamesAreSnakeCase) {
  static_assert(enums::snake_name("kSpawnFailed").view() == "spawn_failed");
  static_assert(enums::snake_name("kUp").view() == "up");
  static_assert(enums::snake_name("plain").view() == "plain");
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<WorkerStatus>>([](auto d) {
    EXPECT_LE(static_cast<std::uint32_t>(d.value), enums::max_value<WorkerStatus>()) << d.name;
  });
  EXPECT_EQ(enums::expected_names<RestartType>(), "permanent, transient or temporary");
}

struct RestartCase {
  const char* text;
  bool ok;
  RestartType type;
  friend void PrintTo(const RestartCase& c, std::ostream* os) { *os << '"' << c.text << '"'; }
};

class RestartTypeParse : public ::testing::TestWithParam<RestartCase> {};

TEST_P(RestartTypeParse, ParsesOrNamesTheValue) {
  const auto& c = GetParam();
  auto r = parse_restart_type(c.text);
  if (c.ok) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, c.type);
    EXPECT_EQ(to_string(*r), c.text);
    return;
  }
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalid);
  EXPECT_NE(r.error().message.find(std::string("'") + c.text + "'"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("permanent, transient or temporary"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Types, RestartTypeParse,
                         ::testing::Values(RestartCase{"permanent", true, RestartType::kPermanent},
                                           RestartCase{"transient", true, RestartType::kTransient},
                                           RestartCase{"temporary", true, RestartType::kTemporary},
                                           RestartCase{"", false, {}},
                                           RestartCase{"Permanent", false, {}},
                                           RestartCase{"always", false, {}},
                                           RestartCase{"permanent ", false, {}}));

// ---------------------------------------------------------------- ExitInfo

struct WaitCase {
  const char* label;
  int status;
  ExitInfo::Kind kind;
  int code;
  const char* reason;
  bool abnormal;
  friend void PrintTo(const WaitCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class ExitInfoFromStatus : public ::testing::TestWithParam<WaitCase> {};

TEST_P(ExitInfoFromStatus, DecodesTheWaitStatus) {
  const auto& c = GetParam();
  const ExitInfo e = ExitInfo::from_wait_status(c.status);
  EXPECT_EQ(e.kind, c.kind);
  EXPECT_EQ(e.code, c.code);
  EXPECT_EQ(e.reason, c.reason);
  EXPECT_EQ(e.abnormal(), c.abnormal);
  EXPECT_EQ(e.describe(), c.kind == ExitInfo::Kind::kNone ? "none" : c.reason);
}

// Wait statuses built the way the kernel encodes them (W_EXITCODE / W_STOPCODE).
INSTANTIATE_TEST_SUITE_P(
    Types, ExitInfoFromStatus,
    ::testing::Values(
        WaitCase{"exit_0", W_EXITCODE(0, 0), ExitInfo::Kind::kExited, 0, "exited with code 0", false},
        WaitCase{"exit_1", W_EXITCODE(1, 0), ExitInfo::Kind::kExited, 1, "exited with code 1", true},
        WaitCase{"exit_255", W_EXITCODE(255, 0), ExitInfo::Kind::kExited, 255,
                 "exited with code 255", true},
        WaitCase{"sigkill", W_EXITCODE(0, SIGKILL), ExitInfo::Kind::kSignaled, SIGKILL,
                 "killed by SIGKILL", true},
        WaitCase{"sigterm", W_EXITCODE(0, SIGTERM), ExitInfo::Kind::kSignaled, SIGTERM,
                 "killed by SIGTERM", true},
        WaitCase{"sigsegv_core", W_EXITCODE(0, SIGSEGV) | WCOREFLAG, ExitInfo::Kind::kSignaled,
                 SIGSEGV, "killed by SIGSEGV (core dumped)", true},
        WaitCase{"stopped", W_STOPCODE(SIGSTOP), ExitInfo::Kind::kNone, 0, "", true}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST(ExitInfo, SignalWithoutAbbreviationStillNamesTheNumber) {
  const int sig = SIGRTMIN + 1;
  const ExitInfo e = ExitInfo::from_wait_status(W_EXITCODE(0, sig));
  EXPECT_EQ(e.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(e.code, sig);
  EXPECT_EQ(e.reason.rfind("killed by SIG", 0), 0U) << e.reason;
  EXPECT_GT(e.reason.size(), std::string("killed by SIG").size()) << e.reason;
}

// Same decoding on statuses produced by real processes.
TEST(ExitInfo, FromRealProcesses) {
  {
    const pid_t pid = testing::fork_child([] { return 3; });
    const ExitInfo e = ExitInfo::from_wait_status(testing::wait_child(pid));
    EXPECT_EQ(e.kind, ExitInfo::Kind::kExited);
    EXPECT_EQ(e.code, 3);
    EXPECT_TRUE(e.abnormal());
  }
  {
    const pid_t pid = testing::fork_child([] {
      // No core file from a test: keep RLIMIT_CORE at 0 in the child.
      rlimit none{0, 0};
      ::setrlimit(RLIMIT_CORE, &none);
      ::raise(SIGKILL);
      return 0;
    });
    const ExitInfo e = ExitInfo::from_wait_status(testing::wait_child(pid));
    EXPECT_EQ(e.kind, ExitInfo::Kind::kSignaled);
    EXPECT_EQ(e.code, SIGKILL);
    EXPECT_EQ(e.reason, "killed by SIGKILL");
  }
  {
    const pid_t pid = testing::fork_child([] { return 0; });
    const ExitInfo e = ExitInfo::from_wait_status(testing::wait_child(pid));
    EXPECT_FALSE(e.abnormal());
  }
}

TEST(ExitInfo, DefaultIsNoneAndAbnormal) {
  const ExitInfo e;
  EXPECT_EQ(e.kind, ExitInfo::Kind::kNone);
  EXPECT_EQ(e.describe(), "none");
  EXPECT_TRUE(e.abnormal());  // "never exited normally": transient restarts it
}

// ---------------------------------------------------------------- ids

struct IdCase {
  const char* label;
  std::string id;
  bool ok;
  const char* reason;
  friend void PrintTo(const IdCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class IdValidation : public ::testing::TestWithParam<IdCase> {};

TEST_P(IdValidation, AcceptsOrRejectsWithReason) {
  const auto& c = GetParam();
  auto st = validate_id(c.id);
  if (c.ok) {
    EXPECT_TRUE(st) << st.error().message;
    return;
  }
  ASSERT_FALSE(st) << "accepted id of " << c.id.size() << " bytes";
  EXPECT_EQ(st.error().code, Errc::kInvalid);
  EXPECT_NE(st.error().message.find(c.reason), std::string::npos) << st.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Types, IdValidation,
    ::testing::Values(
        IdCase{"simple", "worker-1", true, ""},
        IdCase{"one_byte", "x", true, ""},
        IdCase{"spaces_and_punctuation", "my worker: #1 / {a}", true, ""},
        IdCase{"utf8", "caf\xc3\xa9-\xe2\x98\x83", true, ""},
        IdCase{"max_length", std::string(kMaxIdLength, 'i'), true, ""},
        IdCase{"empty", "", false, "must not be empty"},
        IdCase{"too_long", std::string(kMaxIdLength + 1, 'i'), false, "256 bytes, the limit is 255"},
        IdCase{"far_too_long", std::string(100000, 'i'), false, "the limit is 255"},
        IdCase{"newline", "a\nb", false, "control character"},
        IdCase{"tab", "a\tb", false, "control character"},
        IdCase{"escape", "\x1b[31mred", false, "control character"},
        IdCase{"nul", std::string("a\0b", 3), false, "control character"},
        IdCase{"del", "a\x7f", false, "control character"},
        IdCase{"carriage_return", "a\r", false, "control character"},
        IdCase{"utf8_4_bytes", "\xf0\x9f\x98\x80", true, ""},
        IdCase{"invalid_byte", "bad\xffutf8", false, "not valid UTF-8"},
        IdCase{"lone_continuation", "a\x80" "b", false, "not valid UTF-8"},
        IdCase{"truncated_sequence", "caf\xc3", false, "not valid UTF-8"},
        IdCase{"overlong_slash", "\xc0\xaf", false, "not valid UTF-8"},
        IdCase{"surrogate", "\xed\xa0\x80", false, "not valid UTF-8"},
        IdCase{"above_u10ffff", "\xf4\x90\x80\x80", false, "not valid UTF-8"}),
    [](const auto& tp) { return std::string(tp.param.label); });

// Log and event timestamps: UTC, to the millisecond, on any date.
TEST(UtcTimestamp, IsTheCivilTimeInUtc) {
  EXPECT_EQ(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(utc_timestamp(951782400000), "2000-02-29T00:00:00.000Z");  // a leap day
  EXPECT_EQ(utc_timestamp(1796125501919), "2026-12-01T11:45:01.919Z");
  EXPECT_EQ(utc_timestamp(4102444799999), "2099-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace dynmgr
