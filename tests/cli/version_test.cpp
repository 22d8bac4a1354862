// --version on every binary: dynmgrctl, dynmgrd, and every manager built with
// dynmgr::run (the examples and the probe). The version is project(VERSION),
// through the generated shared/version.hpp.
#include "shared/version.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

class Version : public ::testing::TestWithParam<const char*> {};

TEST_P(Version, PrintsNameAndVersionAndExitsZero) {
  const std::string name = GetParam();
  const auto r = run_command({bin_path(name), "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, name + " " + std::string(kVersion) + "\n");
  EXPECT_EQ(r.err, "");
}

// A supervisor's --version wins over everything else on its line: nothing
// starts, even with flags that would start one.
TEST_P(Version, StartsNothing) {
  const std::string name = GetParam();
  if (name == "dynmgrctl") GTEST_SKIP() << "not a supervisor";
  const std::string instance = unique_instance("v");
  const auto r = run_command({bin_path(name), "-n", instance, "--no-state", "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, name + " " + std::string(kVersion) + "\n");
  EXPECT_TRUE(shm_objects(Names(instance)).empty());
}

INSTANTIATE_TEST_SUITE_P(EveryBinary, Version,
                         ::testing::Values("dynmgrctl", "dynmgrd", "counter", "bucket", "pool",
                                           "probe"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

TEST(VersionOfDynmgrctl, WinsOverAMissingVerb) {
  // A verb is otherwise required (exit 2): `dynmgrctl --version` alone is fine.
  const auto r = run_command({bin_path("dynmgrctl"), "-n", "x", "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "dynmgrctl " + std::string(kVersion) + "\n");
}

TEST(VersionOfDynmgrctl, IsShownInHelp) {
  const auto r = run_command({bin_path("dynmgrctl"), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--version"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dynmgr::testing
