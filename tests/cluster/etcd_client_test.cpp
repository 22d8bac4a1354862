// dynmgr::etcd::Client (shared/etcd.hpp) against a real 3-member etcd on
// loopback (tests/cluster/etcd_bed.hpp): bytes in keys and values, prefix
// ranges, leases, transactions (the cluster's "create if absent" claim and
// its fencing token), failover across members, and the two kinds of error:
// kSystem "etcd unreachable" (killed members, a cut network) and kFailed with
// etcd's own message.
//
// One cluster serves the suite (EtcdClientTest, each test under its own key
// prefix); the tests that kill members start their own (EtcdClientFaultTest).

#include "shared/etcd.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/etcd_bed.hpp"
#include "shared/http_client.hpp"
#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using etcd::Compare;
using etcd::Op;

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Timings for the record (ctest -V shows them).
void note(const std::string& what, long long ms) {
  std::printf("[ etcd client ] %s: %lld ms\n", what.c_str(), ms);
  ::testing::Test::RecordProperty(what, std::to_string(ms));
}

// A client of endpoints ("http://h:p,..."), as the node builds one.
std::unique_ptr<etcd::Client> client_of(const std::string& endpoints, Millis timeout) {
  auto parsed = parse_http_endpoints(endpoints);
  EXPECT_TRUE(parsed) << parsed.error().message;
  if (!parsed) return nullptr;
  return std::make_unique<etcd::Client>(etcd::Client::Options{*parsed, timeout});
}

// "127.0.0.1:P" of "http://127.0.0.1:P" (what current_endpoint() and the
// messages show).
std::string host_port(const std::string& url) { return url.substr(url.find("//") + 2); }

// A key prefix of the running test: tests never see each other's keys.
std::string test_prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/etcd_client_test/") + info->name() + "/";
}

TEST(PrefixEndTest, IsTheNextKeyAfterThePrefix) {
  EXPECT_EQ(etcd::prefix_end("abc"), "abd");
  EXPECT_EQ(etcd::prefix_end("/dynmgr/c/owner/"), "/dynmgr/c/owner0");
  EXPECT_EQ(etcd::prefix_end("a\xff"), "b");
  EXPECT_EQ(etcd::prefix_end(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(etcd::prefix_end(std::string("\x00", 1)), std::string("\x01", 1));
  // All 0xff (or nothing): every key, etcd's "\0".
  EXPECT_EQ(etcd::prefix_end("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(etcd::prefix_end(""), std::string(1, '\0'));
}

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto t0 = Clock::now();
    bed_ = new EtcdCluster();
    note("suite cluster healthy after start", ms_since(t0));
  }
  static void TearDownTestSuite() {
    delete bed_;
    bed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(bed_, nullptr);
    ASSERT_TRUE(bed_->ok()) << bed_->logs();
    client_ = client_of(bed_->endpoints(), 2000ms);
    ASSERT_NE(client_, nullptr);
    prefix_ = test_prefix();
  }

  std::string key(std::string_view suffix) const { return prefix_ + std::string(suffix); }

  static EtcdCluster* bed_;
  std::unique_ptr<etcd::Client> client_;
  std::string prefix_;
};

EtcdCluster* EtcdClientTest::bed_ = nullptr;

TEST_F(EtcdClientTest, PutRangeDelRoundTripWithBinaryBytes) {
  etcd::Client& c = *client_;
  const std::string k = key(std::string("bin\0\xff\x01\x7f/\n", 9));
  const std::string v = std::string("\0\xff\xfe value \0\x80", 12) + std::string(1000, '\xff');

  auto rev = c.put(k, v);
  ASSERT_TRUE(rev) << rev.error().message;
  EXPECT_GT(*rev, 0);
  auto r = c.range(k);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, k);
  EXPECT_EQ(r->kvs[0].value, v);
  EXPECT_EQ(r->kvs[0].create_revision, *rev);
  EXPECT_EQ(r->kvs[0].mod_revision, *rev);
  EXPECT_EQ(r->kvs[0].version, 1);
  EXPECT_EQ(r->kvs[0].lease, 0);
  EXPECT_GE(r->revision, *rev);
  EXPECT_FALSE(r->more);

  // Every byte value, in order, as a value and as a key.
  std::string every;
  for (int b = 0; b < 256; ++b) every.push_back(static_cast<char>(b));
  ASSERT_TRUE(c.put(key(every), every));
  r = c.range(key(every));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, key(every));
  EXPECT_EQ(r->kvs[0].value, every);

  // Overwrite: same create_revision, new mod_revision, version 2; an empty value.
  auto rev2 = c.put(k, "");
  ASSERT_TRUE(rev2) << rev2.error().message;
  EXPECT_GT(*rev2, *rev);
  r = c.range(k);
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].value, "");
  EXPECT_EQ(r->kvs[0].create_revision, *rev);
  EXPECT_EQ(r->kvs[0].mod_revision, *rev2);
  EXPECT_EQ(r->kvs[0].version, 2);

  auto n = c.del(k);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1);
  r = c.range(k);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->kvs.empty());
  n = c.del(k);  // nothing left: success, 0 deleted
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 0);
  // A key that differs only after a '\0' is another key.
  r = c.range(key(std::string("bin\0", 4)));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->kvs.empty());
}

