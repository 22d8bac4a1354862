// Prometheus metrics through the real binaries: `dynmgrctl metrics` and the
// supervisor's `--metrics-listen` endpoint scraped with curl, each checked by
// Prometheus's own `promtool check metrics`, after real calls, casts and a
// real SIGKILL. (DYNMGR_METRICS_SCALE: the same check with 1 000 workers.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <regex>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {
namespace {

// A loopback port that was free a moment ago (the kernel's choice for port 0).
[[maybe_unused]] int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// promtool check metrics < text: its exit code and what it said.
CommandResult promtool_check(const std::string& text) {
  const std::string file = "/tmp/dynmgr-test.metrics." + unique_instance("m") + ".txt";
  {
    std::ofstream out(file);
    out << text;
  }
  auto r = run_command({"/bin/sh", "-c", "promtool check metrics < '" + file + "'"});
  ::unlink(file.c_str());
  return r;
}

// The value of the sample whose line starts with `prefix` (name{labels}), or -1.
double sample(const std::string& text, const std::string& prefix) {
  for (const auto& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() && line[prefix.size()] == ' ') {
      return std::strtod(line.c_str() + prefix.size() + 1, nullptr);
    }
  }
  return -1;
}

class Metrics : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags = {}) {
    daemon_ = std::make_unique<Daemon>("probe", std::move(flags), std::vector<std::string>{}, "me");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().err;
  }
  std::string label(const std::string& more = "") const {
    return "{instance=\"" + daemon_->name() + "\"" + (more.empty() ? "" : "," + more) + "}";
  }
  std::unique_ptr<Daemon> daemon_;
};

#ifndef DYNMGR_METRICS_SCALE

TEST_F(Metrics, CountCallsCastsExitsAndRestartsAndPassPromtool) {
  start();
  ASSERT_EQ(daemon_->ctl({"put", "a", "--timeout", "0", "--payload", "0"}).exit_code, 0);
  ASSERT_EQ(daemon_->ctl({"call", "a", R"("get")"}).exit_code, 0);
  ASSERT_EQ(daemon_->ctl({"call", "a", R"("get")"}).exit_code, 0);
  ASSERT_EQ(daemon_->ctl({"cast", "a", R"(["add", 1])"}).exit_code, 0);
  // The cast is counted once the worker handled it: the payload shows it.
  ASSERT_TRUE(wait_until([&] { return daemon_->client().get("a")->payload == "1"; }));
  const pid_t first = daemon_->client().get("a")->pid;
  ::kill(first, SIGKILL);
  ASSERT_TRUE(wait_until([&] {
    auto r = daemon_->client().get("a");
    return r && r->restarts == 1 && r->status == WorkerStatus::kRunning;
  }));
  auto m = daemon_->ctl({"metrics"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(m.err, "");
  const auto check = promtool_check(m.out);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << "\n" << m.out;
  const std::string a = "id=\"a\"";
  EXPECT_EQ(sample(m.out, "dynmgr_supervisor_up" + label()), 1) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_manager_state" + label("state=\"up\"")), 1) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_manager_state" + label("state=\"down\"")), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_workers" + label("status=\"running\"")), 1) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_workers" + label("status=\"failed\"")), 0) << m.out;
  // Counters go on across the restart of the same id.
  EXPECT_EQ(sample(m.out, "dynmgr_worker_calls_total" + label(a)), 2) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_casts_total" + label(a)), 1) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_restarts_total" + label(a)), 1) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_passivations_total" + label(a)), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_workers" + label("status=\"passive\"")), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_exits_total" + label(a + ",kind=\"signaled\"")), 1)
      << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_exits_total" + label(a + ",kind=\"exited\"")), 0) << m.out;
  EXPECT_GE(sample(m.out, "dynmgr_worker_busy_seconds_total" + label(a)), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_call_duration_seconds_count" + label()), 2) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_call_duration_seconds_bucket" + label("le=\"+Inf\"")), 2)
      << m.out;
  EXPECT_GT(sample(m.out, "dynmgr_supervisor_resident_memory_bytes" + label()), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_persistence_ok" + label()), 1) << m.out;
  // A deleted id takes its counters with it; a new one under the name starts at 0.
  ASSERT_EQ(daemon_->ctl({"del", "a"}).exit_code, 0);
  ASSERT_EQ(daemon_->ctl({"put", "a", "--timeout", "0"}).exit_code, 0);
  m = daemon_->ctl({"metrics"});
  EXPECT_EQ(sample(m.out, "dynmgr_worker_calls_total" + label(a)), 0) << m.out;
  EXPECT_EQ(sample(m.out, "dynmgr_worker_exits_total" + label(a + ",kind=\"signaled\"")), 0);
}

