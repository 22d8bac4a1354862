#pragma once
// A dynmgrd node of a cluster (README "Cluster"): threads beside the
// supervisor's loop, in its process, that never touch the loop's state. They
// talk to the local supervisor as any client does (dynmgr::Client) and to
// etcd (shared/etcd.hpp):
//
//  * the lease thread holds the node's lease (granted, or taken over from the
//    lease file a predecessor left), renews it every TTL/4, registers the
//    node under it, and decides what happens when etcd cannot be reached:
//    if a peer still reaches etcd (or no peer answers) this node is cut off,
//    and it stops every local worker before its lease can expire (it is
//    "fenced"); if no peer reaches etcd either, etcd is down for everyone, and
//    the node goes on serving its ids, refusing ownership changes (an
//    "outage"), until etcd is back;
//  * the reconcile thread reads the nodes, owners and specs from etcd four
//    times a second, claims ids by placement (cluster/plan.hpp), starts the
//    ids it owns, stops the ones it does not, and checkpoints changed
//    payloads under the owner key's revision (the fence);
//  * the gateway (cluster/gateway.cpp) serves put/del/get/call/cast/state to
//    clients and other nodes over HTTP/1.1, a thread per connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dynmgr/types.hpp"
#include "shared/error.hpp"
#include "shared/http_client.hpp"

namespace dynmgr::cluster {

struct NodeOptions {
  std::string instance;                  // the local supervisor's instance name
  std::string cluster;                   // --cluster-name
  std::string node;                      // --node
  std::vector<HttpEndpoint> etcd;        // --cluster
  HttpEndpoint advertise;                // --advertise: the gateway listens here
  std::string token;                     // --cluster-token-file's token
  std::chrono::seconds ttl{5};           // --cluster-ttl
  Millis checkpoint_interval{1000};      // --checkpoint-interval
  bool rebalance = false;                // --rebalance
  bool sync = false;                     // --durability sync: a call checkpoints before its reply
  std::string lease_file;                // STATE_DIR/cluster.lease, or "" (no state dir)
  std::uint64_t capacity = 0;            // --max-workers
};

class Node {
 public:
  // Binds the gateway and starts the threads. kSystem when the address cannot
  // be bound. The threads wait for the local supervisor to be up.
  static Result<std::unique_ptr<Node>> start(NodeOptions options);
  // Stops the threads; with release, revokes the lease, so the other nodes
  // take the ids over at once (a clean stop, once the workers are gone).
  void stop(bool release);
  ~Node();  // stop(false)
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynmgr::cluster
