// The pure ownership planner (cluster/plan.hpp), row by row: what a node
// claims, starts, stops and hands over for what it sees. No etcd, no clock
// reads: time is View::now and View::unowned_since.

#include "cluster/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/cluster_layout.hpp"

namespace dynmgr::cluster {
namespace {

using namespace std::chrono_literals;
using Ids = std::vector<std::string>;

const std::vector<std::string> kLive = {"n1", "n2", "n3"};
constexpr const char* kId = "w1";

// The live node ranked `rank` for id.
std::string ranked(std::size_t rank, const std::string& id = kId,
                   const std::vector<std::string>& live = kLive) {
  return rendezvous_order(id, live).at(rank);
}

// A fixed instant: plan() never reads the clock.
const Clock::time_point kNow = Clock::time_point{} + 1h;

// What node me (of kLive) sees when kId has a spec and no owner yet, first
// seen unowned `unowned_for` ago.
View unowned_view(const std::string& me, std::optional<Clock::duration> unowned_for) {
  View v;
  v.me = me;
  v.live = kLive;
  v.specs = {kId};
  v.now = kNow;
  if (unowned_for) v.unowned_since[kId] = kNow - *unowned_for;
  return v;
}

// What node me sees about kId, owned by owner (empty: no owner), with a
// spec or not, running here or not, and in its books or not.
View owned_view(const std::string& me, const std::string& owner, bool spec, bool local,
                bool mine) {
  View v;
  v.me = me;
  v.live = kLive;
  v.now = kNow;
  if (!owner.empty()) v.owners[kId] = owner;
  if (spec) v.specs.insert(kId);
  if (local) v.local.insert(kId);
  if (mine) v.mine.insert(kId);
  return v;
}

// One row: a view and the plan expected for it (unnamed parts: nothing).
struct Row {
  Row(std::string n, std::function<View()> v, Ids c = {}, Ids s = {}, Ids x = {}, Ids h = {})
      : name(std::move(n)),
        view(std::move(v)),
        claim(std::move(c)),
        start(std::move(s)),
        stop(std::move(x)),
        hand_over(std::move(h)) {}
  std::string name;
  std::function<View()> view;
  Ids claim, start, stop, hand_over;
};

void check(const Row& row) {
  SCOPED_TRACE(row.name);
  const Plan p = plan(row.view());
  EXPECT_EQ(p.claim, row.claim);
  EXPECT_EQ(p.start, row.start);
  EXPECT_EQ(p.stop, row.stop);
  EXPECT_EQ(p.hand_over, row.hand_over);
}

TEST(PlanTest, Claims) {
  const Ids w = {kId};
  const std::vector<Row> rows = {
      {"rank 0 claims an unowned id at once", [] { return unowned_view(ranked(0), 0ms); }, w},
      {"rank 0 claims even before unowned_since is recorded",
       [] { return unowned_view(ranked(0), std::nullopt); }, w},
      {"rank 1 waits: unowned for less than one claim_step",
       [] { return unowned_view(ranked(1), 499ms); }},
      {"rank 1 claims after one claim_step", [] { return unowned_view(ranked(1), 500ms); }, w},
      {"rank 1 claims after more than one claim_step",
       [] { return unowned_view(ranked(1), 10s); }, w},
      {"rank 1 never claims an id it has no unowned_since for",
       [] { return unowned_view(ranked(1), std::nullopt); }},
      {"rank 2 waits two claim_steps", [] { return unowned_view(ranked(2), 999ms); }},
      {"rank 2 claims after two claim_steps", [] { return unowned_view(ranked(2), 1000ms); }, w},
      {"claim_step is the view's",
       [] {
         auto v = unowned_view(ranked(1), 1500ms);
         v.claim_step = 2s;
         return v;
       }},
      {"claim_step is the view's (passed)",
       [] {
         auto v = unowned_view(ranked(1), 2s);
         v.claim_step = 2s;
         return v;
       },
       w},
      {"a node not among the live ones claims nothing",
       [] { return unowned_view("stranger", 1h); }},
      {"a node with no live node at all claims nothing",
       [] {
         auto v = unowned_view("n1", 1h);
         v.live.clear();
         return v;
       }},
      {"may_claim=false claims nothing, even at rank 0",
       [] {
         auto v = unowned_view(ranked(0), 1h);
         v.may_claim = false;
         return v;
       }},
      {"an owned id is not claimed, even by rank 0",
       [] {
         auto v = unowned_view(ranked(0), 1h);
         v.owners[kId] = ranked(1);
         return v;
       }},
      {"an id in this node's books is not claimed again",
       [] {
         auto v = unowned_view(ranked(0), 1h);
         v.mine.insert(kId);
         v.local.insert(kId);
         return v;
       }},
      {"an id without a spec is not claimed",
       [] {
         auto v = unowned_view(ranked(0), 1h);
         v.specs.clear();
         return v;
       }},
  };
  for (const auto& row : rows) check(row);
}

TEST(PlanTest, StartsAndStops) {
  const Ids w = {kId};
  const std::string me = "n1";
  const std::string other = "n2";
  const std::vector<Row> rows = {
      // owner, spec, local, mine
      {"owned here, not running: start", [&] { return owned_view(me, me, true, false, true); },
       {}, w},
      {"owned here, not running, no spec: nothing to start it from",
       [&] { return owned_view(me, me, false, false, true); }},
      {"owned here and running: nothing", [&] { return owned_view(me, me, true, true, true); }},
      {"running here, owned elsewhere: stop",
       [&] { return owned_view(me, other, true, true, false); }, {}, {}, w},
      {"running here, no spec (deleted): stop",
       [&] { return owned_view(me, other, false, true, false); }, {}, {}, w},
      {"running here, no spec and no owner: stop",
       [&] { return owned_view(me, "", false, true, false); }, {}, {}, w},
      {"running here, unowned and not mine: stop",
       [&] {
         // A node that would not claim it now (rank 1, just seen unowned).
         auto v = owned_view(ranked(1), "", true, true, false);
         v.unowned_since[kId] = kNow;
         return v;
       },
       {}, {}, w},
      {"not running here, owned elsewhere: nothing",
       [&] { return owned_view(me, other, true, false, false); }},
      {"nothing anywhere: nothing", [&] { return owned_view(me, "", false, false, false); }},
  };
  for (const auto& row : rows) check(row);
}

TEST(PlanTest, ManyIdsAtOnce) {
  View v;
  v.me = "n1";
  v.live = kLive;
  v.now = kNow;
  v.specs = {"a", "b", "c"};
  v.owners = {{"a", "n1"}, {"b", "n2"}, {"gone", "n1"}};
  v.mine = {"a", "gone"};
  v.local = {"b", "gone", "orphan"};
  const Plan p = plan(v);
  EXPECT_EQ(p.start, Ids{"a"});
  // "gone" is in the books but its spec was deleted: not started, not stopped
  // (the node releases it through its own path, not the planner's).
  EXPECT_EQ(p.stop, (Ids{"b", "orphan"}));
  EXPECT_TRUE(p.hand_over.empty());
  // "c" is unowned: claimed only if n1 is its preferred node.
  EXPECT_EQ(p.claim, rendezvous_rank("c", kLive, "n1") == 0 ? Ids{"c"} : Ids{});
}

// Ids of the form "w<k>" for which me is (or is not) the preferred node of live.
Ids ids_where(const std::string& me, bool preferred, std::size_t n,
              const std::vector<std::string>& live = kLive) {
  Ids out;
  for (int k = 0; out.size() < n && k < 10000; ++k) {
    const std::string id = "w" + std::to_string(k);
    if ((rendezvous_rank(id, live, me) == 0) == preferred) out.push_back(id);
  }
  return out;
}

// me holds and runs every id of ids.
View holding(const std::string& me, const Ids& ids, bool rebalance) {
  View v;
  v.me = me;
  v.live = kLive;
  v.now = kNow;
  v.rebalance = rebalance;
  for (const auto& id : ids) {
    v.owners[id] = me;
    v.specs.insert(id);
    v.mine.insert(id);
    v.local.insert(id);
  }
  return v;
}

TEST(PlanTest, RebalanceHandsOverAtMostOneBetterPlacedId) {
  const Ids elsewhere = ids_where("n1", false, 4);
  const Ids here = ids_where("n1", true, 4);
  ASSERT_EQ(elsewhere.size(), 4u);
  ASSERT_EQ(here.size(), 4u);
  Ids all = elsewhere;
  all.insert(all.end(), here.begin(), here.end());

  // Off: nothing moves.
  Plan p = plan(holding("n1", all, /*rebalance=*/false));
  EXPECT_TRUE(p.hand_over.empty());
  EXPECT_TRUE(p.claim.empty() && p.start.empty() && p.stop.empty());

  // On: one id, one better placed elsewhere, per round.
  p = plan(holding("n1", all, /*rebalance=*/true));
  ASSERT_EQ(p.hand_over.size(), 1u);
  EXPECT_NE(std::find(elsewhere.begin(), elsewhere.end(), p.hand_over[0]), elsewhere.end())
      << p.hand_over[0];
  EXPECT_TRUE(p.claim.empty() && p.start.empty() && p.stop.empty());

  // On, but this node is the preferred one for everything it holds.
  p = plan(holding("n1", here, /*rebalance=*/true));
  EXPECT_TRUE(p.hand_over.empty());

  // On, but no other live node to hand to.
  View alone = holding("n1", elsewhere, /*rebalance=*/true);
  alone.live = {"n1"};
  EXPECT_TRUE(plan(alone).hand_over.empty());

  // The better placed node left: with it gone this node is preferred again.
  const std::string better = rendezvous_order(elsewhere[0], kLive)[0];
  View left = holding("n1", {elsewhere[0]}, /*rebalance=*/true);
  std::erase(left.live, better);
  EXPECT_EQ(plan(left).hand_over.empty(),
            rendezvous_rank(elsewhere[0], left.live, "n1") == 0);

  // Held but not running here: it is started, not handed over.
  View stopped = holding("n1", {elsewhere[0]}, /*rebalance=*/true);
  stopped.local.clear();
  p = plan(stopped);
  EXPECT_TRUE(p.hand_over.empty());
  EXPECT_EQ(p.start, Ids{elsewhere[0]});
}

}  // namespace
}  // namespace dynmgr::cluster