TEST_F(Metrics, PerformsAreCountedWithTheirDurations) {
  start();
  ASSERT_EQ(daemon_->ctl({"put", "p", "--timeout", "10", "--payload", R"({"on_perform":"ok"})"})
                .exit_code,
            0);
  ASSERT_TRUE(wait_until([&] {
    return sample(daemon_->ctl({"metrics"}).out,
                  "dynmgr_worker_performs_total" + label("id=\"p\"")) >= 5;
  }));
  const auto out = daemon_->ctl({"metrics"}).out;
  EXPECT_GE(sample(out, "dynmgr_perform_duration_seconds_count" + label()), 5) << out;
  EXPECT_GE(sample(out, "dynmgr_perform_duration_seconds_sum" + label()), 0) << out;
  // Cumulative buckets never decrease.
  double previous = 0;
  for (const char* le :
       {"0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf"}) {
    const double v = sample(
        out, "dynmgr_perform_duration_seconds_bucket" + label(std::string("le=\"") + le + "\""));
    EXPECT_GE(v, previous) << le << "\n" << out;
    previous = v;
  }
}

TEST_F(Metrics, TheHttpEndpointServesTheSameToARealClient) {
  const int port = free_port();
  ASSERT_GT(port, 0);
  start({"--metrics-listen", std::to_string(port)});
  ASSERT_EQ(daemon_->ctl({"put", "h", "--timeout", "0"}).exit_code, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto r = run_command({"/usr/bin/curl", "-sS", "-D", "-", url + "/metrics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("HTTP/1.1 200 OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos)
      << r.out;
  const auto body = r.out.substr(r.out.find("\r\n\r\n") + 4);
  const auto check = promtool_check(body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(sample(body, "dynmgr_workers" + label("status=\"running\"")), 1) << body;
  // Anything else is refused, and the server goes on.
  r = run_command(
      {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/nothing"});
  EXPECT_EQ(r.out, "404");
  r = run_command({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                   url + "/metrics"});
  EXPECT_EQ(r.out, "405");
  r = run_command({"/usr/bin/curl", "-sSI", url + "/metrics"});
  EXPECT_NE(r.out.find("HTTP/1.1 200 OK"), std::string::npos) << r.out;
  r = run_command({"/usr/bin/curl", "-sS", url + "/metrics"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // It is part of the supervisor: a reexec listens again on the same port.
  ASSERT_EQ(daemon_->ctl({"reexec"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] {
    return run_command({"/usr/bin/curl", "-sf", "-o", "/dev/null", url + "/metrics"}).exit_code ==
           0;
  }));
}

TEST_F(Metrics, BadListenAddressesAreUsageErrorsAndABusyPortFailsTheStart) {
  for (const char* bad : {"nonsense", "70000", "host:1", "[::1]", "127.0.0.1:"}) {
    auto r = run_command({bin_path("probe"), "-n", unique_instance("mb"), "--metrics-listen", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("invalid --metrics-listen '"), std::string::npos) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  // A port somebody else holds: the supervisor does not start.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string name = unique_instance("mb");
  auto r = run_command({bin_path("probe"), "-n", name, "--metrics-listen",
                        "127.0.0.1:" + std::to_string(ntohs(a.sin_port))});
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("unable to listen on 127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_TRUE(shm_objects(Names(name)).empty());
  remove_state_dir(name);
}

TEST_F(Metrics, WithoutASupervisorItIsExit5) {
  const std::string nobody = unique_instance("mn");
  auto r = ctl(nobody, {"metrics"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "dynmgrctl: metrics: no supervisor running under '" + nobody + "'\n");
}

#else

TEST_F(Metrics, PromtoolAcceptsTheMetricsOfAThousandWorkers) {
  start({"--max-workers", "1024", "--mailbox-depth", "4"});
  Client c = daemon_->client(Millis(60'000));
  ChildSpec spec;
  spec.timeout_ms = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = c.put("w" + std::to_string(i), spec);
    ASSERT_TRUE(r) << i << ": " << r.error().message;
  }
  ASSERT_EQ(c.call("w999", json::value("get")).has_value(), true);
  const auto m = daemon_->ctl({"metrics"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const auto check = promtool_check(m.out);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(sample(m.out, "dynmgr_workers" + label("status=\"running\"")), 1000);
  EXPECT_EQ(sample(m.out, "dynmgr_worker_calls_total" + label("id=\"w999\"")), 1);
  EXPECT_EQ(sample(m.out, "dynmgr_worker_calls_total" + label("id=\"w0\"")), 0);
}

#endif

}  // namespace
}  // namespace dynmgr::testing
