// Cluster mode end to end (README "Cluster"; issue 15's test bed): a real
// 3-member etcd on loopback (tests/cluster/etcd_bed.hpp) and three probe
// supervisors in cluster mode on this machine, each under its own instance
// name and gateway port. Processes are really killed, etcd members really
// stopped, a node really cut off from etcd by a proxy the test controls.
//
// "Never twice" is checked by a sampler that reads every node's registry
// every few milliseconds and counts, per id, the live worker processes
// (their /proc command line names the node's instance).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cli/ctl_support.hpp"
#include "cluster/etcd_bed.hpp"
#include "dynmgr/client.hpp"
#include "dynmgr/cluster_client.hpp"
#include "shared/cluster_client.hpp"
#include "shared/etcd.hpp"
#include "support/test_support.hpp"

namespace dynmgr::testing {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__)
constexpr int kManyIds = 60;  // ASan workers start several times slower
#else
constexpr int kManyIds = 300;
#endif
constexpr int kTtl = 3;  // --cluster-ttl (s)

const std::string kToken = "cluster-test-token";

class TokenFile {
 public:
  TokenFile() {
    char tmpl[] = "/tmp/dynmgr-cluster-token-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    if (fd >= 0) {
      (void)!::write(fd, (kToken + "\n").data(), kToken.size() + 1);
      ::close(fd);
    }
  }
  ~TokenFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool alive_worker_of(pid_t pid, const std::string& instance) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string cmd = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::string flat = cmd;
  std::replace(flat.begin(), flat.end(), '\0', ' ');
  return flat.find("--dynmgr-worker " + instance + " ") != std::string::npos;
}

// Three nodes n0, n1, n2 over one etcd; node 0 may reach etcd through a
// proxy the test can cut.
class ClusterBed {
 public:
  explicit ClusterBed(bool proxy_node0 = false, std::vector<std::string> extra = {})
      : cluster_(unique_instance("cl")) {
    if (!etcd_.ok()) return;
    if (proxy_node0) proxy_ = std::make_unique<MultiProxy>(etcd_);
    ports_ = free_loopback_ports(3);
    for (int i = 0; i < 3; ++i) {
      const std::string endpoints = i == 0 && proxy_ ? proxy_->endpoints() : etcd_.endpoints();
      std::vector<std::string> flags{"--cluster", endpoints, "--cluster-name", cluster_,
                                     "--node", "n" + std::to_string(i), "--advertise",
                                     "127.0.0.1:" + std::to_string(ports_[i]),
                                     "--cluster-token-file", token_.path(), "--cluster-ttl",
                                     std::to_string(kTtl), "--checkpoint-interval", "200"};
      flags.insert(flags.end(), extra.begin(), extra.end());
      nodes_.push_back(std::make_unique<Daemon>("probe", flags, std::vector<std::string>{}, "cl"));
    }
  }

  bool ok() {
    if (!etcd_.ok()) return false;
    for (auto& n : nodes_) {
      if (!n->ok()) return false;
    }
    return wait_until([&] {
      auto n = client().nodes();
      return n && n->size() == 3;
    }, 20s, 20ms);
  }
  std::string why() const {
    std::string s = "etcd:\n" + etcd_.logs();
    for (const auto& n : nodes_) s += "\n--- " + n->name() + ":\n" + n->log();
    return s;
  }

  EtcdCluster& etcd() { return etcd_; }
  MultiProxy& proxy() { return *proxy_; }
  Daemon& node(int i) { return *nodes_[i]; }
  const std::string& cluster() const { return cluster_; }
  const std::string& token_path() const { return token_.path(); }

