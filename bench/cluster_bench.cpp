// Cluster mode (README "Cluster"), measured against one host in the same run:
//  * put rate: IDS sequential puts through dynmgrctl's ClusterClient (etcd
//    reads, the gateway, the claim transaction, the local put) against as many
//    Client::put on a plain supervisor of this machine (the floor);
//  * call latency: Client::call on the owner's own instance (the floor)
//    against a call through the owner's gateway, through another node's
//    gateway (one forward), and through ClusterClient (which also reads the
//    owner and the nodes from etcd);
//  * failover: SIGKILL of one node's supervisor and workers until every one of
//    its ids runs on another node, against the TTL (the floor: the lease must
//    end first; it ends between 3/4 TTL and TTL after the kill).
// A real 3-member etcd on loopback (tests/cluster/etcd_bed.hpp) and three
// probe nodes on this machine.
//
//   cluster_bench [IDS] [CALLS] [TTL_S]   (defaults 300, 2000, 3)
#include <signal.h>
#include <sys/stat.h>

#include <map>

#include "bench/bench_util.hpp"
#include "cluster/etcd_bed.hpp"
#include "dynmgr/client.hpp"
#include "shared/cluster_client.hpp"

namespace {

const std::string kToken = "cluster-bench-token";

dynmgr::Client local(const std::string& name) {
  dynmgr::Client::Options o;
  o.instance = name;
  o.timeout = dynmgr::Millis(10'000);
  return dynmgr::Client::connect(o).value();
}

std::map<std::string, pid_t> running(const std::string& name) {
  std::map<std::string, pid_t> out;
  dynmgr::Client::Options o;
  o.instance = name;
  auto c = dynmgr::Client::connect(o);
  if (!c) return out;
  (void)c->for_each_worker([&](const dynmgr::WorkerInfo& w) {
    if (w.status == dynmgr::WorkerStatus::kRunning && w.pid > 0 && ::kill(w.pid, 0) == 0) {
      out[w.id] = w.pid;
    }
    return true;
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int ids = argc > 1 ? std::atoi(argv[1]) : 300;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int ttl = argc > 3 ? std::atoi(argv[3]) : 3;
  dynmgr::testing::EtcdCluster etcd(3);
  if (!etcd.ok()) {
    std::fprintf(stderr, "etcd did not start:\n%s\n", etcd.logs().c_str());
    return 1;
  }
  const std::string token_file = "/tmp/cluster-bench-" + std::to_string(::getpid()) + ".token";
  {
    std::FILE* f = std::fopen(token_file.c_str(), "w");
    std::fprintf(f, "%s\n", kToken.c_str());
    std::fclose(f);
    ::chmod(token_file.c_str(), 0600);
  }
  const std::string stem = "cb" + std::to_string(::getpid());
  const auto ports = dynmgr::testing::free_loopback_ports(3);
  std::vector<std::string> names;
  bool up = true;
  for (int i = 0; i < 3 && up; ++i) {
    names.push_back(stem + "n" + std::to_string(i));
    up = bench::start_probe(names.back(),
                            {"--cluster", etcd.endpoints(), "--cluster-name", stem, "--node",
                             "n" + std::to_string(i), "--advertise",
                             "127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(i)]),
                             "--cluster-token-file", token_file, "--cluster-ttl",
                             std::to_string(ttl)});
  }
  const std::string plain = stem + "plain";
  up = up && bench::start_probe(plain);
  dynmgr::cluster::ClusterClient::Options co;
  co.etcd = dynmgr::parse_http_endpoints(etcd.endpoints()).value();
  co.cluster = stem;
  co.token = kToken;
  co.timeout = dynmgr::Millis(10'000);
  dynmgr::cluster::ClusterClient cluster(co);
  for (int i = 0; up && i < 2000; ++i) {
    auto n = cluster.nodes();
    if (n && n->size() == 3) break;
    ::usleep(10'000);  // waiting for the nodes to register (polled, bounded)
  }
  int rc = up ? 0 : 1;
  if (up) {
    // Put rate.
    dynmgr::json::object spec{{"payload", dynmgr::json::object{{"n", 0}}}, {"timeout", 0}};
    auto plain_client = local(plain);
    dynmgr::ChildSpec cs;
    cs.payload = dynmgr::json::object{{"n", 0}};
    cs.timeout_ms = 0;
    std::uint64_t t0 = bench::now_ns();
    for (int i = 0; i < ids; ++i) (void)plain_client.put("id" + std::to_string(i), cs);
    const double local_s = static_cast<double>(bench::now_ns() - t0) / 1e9;
    t0 = bench::now_ns();
    int failed = 0;
    for (int i = 0; i < ids; ++i) {
      const std::string id = "id" + std::to_string(i);
      if (!cluster.request("put", id, {{"id", id}, {"spec", spec}})) ++failed;
    }
    const double cluster_s = static_cast<double>(bench::now_ns() - t0) / 1e9;
    std::printf("put, %d ids one after another: one host %.0f/s, cluster %.0f/s (%d failed): "
                "cluster/one host time %.2fx\n",
                ids, ids / local_s, ids / cluster_s, failed, cluster_s / local_s);

    // Call latency, on an id of node 1.
    const auto on1 = running(names[1]);
    const std::string id = on1.begin()->first;
    auto owner_local = local(names[1]);
    std::vector<double> l, g_owner, g_other, via_client;
    const dynmgr::json::value get = "get";
    dynmgr::cluster::GatewayClient gw1({"127.0.0.1", static_cast<std::uint16_t>(ports[1])}, kToken,
                                       dynmgr::Millis(10'000));
    dynmgr::cluster::GatewayClient gw2({"127.0.0.1", static_cast<std::uint16_t>(ports[2])}, kToken,
                                       dynmgr::Millis(10'000));
    const dynmgr::json::object body{{"id", id}, {"message", get}};
    for (int round = 0; round < 2; ++round) {  // the first round warms up
      l.clear();
      g_owner.clear();
      g_other.clear();
      via_client.clear();
      for (int i = 0; i < calls; ++i) {
        std::uint64_t t = bench::now_ns();
        (void)owner_local.call(id, get);
        l.push_back(static_cast<double>(bench::now_ns() - t) / 1e6);
        t = bench::now_ns();
        (void)gw1.post("call", body);
        g_owner.push_back(static_cast<double>(bench::now_ns() - t) / 1e6);
        t = bench::now_ns();
        (void)gw2.post("call", body);
        g_other.push_back(static_cast<double>(bench::now_ns() - t) / 1e6);
        if (i % 4 == 0) {
          t = bench::now_ns();
          (void)cluster.request("call", id, body);
          via_client.push_back(static_cast<double>(bench::now_ns() - t) / 1e6);
        }
      }
    }
    const auto sl = bench::summarize(l);
    const auto so = bench::summarize(g_owner);
    const auto sf = bench::summarize(g_other);
    const auto sc = bench::summarize(via_client);
    bench::print("call, Client on the owner's instance (floor)", sl);
    bench::print("call, the owner's gateway", so);
    bench::print("call, another node's gateway (forwarded)", sf);
    bench::print("call, ClusterClient (etcd lookups + gateway)", sc);
    std::printf("call median / floor: owner's gateway %.2fx, forwarded %.2fx, ClusterClient %.2fx\n",
                so.median_ms / sl.median_ms, sf.median_ms / sl.median_ms,
                sc.median_ms / sl.median_ms);

    // Failover of node 0.
    const auto doomed = running(names[0]);
    pid_t sup = 0;
    {
      auto c = local(names[0]);
      sup = c.header().supervisor_pid;
    }
    const std::uint64_t k0 = bench::now_ns();
    ::kill(sup, SIGKILL);
    for (const auto& [w, pid] : doomed) ::kill(pid, SIGKILL);
    double took_ms = -1;
    for (int i = 0; i < 6000; ++i) {
      auto a = running(names[1]);
      auto b = running(names[2]);
      bool all = true;
      for (const auto& [w, pid] : doomed) all = all && (a.count(w) != 0 || b.count(w) != 0);
      if (all) {
        took_ms = static_cast<double>(bench::now_ns() - k0) / 1e6;
        break;
      }
      ::usleep(5000);  // polling interval of the measurement
    }
    std::printf("failover of %zu ids (SIGKILL of a node): %.0f ms, TTL %d s: %.2fx the TTL\n",
                doomed.size(), took_ms, ttl, took_ms / (ttl * 1000.0));
    if (took_ms < 0) rc = 1;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    bench::run({bench::bin_dir() + "/dynmgrctl", "-n", names[i], "--wait", "20000", "stop"});
    bench::run({bench::bin_dir() + "/dynmgrctl", "-n", names[i], "cleanup", names[i]});
    bench::run({"/bin/rm", "-rf", "/tmp/" + names[i] + ".state", "/tmp/" + names[i] + ".log"});
  }
  bench::run({bench::bin_dir() + "/dynmgrctl", "-n", plain, "--wait", "20000", "stop"});
  bench::run({"/bin/rm", "-rf", "/tmp/" + plain + ".state", "/tmp/" + plain + ".log", token_file});
  return rc;
}
