// StateJsonWriter: the streamed `state --json` text is byte for byte what the
// whole document (state_json) serializes to, for an empty fleet, for records
// with escapes, non-ASCII text, doubles and exit histories, and whatever the
// caller drains from the buffer between workers.
#include "shared/state_json.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "worker_info_support.hpp"

namespace dynmgr {
namespace {

InstanceInfo instance_info() {
  InstanceInfo h;
  h.manager_state = ManagerState::kUp;
  h.supervisor_pid = 4242;
  h.supervisor_alive = true;
  h.supervisor_started_ms = 1'700'000'000'123;
  h.orphan_grace_ms = 60'000;
  h.adopted = 2;
  h.capacity = 4096;
  h.max_payload = 1024;
  h.persistence.enabled = true;
  h.persistence.ok = false;
  h.persistence.dir = "/var/lib/dynmgr/\"quoted\" \xc3\xa9";
  h.persistence.error = "disk full\n(retrying)";
  h.persistence.pending = 3;
  h.persistence.last_commit_ms = 1'700'000'000'999;
  return h;
}

std::vector<WorkerInfo> fleet() {
  std::vector<WorkerInfo> v;
  WorkerInfo plain;
  plain.id = "plain";
  plain.payload = JsonText("0");
  v.push_back(plain);
  // Every member set, an exit history among them.
  WorkerInfo full = testing::every_member_set();
  full.id = "\xc3\xbcnicode-\xe2\x9c\x93";
  v.push_back(full);
  WorkerInfo escapes;
  escapes.id = "escapes";
  escapes.slot = 7;
  escapes.status = WorkerStatus::kPassive;
  escapes.payload = JsonText(
      R"({"s":"tab\tnew\nline \"q\" \\ \u00e9 \ud83d\ude00 \u0001","d":[1.5,0.00225,-2.0,1e300]})");
  escapes.value = JsonText(R"(["\u2028",null,true])");
  escapes.lull = 1.1;
  escapes.last_exit.kind = ExitInfo::Kind::kSignaled;
  escapes.last_exit.code = 9;
  escapes.last_exit.reason = "killed by SIGKILL \"\xe2\x80\x94\"";
  v.push_back(escapes);
  // Strings that need escaping where the writer takes them as they are
  // otherwise, and texts that are not JSON (shown as strings).
  WorkerInfo raw;
  raw.id = "ctl\x01 \"q\" back\\slash\ttab";
  raw.payload = JsonText("not json {");
  raw.value = JsonText("");
  raw.options = JsonText("{\"k\": 1e-7}");
  raw.user = "\x1f";
  raw.pid = -1;
  raw.last_exit.kind = ExitInfo::Kind::kExited;
  raw.last_exit.code = -3;
  raw.last_exit.reason = "line\nbreak";
  v.push_back(raw);
  return v;
}

std::string streamed(const InstanceInfo& h, const std::string& name,
                     const std::vector<WorkerInfo>& workers, bool drain_each) {
  std::string all;
  std::string buf;
  StateJsonWriter w(h, name, buf);
  for (const auto& r : workers) {
    if (drain_each) {
      all += buf;
      buf.clear();
    }
    w.add(r);
  }
  w.finish();
  return all + buf;
}

TEST(StateJsonWriter, AnEmptyFleetIsTheDocument) {
  const InstanceInfo h = instance_info();
  const std::string text = streamed(h, "demo", {}, false);
  EXPECT_EQ(text, to_json(state_json(h, "demo", {})));
  EXPECT_EQ(text.substr(text.size() - 14), R"(,"workers":[]})");
  EXPECT_EQ(boost::json::parse(text), json::value(state_json(h, "demo", {})));
}

TEST(StateJsonWriter, WorkersAreByteIdenticalToTheDocument) {
  const InstanceInfo h = instance_info();
  const auto workers = fleet();
  const std::string tree = to_json(state_json(h, "d\xc3\xa9mo", workers));
  for (const bool drain : {false, true}) {
    SCOPED_TRACE(drain ? "drained between workers" : "one buffer");
    const std::string text = streamed(h, "d\xc3\xa9mo", workers, drain);
    EXPECT_EQ(text, tree);
    const json::value v = boost::json::parse(text);
    EXPECT_EQ(v, json::value(state_json(h, "d\xc3\xa9mo", workers)));
    EXPECT_EQ(v.at("workers").as_array().size(), workers.size());
  }
  // The members in the document's order, "workers" last.
  const json::value doc = boost::json::parse(tree);
  std::vector<std::string> keys;
  for (const auto& kv : doc.as_object()) keys.emplace_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "manager", "supervisor", "adopted",
                                            "persistence", "capacity", "max_payload", "workers"}));
}

TEST(StateJsonWriter, AnUnfinishedDocumentIsNotValidJson) {
  // What a reader gets when the stream stops midway (a torn slot).
  const auto workers = fleet();
  std::string buf;
  StateJsonWriter w(instance_info(), "demo", buf);
  for (const auto& r : workers) {
    w.add(r);
    boost::system::error_code ec;
    (void)boost::json::parse(buf, ec);
    EXPECT_TRUE(ec) << buf;
  }
}

}  // namespace
}  // namespace dynmgr
