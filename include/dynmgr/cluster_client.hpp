#pragma once
// dynmgr::ClusterClient — dynmgr::Client's cluster form (README "Cluster"):
// the same verbs for a cluster of dynmgr nodes over etcd, each request sent
// to the gateway of the node that owns the id (read from etcd; a node that
// is not the owner forwards it once).
//
// Errors are Client's (same codes, same exit codes), plus: kSystem "etcd
// unreachable (...)" when no etcd endpoint answered; kNoSupervisor when no
// node is registered; kFailed "etcd is unreachable from node ...: ownership
// changes are refused" for put/put_new/del during an etcd outage; kInvalid
// for a gateway that refused the token. Not thread-safe: one per thread.

#include "dynmgr/child_spec.hpp"
#include "dynmgr/error.hpp"
#include "dynmgr/json.hpp"
#include "dynmgr/types.hpp"
#include "dynmgr/worker_info.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr {

class ClusterClient {
 public:
  struct Options {
    std::string etcd;     // etcd's client URLs: "http://HOST:PORT[,...]"
    std::string cluster;  // the nodes' --cluster-name
    std::string token;    // the nodes' token (--cluster-token-file's first line)
    Millis timeout{10'000};
  };
  // Never talks to anyone. Errors: kInvalid (a bad URL or cluster name, no token).
  static Result<ClusterClient> connect(Options options);

  ClusterClient(ClusterClient&&) noexcept;
  ClusterClient& operator=(ClusterClient&&) noexcept;
  ~ClusterClient();

  // A worker and the node it runs on.
  struct Placed {
    WorkerInfo worker;
    std::string node;
  };
  // As Client's; put_new's kExists is cluster-wide.
  Result<Placed> put(std::string_view id, const ChildSpec& spec);
  Result<Placed> put_new(std::string_view id, const ChildSpec& spec);
  Status del(std::string_view id);
  Result<Placed> get(std::string_view id);
  Result<json::value> call(std::string_view id, const json::value& message);
  Status cast(std::string_view id, const json::value& message);
  // Every node's workers. A node that does not answer is an error.
  Result<std::vector<Placed>> state();
  // The registered nodes' names.
  Result<std::vector<std::string>> nodes();

 private:
  struct Impl;
  explicit ClusterClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynmgr
