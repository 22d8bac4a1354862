#include "shared/pool.hpp"

#include <algorithm>

namespace dynmgr {
namespace {

// FNV-1a, 64 bit: stable across processes and runs (std::hash is not).
std::uint64_t fnv1a(std::string_view a, std::string_view b) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : a) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ 0xff) * 1099511628211ULL;
  for (unsigned char c : b) h = (h ^ c) * 1099511628211ULL;
  return h;
}

bool is_free(const SlotRecord& r) {
  return r.pool && r.status == WorkerStatus::kRunning && r.busy_since_ms == 0;
}

// A member whose process is gone for idleness: a call or cast starts it again.
bool is_passive(const SlotRecord& r) {
  return r.pool && (r.status == WorkerStatus::kPassive || r.status == WorkerStatus::kPassivating);
}

}  // namespace

Result<std::uint32_t> pick_worker(PoolStrategy strategy, const std::vector<SlotRecord>& workers,
                                  std::string_view message, std::uint64_t seed) {
  if (strategy == PoolStrategy::kNone) {
    return make_error(Errc::kNotPool, "this manager is not a pool");
  }
  if (strategy == PoolStrategy::kHashring) {
    // Rendezvous hashing: highest hash(worker id, message) wins; stable for a
    // message as long as the member set is unchanged, and only the messages of a
    // removed member move when it goes.
    const SlotRecord* best = nullptr;
    std::uint64_t best_h = 0;
    for (const auto& r : workers) {
      if (!r.pool || (r.status != WorkerStatus::kRunning && !is_passive(r))) continue;
      const std::uint64_t h = fnv1a(r.id, message);
      if (best == nullptr || h > best_h) {
        best = &r;
        best_h = h;
      }
    }
    if (best == nullptr) return make_error(Errc::kNoFreeWorker, "no pool worker is running");
    return best->slot;
  }
  std::vector<const SlotRecord*> free;
  for (const auto& r : workers) {
    if (is_free(r)) free.push_back(&r);
  }
  if (free.empty()) {
    // None free: a passive member is as good as free (the call activates it).
    for (const auto& r : workers) {
      if (is_passive(r)) free.push_back(&r);
    }
  }
  if (free.empty()) return make_error(Errc::kNoFreeWorker, "no free worker in the pool");
  if (strategy == PoolStrategy::kStream) {
    return (*std::min_element(free.begin(), free.end(), [](auto* a, auto* b) {
             return a->slot < b->slot;
           }))->slot;
  }
  return free[seed % free.size()]->slot;
}

}  // namespace dynmgr
