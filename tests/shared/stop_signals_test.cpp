// shared/stop_signals.cpp: one list of stop signals, and SignalGuard guards
// exactly those.

#include "shared/stop_signals.hpp"

#include "shared/signal_guard.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <ostream>

namespace dynmgr {
namespace {

struct SignalCase {
  int sig;
  bool stop;
  friend void PrintTo(const SignalCase& c, std::ostream* os) { *os << sigabbrev_np(c.sig); }
};

class StopSignal : public ::testing::TestWithParam<SignalCase> {};

TEST_P(StopSignal, IsStopSignalAndTheSetAgree) {
  const auto& c = GetParam();
  EXPECT_EQ(is_stop_signal(c.sig), c.stop);
  const sigset_t set = stop_signal_set();
  EXPECT_EQ(sigismember(&set, c.sig) == 1, c.stop);
  const sigset_t guarded = SignalGuard::guarded();
  EXPECT_EQ(sigismember(&guarded, c.sig) == 1, c.stop);
}

INSTANTIATE_TEST_SUITE_P(Signals, StopSignal,
                         ::testing::Values(SignalCase{SIGINT, true}, SignalCase{SIGTERM, true},
                                           SignalCase{SIGHUP, true}, SignalCase{SIGQUIT, true},
                                           SignalCase{SIGKILL, false}, SignalCase{SIGCHLD, false},
                                           SignalCase{SIGIO, false}, SignalCase{SIGPIPE, false},
                                           SignalCase{SIGUSR1, false}, SignalCase{SIGALRM, false}),
                         [](const auto& tp) { return std::string(sigabbrev_np(tp.param.sig)); });

TEST(StopSignals, ConstantEvaluation) {
  static_assert(is_stop_signal(SIGTERM) && !is_stop_signal(SIGKILL));
  EXPECT_EQ(kStopSignals.size(), 4U);
}

}  // namespace
}  // namespace dynmgr
