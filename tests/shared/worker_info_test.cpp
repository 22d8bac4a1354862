// shared/worker_info.cpp: every encoding of the worker record is derived from
// its description. These tests walk the described members, so a new member is
// covered without editing them.

#include "shared/worker_info.hpp"

#include "worker_info_support.hpp"

#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

namespace dynmgr {
namespace {

using Members = testing::WorkerMembers;
using testing::every_member_set;
using testing::same;

TEST(WorkerInfoJson, EveryDescribedMemberRoundTrips) {
  const WorkerInfo in = every_member_set();
  const json::object o = worker_to_json(in);
  auto out = worker_from_json(o);
  ASSERT_TRUE(out) << out.error().message;
  boost::mp11::mp_for_each<Members>([&](auto d) {
    EXPECT_TRUE(o.contains(d.name)) << d.name;
    EXPECT_TRUE(same(in.*d.pointer, (*out).*d.pointer)) << d.name << " in " << to_json(o);
  });
  // And through the text form, as a reply carries it.
  auto parsed = parse_json(to_json(o), "record");
  ASSERT_TRUE(parsed && parsed->is_object());
  auto again = worker_from_json(parsed->get_object());
  ASSERT_TRUE(again) << again.error().message;
  boost::mp11::mp_for_each<Members>([&](auto d) {
    EXPECT_TRUE(same(in.*d.pointer, (*again).*d.pointer)) << d.name;
  });
}

// `state --json` field names are a public contract (fields may be added, never
// renamed): these are the names and their order.
TEST(WorkerInfoJson, FieldNamesAreTheContract) {
  const std::vector<std::string> contract = {
      "id",           "pid",          "status",          "restarts",   "payload",
      "value",        "timeout_ms",   "lull",            "restart",    "instant_perform",
      "max_restarts", "within_ms",    "pool",            "started_ms", "busy_since_ms",
      "last_perform_ms", "slot",      "last_exit"};
  const json::object o = worker_to_json(WorkerInfo{});
  std::vector<std::string> names;
  for (const auto& kv : o) names.emplace_back(kv.key());
  ASSERT_GE(names.size(), contract.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + contract.size()), contract);
}

TEST(WorkerInfoJson, ValuesAreEncodedByType) {
  WorkerInfo r;
  r.id = "a";
  r.payload = R"({"x":1})";
  r.value = "not json";  // shown as its raw text, never a failure
  r.status = WorkerStatus::kRunning;
  r.busy_since_ms = 5;
  r.restart = RestartType::kTransient;
  const auto o = worker_to_json(r);
  EXPECT_EQ(to_json(o.at("payload")), R"({"x":1})");
  EXPECT_EQ(o.at("value"), json::value("not json"));
  EXPECT_EQ(o.at("status"), json::value("busy"));
  EXPECT_EQ(o.at("restart"), json::value("transient"));
  EXPECT_TRUE(o.at("last_exit").is_null());
}

struct ExitCase {
  ExitInfo::Kind kind;
  const char* json;
};

TEST(WorkerInfoJson, LastExitKeepsItsShape) {
  const ExitCase cases[] = {
      {ExitInfo::Kind::kExited, R"({"kind":"exited","code":3,"reason":"r"})"},
      {ExitInfo::Kind::kSignaled, R"({"kind":"signaled","signal":3,"reason":"r"})"},
      {ExitInfo::Kind::kSpawnFailed, R"({"kind":"spawn_failed","errno":3,"reason":"r"})"},
  };
  for (const auto& c : cases) {
    WorkerInfo r;
    r.last_exit.kind = c.kind;
    r.last_exit.code = 3;
    r.last_exit.reason = "r";
    const auto o = worker_to_json(r);
    EXPECT_EQ(to_json(o.at("last_exit")), c.json);
  }
}

TEST(WorkerInfoJson, WrongTypesAndMissingKeysAreRefused) {
  json::object o = worker_to_json(WorkerInfo{});
  o["restarts"] = "three";
  auto out = worker_from_json(o);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, Errc::kInvalid);
  EXPECT_NE(out.error().message.find("'restarts'"), std::string::npos) << out.error().message;

  json::object no_id = worker_to_json(WorkerInfo{});
  no_id.erase("id");
  EXPECT_FALSE(worker_from_json(no_id));
}

TEST(WorkerInfoFields, OneLinePerDescribedMemberInOrder) {
  const WorkerInfo r = every_member_set();
  const auto fields = worker_fields(r);
  std::vector<std::string> names;
  boost::mp11::mp_for_each<Members>([&](auto d) { names.emplace_back(d.name); });
  ASSERT_EQ(fields.size(), names.size());
  for (std::size_t i = 0; i < fields.size(); ++i) EXPECT_EQ(fields[i].name, names[i]);
  const auto text = [&](std::string_view name) {
    for (const auto& f : fields) {
      if (f.name == name) return f.text;
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(text("payload"), r.payload);
  EXPECT_EQ(text("status"), std::string(display_status(r)));
  EXPECT_EQ(text("last_exit"), "killed by SIGKILL");
  EXPECT_EQ(text("instant_perform"), "true");
  const auto empty = worker_fields(WorkerInfo{});
  const auto text_of = [&](std::string_view name) {
    for (const auto& f : empty) {
      if (f.name == name) return f.text;
    }
    return std::string("<missing>");
  };
  EXPECT_EQ(text_of("last_exit"), "-");  // none
  EXPECT_EQ(text_of("exits"), "-");
  EXPECT_EQ(text_of("on_overrun"), "report");
  EXPECT_EQ(text_of("rlimits"), "{}");
}

}  // namespace
}  // namespace dynmgr
