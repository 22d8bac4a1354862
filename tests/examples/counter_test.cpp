// The seed's Counter ("Schedule Work"), run as a user runs it: `counter -n X`
// in the foreground, its stdout captured, periods shortened for the test.
//
// Seed: "the payload of :second does not change, while the payload of minute
// gets updated to the latest value reported."
//   sec: [P0, t]   every line shows the same first element P0 (ok: payload kept)
//   min: [p, t]    p is the previous min line's t (replace: payload := t)
#include "cli/ctl_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

namespace dynmgr::testing {
namespace {

struct Tick {
  std::string payload;  // first element (JSON string)
  std::string now;      // second element
};

struct Ticks {
  std::vector<Tick> sec;
  std::vector<Tick> min;
  std::vector<std::string> malformed;
};

// Parses the `sec: [...]` / `min: [...]` lines of the output; other lines
// (the supervisor's log on stderr) are ignored.
Ticks parse_ticks(const std::string& output) {
  Ticks t;
  for (const auto& line : lines_of(output)) {
    const bool sec = line.rfind("sec: ", 0) == 0;
    const bool min = line.rfind("min: ", 0) == 0;
    if (!sec && !min) continue;
    auto v = parse_json(line.substr(5), "tick");
    if (!v || !v->is_array() || v->as_array().size() != 2 || !v->as_array()[0].is_string() ||
        !v->as_array()[1].is_string()) {
      t.malformed.push_back(line);
      continue;
    }
    Tick tick{std::string(v->as_array()[0].as_string()), std::string(v->as_array()[1].as_string())};
    (sec ? t.sec : t.min).push_back(std::move(tick));
  }
  return t;
}

TEST(CounterExample, SecondKeepsItsPayloadMinuteTakesTheLatestValue) {
  Foreground counter("counter", {"--second-ms", "100", "--minute-ms", "300"}, "cnt");
  ASSERT_TRUE(counter.wait_up()) << counter.output();
  ASSERT_TRUE(wait_until(
      [&] {
        const Ticks t = parse_ticks(counter.output());
        return t.sec.size() >= 8 && t.min.size() >= 3;
      },
      15s, 20ms))
      << counter.output();

  const Ticks t = parse_ticks(counter.output());
  EXPECT_TRUE(t.malformed.empty()) << ::testing::PrintToString(t.malformed);
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  // Both workers start from the same children_specs() time.
  const std::string p0 = t.sec.front().payload;
  EXPECT_TRUE(std::regex_match(p0, iso)) << p0;
  EXPECT_EQ(t.min.front().payload, p0);
  for (std::size_t i = 0; i < t.sec.size(); ++i) {
    EXPECT_EQ(t.sec[i].payload, p0) << "sec line " << i << ": the payload must never change";
    EXPECT_TRUE(std::regex_match(t.sec[i].now, iso)) << t.sec[i].now;
    EXPECT_GT(t.sec[i].now, p0);
    if (i > 0) {
      EXPECT_GT(t.sec[i].now, t.sec[i - 1].now);
    }
  }
  for (std::size_t i = 1; i < t.min.size(); ++i) {
    EXPECT_EQ(t.min[i].payload, t.min[i - 1].now)
        << "min line " << i << ": the payload must be the previous line's value";
    EXPECT_GT(t.min[i].now, t.min[i - 1].now);
  }

  // The registry agrees: second's payload unchanged and its value a tick at
  // least as recent as the last one printed before the read; minute's payload
  // (and value) likewise its latest tick. (A tick may be printed while `state`
  // runs, hence "at least as recent" rather than "the last".)
  auto ticks_since = [](const std::vector<Tick>& all, std::size_t from) {
    std::vector<json::value> out;
    for (std::size_t i = from; i < all.size(); ++i) out.emplace_back(all[i].now);
    return out;
  };
  auto contains = [](const std::vector<json::value>& v, const json::value& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  std::string last_state;
  EXPECT_TRUE(wait_until(
      [&] {
        const Ticks before = parse_ticks(counter.output());
        const auto st = ctl(counter.name(), {"--json", "state"});
        const Ticks after = parse_ticks(counter.output());
        last_state = st.out;
        auto state = parse(st.out);
        if (st.exit_code != 0 || !state.is_object()) return false;
        json::value second, minute;
        for (const auto& w : state.as_object()["workers"].as_array()) {
          if (w.as_object().at("id") == json::value("second")) second = w;
          if (w.as_object().at("id") == json::value("minute")) minute = w;
        }
        if (!second.is_object() || !minute.is_object()) return false;
        const auto sec_now = ticks_since(after.sec, before.sec.size() - 1);
        const auto min_now = ticks_since(after.min, before.min.size() - 1);
        return second.as_object()["payload"] == json::value(p0) &&
               contains(sec_now, second.as_object()["value"]) &&
               contains(min_now, minute.as_object()["payload"]) &&
               minute.as_object()["value"] == minute.as_object()["payload"];
      },
      10s, 5ms))
      << last_state;

  const auto stop = ctl(counter.name(), {"stop"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(counter.wait(), 0) << counter.output();
}

}  // namespace
}  // namespace dynmgr::testing