TEST_F(EtcdClientTest, PrefixRangesKeysOnlyAndLimit) {
  etcd::Client& c = *client_;
  const std::string p = key("p/");
  const std::vector<std::string> inside = {p + "a", p + "b", p + std::string("c\0", 2),
                                           p + "\xff"};
  for (const auto& k : inside) ASSERT_TRUE(c.put(k, "value of " + k));
  // Just outside: prefix_end(p) itself (range_end is exclusive) and p minus its '/'.
  const std::string after = etcd::prefix_end(p);
  ASSERT_TRUE(c.put(after, "outside"));
  ASSERT_TRUE(c.put(key("p"), "outside"));

  auto r = c.range(p, {.range_end = etcd::prefix_end(p)});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), inside.size());
  for (std::size_t i = 0; i < inside.size(); ++i) {  // sorted by bytes
    EXPECT_EQ(r->kvs[i].key, inside[i]) << i;
    EXPECT_EQ(r->kvs[i].value, "value of " + inside[i]) << i;
  }
  EXPECT_FALSE(r->more);

  r = c.range(p, {.range_end = etcd::prefix_end(p), .keys_only = true});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), inside.size());
  for (std::size_t i = 0; i < inside.size(); ++i) {
    EXPECT_EQ(r->kvs[i].key, inside[i]) << i;
    EXPECT_EQ(r->kvs[i].value, "") << i;
    EXPECT_GT(r->kvs[i].mod_revision, 0) << i;
  }

  r = c.range(p, {.range_end = etcd::prefix_end(p), .limit = 2});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, inside[0]);
  EXPECT_EQ(r->kvs[1].key, inside[1]);
  EXPECT_TRUE(r->more);
  r = c.range(p, {.range_end = etcd::prefix_end(p), .limit = 4});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kvs.size(), 4u);
  EXPECT_FALSE(r->more);

  // min_mod_revision: only what changed since.
  auto rev = c.put(inside[1], "changed");
  ASSERT_TRUE(rev);
  r = c.range(p, {.range_end = etcd::prefix_end(p), .min_mod_revision = *rev});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, inside[1]);
  EXPECT_EQ(r->kvs[0].value, "changed");

  auto n = c.del(p, etcd::prefix_end(p));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, static_cast<std::int64_t>(inside.size()));
  r = c.range(prefix_, {.range_end = etcd::prefix_end(prefix_)});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 2u);  // the two outside keys survived
  EXPECT_EQ(r->kvs[0].key, key("p"));
  EXPECT_EQ(r->kvs[1].key, after);
}

