// shared/json.cpp: parse_json refuses what JSON cannot carry. A number too
// large for a double would become an infinity, which Boost.JSON serializes as
// 1e99999 and cannot read back: it is refused where it enters, as any invalid
// JSON is (exit 2 in dynmgrctl), never stored or sent.

#include "shared/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace dynmgr {
namespace {

struct Case {
  const char* label;
  std::string text;
  bool ok;
};

class ParseJson : public ::testing::TestWithParam<Case> {};

TEST_P(ParseJson, AcceptsFiniteJsonOnly) {
  const Case& c = GetParam();
  auto v = parse_json(c.text, "MESSAGE");
  EXPECT_EQ(static_cast<bool>(v), c.ok) << c.text;
  if (!v) {
    EXPECT_EQ(v.error().code, Errc::kInvalid);
    EXPECT_EQ(v.error().message.rfind("invalid JSON in MESSAGE: ", 0), 0u) << v.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ParseJson,
    ::testing::Values(Case{"integer", "42", true}, Case{"large_finite", "1e308", true},
                      Case{"tiny_underflows_to_zero", "1e-999", true},
                      Case{"overflow", "1e999", false}, Case{"negative_overflow", "-1e999", false},
                      Case{"in_array", R"([1, 1e999])", false},
                      Case{"in_object", R"({"a": {"b": [1e400]}})", false},
                      Case{"huge_integer_literal", std::string(400, '9'), false},
                      Case{"not_json", "nope", false}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST(CheckFinite, RefusesAnInfinityOrNaNBuiltInCpp) {
  EXPECT_TRUE(check_finite(json::value(1.5), "payload"));
  EXPECT_FALSE(check_finite(json::value(std::numeric_limits<double>::infinity()), "payload"));
  json::object o;
  o["x"] = json::array{1, std::nan("")};
  auto st = check_finite(o, "payload");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "invalid JSON in payload: a number is out of range (not a finite double)");
}

}  // namespace
}  // namespace dynmgr
