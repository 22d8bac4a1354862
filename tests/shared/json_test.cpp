// shared/json.cpp: parse_json refuses what JSON cannot carry. A number too
// large for a double would become an infinity, which Boost.JSON serializes as
// 1e99999 and cannot read back: it is refused where it enters, as any invalid
// JSON is (exit 2 in dynmgrctl), never stored or sent.

#include "shared/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <boost/json/serialize.hpp>
#include <cstring>
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
                      Case{"not_json", "nope", false},
                      // README "Limits": at most 32 levels of nesting.
                      Case{"depth_32", std::string(32, '[') + std::string(32, ']'), true},
                      Case{"depth_33", std::string(33, '[') + std::string(33, ']'), false}),
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

namespace dynmgr {
namespace {

// to_json writes doubles in plain decimal (Boost.JSON 1.81 writes 1.1 as
// "1.1E0"): every digit kept, still a double when read back.
struct Written {
  double value;
  const char* text;
};

class ToJson : public ::testing::TestWithParam<Written> {};

TEST_P(ToJson, WritesDoublesInPlainDecimal) {
  const Written& w = GetParam();
  EXPECT_EQ(to_json(json::value(w.value)), w.text);
  auto back = parse_json(to_json(json::value(w.value)), "test");
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->is_double()) << to_json(*back);
  EXPECT_EQ(back->get_double(), w.value);
}

INSTANTIATE_TEST_SUITE_P(Rows, ToJson,
                         ::testing::Values(Written{1.1, "1.1"}, Written{0.25, "0.25"},
                                           Written{2.0, "2.0"}, Written{-3.5e-7, "-0.00000035"},
                                           Written{123456.5, "123456.5"}, Written{1e15, "1000000000000000.0"},
                                           Written{1e300, "1E300"}, Written{-2.5e-20, "-2.5E-20"},
                                           Written{0.0, "0.0"}));

TEST(ToJsonText, StringsAndIntegersAreUntouched) {
  auto v = parse_json(R"({"E1.5E0":"1.5E0 \"2E0\"","n":[1,-2,3.5],"lull":1.1})", "test");
  ASSERT_TRUE(v);
  EXPECT_EQ(to_json(*v), R"({"E1.5E0":"1.5E0 \"2E0\"","n":[1,-2,3.5],"lull":1.1})");
}

TEST(ToJsonText, EscapesEndStringsWhereTheSerializerDoes) {
  // A backslash last in a string, escaped quotes, control characters and
  // non-ASCII text around numbers: copied whole, only the doubles rewritten.
  auto v = parse_json(
      R"({"k\\":"x\\","q":"\"1E0\"","c":"\u0001\n\u00e9 -2E0","d":[-1.5,2E-3,-0]})",
      "test");
  ASSERT_TRUE(v);
  EXPECT_EQ(to_json(*v),
            "{\"k\\\\\":\"x\\\\\",\"q\":\"\\\"1E0\\\"\",\"c\":\"\\u0001\\n\xc3\xa9 -2E0\","
            "\"d\":[-1.5,0.002,0]}");
}

TEST(ToJsonText, EveryDoubleReadsBackAsBoostsOwnFormDoes) {
  std::uint64_t x = 88172645463325252ULL;  // xorshift: a fixed, varied sample
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d = 0;
    std::memcpy(&d, &x, sizeof d);
    if (!std::isfinite(d)) continue;
    // Boost.JSON 1.81's own parser is not exact for every double (its
    // precise mode came later): the plain form must read back as the double
    // itself or as Boost's own scientific form does, never worse.
    auto back = parse_json(to_json(json::value(d)), "test");
    auto boost_back = parse_json(json::serialize(json::value(d)), "test");
    ASSERT_TRUE(back) << to_json(json::value(d));
    ASSERT_TRUE(boost_back);
    ASSERT_TRUE(back->is_double()) << to_json(json::value(d));
    const double got = back->get_double();
    EXPECT_TRUE(got == d || got == boost_back->get_double()) << to_json(json::value(d));
  }
}

// Found by fuzz/fuzz_json (corpus: {"timeout":1e300}): a double outside
// int64's range was converted before it was compared, which is undefined
// (UBSan float-cast-overflow, on in make test-asan). A command's
// {"timeout":1e300} answer, a request's "deadline" or an exec option's
// "response_timeout" took that path.
TEST(GetInt, ADoubleOutsideInt64IsNotAnInteger) {
  auto v = parse_json(R"({"big":1e300,"neg":-1e300,"two63":9223372036854775808.0,)"
                      R"("over":9.3e18,"half":2.5,"three":3.0,"two53":9007199254740992.0,)"
                      R"("min":-9223372036854775808.0})",
                      "test");
  ASSERT_TRUE(v);
  const json::object& o = v->get_object();
  EXPECT_EQ(get_int(o, "big"), std::nullopt);
  EXPECT_EQ(get_int(o, "neg"), std::nullopt);
  EXPECT_EQ(get_int(o, "two63"), std::nullopt);
  EXPECT_EQ(get_int(o, "over"), std::nullopt);
  EXPECT_EQ(get_int(o, "half"), std::nullopt);
  EXPECT_EQ(get_int(o, "three"), 3);
  EXPECT_EQ(get_int(o, "two53"), std::int64_t{1} << 53);
  EXPECT_EQ(get_int(o, "min"), std::numeric_limits<std::int64_t>::min());
}

}  // namespace
}  // namespace dynmgr