TEST_F(EtcdClientTest, LeaseGrantKeepaliveRevoke) {
  etcd::Client& c = *client_;
  auto lease = c.grant(10);
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_NE(*lease, 0);
  auto ttl = c.keepalive(*lease);
  ASSERT_TRUE(ttl) << ttl.error().message;
  EXPECT_GT(*ttl, 0);
  EXPECT_LE(*ttl, 10);

  ASSERT_TRUE(c.put(key("leased/a"), "1", *lease));
  ASSERT_TRUE(c.put(key("leased/b"), "2", *lease));
  ASSERT_TRUE(c.put(key("kept"), "3"));
  auto r = c.range(key("leased/a"));
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].lease, *lease);

  auto revoked = c.revoke(*lease);
  ASSERT_TRUE(revoked) << revoked.error().message;
  r = c.range(key("leased/"), {.range_end = etcd::prefix_end(key("leased/"))});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->kvs.empty());
  r = c.range(key("kept"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kvs.size(), 1u);

  // Gone: keepalive says 0 (not an error), a second revoke is success.
  ttl = c.keepalive(*lease);
  ASSERT_TRUE(ttl) << ttl.error().message;
  EXPECT_EQ(*ttl, 0);
  revoked = c.revoke(*lease);
  EXPECT_TRUE(revoked) << revoked.error().message;
  // A lease that never was.
  revoked = c.revoke(0x1234'5678'9abcLL);
  EXPECT_TRUE(revoked) << revoked.error().message;
  ttl = c.keepalive(0x1234'5678'9abcLL);
  ASSERT_TRUE(ttl) << ttl.error().message;
  EXPECT_EQ(*ttl, 0);
}

TEST_F(EtcdClientTest, TxnCreateIfAbsentHasExactlyOneWinner) {
  constexpr int kThreads = 8;
  const std::string k = key("race");
  std::vector<std::unique_ptr<etcd::Client>> clients;
  for (int i = 0; i < kThreads; ++i) {
    clients.push_back(client_of(bed_->endpoints(), 2000ms));
    ASSERT_NE(clients.back(), nullptr);
  }
  // Results are checked on this thread; each thread writes only its own slot.
  std::vector<Result<etcd::TxnResult>> results(kThreads, make_error(Errc::kFailed, "not run"));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const std::string mine = "value of thread " + std::to_string(i);
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)] =
          clients[static_cast<std::size_t>(i)]->txn({Compare::absent(k)}, {Op::put(k, mine)},
                                                     {Op::get(k)});
    });
  }
  for (auto& t : threads) t.join();

  int winners = 0;
  int winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r) << i << ": " << r.error().message;
    if (r->succeeded) {
      ++winners;
      winner = i;
    }
  }
  ASSERT_EQ(winners, 1);
  const std::string won = "value of thread " + std::to_string(winner);
  const std::int64_t won_at = results[static_cast<std::size_t>(winner)]->revision;
  ASSERT_EQ(results[static_cast<std::size_t>(winner)]->ranges.size(), 1u);  // one put
  EXPECT_TRUE(results[static_cast<std::size_t>(winner)]->ranges[0].empty());

  auto stored = client_->range(k);
  ASSERT_TRUE(stored && stored->kvs.size() == 1u);
  EXPECT_EQ(stored->kvs[0].value, won);
  EXPECT_EQ(stored->kvs[0].mod_revision, won_at);
  EXPECT_EQ(stored->kvs[0].version, 1);

  // Every loser read the winner's key-value in its failure branch.
  for (int i = 0; i < kThreads; ++i) {
    if (i == winner) continue;
    const auto& r = *results[static_cast<std::size_t>(i)];
    ASSERT_EQ(r.ranges.size(), 1u) << i;
    ASSERT_EQ(r.ranges[0].size(), 1u) << i;
    EXPECT_EQ(r.ranges[0][0].key, k) << i;
    EXPECT_EQ(r.ranges[0][0].value, won) << i;
    EXPECT_EQ(r.ranges[0][0].create_revision, won_at) << i;
    EXPECT_GE(r.revision, won_at) << i;
  }
}