  cluster::ClusterClient client(Millis timeout = Millis(10'000)) {
    cluster::ClusterClient::Options o;
    o.etcd = parse_http_endpoints(etcd_.endpoints()).value();
    o.cluster = cluster_;
    o.token = kToken;
    o.timeout = timeout;
    return cluster::ClusterClient(std::move(o));
  }
  cluster::GatewayClient gateway(int i, Millis timeout = Millis(15'000)) {
    return cluster::GatewayClient(HttpEndpoint{"127.0.0.1", static_cast<std::uint16_t>(ports_[i])},
                                  kToken, timeout);
  }
  etcd::Client etcd_client() {
    return etcd::Client(etcd::Client::Options{parse_http_endpoints(etcd_.endpoints()).value(),
                                              Millis(1000)});
  }
  std::string mode(int i) {
    auto r = gateway(i, Millis(2000)).post("health", json::object{});
    if (!r || !r->is_object()) return "?";
    auto m = get_string(r->as_object(), "mode");
    return m ? std::string(*m) : "?";
  }

  // id -> pid of every live worker of node i (its registry, checked in /proc).
  std::map<std::string, pid_t> running_on(int i) {
    std::map<std::string, pid_t> out;
    Client::Options o;
    o.instance = nodes_[i]->name();
    o.timeout = Millis(2000);
    auto c = Client::connect(o);
    if (!c) return out;
    (void)c->for_each_worker([&](const WorkerInfo& w) {
      if (w.status == WorkerStatus::kRunning && alive_worker_of(w.pid, o.instance)) out[w.id] = w.pid;
      return true;
    });
    return out;
  }
  std::map<std::string, int> where_running() {
    std::map<std::string, int> out;
    for (int i = 0; i < 3; ++i) {
      for (const auto& [id, pid] : running_on(i)) out[id] = i;
    }
    return out;
  }

  // The payload etcd holds for id (the last checkpoint), or null.
  json::value stored_payload(const std::string& id) {
    auto r = etcd_client().range(cluster::Layout(cluster_).spec_key(id));
    if (!r || r->kvs.empty()) return nullptr;
    auto v = parse_json(r->kvs.front().value, "spec");
    if (!v || !v->is_object()) return nullptr;
    const auto* p = v->as_object().if_contains("payload");
    return p != nullptr ? *p : json::value(nullptr);
  }

 private:
  EtcdCluster etcd_;
  std::string cluster_;
  TokenFile token_;
  std::unique_ptr<MultiProxy> proxy_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<Daemon>> nodes_;
};

// Counts, every few ms, the live worker processes per id over every node's
// registry; remembers the largest count any id ever had.
class TwiceSampler {
 public:
  explicit TwiceSampler(ClusterBed& bed) : bed_(bed), thread_([this] { run(); }) {}
  ~TwiceSampler() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int worst() const { return worst_.load(); }
  std::string worst_id() {
    std::lock_guard lock(m_);
    return worst_id_;
  }
  int samples() const { return samples_.load(); }

 private:
  void run() {
    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) names.push_back(bed_.node(i).name());
    while (!done_) {
      std::map<std::string, int> count;
      for (const auto& name : names) {
        Client::Options o;
        o.instance = name;
        o.timeout = Millis(500);
        auto c = Client::connect(o);
        if (!c) continue;
        (void)c->for_each_worker([&](const WorkerInfo& w) {
          if (alive_worker_of(w.pid, name)) ++count[w.id];
          return true;
        });
      }
      for (const auto& [id, n] : count) {
        if (n > worst_) {
          worst_ = n;
          std::lock_guard lock(m_);
          worst_id_ = id;
        }
      }
      ++samples_;
    }
  }
  ClusterBed& bed_;
  std::atomic<bool> done_{false};
  std::atomic<int> worst_{0};
  std::atomic<int> samples_{0};
  std::mutex m_;
  std::string worst_id_;
  std::thread thread_;
};

json::object spec_json(json::value payload, int timeout_ms = 0) {
  json::object spec;
  spec["payload"] = std::move(payload);
  spec["timeout"] = timeout_ms;
  return spec;
}

// Puts every id through gateway i % 3 (any node); true when all succeeded.
::testing::AssertionResult put_all(ClusterBed& bed, const std::vector<std::string>& ids,
                                   const json::object& spec) {
  std::vector<cluster::GatewayClient> gw;
  for (int i = 0; i < 3; ++i) gw.push_back(bed.gateway(i));
  for (std::size_t k = 0; k < ids.size(); ++k) {
    auto r = gw[k % 3].post("put", json::object{{"id", ids[k]}, {"spec", spec}});
    if (!r) return ::testing::AssertionFailure() << "put '" << ids[k] << "': " << r.error().message;
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> make_ids(const std::string& stem, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(stem + std::to_string(i));
  return ids;
}

TEST(Cluster, IdsPutThroughAnyNodeRunOnExactlyOneAndCallsReachThemFromAnyNode) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  const auto ids = make_ids("w", kManyIds);
  ASSERT_TRUE(put_all(bed, ids, spec_json(json::object{{"n", 0}})));

  std::map<std::string, int> seen;
  std::array<int, 3> per_node{};
  for (int i = 0; i < 3; ++i) {
    for (const auto& [id, pid] : bed.running_on(i)) {
      ++seen[id];
      ++per_node[i];
    }
  }
  ASSERT_EQ(seen.size(), ids.size()) << bed.why();
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " runs on " << n << " nodes";
  // Placement spreads them (rendezvous over three nodes).
  for (int i = 0; i < 3; ++i) EXPECT_GT(per_node[i], kManyIds / 6) << "node " << i;

  // A call through every node reaches the worker wherever it runs, and the
  // record says where.
  const auto where = bed.where_running();
  for (int k = 0; k < 30; ++k) {
    const std::string& id = ids[static_cast<std::size_t>(k * 7) % ids.size()];
    for (int via = 0; via < 3; ++via) {
      auto set = bed.gateway(via).post(
          "call", json::object{{"id", id}, {"message", json::array{"set", k * 10 + via}}});
      ASSERT_TRUE(set) << id << " via n" << via << ": " << set.error().message;
      auto got = bed.gateway((via + 1) % 3).post("get", json::object{{"id", id}});
      ASSERT_TRUE(got) << got.error().message;
      EXPECT_EQ(got->as_object().at("payload"), json::value(k * 10 + via)) << id;
      EXPECT_EQ(got->as_object().at("node"), json::value("n" + std::to_string(where.at(id))));
    }
  }

  // dynmgrctl --cluster: state lists every id once, each with its node.
  auto st = run_command({bin_path("dynmgrctl"), "--cluster", bed.etcd().endpoints(),
                         "--cluster-name", bed.cluster(), "--cluster-token-file",
                         bed.token_path(), "--json", "state"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  const auto doc = parse(st.out).as_object();
  EXPECT_EQ(doc.at("nodes").as_array().size(), 3u);
  std::set<std::string> listed;
  for (const auto& w : doc.at("workers").as_array()) {
    const auto& o = w.as_object();
    const std::string id(o.at("id").as_string());
    EXPECT_TRUE(listed.insert(id).second) << id << " listed twice";
    EXPECT_EQ(o.at("node"), json::value("n" + std::to_string(where.at(id)))) << id;
  }
  EXPECT_EQ(listed.size(), ids.size());
}

TEST(Cluster, AKilledNodesIdsRunElsewhereFromTheirLastCheckpointAndNeverTwice) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  const auto ids = make_ids("k", 30);
  // Each perform counts n up (every 50 ms); checkpoints every 200 ms.
  ASSERT_TRUE(put_all(bed, ids, spec_json(json::object{{"n", 0}}, 50)));
  const int victim = bed.where_running().at(ids[0]);
  const auto doomed = bed.running_on(victim);
  ASSERT_FALSE(doomed.empty());
  // Wait until each of its ids has a checkpoint past its initial payload.
  ASSERT_TRUE(wait_until([&] {
    for (const auto& [id, pid] : doomed) {
      const auto p = bed.stored_payload(id);
      if (!p.is_object() || p.as_object().at("n").to_number<int>() < 3) return false;
    }
    return true;
  }, 20s, 20ms)) << bed.why();

  TwiceSampler sampler(bed);
  std::map<std::string, int> before;
  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(bed.node(victim).pid(), SIGKILL);
  for (const auto& [id, pid] : doomed) ::kill(pid, SIGKILL);
  for (const auto& [id, pid] : doomed) {
    before[id] = bed.stored_payload(id).as_object().at("n").to_number<int>();
  }

  // Every id of the dead node runs on another one, resumed from its last
  // checkpoint (not from n = 0).
  ASSERT_TRUE(wait_until([&] {
    const auto where = bed.where_running();
    for (const auto& [id, pid] : doomed) {
      const auto w = where.find(id);
      if (w == where.end() || w->second == victim) return false;
    }
    return true;
  }, std::chrono::seconds(kTtl + 10), 20ms)) << bed.why();
  const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - killed_at);
  sampler.stop();
  std::cout << "failover of " << doomed.size() << " ids: " << took.count() << " ms (TTL "
            << kTtl << " s)\n";
  EXPECT_LE(sampler.worst(), 1) << "'" << sampler.worst_id() << "' ran twice";
  EXPECT_GT(sampler.samples(), 10);
  for (const auto& [id, n0] : before) {
    auto got = bed.client().request("get", id, json::object{{"id", id}});
    ASSERT_TRUE(got) << got.error().message;
    const int n = got->as_object().at("payload").as_object().at("n").to_number<int>();
    EXPECT_GE(n, n0) << id << " did not resume from its checkpoint";
  }
}

TEST(Cluster, ANodeCutOffFromEtcdStopsItsWorkersBeforeItsIdsMoveAndComesBack) {
  ClusterBed bed(/*proxy_node0=*/true);
  ASSERT_TRUE(bed.ok()) << bed.why();
  const auto ids = make_ids("p", 30);
  ASSERT_TRUE(put_all(bed, ids, spec_json(json::object{{"n", 0}}, 50)));
  const auto cut_off = bed.running_on(0);
  ASSERT_FALSE(cut_off.empty());

  TwiceSampler sampler(bed);
  const auto cut_at = std::chrono::steady_clock::now();
  bed.proxy().cut();
  // Node 0 stops its workers by itself (it still reaches the other nodes,
  // which reach etcd)...
  ASSERT_TRUE(wait_until([&] { return bed.running_on(0).empty(); }, std::chrono::seconds(kTtl + 5), 10ms))
      << bed.why();
  const auto stopped = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - cut_at);
  EXPECT_EQ(bed.mode(0), "fenced");
  // ... and its ids run elsewhere once its lease expired.
  ASSERT_TRUE(wait_until([&] {
    const auto where = bed.where_running();
    for (const auto& [id, pid] : cut_off) {
      const auto w = where.find(id);
      if (w == where.end() || w->second == 0) return false;
    }
    return true;
  }, std::chrono::seconds(kTtl + 10), 20ms)) << bed.why();
  const auto moved = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - cut_at);
  std::cout << "cut off: workers stopped after " << stopped.count() << " ms, ids moved after "
            << moved.count() << " ms (TTL " << kTtl << " s)\n";
  EXPECT_LE(sampler.worst(), 1) << "'" << sampler.worst_id() << "' ran twice";

