#pragma once
// Talking to a dynmgr cluster (README "Cluster") from outside a node:
// `dynmgrctl --cluster ...` and a node's gateway forwarding to another.
//
// The gateway's wire: POST /v1/VERB (put, del, get, call, cast, state,
// health) with a JSON body and `Authorization: Bearer TOKEN`; the answer is
// 200 with {"result": ...}, or an error status with {"error": NAME,
// "message": "..."} where NAME is errc_name's (not_found, exists, ...), so a
// client anywhere gets the exit code it would get on one host.
//
// ClusterClient reads the nodes and the id's owner from etcd and sends the
// request to the owner's gateway (an unowned id: to the node placement
// prefers); a gateway that is not the owner forwards it once. Not
// thread-safe: one per thread.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dynmgr/json.hpp"
#include "dynmgr/types.hpp"
#include "shared/cluster_layout.hpp"
#include "shared/error.hpp"
#include "shared/etcd.hpp"
#include "shared/http_client.hpp"

namespace dynmgr::cluster {

// The HTTP status an error is sent with, and the error a gateway's answer
// carries back (its own status when the body is not ours).
unsigned http_status_of(Errc code) noexcept;
std::string error_body(const Error& e);
Error error_of(const HttpResponse& r);

// One gateway.
class GatewayClient {
 public:
  GatewayClient(HttpEndpoint endpoint, std::string token, Millis timeout);
  // The answer's "result". Errors: the gateway's own (as its error names
  // them); kSystem when it cannot be reached (nothing was carried out only if
  // the connection was refused), kTimeout.
  Result<json::value> post(std::string_view verb, const json::object& body);
  void set_timeout(Millis t) { http_.set_timeout(t); }
  const HttpEndpoint& endpoint() const noexcept { return http_.endpoint(); }

 private:
  HttpClient http_;
  std::string token_;
};

// A token file's first line (whitespace trimmed). kInvalid when it cannot be
// read, is empty, or is readable by others than its owner.
Result<std::string> read_token_file(const std::string& path, std::string_view flag);

class ClusterClient {
 public:
  struct Options {
    std::vector<HttpEndpoint> etcd;
    std::string cluster;
    std::string token;
    Millis timeout{5000};  // per request (a call's own wait is added to it)
  };
  explicit ClusterClient(Options options);

  // The live nodes (registered under a lease), by name.
  Result<std::vector<NodeRecord>> nodes();
  // A verb about one id, sent where the id lives. body must hold "id".
  Result<json::value> request(std::string_view verb, std::string_view id, json::object body);
  // Every node's workers, each with its "node"; a node that cannot be
  // reached is an error (the list would be silently short).
  Result<json::array> state();

 private:
  Result<json::value> send_to(const std::string& node, std::string_view verb,
                              const json::object& body);
  Options options_;
  Layout layout_;
  etcd::Client etcd_;
  std::map<std::string, std::string> advertise_;  // node -> HOST:PORT, from the last nodes()
};

}  // namespace dynmgr::cluster