TEST_F(EtcdClientTest, FencingTokenRefusesTheOldOwner) {
  etcd::Client& c = *client_;
  const std::string owner = key("owner/w1");
  auto a = c.grant(30);
  auto b = c.grant(30);
  ASSERT_TRUE(a && b);

  // Claim under lease A: the token is the claim's revision (the key's mod_revision).
  auto claim = c.txn({Compare::absent(owner)}, {Op::put(owner, "node-a", *a)}, {Op::get(owner)});
  ASSERT_TRUE(claim) << claim.error().message;
  ASSERT_TRUE(claim->succeeded);
  const std::int64_t old_token = claim->revision;
  auto r = c.range(owner);
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].mod_revision, old_token);
  EXPECT_EQ(r->kvs[0].lease, *a);

  // A claims again while it holds the key: refused, and it reads itself back.
  auto again = c.txn({Compare::absent(owner)}, {Op::put(owner, "node-a", *a)}, {Op::get(owner)});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->ranges.size(), 1u);
  ASSERT_EQ(again->ranges[0].size(), 1u);
  EXPECT_EQ(again->ranges[0][0].value, "node-a");
  EXPECT_EQ(again->ranges[0][0].mod_revision, old_token);

  // A's lease ends; B claims.
  ASSERT_TRUE(c.revoke(*a));
  claim = c.txn({Compare::absent(owner)}, {Op::put(owner, "node-b", *b)});
  ASSERT_TRUE(claim) << claim.error().message;
  ASSERT_TRUE(claim->succeeded);
  const std::int64_t new_token = claim->revision;
  EXPECT_GT(new_token, old_token);

  // A writes with its old token: refused, nothing written.
  const std::string spec = key("specs/w1");
  auto stale = c.txn({Compare::modified(owner, old_token)},
                     {Op::put(owner, "node-a"), Op::put(spec, "stale checkpoint")},
                     {Op::get(owner)});
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_FALSE(stale->succeeded);
  ASSERT_EQ(stale->ranges.size(), 1u);
  ASSERT_EQ(stale->ranges[0].size(), 1u);
  EXPECT_EQ(stale->ranges[0][0].value, "node-b");
  EXPECT_EQ(stale->ranges[0][0].mod_revision, new_token);
  auto stale_del = c.txn({Compare::modified(owner, old_token)}, {Op::del(owner)});
  ASSERT_TRUE(stale_del);
  EXPECT_FALSE(stale_del->succeeded);
  r = c.range(owner);
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].value, "node-b");
  EXPECT_EQ(r->kvs[0].mod_revision, new_token);
  EXPECT_EQ(r->kvs[0].lease, *b);
  r = c.range(spec);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->kvs.empty());

  // B with its token: accepted.
  auto fresh = c.txn({Compare::modified(owner, new_token)},
                     {Op::put(spec, "checkpoint"), Op::get(owner)});
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_TRUE(fresh->succeeded);
  ASSERT_EQ(fresh->ranges.size(), 2u);
  EXPECT_TRUE(fresh->ranges[0].empty());
  ASSERT_EQ(fresh->ranges[1].size(), 1u);
  EXPECT_EQ(fresh->ranges[1][0].value, "node-b");
  r = c.range(spec);
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].value, "checkpoint");
  EXPECT_TRUE(c.revoke(*b));
}