  // Back in touch: node 0 serves again, with a new lease.
  bed.proxy().heal();
  ASSERT_TRUE(wait_until([&] { return bed.mode(0) == "serving"; }, 15s, 20ms)) << bed.why();
  sampler.stop();
  EXPECT_LE(sampler.worst(), 1) << "'" << sampler.worst_id() << "' ran twice";
  // Every id still runs exactly once.
  std::map<std::string, int> seen;
  for (int i = 0; i < 3; ++i) {
    for (const auto& [id, pid] : bed.running_on(i)) ++seen[id];
  }
  EXPECT_EQ(seen.size(), ids.size());
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

// A paused node (SIGSTOP of the supervisor and its workers, as a paused VM)
// cannot stop anything while paused; once thawed it finds its lease expired
// and stops its workers, and nothing it held before (a payload older than the
// new owner's checkpoints) reaches etcd: the checkpoint transaction compares
// the owner key's revision, which the new owner's claim changed. (Which of
// the two comes first is a race; tests/cluster/etcd_client_test.cpp checks
// the fence's refusal itself.)
TEST(Cluster, AThawedNodeStopsItsWorkersAndNoStaleCheckpointLands) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  const auto ids = make_ids("f", 12);
  ASSERT_TRUE(put_all(bed, ids, spec_json(json::object{{"n", 0}}, 50)));
  const int victim = bed.where_running().at(ids[0]);
  const auto frozen = bed.running_on(victim);
  // The whole node stops, as a paused VM would: supervisor and workers.
  ::kill(bed.node(victim).pid(), SIGSTOP);
  for (const auto& [id, pid] : frozen) ::kill(pid, SIGSTOP);
  // Its ids move; the new owners checkpoint further.
  std::map<std::string, int> high;
  ASSERT_TRUE(wait_until([&] {
    const auto where = bed.where_running();
    for (const auto& [id, pid] : frozen) {
      const auto w = where.find(id);
      if (w == where.end() || w->second == victim) return false;
    }
    return true;
  }, std::chrono::seconds(kTtl + 10), 20ms)) << bed.why();
  for (const auto& [id, pid] : frozen) {
    ASSERT_TRUE(wait_until([&] {
      const auto p = bed.stored_payload(id);
      return p.is_object() && p.as_object().at("n").to_number<int>() > 0;
    }, 10s, 20ms));
  }
  // Thawed, the old owner's checkpoints (of payloads it held before) are
  // refused: no stored payload ever goes back.
  for (const auto& [id, pid] : frozen) {
    high[id] = bed.stored_payload(id).as_object().at("n").to_number<int>();
  }
  ::kill(bed.node(victim).pid(), SIGCONT);
  for (const auto& [id, pid] : frozen) ::kill(pid, SIGCONT);
  ASSERT_TRUE(wait_until([&] { return bed.running_on(victim).empty(); }, 15s, 10ms)) << bed.why();
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until) {
    for (auto& [id, n] : high) {
      const int now = bed.stored_payload(id).as_object().at("n").to_number<int>();
      ASSERT_GE(now, n) << id << " went back: a stale checkpoint got through";
      n = now;
    }
  }
  ASSERT_TRUE(wait_until([&] { return bed.mode(victim) == "serving"; }, 15s, 20ms)) << bed.why();
}

