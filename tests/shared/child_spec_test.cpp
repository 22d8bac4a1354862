// shared/child_spec.cpp: a spec is validated up front and every error names the
// field and the value (OTP's supervisor does the same for child specs).

#include "shared/child_spec.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace dynmgr {
namespace {

json::value parse(const std::string& text) {
  auto v = parse_json(text, "test spec");
  if (!v) throw std::runtime_error(v.error().message);
  return *v;
}

// ---------------------------------------------------------------- accepted specs

TEST(ChildSpec, EmptyObjectGivesDefaults) {
  auto s = ChildSpec::from_json(parse("{}"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->payload.is_null());
  EXPECT_EQ(s->timeout_ms, 1000U);
  EXPECT_DOUBLE_EQ(s->lull, 1.1);
  EXPECT_FALSE(s->instant_perform);
  EXPECT_EQ(s->restart, RestartType::kPermanent);
  EXPECT_EQ(s->max_restarts, 5U);
  EXPECT_EQ(s->within_ms, 30000U);
  EXPECT_TRUE(s->options.empty());
}

TEST(ChildSpec, EveryFieldIsRead) {
  auto s = ChildSpec::from_json(parse(R"({"payload": ["+", "tomato"], "timeout": 250,
      "lull": 2.5, "instant_perform": true, "restart": "transient", "max_restarts": 3,
      "within": 1000, "options": {"command": ["/bin/cat"]}})"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(to_json(s->payload), R"(["+","tomato"])");
  EXPECT_EQ(s->timeout_ms, 250U);
  EXPECT_DOUBLE_EQ(s->lull, 2.5);
  EXPECT_TRUE(s->instant_perform);
  EXPECT_EQ(s->restart, RestartType::kTransient);
  EXPECT_EQ(s->max_restarts, 3U);
  EXPECT_EQ(s->within_ms, 1000U);
  EXPECT_EQ(to_json(s->options), R"({"command":["/bin/cat"]})");
}

TEST(ChildSpec, ToJsonRoundTrips) {
  ChildSpec in;
  in.payload = parse(R"({"count": 3})");
  in.timeout_ms = 0;
  in.lull = 3.0;
  in.instant_perform = true;
  in.restart = RestartType::kTemporary;
  in.max_restarts = 0;
  in.within_ms = 0;
  in.options["cwd"] = "/tmp";
  auto out = ChildSpec::from_json(json::value(in.to_json()));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(to_json(json::value(out->to_json())), to_json(json::value(in.to_json())));
}

struct AcceptCase {
  const char* label;
  const char* json;
  friend void PrintTo(const AcceptCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class ChildSpecAccepts : public ::testing::TestWithParam<AcceptCase> {};

TEST_P(ChildSpecAccepts, Valid) {
  auto s = ChildSpec::from_json(parse(GetParam().json));
  EXPECT_TRUE(s) << s.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Specs, ChildSpecAccepts,
    ::testing::Values(AcceptCase{"timeout_zero_never_performs", R"({"timeout": 0})"},
                      AcceptCase{"timeout_max", R"({"timeout": 2147483647})"},
                      AcceptCase{"timeout_integral_double", R"({"timeout": 5.0})"},
                      AcceptCase{"lull_integer", R"({"lull": 1})"},
                      AcceptCase{"lull_max", R"({"lull": 1000})"},
                      AcceptCase{"no_intensity_needs_no_window",
                                 R"({"max_restarts": 0, "within": 0})"},
                      AcceptCase{"payload_any_json", R"({"payload": {"a": [1, null, "x"]}})"},
                      AcceptCase{"empty_options", R"({"options": {}})"}),
    [](const auto& tp) { return std::string(tp.param.label); });

// ---------------------------------------------------------------- rejected specs

struct RejectCase {
  const char* label;
  const char* json;
  const char* field;  // must appear in the message
  const char* value;  // must appear in the message, as given
  friend void PrintTo(const RejectCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class ChildSpecRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ChildSpecRejects, NamesFieldAndValue) {
  const auto& c = GetParam();
  auto s = ChildSpec::from_json(parse(c.json));
  ASSERT_FALSE(s) << "accepted " << c.json;
  EXPECT_EQ(s.error().code, Errc::kInvalid);
  const std::string& msg = s.error().message;
  EXPECT_NE(msg.find(c.field), std::string::npos) << "field missing from: " << msg;
  EXPECT_NE(msg.find(c.value), std::string::npos) << "value missing from: " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Specs, ChildSpecRejects,
    ::testing::Values(
        RejectCase{"not_an_object", R"([1, 2])", "spec", "[1,2]"},
        RejectCase{"string_spec", R"("fast")", "spec", "\"fast\""},
        RejectCase{"unknown_field", R"({"timout": 5})", "'timout'", "unknown spec field"},
        RejectCase{"timeout_string", R"({"timeout": "5"})", "'timeout'", "\"5\""},
        RejectCase{"timeout_negative", R"({"timeout": -1})", "'timeout'", "-1"},
        RejectCase{"timeout_fraction", R"({"timeout": 1.5})", "'timeout'", "1.5"},
        RejectCase{"timeout_too_big", R"({"timeout": 2147483648})", "'timeout'", "2147483648"},
        RejectCase{"timeout_uint64", R"({"timeout": 18446744073709551615})", "'timeout'",
                   "18446744073709551615"},
        RejectCase{"timeout_huge_double", R"({"timeout": 1e300})", "'timeout'", "1E300"},
        RejectCase{"timeout_negative_huge_double", R"({"timeout": -1e300})", "'timeout'",
                   "-1E300"},
        RejectCase{"timeout_bool", R"({"timeout": true})", "'timeout'", "true"},
        RejectCase{"timeout_null", R"({"timeout": null})", "'timeout'", "null"},
        RejectCase{"lull_string", R"({"lull": "1.5"})", "'lull'", "\"1.5\""},
        RejectCase{"lull_below_one", R"({"lull": 0.5})", "'lull'", "0.5"},
        RejectCase{"lull_zero", R"({"lull": 0})", "'lull'", "0"},
        RejectCase{"lull_too_big", R"({"lull": 1001})", "'lull'", "1001"},
        RejectCase{"instant_number", R"({"instant_perform": 1})", "'instant_perform'", "1"},
        RejectCase{"instant_string", R"({"instant_perform": "true"})", "'instant_perform'",
                   "\"true\""},
        RejectCase{"restart_number", R"({"restart": 1})", "'restart'", "1"},
        RejectCase{"restart_unknown", R"({"restart": "forever"})", "restart", "'forever'"},
        RejectCase{"max_restarts_negative", R"({"max_restarts": -3})", "'max_restarts'", "-3"},
        RejectCase{"max_restarts_string", R"({"max_restarts": "3"})", "'max_restarts'", "\"3\""},
        RejectCase{"within_zero_with_intensity", R"({"within": 0})", "'within'", "0"},
        RejectCase{"within_object", R"({"within": {}})", "'within'", "{}"},
        RejectCase{"options_array", R"({"options": [1]})", "'options'", "[1]"},
        RejectCase{"options_string", R"({"options": "x"})", "'options'", "\"x\""},
        RejectCase{"on_overrun_unknown", R"({"on_overrun": "restart"})", "'on_overrun'",
                   "'restart'"},
        RejectCase{"on_overrun_bool", R"({"on_overrun": true})", "'on_overrun'", "true"},
        RejectCase{"max_memory_negative", R"({"max_memory": -1})", "'max_memory'", "-1"},
        RejectCase{"max_memory_bad_suffix", R"({"max_memory": "12X"})", "'max_memory'",
                   "\"12X\""},
        RejectCase{"rlimits_array", R"({"rlimits": [1]})", "'rlimits'", "[1]"},
        RejectCase{"rlimits_unknown", R"({"rlimits": {"stack": 1}})", "'rlimits.stack'",
                   "nofile, as, cpu or core"},
        RejectCase{"rlimits_nofile_small", R"({"rlimits": {"nofile": 3}})", "'rlimits.nofile'",
                   "3 is not in 16..1048576"},
        RejectCase{"rlimits_cpu_zero", R"({"rlimits": {"cpu": 0}})", "'rlimits.cpu'", "0"},
        RejectCase{"rlimits_as_string", R"({"rlimits": {"as": "1G"}})", "'rlimits.as'",
                   "\"1G\""},
        RejectCase{"rlimits_core_negative", R"({"rlimits": {"core": -1}})", "'rlimits.core'",
                   "-1"}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST(ChildSpec, LimitsAreReadAndRoundTrip) {
  auto s = ChildSpec::from_json(parse(R"({"on_overrun": "kill", "max_memory": "64M",
      "rlimits": {"nofile": 1024, "core": 0, "cpu": 10, "as": 1073741824}})"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->on_overrun, OnOverrun::kKill);
  EXPECT_EQ(s->max_memory, std::uint64_t{64} << 20);
  EXPECT_EQ(s->rlimits.nofile, 1024u);
  EXPECT_EQ(s->rlimits.core, 0u);
  EXPECT_EQ(s->rlimits.cpu, 10u);
  EXPECT_EQ(s->rlimits.as, std::uint64_t{1} << 30);
  const json::object o = s->to_json();
  EXPECT_EQ(to_json(o.at("on_overrun")), R"("kill")");
  EXPECT_EQ(to_json(o.at("max_memory")), "67108864");
  EXPECT_EQ(to_json(o.at("rlimits")), R"({"nofile":1024,"as":1073741824,"cpu":10,"core":0})");
  auto again = ChildSpec::from_json(json::value(o));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->rlimits, s->rlimits);
  EXPECT_EQ(again->max_memory, s->max_memory);
  EXPECT_EQ(again->on_overrun, OnOverrun::kKill);
  // The defaults add nothing: old children files and stored specs read the same.
  const json::object d = ChildSpec{}.to_json();
  EXPECT_FALSE(d.contains("on_overrun"));
  EXPECT_FALSE(d.contains("max_memory"));
  EXPECT_FALSE(d.contains("rlimits"));
}

TEST(ChildSpec, ByteSizes) {
  EXPECT_EQ(parse_byte_size("0").value(), 0u);
  EXPECT_EQ(parse_byte_size("1048576").value(), 1048576u);
  EXPECT_EQ(parse_byte_size("512K").value(), 512u << 10);
  EXPECT_EQ(parse_byte_size("64m").value(), std::uint64_t{64} << 20);
  EXPECT_EQ(parse_byte_size("2G").value(), std::uint64_t{2} << 30);
  for (const char* bad : {"", "K", "-1", "1.5G", "12X", "1 G", "99999999999999999999",
                          "9000000000G"}) {
    auto n = parse_byte_size(bad);
    ASSERT_FALSE(n) << bad;
    EXPECT_NE(n.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << n.error().message;
  }
}

TEST(ChildSpec, OutOfRangeIntegersSayTheRange) {
  // Integral values of every JSON number representation that do not fit are
  // reported as out of range (not as "not an integer").
  for (const char* text : {R"({"timeout": 2147483648})", R"({"timeout": 18446744073709551615})",
                           R"({"timeout": 1e300})", R"({"timeout": -1e300})",
                           R"({"within": -5})", R"({"max_restarts": 4e9})"}) {
    auto s = ChildSpec::from_json(parse(text));
    ASSERT_FALSE(s) << text;
    EXPECT_NE(s.error().message.find("is not in 0..2147483647"), std::string::npos)
        << text << ": " << s.error().message;
  }
}

TEST(ChildSpec, ValidateCatchesProgrammaticValues) {
  ChildSpec s;
  s.lull = std::nan("");
  auto st = s.validate();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("'lull'"), std::string::npos) << st.error().message;

  s = ChildSpec{};
  s.timeout_ms = 3'000'000'000U;
  st = s.validate();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("'timeout': 3000000000"), std::string::npos)
      << st.error().message;

  s = ChildSpec{};
  s.max_restarts = 2;
  s.within_ms = 0;
  st = s.validate();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("'within'"), std::string::npos) << st.error().message;
}

// README "User and group": strings as given, a JSON integer as its decimal id;
// omitted from to_json when unset.
TEST(ChildSpec, UserAndGroupRoundTrip) {
  auto s = ChildSpec::from_json(parse(R"({"user": "nobody", "group": 65534})"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->user, "nobody");
  EXPECT_EQ(s->group, "65534");
  const json::object o = s->to_json();
  EXPECT_EQ(o.at("user"), json::value("nobody"));
  EXPECT_EQ(o.at("group"), json::value("65534"));
  auto back = ChildSpec::from_json(json::value(o));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user, "nobody");
  EXPECT_EQ(ChildSpec{}.to_json().count("user"), 0U);
  EXPECT_EQ(ChildSpec{}.to_json().count("group"), 0U);
}

TEST(ChildSpec, BadUserAndGroupNameTheFieldAndTheValue) {
  const struct {
    const char* text;
    const char* message;
  } rows[] = {
      {R"({"user": ""})", "invalid spec field 'user': \"\" is not a name or an id (empty)"},
      {R"({"user": -1})", "invalid spec field 'user': -1 is not a name or an id in 0..4294967294"},
      {R"({"group": 4294967295})",
       "invalid spec field 'group': 4294967295 is not a name or an id in 0..4294967294"},
      {R"({"group": true})",
       "invalid spec field 'group': true is not a name or an id in 0..4294967294"},
      {R"({"user": "a:b"})",
       "invalid spec field 'user': 'a:b' is not a user or group name (letters, digits, '.', '_', "
       "'-')"},
      {R"({"user": "-x"})",
       "invalid spec field 'user': '-x' is not a user or group name (it starts with '-')"},
      {R"({"group": "abcdefghijabcdefghijabcdefghijabc"})",
       "invalid spec field 'group': 'abcdefghijabcdefghijabcdefghijabc' is longer than 32 bytes"},
  };
  for (const auto& row : rows) {
    auto s = ChildSpec::from_json(parse(row.text));
    ASSERT_FALSE(s) << row.text;
    EXPECT_EQ(s.error().code, Errc::kInvalid);
    EXPECT_EQ(s.error().message, row.message) << row.text;
  }
}

}  // namespace
}  // namespace dynmgr