// The other comparison targets and results are encoded as etcd wants them.
TEST_F(EtcdClientTest, TxnCompareTargets) {
  etcd::Client& c = *client_;
  const std::string k = key("cmp");
  const std::string bytes("v\0\xff", 3);
  auto lease = c.grant(30);
  ASSERT_TRUE(lease);
  auto created = c.put(k, bytes, *lease);
  ASSERT_TRUE(created);
  ASSERT_TRUE(c.put(k, bytes, *lease));  // version 2

  struct Row {
    const char* name;
    Compare cmp;
    bool holds;
  };
  const Row rows[] = {
      {"value equal (binary)", Compare::equals(k, bytes), true},
      {"value equal, other bytes", Compare::equals(k, std::string("v\0\xfe", 3)), false},
      {"created at", Compare::created(k, *created), true},
      {"created after", Compare::created(k, *created - 1, Compare::Result::kGreater), true},
      {"created before", Compare::created(k, *created, Compare::Result::kLess), false},
      {"created not at", Compare::created(k, *created, Compare::Result::kNotEqual), false},
      {"absent", Compare::absent(k), false},
      {"absent (another key)", Compare::absent(key("nothing")), true},
      {"version 2", {k, Compare::Target::kVersion, Compare::Result::kEqual, 2, {}}, true},
      {"version > 2", {k, Compare::Target::kVersion, Compare::Result::kGreater, 2, {}}, false},
      {"lease", {k, Compare::Target::kLease, Compare::Result::kEqual, *lease, {}}, true},
      {"other lease", {k, Compare::Target::kLease, Compare::Result::kEqual, *lease + 1, {}}, false},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto r = c.txn({row.cmp}, {Op::get(k)}, {});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->succeeded, row.holds);
    // No failure branch: no ranges when it failed.
    EXPECT_EQ(r->ranges.size(), row.holds ? 1u : 0u);
  }
  // All comparisons must hold.
  auto r = c.txn({Compare::equals(k, bytes), Compare::absent(k)}, {Op::del(k)});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->succeeded);
  r = c.txn({Compare::equals(k, bytes), Compare::absent(key("nothing"))}, {Op::del(k)});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->succeeded);
  auto gone = c.range(k);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());
  EXPECT_TRUE(c.revoke(*lease));
}

TEST_F(EtcdClientTest, EtcdsOwnErrorIsFailedWithItsMessage) {
  etcd::Client& c = *client_;
  constexpr std::int64_t kNoSuchLease = 0x7777'0000'1234LL;
  auto put = c.put(key("k"), "v", kNoSuchLease);
  ASSERT_FALSE(put) << *put;
  EXPECT_EQ(put.error().code, Errc::kFailed);
  EXPECT_NE(put.error().message.find("lease not found"), std::string::npos) << put.error().message;

  auto txn = c.txn({Compare::absent(key("k"))}, {Op::put(key("k"), "v", kNoSuchLease)});
  ASSERT_FALSE(txn);
  EXPECT_EQ(txn.error().code, Errc::kFailed);
  EXPECT_NE(txn.error().message.find("lease not found"), std::string::npos) << txn.error().message;

  // Nothing was written, and the client goes on.
  auto r = c.range(key("k"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->kvs.empty());
}

TEST_F(EtcdClientTest, CutNetworkIsUnreachableUntilHealed) {
  MultiProxy proxies(*bed_);
  ASSERT_TRUE(proxies.ok());
  auto c = client_of(proxies.endpoints(), 300ms);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->put(key("k"), "before"));
  EXPECT_EQ(c->current_endpoint(), host_port(proxies.at(0).url()));

  // One path cut: the next member answers.
  proxies.at(0).cut();
  auto t0 = Clock::now();
  auto put = c->put(key("k"), "one cut");
  ASSERT_TRUE(put) << put.error().message;
  note("put with the path to member 0 cut", ms_since(t0));
  EXPECT_EQ(c->current_endpoint(), host_port(proxies.at(1).url()));
  proxies.at(0).heal();

  // Every path cut: unreachable, fast (resets, not timeouts).
  proxies.cut();
  t0 = Clock::now();
  auto r = c->range(key("k"));
  const auto failed_after = ms_since(t0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSystem);
  EXPECT_EQ(r.error().message.rfind("etcd unreachable (", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find(host_port(proxies.at(2).url())), std::string::npos)
      << r.error().message;
  EXPECT_LT(failed_after, 2000);
  note("range through cut proxies failed", failed_after);
  auto grant = c->grant(5);
  ASSERT_FALSE(grant);
  EXPECT_EQ(grant.error().code, Errc::kSystem);

  proxies.heal();
  t0 = Clock::now();
  EXPECT_TRUE(wait_until([&] { return static_cast<bool>(c->put(key("k"), "after")); }, 5s, 20ms));
  note("put after heal", ms_since(t0));
  r = client_->range(key("k"));
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].value, "after");
}