TEST(Cluster, PutNewOfOneIdFromTwoNodesAtOnceHasExactlyOneWinner) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  for (int round = 0; round < 20; ++round) {
    const std::string id = "race" + std::to_string(round);
    std::array<Result<json::value>, 2> got{make_error(Errc::kFailed, "-"), make_error(Errc::kFailed, "-")};
    std::array<std::thread, 2> t;
    std::atomic<int> ready{0};
    for (int k = 0; k < 2; ++k) {
      t[k] = std::thread([&, k] {
        auto g = bed.gateway(k == 0 ? round % 3 : (round + 1) % 3);
        ++ready;
        while (ready.load() < 2) {
        }
        got[k] = g.post("put", json::object{{"id", id}, {"new", true},
                                            {"spec", spec_json(json::value(k))}});
      });
    }
    for (auto& th : t) th.join();
    const int wins = (got[0] ? 1 : 0) + (got[1] ? 1 : 0);
    ASSERT_EQ(wins, 1) << id << ": " << (got[0] ? "ok" : got[0].error().message) << " / "
                       << (got[1] ? "ok" : got[1].error().message);
    const int winner = got[0] ? 0 : 1;
    EXPECT_EQ(got[1 - winner].error().code, Errc::kExists) << got[1 - winner].error().message;
    auto rec = bed.client().request("get", id, json::object{{"id", id}});
    ASSERT_TRUE(rec) << rec.error().message;
    EXPECT_EQ(rec->as_object().at("payload"), json::value(winner)) << id;
  }
  std::map<std::string, int> seen;
  for (int i = 0; i < 3; ++i) {
    for (const auto& [id, pid] : bed.running_on(i)) ++seen[id];
  }
  EXPECT_EQ(seen.size(), 20u);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

