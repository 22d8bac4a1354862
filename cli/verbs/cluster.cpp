// The verbs with --cluster (README "Cluster"): the same requests, sent to the
// gateway of the node that owns the id (shared/cluster_client.hpp), printed
// as on one host, with the node added.
#include <iomanip>
#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "dynmgr/child_spec.hpp"
#include "shared/names.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr::cli {

cluster::ClusterClient* Context::cluster(const std::string& what) {
  if (cluster_client) return &*cluster_client;
  auto etcd = parse_http_endpoints(cluster_urls);
  if (!etcd) {
    fail(what, make_error(Errc::kInvalid, "--cluster: " + etcd.error().message));
    return nullptr;
  }
  std::string name = cluster_name;
  if (name.empty()) name = instance.empty() ? default_instance_name() : instance;
  if (auto st = cluster::validate_cluster_name(name, "--cluster-name"); !st) {
    fail(what, st.error());
    return nullptr;
  }
  auto token = cluster::read_token_file(cluster_token_file, "--cluster-token-file");
  if (!token) {
    fail(what, token.error());
    return nullptr;
  }
  cluster::ClusterClient::Options o;
  o.etcd = std::move(*etcd);
  o.cluster = std::move(name);
  o.token = std::move(*token);
  o.timeout = Millis(wait_ms);
  cluster_client.emplace(std::move(o));
  return &*cluster_client;
}

namespace {

std::string node_of(const json::value& v) {
  if (!v.is_object()) return {};
  auto n = get_string(v.as_object(), "node");
  return n ? std::string(*n) : std::string();
}

json::object with_wait(Context& ctx, json::object body) {
  body["timeout_ms"] = ctx.wait_ms;
  return body;
}

}  // namespace

void cluster_put(Context& ctx, const std::string& verb, const std::string& id,
                 const ChildSpec& spec, bool only_new, bool passive) {
  const std::string what = verb + " '" + id + "'";
  auto* c = ctx.cluster(what);
  if (c == nullptr) return;
  json::object body{{"id", id}, {"spec", spec.to_json()}, {"new", only_new}, {"passive", passive}};
  auto r = c->request("put", id, with_wait(ctx, std::move(body)));
  if (!r) {
    ctx.fail(what, r.error());
    return;
  }
  if (ctx.json) {
    print_json(*r);
    return;
  }
  auto w = r->is_object() ? worker_from_json(r->as_object()) : Result<WorkerInfo>(make_error(Errc::kFailed, "no record"));
  if (!w) {
    print_json(*r);
    return;
  }
  std::cout << verb << " '" << w->id << "': " << to_string(w->status);
  if (w->pid != 0) std::cout << " (pid " << w->pid << ")";
  std::cout << " on '" << node_of(*r) << "'\n";
}

void cluster_del(Context& ctx, const std::string& id) {
  const std::string what = "del '" + id + "'";
  auto* c = ctx.cluster(what);
  if (c == nullptr) return;
  auto r = c->request("del", id, with_wait(ctx, json::object{{"id", id}}));
  if (!r) {
    ctx.fail(what, r.error());
    return;
  }
  if (ctx.json) {
    print_json(json::object{{"deleted", id}, {"node", r->is_object() ? json::value(node_of(*r)) : nullptr}});
  } else {
    std::cout << "deleted '" << id << "'\n";
  }
}

void cluster_get(Context& ctx, const std::string& id) {
  const std::string what = "get '" + id + "'";
  auto* c = ctx.cluster(what);
  if (c == nullptr) return;
  auto r = c->request("get", id, with_wait(ctx, json::object{{"id", id}}));
  if (!r) {
    ctx.fail(what, r.error());
    return;
  }
  if (ctx.json || !r->is_object()) {
    print_json(*r);
    return;
  }
  auto w = worker_from_json(r->as_object());
  if (!w) {
    print_json(*r);
    return;
  }
  std::cout << "node: " << node_of(*r) << '\n';
  print_record(*w);
}

void cluster_message(Context& ctx, const std::string& verb, const std::string& id,
                     const json::value& message) {
  const std::string what = verb + " '" + id + "'";
  auto* c = ctx.cluster(what);
  if (c == nullptr) return;
  auto r = c->request(verb, id, with_wait(ctx, json::object{{"id", id}, {"message", message}}));
  if (!r) {
    ctx.fail(what, r.error());
    return;
  }
  if (verb == "call") {
    print_json(*r);
  } else if (ctx.json) {
    print_json(json::object{{"accepted", true}});
  } else {
    std::cout << "accepted\n";
  }
}

void cluster_state(Context& ctx) {
  auto* c = ctx.cluster("state");
  if (c == nullptr) return;
  auto nodes = c->nodes();
  if (!nodes) {
    ctx.fail("state", nodes.error());
    return;
  }
  auto all = c->state();
  if (!all) {
    ctx.fail("state", all.error());
    return;
  }
  if (ctx.json) {
    json::array ns;
    for (const auto& n : *nodes) {
      ns.push_back(json::object{{"node", n.name}, {"advertise", n.advertise},
                                {"capacity", n.capacity}, {"load", n.load}});
    }
    print_json(json::object{{"nodes", std::move(ns)}, {"workers", std::move(*all)}});
    return;
  }
  std::cout << "cluster: " << nodes->size() << " node(s)";
  for (const auto& n : *nodes) std::cout << "  " << n.name << " (" << n.advertise << ")";
  std::cout << "\n";
  std::cout << std::left << std::setw(24) << "ID" << std::setw(16) << "NODE" << std::setw(12)
            << "STATUS" << std::setw(9) << "PID" << "PAYLOAD\n";
  for (const auto& v : *all) {
    if (!v.is_object()) continue;
    auto w = worker_from_json(v.as_object());
    if (!w) continue;
    std::string payload = w->payload;
    if (payload.size() > 40) payload = payload.substr(0, 39) + "…";
    std::cout << std::left << std::setw(24) << w->id << std::setw(16) << node_of(v)
              << std::setw(12) << display_status(*w) << std::setw(9) << w->pid << payload << "\n";
  }
}

void cluster_ping(Context& ctx) {
  auto* c = ctx.cluster("ping");
  if (c == nullptr) return;
  auto nodes = c->nodes();
  if (!nodes) {
    ctx.fail("ping", nodes.error());
    return;
  }
  if (nodes->empty()) {
    ctx.fail("ping", Errc::kNoSupervisor, "no node of the cluster is registered");
    return;
  }
  if (ctx.json) {
    json::array ns;
    for (const auto& n : *nodes) ns.push_back(json::object{{"node", n.name}, {"advertise", n.advertise}});
    print_json(json::object{{"nodes", std::move(ns)}});
    return;
  }
  std::cout << "pong: " << nodes->size() << " node(s):";
  for (const auto& n : *nodes) std::cout << ' ' << n.name << " (" << n.advertise << ")";
  std::cout << '\n';
}

}  // namespace dynmgr::cli
