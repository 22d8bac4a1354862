#include "cluster/plan.hpp"

#include "shared/cluster_layout.hpp"

namespace dynmgr::cluster {

Plan plan(const View& v) {
  Plan p;
  for (const auto& id : v.specs) {
    const auto owner = v.owners.find(id);
    if (owner != v.owners.end() || v.mine.count(id) != 0) continue;
    if (!v.may_claim) continue;
    const std::size_t rank = rendezvous_rank(id, v.live, v.me);
    if (rank >= v.live.size()) continue;  // not registered: no claims
    if (rank == 0) {
      p.claim.push_back(id);
      continue;
    }
    const auto since = v.unowned_since.find(id);
    if (since != v.unowned_since.end() &&
        v.now - since->second >= v.claim_step * static_cast<int>(rank)) {
      p.claim.push_back(id);
    }
  }
  for (const auto& id : v.mine) {
    if (v.local.count(id) == 0 && v.specs.count(id) != 0) p.start.push_back(id);
  }
  const std::set<std::string> claiming(p.claim.begin(), p.claim.end());
  for (const auto& id : v.local) {
    // Claimed now: it keeps running here.
    if (v.mine.count(id) != 0 || claiming.count(id) != 0) continue;
    const auto owner = v.owners.find(id);
    // Another owner, no spec any more, or no owner and no claim of ours:
    // running it here could make it run twice.
    if (owner == v.owners.end() || owner->second != v.me || v.specs.count(id) == 0) {
      p.stop.push_back(id);
    }
  }
  if (v.rebalance && v.live.size() > 1) {
    for (const auto& id : v.mine) {
      if (v.local.count(id) == 0) continue;
      const std::size_t rank = rendezvous_rank(id, v.live, v.me);
      if (rank != 0 && rank < v.live.size()) {
        p.hand_over.push_back(id);
        break;
      }
    }
  }
  return p;
}

}  // namespace dynmgr::cluster