TEST(Cluster, OneEtcdMemberDownChangesNothingAllDownKeepsServingAndRefusesChanges) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  const auto ids = make_ids("o", 12);
  ASSERT_TRUE(put_all(bed, ids, spec_json(json::object{{"n", 0}})));

  bed.etcd().kill(0);
  // Members 1 and 2 keep a quorum: puts and calls go on.
  auto extra = bed.client();
  ASSERT_TRUE(wait_until([&] {
    return static_cast<bool>(extra.request("put", "o-extra",
                                           json::object{{"id", "o-extra"}, {"spec", spec_json(1)}}));
  }, 20s, 50ms)) << bed.why();
  ASSERT_TRUE(bed.client().request("call", ids[0], json::object{{"id", ids[0]}, {"message", "get"}}));

  // Settled: every node knows the other two (a node that knows no other
  // node when etcd goes away cannot tell an outage from its own isolation,
  // and fences itself).
  ASSERT_TRUE(wait_until([&] {
    for (int i = 0; i < 3; ++i) {
      auto h = bed.gateway(i, Millis(2000)).post("health", json::object{});
      if (!h || h->as_object().at("known_nodes") != json::value(3)) return false;
    }
    return true;
  }, 20s, 20ms)) << bed.why();
  const auto where = bed.where_running();
  TwiceSampler sampler(bed);
  bed.etcd().kill_all();
  // Every node finds that no node reaches etcd: it serves on.
  ASSERT_TRUE(wait_until([&] {
    return bed.mode(0) == "outage" && bed.mode(1) == "outage" && bed.mode(2) == "outage";
  }, std::chrono::seconds(kTtl * 4), 20ms)) << bed.why();
  EXPECT_EQ(bed.where_running(), where) << "a worker stopped or moved during the outage";
  // Calls still reach every id, through any gateway (routed by the owners
  // last read); ownership changes are refused with a clear error.
  for (std::size_t k = 0; k < ids.size(); ++k) {
    auto r = bed.gateway(static_cast<int>(k % 3)).post(
        "call", json::object{{"id", ids[k]}, {"message", json::array{"set", 7}}});
    ASSERT_TRUE(r) << ids[k] << ": " << r.error().message;
  }
  auto refused = bed.gateway(1).post("put", json::object{{"id", "o-new"}, {"spec", spec_json(1)}});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("etcd is unreachable"), std::string::npos)
      << refused.error().message;
  // On its node, dynmgrctl as on one host.
  auto cli = run_command({bin_path("dynmgrctl"), "-n", bed.node(where.at(ids[0])).name(), "get", ids[0]});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;

  // etcd back: the nodes serve again, nothing was lost or doubled.
  ASSERT_TRUE(bed.etcd().restart_all()) << bed.etcd().logs();
  ASSERT_TRUE(wait_until([&] {
    return bed.mode(0) == "serving" && bed.mode(1) == "serving" && bed.mode(2) == "serving";
  }, 20s, 20ms)) << bed.why();
  ASSERT_TRUE(bed.client().request("put", "o-new", json::object{{"id", "o-new"}, {"spec", spec_json(1)}}));
  sampler.stop();
  EXPECT_LE(sampler.worst(), 1) << "'" << sampler.worst_id() << "' ran twice";
  const auto after = bed.where_running();
  for (const auto& [id, node] : where) {
    EXPECT_EQ(after.count(id), 1u) << id << " was lost";
  }
  auto got = bed.client().request("get", ids[0], json::object{{"id", ids[0]}});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->as_object().at("payload"), json::value(7));
  if (HasFailure()) std::cout << bed.why() << "\n";
}

