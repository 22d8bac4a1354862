// Counter — the seed's "Schedule Work" example.
//
//   second: performs every second and returns ok(now): its payload never changes.
//   minute: performs every minute and returns replace(now): its payload becomes
//           the last time reported.
//
// Each perform prints a line shaped like the seed's output:
//   sec: ["2021-03-10T07:58:55.874591Z", "2021-03-10T07:58:56.876633Z"]
// (payload first, then now). --second-ms/--minute-ms shorten the periods for tests.
#include <dynmgr/run.hpp>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <sys/time.h>

namespace {

std::uint32_t g_second_ms = 1000;
std::uint32_t g_minute_ms = 60'000;

std::string utc_now() {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long>(tv.tv_usec));
  return buf;
}

class Counter : public dynmgr::Manager {
 public:
  std::map<std::string, dynmgr::ChildSpec> children_specs() override {
    const std::string now = utc_now();
    dynmgr::ChildSpec second;
    second.payload = dynmgr::json::value(now);
    second.timeout_ms = g_second_ms;
    dynmgr::ChildSpec minute;
    minute.payload = dynmgr::json::value(now);
    minute.timeout_ms = g_minute_ms;
    return {{"second", second}, {"minute", minute}};
  }

  dynmgr::Response perform(const std::string& id, const dynmgr::json::value& payload) override {
    const std::string now = utc_now();
    const char* label = id == "second" ? "sec" : id == "minute" ? "min" : id.c_str();
    std::printf("%s: [%s, \"%s\"]\n", label, dynmgr::to_json(payload).c_str(), now.c_str());
    std::fflush(stdout);
    if (id == "minute") return dynmgr::Response::replace(dynmgr::json::value(now));
    return dynmgr::Response::ok(dynmgr::json::value(now));  // do not replace a payload
  }
};

}  // namespace

int main(int argc, char** argv) {
  dynmgr::RunOptions opts;
  opts.add_flags = [](CLI::App& app) {
    app.add_option("--second-ms", g_second_ms, "period of 'second' (default 1000)");
    app.add_option("--minute-ms", g_minute_ms, "period of 'minute' (default 60000)");
  };
  return dynmgr::run_manager([] { return std::make_unique<Counter>(); }, argc, argv, opts);
}