// Tests that kill members start a cluster of their own.
TEST(EtcdClientFaultTest, FailoverWhenTheFirstMemberDies) {
  auto t0 = Clock::now();
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  note("cluster healthy after start", ms_since(t0));
  // Member 0 is listed first: it answers while it lives.
  auto c = client_of(bed.endpoints(), 1000ms);
  ASSERT_NE(c, nullptr);
  auto rev = c->put("/failover/k", "v0");
  ASSERT_TRUE(rev) << rev.error().message;
  EXPECT_EQ(c->current_endpoint(), host_port(bed.endpoint(0)));

  bed.kill(0);
  // If member 0 led, requests wait for a new leader (election 500 ms) or time
  // out: retried until a deadline.
  t0 = Clock::now();
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c->put("/failover/k", "v1")); }, 10s, 20ms))
      << bed.logs();
  note("put with member 0 killed", ms_since(t0));
  EXPECT_NE(c->current_endpoint(), host_port(bed.endpoint(0)));
  // Once failed over, the next requests go straight to the live member.
  t0 = Clock::now();
  auto r = c->range("/failover/k");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].value, "v1");
  EXPECT_LT(ms_since(t0), 500);
  auto lease = c->grant(5);
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_TRUE(c->revoke(*lease));

  // A fresh client listing the dead member first fails over too.
  auto fresh = client_of(bed.endpoints(), 1000ms);
  ASSERT_NE(fresh, nullptr);
  r = fresh->range("/failover/k");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->kvs.size(), 1u);
  EXPECT_NE(fresh->current_endpoint(), host_port(bed.endpoint(0)));
}

TEST(EtcdClientFaultTest, UnreachableWhenEveryMemberIsDownThenBack) {
  auto t0 = Clock::now();
  EtcdCluster bed;
  ASSERT_TRUE(bed.ok()) << bed.logs();
  note("cluster healthy after start", ms_since(t0));
  auto c = client_of(bed.endpoints(), 300ms);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->put("/down/k", "v0"));

  // Hung members (SIGSTOP): connections are accepted, nothing answers: each
  // member costs one timeout.
  for (int i = 0; i < bed.size(); ++i) ASSERT_EQ(::kill(bed.pid(i), SIGSTOP), 0) << i;
  t0 = Clock::now();
  auto r = c->range("/down/k");
  auto failed_after = ms_since(t0);
  for (int i = 0; i < bed.size(); ++i) ::kill(bed.pid(i), SIGCONT);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kSystem);
  EXPECT_EQ(r.error().message.rfind("etcd unreachable (", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find("within 300 ms"), std::string::npos) << r.error().message;
  EXPECT_GE(failed_after, 3 * 300 - 50);
  EXPECT_LT(failed_after, 2500);
  note("range with every member stopped failed", failed_after);
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c->range("/down/k")); }, 10s, 20ms))
      << bed.logs();

  // Killed members: refused at once.
  bed.kill_all();
  t0 = Clock::now();
  auto put = c->put("/down/k", "v1");
  failed_after = ms_since(t0);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, Errc::kSystem);
  EXPECT_EQ(put.error().message.rfind("etcd unreachable (", 0), 0u) << put.error().message;
  for (int i = 0; i < bed.size(); ++i) {
    EXPECT_NE(put.error().message.find(host_port(bed.endpoint(i))), std::string::npos)
        << put.error().message;
  }
  EXPECT_LT(failed_after, 2000);
  note("put with every member killed failed", failed_after);
  for (const bool failed : {!c->range("/down/k"), !c->grant(5), !c->keepalive(1),
                            !c->revoke(1), !c->del("/down/k"),
                            !c->txn({Compare::absent("/down/k")}, {Op::put("/down/k", "x")})}) {
    EXPECT_TRUE(failed);
  }

  t0 = Clock::now();
  ASSERT_TRUE(bed.restart_all()) << bed.logs();
  note("restart_all() until healthy", ms_since(t0));
  t0 = Clock::now();
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(c->put("/down/k", "v2")); }, 10s, 20ms))
      << bed.logs();
  note("put after restart_all()", ms_since(t0));
  r = c->range("/down/k");
  ASSERT_TRUE(r && r->kvs.size() == 1u);
  EXPECT_EQ(r->kvs[0].value, "v2");
}

}  // namespace
}  // namespace dynmgr::testing
