// Containment (README "Containment"): the cgroup v2 leaf of each worker, or
// the worker as a child subreaper where no leaf can be made. The worker enters
// its leaf itself (worker/containment.cpp); the supervisor chooses the mode,
// kills a leaf whole when it reaps the leaf's worker, and removes what a
// predecessor or a clean stop leaves.
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "shared/cgroup.hpp"
#include "shared/log.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

constexpr std::uint64_t kLeafRetryFirstMs = 5;
constexpr std::uint64_t kLeafRetryMaxMs = 1000;
// A clean stop waits this long for the last leaves to empty.
constexpr auto kLeafStopWait = std::chrono::milliseconds(2000);

bool is_directory(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Status Supervisor::Loop::choose_containment() {
  const auto want = opt_.containment;
  std::string why_not;
  if (want == ContainmentWanted::kAuto || want == ContainmentWanted::kCgroup) {
    auto dir = cgroup::prepare_instance(names_.instance());
    if (dir) {
      containment_ = Containment::kCgroup;
      leaf_root_ = *dir;
      log_info("containment: cgroup (a leaf per worker under " + *dir + ")");
      if (!cgroup::favors_dynamic_moves()) {
        log_info(
            "containment: cgroup2 is mounted without favordynmods: a worker started after a "
            "quiet spell waits for an RCU grace period (about 10-20 ms) to enter its leaf; "
            "`mount -o remount,favordynmods` on the cgroup2 mount removes that wait (README "
            "\"Containment\")");
      }
      return {};
    }
    if (want == ContainmentWanted::kCgroup) {
      return make_error(Errc::kFailed, "--containment cgroup: " + dir.error().message);
    }
    why_not = dir.error().message;
  }
  if (want == ContainmentWanted::kNone) {
    containment_ = Containment::kNone;
    log_info("containment: none (a worker's leftovers outside its process group survive it)");
  } else {
    containment_ = Containment::kSubreaper;
    log_info("containment: subreaper" + (why_not.empty() ? std::string() : " (" + why_not + ")"));
  }
  // A predecessor in cgroup mode may have left leaves: their workers' leaves
  // are still ended when they are reaped, and the empty ones removed.
  if (auto own = cgroup::own_directory()) {
    const std::string dir = *own + "/dynmgr." + names_.instance();
    if (is_directory(dir)) leaf_root_ = dir;
  }
  return {};
}

std::string Supervisor::Loop::worker_containment() const {
  switch (containment_) {
    case Containment::kCgroup:
      return "cgroup:" + leaf_root_;
    case Containment::kSubreaper:
      return "subreaper";
    default:
      return "none";
  }
}

// The worker `pid` of `slot` was reaped (or, adopted, seen to exit): whatever
// is left in its leaf dies with it.
void Supervisor::Loop::end_leaf(std::optional<std::uint32_t> slot, pid_t pid) {
  if (leaf_root_.empty()) return;
  std::string leaf;
  if (slot) {
    leaf = cgroup::leaf_path(leaf_root_, *slot, pid);
  } else {
    for (const auto& n : cgroup::list_leaves(leaf_root_)) {
      std::uint32_t s = 0;
      pid_t p = 0;
      if (cgroup::parse_leaf_name(n, s, p) && p == pid) leaf = leaf_root_ + "/" + n;
    }
    if (leaf.empty()) return;
  }
  auto done = cgroup::kill_leaf(leaf);
  if (!done) {
    log_error("unable to end the cgroup of worker pid " + std::to_string(pid) + ": " +
              done.error().message);
    return;
  }
  if (*done) return;
  // Killed, still dying: rmdir succeeds once the kernel has let them go.
  if (dying_leaves_.empty()) {
    leaf_retries_ = 0;
    timers_.arm(kLeafRetryFirstMs, Timer{Timer::Kind::kLeafRetry});
  }
  dying_leaves_.push_back(std::move(leaf));
}

void Supervisor::Loop::retry_leaves() {
  std::vector<std::string> busy;
  for (auto& leaf : dying_leaves_) {
    auto done = cgroup::kill_leaf(leaf);
    if (!done) {
      log_error("unable to end cgroup " + leaf + ": " + done.error().message);
    } else if (!*done) {
      busy.push_back(std::move(leaf));
    }
  }
  dying_leaves_ = std::move(busy);
  if (dying_leaves_.empty()) return;
  ++leaf_retries_;
  if (leaf_retries_ == 200) {
    log_warn(std::to_string(dying_leaves_.size()) +
             " killed cgroup leaf(s) are still not empty, e.g. " + dying_leaves_.front());
  }
  const std::uint64_t delay =
      std::min(kLeafRetryMaxMs, kLeafRetryFirstMs << std::min<std::uint32_t>(leaf_retries_, 8));
  timers_.arm(delay, Timer{Timer::Kind::kLeafRetry});
}

// At start: every leaf that belongs to no live worker is a leftover (its
// worker died while no supervisor ran, or a probe of a crashed start): killed
// and removed. Adopting, the live adopted workers' leaves are kept.
void Supervisor::Loop::sweep_leaves(bool adopting) {
  if (leaf_root_.empty()) return;
  std::set<std::string> live;
  if (adopting) {
    for (const auto& [slot, e] : fleet_.awake()) {
      if (e.rec.pid > 0) live.insert(std::to_string(slot) + "." + std::to_string(e.rec.pid));
    }
  }
  std::uint32_t ended = 0;
  for (const auto& n : cgroup::list_leaves(leaf_root_)) {
    if (live.count(n) != 0) continue;
    if (n.rfind("probe.", 0) == 0 && n == "probe." + std::to_string(::getpid())) continue;
    ++ended;
    auto done = cgroup::kill_leaf(leaf_root_ + "/" + n);
    if (done && !*done) {
      if (dying_leaves_.empty()) {
        leaf_retries_ = 0;
        timers_.arm(kLeafRetryFirstMs, Timer{Timer::Kind::kLeafRetry});
      }
      dying_leaves_.push_back(leaf_root_ + "/" + n);
    }
  }
  if (ended != 0) {
    log_info("ended " + std::to_string(ended) + " leftover cgroup leaf(s) under " + leaf_root_);
  }
}

// A clean stop: every worker is gone, so is every leaf; then the instance's
// directory. Waits (for a condition, bounded) for leaves still emptying.
void Supervisor::Loop::remove_leaves() {
  if (leaf_root_.empty()) return;
  const Deadline deadline = Deadline::after(kLeafStopWait);
  for (const auto& n : cgroup::list_leaves(leaf_root_)) {
    const std::string leaf = leaf_root_ + "/" + n;
    if (!cgroup::kill_leaf_and_wait(leaf, deadline)) {
      log_warn("cgroup " + leaf + " is not empty yet; it is left behind");
    }
  }
  dying_leaves_.clear();
  if (auto st = cgroup::remove_instance(leaf_root_); !st) log_warn(st.error().message);
}

}  // namespace dynmgr
