#pragma once
// What a node does next about ownership, decided from what it sees (pure: no
// etcd, no processes, no clock reads). The node's reconcile thread
// (cluster/node.cpp) reads etcd and the local registry into a View, asks
// plan(), and carries the Plan out; the claims themselves are etcd
// transactions, so two nodes that plan the same claim at once are harmless.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dynmgr::cluster {

using Clock = std::chrono::steady_clock;

struct View {
  std::string me;
  std::vector<std::string> live;                // registered nodes (me among them when registered)
  std::map<std::string, std::string> owners;    // id -> owner node, as etcd says
  std::set<std::string> mine;                   // ids this node holds a claim on (its own books)
  std::set<std::string> specs;                  // ids with a spec in etcd
  std::set<std::string> local;                  // ids in the local registry
  std::map<std::string, Clock::time_point> unowned_since;  // when each unowned id was first seen so
  Clock::time_point now{};
  // A node ranked r for an unowned id claims it once it has been unowned for
  // r * claim_step (rank 0 at once): the preferred owner first, the next
  // ones only if it does not.
  std::chrono::milliseconds claim_step{500};
  bool rebalance = false;   // hand ids over to a better-ranked live node
  bool may_claim = true;    // false while the node has no lease
};

struct Plan {
  std::vector<std::string> claim;      // unowned ids to claim here
  std::vector<std::string> start;      // ids owned here that do not run here
  std::vector<std::string> stop;       // ids that run here but are not owned here
  std::vector<std::string> hand_over;  // owned here, better placed elsewhere (at most one)
};

Plan plan(const View& view);

}  // namespace dynmgr::cluster
