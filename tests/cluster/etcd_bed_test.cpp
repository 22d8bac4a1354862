// The etcd test bed itself (tests/cluster/etcd_bed.hpp), on real processes: a
// 3-member cluster agrees, survives and rejoins a killed member, comes back
// after losing every member, and TcpProxy / MultiProxy forward until cut.

#include "cluster/etcd_bed.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kLoopback = "127.0.0.1";
constexpr auto kHealthy = R"("health":"true")";

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Timings for the record (ctest -V shows them).
void note(const std::string& what, long long ms) {
  std::printf("[ etcd bed ] %s: %lld ms\n", what.c_str(), ms);
  ::testing::Test::RecordProperty(what, std::to_string(ms));
}

// Puts key=value through the etcd JSON gateway at port; true once etcd
// answered with the new revision.
bool put(int port, std::string_view key, std::string_view value,
         std::chrono::milliseconds timeout = 3s) {
  const std::string body = R"({"key":")" + base64(key) + R"(","value":")" + base64(value) + R"("})";
  return http_post(kLoopback, port, "/v3/kv/put", body, timeout).find(R"("revision")") !=
         std::string::npos;
}

// The base64 value of key read through port (a linearizable range), "" if none.
std::string value_b64(int port, std::string_view key, std::chrono::milliseconds timeout = 3s) {
  const std::string reply =
      http_post(kLoopback, port, "/v3/kv/range", R"({"key":")" + base64(key) + R"("})", timeout);
  constexpr std::string_view kField = R"("value":")";
  const auto at = reply.find(kField);
  if (at == std::string::npos) return "";
  const auto start = at + kField.size();
  return reply.substr(start, reply.find('"', start) - start);
}

bool health_through(int port) {
  return http_get(kLoopback, port, "/health", 2s).find(kHealthy) != std::string::npos;
}

TEST(EtcdBedTest, Base64MatchesRfc4648) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("\xff\xfe"), "//4=");
}

TEST(EtcdBedTest, ParsesLengthChunkedAndEofBodies) {
  auto r = parse_http_reply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "abc");
  EXPECT_FALSE(parse_http_reply("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", true));
  r = parse_http_reply(
      "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: Chunked\r\n\r\n"
      "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
      false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "abcde");
  EXPECT_FALSE(
      parse_http_reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", false));
  EXPECT_FALSE(parse_http_reply("HTTP/1.0 200 OK\r\n\r\nuntil eof", false));
  r = parse_http_reply("HTTP/1.0 200 OK\r\n\r\nuntil eof", true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "until eof");
  EXPECT_FALSE(parse_http_reply("garbage\r\n\r\n", true));
}

TEST(EtcdBedTest, ThreeMembersComeUpAndAgree) {
  const auto t0 = Clock::now();
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  note("3 members healthy after start", ms_since(t0));
  ASSERT_EQ(bed.size(), 3);
  EXPECT_EQ(bed.endpoints(), bed.endpoint(0) + "," + bed.endpoint(1) + "," + bed.endpoint(2));
  EXPECT_EQ(bed.endpoint(1), "http://127.0.0.1:" + std::to_string(bed.client_port(1)));

  ASSERT_TRUE(put(bed.client_port(0), "bed/agree", "v1")) << bed.logs();
  // A range is linearizable by default: member 2 sees the write at once.
  EXPECT_EQ(value_b64(bed.client_port(2), "bed/agree"), base64("v1")) << bed.logs();
}

