#pragma once
// The cluster's layout in etcd and its placement rule (README "Cluster"),
// shared by the nodes (cluster/) and the clients (dynmgrctl --cluster):
//
//   /dynmgr/CLUSTER/nodes/NODE  = {"advertise":"HOST:PORT","capacity":N,"load":N}
//                                 under the node's lease
//   /dynmgr/CLUSTER/owner/ID    = NODE, under the owner's lease; its
//                                 mod_revision is the fencing token
//   /dynmgr/CLUSTER/specs/ID    = the spec (children-file form) with the last
//                                 checkpointed payload
//
// Placement is rendezvous hashing: every node ranks every live node for an id
// by the same hash, so all agree on who should own it without talking; the
// claim itself is an etcd transaction.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/error.hpp"

namespace dynmgr::cluster {

class Layout {
 public:
  explicit Layout(std::string_view cluster);
  const std::string& root() const noexcept { return root_; }  // "/dynmgr/CLUSTER/"
  std::string nodes_prefix() const { return root_ + "nodes/"; }
  std::string owners_prefix() const { return root_ + "owner/"; }
  std::string specs_prefix() const { return root_ + "specs/"; }
  std::string node_key(std::string_view node) const { return nodes_prefix() + std::string(node); }
  std::string owner_key(std::string_view id) const { return owners_prefix() + std::string(id); }
  std::string spec_key(std::string_view id) const { return specs_prefix() + std::string(id); }
  // The last part of key when it starts with prefix, else nullopt.
  static std::optional<std::string> name_after(std::string_view key, std::string_view prefix);

 private:
  std::string root_;
};

// A node as it registers itself.
struct NodeRecord {
  std::string name;
  std::string advertise;  // HOST:PORT of its gateway
  std::uint64_t capacity = 0;
  std::uint64_t load = 0;
  std::string to_json() const;  // without the name (it is the key)
  static Result<NodeRecord> from_json(std::string_view name, std::string_view text);
};

// A stable 64-bit score of (node, id); the same on every host and build.
std::uint64_t rendezvous_score(std::string_view node, std::string_view id);
// nodes ranked for id, best first (ties, which need equal scores, by name).
std::vector<std::string> rendezvous_order(std::string_view id, std::vector<std::string> nodes);
// Where me stands for id among nodes (0: the preferred owner); nodes.size()
// when me is not among them.
std::size_t rendezvous_rank(std::string_view id, const std::vector<std::string>& nodes,
                            std::string_view me);

// A node or cluster name: 1..64 bytes of [A-Za-z0-9._-], not starting with '.'.
Status validate_cluster_name(std::string_view name, std::string_view what);

}  // namespace dynmgr::cluster
