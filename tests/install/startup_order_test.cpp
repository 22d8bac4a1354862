// The start-up code on few pages (README "Start-up cost"): with the link order
// on, each shipped executable has a `.text.dynmgr_startup` section at the front
// of its code, and the functions a one-shot dynmgrctl and a starting worker run
// are in it. A rename that leaves cmake/startup-order.ld behind fails here
// instead of silently spreading the start-up over the binary again.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

struct Range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// The section's addresses, from `readelf -SW` (binutils, with the compiler).
Range startup_section(const std::string& binary) {
  const auto r = run_command({"/usr/bin/readelf", "-SW", binary});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(".text.dynmgr_startup");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(at));
    std::string name, type, addr, off, size;
    fields >> name >> type >> addr >> off >> size;
    const std::uint64_t begin = std::stoull(addr, nullptr, 16);
    return Range{begin, begin + std::stoull(size, nullptr, 16)};
  }
  return Range{};
}

std::uint64_t symbol(const std::string& binary, const std::string& mangled) {
  const auto r = run_command({"/usr/bin/nm", "--defined-only", binary});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  for (std::string addr, kind, name; in >> addr >> kind >> name;) {
    if (name == mangled) return std::stoull(addr, nullptr, 16);
  }
  return 0;
}

void expect_in_startup(const std::string& binary, const std::string& mangled) {
  const Range s = startup_section(binary);
  ASSERT_LT(s.begin, s.end) << binary << " has no .text.dynmgr_startup section";
  const std::uint64_t a = symbol(binary, mangled);
  ASSERT_NE(a, 0u) << mangled << " not in " << binary;
  EXPECT_TRUE(a >= s.begin && a < s.end) << mangled << " is outside the start-up code of " << binary
                                         << ": run `sh scripts/link-order.sh build` and rebuild";
}

TEST(StartupOrder, TheCodeAOneShotClientAndAStartingWorkerRunIsLinkedTogether) {
  if (!DYNMGR_LINK_ORDER_ON) {
    GTEST_SKIP()
        << "built without the link order (DYNMGR_LINK_ORDER off, not static, or sanitized)";
  }
  // dynmgrctl call: its main, the client's call and the reply's wait.
  expect_in_startup(bin_path("dynmgrctl"), "main");
  expect_in_startup(
      bin_path("dynmgrctl"),
      "_ZN6dynmgr6Client4callESt17basic_string_viewIcSt11char_traitsIcEERKN5boost4json5valueE");
  // A worker: its runtime, and the template's forked child.
  for (const char* exe : {"probe", "dynmgrd", "counter"}) {
    expect_in_startup(bin_path(exe), "_ZN6dynmgr10run_workerERNS_7ManagerERKNS_10WorkerArgsE");
  }
  expect_in_startup(bin_path("probe"),
                    "_ZN6dynmgr19run_worker_templateEiPPcRKSt8functionIFiiS1_EE");
  // The section's bounds, which a template's spare maps ahead of a restart
  // (README "Worker start"): without them it would map all of the code.
  for (const char* exe : {"probe", "dynmgrd", "counter"}) {
    const Range s = startup_section(bin_path(exe));
    EXPECT_EQ(symbol(bin_path(exe), "dynmgr_startup_begin"), s.begin) << exe;
    const std::uint64_t end = symbol(bin_path(exe), "dynmgr_startup_end");
    EXPECT_TRUE(end > s.begin && end <= s.end) << exe;
  }
}

}  // namespace
}  // namespace dynmgr::testing