TEST(EtcdBedTest, OneMemberKilledTheOthersServeAndItRejoins) {
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  bed.kill(1);
  EXPECT_EQ(bed.pid(1), -1);
  EXPECT_FALSE(bed.healthy(1, 100ms));
  EXPECT_EQ(http_get(kLoopback, bed.client_port(1), "/health", 500ms), "");

  // Two of three are a quorum. If member 1 led, a put sent before the new
  // leader is known is dropped by raft and etcd answers only after its request
  // timeout (5 s + 2 elections = 6 s, then 503): short attempts, retried.
  auto t0 = Clock::now();
  ASSERT_TRUE(
      wait_until([&] { return put(bed.client_port(0), "bed/rejoin", "v2", 1s); }, 10s, 20ms))
      << bed.logs();
  note("put with member 1 down", ms_since(t0));

  t0 = Clock::now();
  ASSERT_TRUE(bed.restart(1)) << bed.log(1);
  note("restart(1) until healthy", ms_since(t0));
  t0 = Clock::now();
  EXPECT_TRUE(wait_until(
      [&] { return value_b64(bed.client_port(1), "bed/rejoin") == base64("v2"); }, 10s, 20ms))
      << bed.log(1);
  note("restarted member serves the value", ms_since(t0));
}

TEST(EtcdBedTest, ProxyForwardsAndCutStopsIt) {
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  TcpProxy proxy(kLoopback, bed.client_port(0));
  ASSERT_TRUE(proxy.ok());
  EXPECT_EQ(proxy.url(), "http://127.0.0.1:" + std::to_string(proxy.port()));
  EXPECT_TRUE(health_through(proxy.port()));
  ASSERT_TRUE(put(proxy.port(), "bed/proxy", "v3"));  // a POST body, both directions
  EXPECT_EQ(value_b64(proxy.port(), "bed/proxy"), base64("v3"));

  // A connection open through the proxy (a request half sent) is reset by cut().
  const int open = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(proxy.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(open, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  constexpr std::string_view kHalf = "GET /health HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(open, kHalf.data(), kHalf.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(kHalf.size()));
  auto t0 = Clock::now();
  proxy.cut();
  EXPECT_TRUE(proxy.is_cut());
  pollfd p{open, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char c = 0;
  EXPECT_LE(::recv(open, &c, 1, 0), 0);  // EOF or ECONNRESET
  ::close(open);
  note("open connection dropped after cut()", ms_since(t0));

  // New connections fail fast, well before the request's own timeout.
  t0 = Clock::now();
  EXPECT_EQ(http_get(kLoopback, proxy.port(), "/health", 5s), "");
  EXPECT_LT(ms_since(t0), 2000);
  note("request through a cut proxy failed", ms_since(t0));

  proxy.heal();
  EXPECT_FALSE(proxy.is_cut());
  EXPECT_TRUE(health_through(proxy.port()));

  // MultiProxy: one proxy per member; one cut() partitions from all of them.
  MultiProxy all(bed);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all.size(), 3);
  EXPECT_EQ(all.endpoints(), all.at(0).url() + "," + all.at(1).url() + "," + all.at(2).url());
  for (int i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all.at(i).target_port(), bed.client_port(i));
    EXPECT_TRUE(health_through(all.at(i).port())) << i;
  }
  all.cut();
  EXPECT_TRUE(all.is_cut());
  t0 = Clock::now();
  for (int i = 0; i < all.size(); ++i) {
    EXPECT_EQ(http_get(kLoopback, all.at(i).port(), "/health", 5s), "") << i;
  }
  EXPECT_LT(ms_since(t0), 2000);
  all.heal();
  for (int i = 0; i < all.size(); ++i) EXPECT_TRUE(health_through(all.at(i).port())) << i;
}

TEST(EtcdBedTest, AllKilledNothingAnswersThenRestartAll) {
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  ASSERT_TRUE(put(bed.client_port(0), "bed/durable", "v4")) << bed.logs();

  bed.kill_all();
  for (int i = 0; i < bed.size(); ++i) {
    EXPECT_FALSE(bed.healthy(i, 100ms)) << i;
    EXPECT_EQ(http_get(kLoopback, bed.client_port(i), "/health", 500ms), "") << i;
  }

  const auto t0 = Clock::now();
  ASSERT_TRUE(bed.restart_all()) << bed.logs();
  note("restart_all() until all healthy", ms_since(t0));
  for (int i = 0; i < bed.size(); ++i) {
    EXPECT_EQ(value_b64(bed.client_port(i), "bed/durable"), base64("v4")) << i;
  }
}

}  // namespace
}  // namespace dynmgr::testing