// The public C++ form (include/dynmgr/cluster_client.hpp): every verb, its
// errors as on one host.
TEST(Cluster, ThePublicClusterClientDrivesEveryVerb) {
  ClusterBed bed;
  ASSERT_TRUE(bed.ok()) << bed.why();
  auto c = ClusterClient::connect({bed.etcd().endpoints(), bed.cluster(), kToken, Millis(10'000)});
  ASSERT_TRUE(c) << c.error().message;
  ChildSpec spec;
  spec.payload = 1;
  spec.timeout_ms = 0;
  auto put = c->put("pub", spec);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->worker.status, WorkerStatus::kRunning);
  EXPECT_EQ(bed.where_running().at("pub"), put->node.back() - '0');
  auto again = c->put_new("pub", spec);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kExists);
  ASSERT_TRUE(c->cast("pub", json::array{"set", 5}));
  auto got = c->call("pub", "get");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, json::value(5));
  auto rec = c->get("pub");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->node, put->node);
  auto all = c->state();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().worker.id, "pub");
  auto nodes = c->nodes();
  ASSERT_TRUE(nodes);
  EXPECT_EQ(nodes->size(), 3u);
  ASSERT_TRUE(c->del("pub"));
  EXPECT_EQ(c->get("pub").error().code, Errc::kNotFound);
  EXPECT_EQ(c->del("pub").error().code, Errc::kNotFound);
  EXPECT_EQ(c->call("pub", "get").error().code, Errc::kNotFound);
  EXPECT_EQ(c->put("", spec).error().code, Errc::kInvalid);
  // A wrong token: refused by the gateway.
  auto wrong = ClusterClient::connect({bed.etcd().endpoints(), bed.cluster(), "nope", Millis(5000)});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->get("x").error().code, Errc::kInvalid);
  EXPECT_FALSE(ClusterClient::connect({"ftp://x", bed.cluster(), kToken, Millis(1)}));
  EXPECT_FALSE(ClusterClient::connect({bed.etcd().endpoints(), "no/slash", kToken, Millis(1)}));
}

