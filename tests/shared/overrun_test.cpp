// shared/overrun.cpp: lull × timeout rounded up to a whole millisecond, with
// floating-point noise never adding one.

#include "shared/overrun.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>

namespace dynmgr {
namespace {

struct OverrunCase {
  const char* label;
  double lull;
  std::uint32_t timeout_ms;
  std::uint64_t limit_ms;
  friend void PrintTo(const OverrunCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class OverrunLimit : public ::testing::TestWithParam<OverrunCase> {};

TEST_P(OverrunLimit, Table) {
  const auto& c = GetParam();
  EXPECT_EQ(overrun_limit_ms(c.lull, c.timeout_ms), c.limit_ms) << c.lull << " x " << c.timeout_ms;
}

INSTANTIATE_TEST_SUITE_P(Overrun, OverrunLimit,
                         ::testing::Values(
                             // 1.1 * 200 is 220.00000000000003 in doubles: still 220.
                             OverrunCase{"default_lull_200", 1.1, 200, 220},
                             OverrunCase{"default_lull_1000", 1.1, 1000, 1100},
                             OverrunCase{"default_lull_300", 1.1, 300, 330},  // 330.00000000000006
                             OverrunCase{"default_lull_700", 1.1, 700, 770},  // 770.0000000000001
                             OverrunCase{"lull_one", 1.0, 250, 250},
                             OverrunCase{"fraction_rounds_up", 1.5, 3, 5},  // 4.5
                             OverrunCase{"just_over_rounds_up", 1.001, 1000, 1001},
                             OverrunCase{"small_fraction_rounds_up", 1.0001, 1000, 1001},  // 1000.1
                             OverrunCase{"timeout_one", 1.1, 1, 2},                        // 1.1
                             OverrunCase{"timeout_zero", 1.1, 0, 0},
                             OverrunCase{"large_lull", 1000.0, 4'000'000'000U,
                                         4'000'000'000'000ULL},
                             OverrunCase{"lull_zero", 0.0, 1000, 0}),
                         [](const auto& tp) { return std::string(tp.param.label); });

}  // namespace
}  // namespace dynmgr
