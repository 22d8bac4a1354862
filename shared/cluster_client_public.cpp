// dynmgr::ClusterClient (include/dynmgr/cluster_client.hpp) over the
// in-tree cluster::ClusterClient.
#include "dynmgr/cluster_client.hpp"

#include "shared/cluster_client.hpp"
#include "shared/json.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr {

struct ClusterClient::Impl {
  explicit Impl(cluster::ClusterClient::Options o) : client(std::move(o)) {}
  cluster::ClusterClient client;
  Millis timeout;
};

namespace {

Result<ClusterClient::Placed> placed(const Result<json::value>& r) {
  if (!r) return r.error();
  if (!r->is_object()) return make_error(Errc::kFailed, "a gateway's answer is not a worker");
  auto w = worker_from_json(r->as_object());
  if (!w) return w.error();
  auto node = get_string(r->as_object(), "node");
  return ClusterClient::Placed{std::move(*w), node ? std::string(*node) : std::string()};
}

}  // namespace

Result<ClusterClient> ClusterClient::connect(Options options) {
  auto etcd = parse_http_endpoints(options.etcd);
  if (!etcd) return etcd.error();
  if (auto st = cluster::validate_cluster_name(options.cluster, "cluster name"); !st) {
    return st.error();
  }
  if (options.token.empty()) return make_error(Errc::kInvalid, "no cluster token");
  cluster::ClusterClient::Options o;
  o.etcd = std::move(*etcd);
  o.cluster = std::move(options.cluster);
  o.token = std::move(options.token);
  o.timeout = options.timeout;
  auto impl = std::make_unique<Impl>(std::move(o));
  impl->timeout = options.timeout;
  return ClusterClient(std::move(impl));
}

ClusterClient::ClusterClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterClient::ClusterClient(ClusterClient&&) noexcept = default;
ClusterClient& ClusterClient::operator=(ClusterClient&&) noexcept = default;
ClusterClient::~ClusterClient() = default;

Result<ClusterClient::Placed> ClusterClient::put(std::string_view id, const ChildSpec& spec) {
  if (auto st = validate_id(id); !st) return st.error();
  json::object body{{"id", id}, {"spec", spec.to_json()}, {"timeout_ms", impl_->timeout.count()}};
  return placed(impl_->client.request("put", id, std::move(body)));
}

Result<ClusterClient::Placed> ClusterClient::put_new(std::string_view id, const ChildSpec& spec) {
  if (auto st = validate_id(id); !st) return st.error();
  json::object body{{"id", id}, {"spec", spec.to_json()}, {"new", true},
                    {"timeout_ms", impl_->timeout.count()}};
  return placed(impl_->client.request("put", id, std::move(body)));
}

Status ClusterClient::del(std::string_view id) {
  if (auto st = validate_id(id); !st) return st.error();
  auto r = impl_->client.request("del", id, {{"id", id}, {"timeout_ms", impl_->timeout.count()}});
  if (!r) return r.error();
  return {};
}

Result<ClusterClient::Placed> ClusterClient::get(std::string_view id) {
  if (auto st = validate_id(id); !st) return st.error();
  return placed(impl_->client.request("get", id, {{"id", id}, {"timeout_ms", impl_->timeout.count()}}));
}

Result<json::value> ClusterClient::call(std::string_view id, const json::value& message) {
  if (auto st = validate_id(id); !st) return st.error();
  return impl_->client.request(
      "call", id, {{"id", id}, {"message", message}, {"timeout_ms", impl_->timeout.count()}});
}

Status ClusterClient::cast(std::string_view id, const json::value& message) {
  if (auto st = validate_id(id); !st) return st.error();
  auto r = impl_->client.request(
      "cast", id, {{"id", id}, {"message", message}, {"timeout_ms", impl_->timeout.count()}});
  if (!r) return r.error();
  return {};
}

Result<std::vector<ClusterClient::Placed>> ClusterClient::state() {
  auto all = impl_->client.state();
  if (!all) return all.error();
  std::vector<Placed> out;
  for (const auto& w : *all) {
    auto p = placed(w);
    if (!p) return p.error();
    out.push_back(std::move(*p));
  }
  return out;
}

Result<std::vector<std::string>> ClusterClient::nodes() {
  auto n = impl_->client.nodes();
  if (!n) return n.error();
  std::vector<std::string> out;
  for (const auto& r : *n) out.push_back(r.name);
  return out;
}

}  // namespace dynmgr