// Bad cluster flags: one line and exit 2, nothing started.
TEST(ClusterFlags, BadFlagsAreOneLineAndExitTwo) {
  TokenFile token;
  const std::string open_token = token.path() + ".open";
  {
    std::ofstream(open_token) << "t\n";
    ::chmod(open_token.c_str(), 0644);
  }
  const std::string name = unique_instance("cf");
  const std::string ok_cluster = "http://127.0.0.1:1";
  struct Row {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Row> daemon_rows{
      {{"--cluster", ok_cluster, "--cluster-token-file", token.path()}, "needs --advertise"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:7"}, "needs --cluster-token-file"},
      {{"--cluster", "https://127.0.0.1:1", "--advertise", "127.0.0.1:7", "--cluster-token-file",
        token.path()}, "https is not supported"},
      {{"--cluster", "127.0.0.1", "--advertise", "127.0.0.1:7", "--cluster-token-file",
        token.path()}, "expected HOST:PORT"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:0", "--cluster-token-file",
        token.path()}, "bad port"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:7", "--cluster-token-file",
        open_token}, "readable by others"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:7", "--cluster-token-file",
        token.path(), "--node", "a/b"}, "invalid --node 'a/b'"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:7", "--cluster-token-file",
        token.path(), "--cluster-name", "a b"}, "invalid --cluster-name 'a b'"},
      {{"--cluster", ok_cluster, "--advertise", "127.0.0.1:7", "--cluster-token-file",
        token.path(), "--cluster-ttl", "1"}, "--cluster-ttl"},
      {{"--node", "a"}, "need --cluster"},
      {{"--rebalance"}, "need --cluster"},
  };
  for (const auto& row : daemon_rows) {
    std::vector<std::string> argv{bin_path("probe"), "-n", name};
    argv.insert(argv.end(), row.args.begin(), row.args.end());
    const auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << row.says << ": " << r.err;
    EXPECT_NE(r.err.find(row.says), std::string::npos) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_TRUE(shm_objects(Names(name)).empty()) << row.says;
  }
  const std::vector<Row> ctl_rows{
      {{"--cluster", ok_cluster, "--cluster-token-file", token.path(), "restart", "x"},
       "restart does not work with --cluster"},
      {{"--cluster", ok_cluster, "state"}, "needs --cluster-token-file"},
      {{"--cluster-name", "c", "state"}, "need --cluster"},
      {{"--cluster", ok_cluster, "--cluster-token-file", token.path(), "call", "--any", "1"},
       "--any does not work with --cluster"},
      {{"--cluster", ok_cluster, "--cluster-token-file", open_token, "get", "x"},
       "readable by others"},
      {{"--cluster", "ftp:x", "--cluster-token-file", token.path(), "get", "x"}, "--cluster"},
  };
  for (const auto& row : ctl_rows) {
    std::vector<std::string> argv{bin_path("dynmgrctl")};
    argv.insert(argv.end(), row.args.begin(), row.args.end());
    const auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << row.says << ": " << r.err;
    EXPECT_NE(r.err.find(row.says), std::string::npos) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  }
  // Nothing answers at the etcd address: exit 1, saying so.
  const auto r = run_command({bin_path("dynmgrctl"), "--cluster", ok_cluster,
                              "--cluster-token-file", token.path(), "get", "x"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("etcd unreachable"), std::string::npos) << r.err;
  ::unlink(open_token.c_str());
}

}  // namespace
}  // namespace dynmgr::testing
