#include "shared/cluster_client.hpp"

#include <sys/stat.h>

#include <fstream>

#include "shared/json.hpp"

namespace dynmgr::cluster {

unsigned http_status_of(Errc code) noexcept {
  switch (code) {
    case Errc::kInvalid: return 400;
    case Errc::kNotFound: return 404;
    case Errc::kExists: return 409;
    case Errc::kTooLarge: return 413;
    case Errc::kTimeout: return 504;
    case Errc::kNoSupervisor: return 503;
    default: return 500;
  }
}

std::string error_body(const Error& e) {
  json::object o;
  o["error"] = std::string(errc_name(e.code));
  o["message"] = e.message;
  return to_json(o);
}

Error error_of(const HttpResponse& r) {
  if (auto v = parse_json(r.body, "a gateway's answer"); v && v->is_object()) {
    const auto& o = v->as_object();
    auto name = get_string(o, "error");
    auto message = get_string(o, "message");
    if (name && message) {
      for (int c = static_cast<int>(Errc::kFailed); c <= static_cast<int>(Errc::kSystem); ++c) {
        if (errc_name(static_cast<Errc>(c)) == *name) {
          return make_error(static_cast<Errc>(c), std::string(*message));
        }
      }
      return make_error(Errc::kFailed, std::string(*message));
    }
  }
  const Errc code = r.status == 401 || r.status == 403 ? Errc::kInvalid : Errc::kFailed;
  return make_error(code, "the gateway answered " + std::to_string(r.status) + ": " +
                              r.body.substr(0, 200));
}

GatewayClient::GatewayClient(HttpEndpoint endpoint, std::string token, Millis timeout)
    : http_(std::move(endpoint), timeout), token_(std::move(token)) {}

Result<json::value> GatewayClient::post(std::string_view verb, const json::object& body) {
  auto r = http_.request("POST", "/v1/" + std::string(verb), to_json(body), token_);
  if (!r) return r.error();
  if (r->status != 200) return error_of(*r);
  auto v = parse_json(r->body, "a gateway's answer");
  if (!v) return v.error();
  if (!v->is_object() || get_field(v->as_object(), "result") == nullptr) {
    return make_error(Errc::kFailed, "a gateway's answer has no result: " + r->body.substr(0, 200));
  }
  return v->as_object().at("result");
}

Result<std::string> read_token_file(const std::string& path, std::string_view flag) {
  const std::string what = "invalid " + std::string(flag) + " '" + path + "'";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(Errc::kInvalid, what + ": cannot read it");
  if ((st.st_mode & 077) != 0) {
    return make_error(Errc::kInvalid, what + ": readable by others (chmod 600 it)");
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return make_error(Errc::kInvalid, what + ": empty");
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos) return make_error(Errc::kInvalid, what + ": empty first line");
  return line.substr(first, last - first + 1);
}

ClusterClient::ClusterClient(Options options)
    : options_(std::move(options)),
      layout_(options_.cluster),
      etcd_(etcd::Client::Options{options_.etcd, Millis(std::min<long>(2000, options_.timeout.count()))}) {}

Result<std::vector<NodeRecord>> ClusterClient::nodes() {
  const std::string prefix = layout_.nodes_prefix();
  auto r = etcd_.range(prefix, {etcd::prefix_end(prefix)});
  if (!r) return r.error();
  std::vector<NodeRecord> out;
  advertise_.clear();
  for (const auto& kv : r->kvs) {
    auto name = Layout::name_after(kv.key, prefix);
    if (!name) continue;
    auto rec = NodeRecord::from_json(*name, kv.value);
    if (!rec) continue;
    advertise_[rec->name] = rec->advertise;
    out.push_back(std::move(*rec));
  }
  return out;
}

Result<json::value> ClusterClient::send_to(const std::string& node, std::string_view verb,
                                           const json::object& body) {
  const auto at = advertise_.find(node);
  if (at == advertise_.end()) {
    return make_error(Errc::kFailed, "node '" + node + "' is not registered");
  }
  auto e = parse_http_endpoint(at->second);
  if (!e) return e.error();
  Millis wait = options_.timeout;
  if (auto t = get_int(body, "timeout_ms"); t && *t > 0) wait += Millis(*t);
  GatewayClient g(*e, options_.token, wait);
  return g.post(verb, body);
}

Result<json::value> ClusterClient::request(std::string_view verb, std::string_view id,
                                           json::object body) {
  auto live = nodes();
  if (!live) return live.error();
  if (live->empty()) return make_error(Errc::kNoSupervisor, "no node of cluster '" + options_.cluster + "' is up");
  auto owner = etcd_.range(layout_.owner_key(id));
  if (!owner) return owner.error();
  std::vector<std::string> names;
  for (const auto& n : *live) names.push_back(n.name);
  std::vector<std::string> order;
  if (!owner->kvs.empty() && advertise_.count(owner->kvs.front().value) != 0) {
    order.push_back(owner->kvs.front().value);
  }
  for (auto& n : rendezvous_order(id, names)) {
    if (order.empty() || n != order.front()) order.push_back(std::move(n));
  }
  // The owner (or the preferred node); a node that cannot be reached is
  // skipped, and the next one forwards where the id lives.
  Error last = make_error(Errc::kNoSupervisor, "no node answered");
  for (const auto& node : order) {
    auto r = send_to(node, verb, body);
    if (r || r.error().code != Errc::kSystem) return r;
    last = r.error();
  }
  return last;
}

Result<json::array> ClusterClient::state() {
  auto live = nodes();
  if (!live) return live.error();
  json::array all;
  for (const auto& n : *live) {
    auto r = send_to(n.name, "state", json::object{});
    if (!r) return make_error(r.error().code, "node '" + n.name + "': " + r.error().message);
    if (!r->is_array()) return make_error(Errc::kFailed, "node '" + n.name + "': bad state answer");
    for (auto& w : r->as_array()) all.push_back(std::move(w));
  }
  return all;
}

}  // namespace dynmgr::cluster
