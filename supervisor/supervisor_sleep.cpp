// Sleeping passive ids (README "What an id costs"): a passive id with nothing
// pending keeps no Entry in the supervisor, only its slot and id in the
// Fleet; the registry slot and the state database hold the rest. The first
// thing that asks for it (a call's activation, a del, a put over it, a get)
// wakes it: the Entry is rebuilt from the slot exactly as adoption rebuilds
// one. This is what keeps the supervisor's own memory small with a million
// passive ids (BENCHMARKS.md, "a million ids").

#include <malloc.h>

#include <algorithm>

#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {

namespace lc = lifecycle;

constexpr std::uint64_t kUnmapAfterMs = 1000;

ChildSpec spec_of(const SlotRecord& r) {
  ChildSpec s;
  if (auto p = parse_json(r.payload, "payload")) s.payload = std::move(*p);
  s.timeout_ms = r.timeout_ms;
  s.lull = r.lull;
  s.instant_perform = r.instant_perform;
  s.restart = r.restart;
  s.max_restarts = r.max_restarts;
  s.within_ms = r.within_ms;
  s.on_overrun = r.on_overrun;
  s.max_memory = r.max_memory;
  s.rlimits = r.rlimit_values;
  s.user = r.user;
  s.group = r.group;
  s.passivate_after_ms = r.passivate_after_ms;
  if (!r.options.empty()) {
    if (auto o = parse_json(r.options, "options"); o && o->is_object()) s.options = o->as_object();
  }
  return s;
}

// Passive with nothing the Entry alone would remember: no timer (no perform
// is due: timeout 0), no waiter, no replacement, no mailbox, its passive
// status stored, its published counters current, and no restart inside its
// intensity window (the window starts afresh when it wakes).
bool Supervisor::Loop::can_sleep(const Entry& e, std::uint64_t now_ms) const {
  const lc::WorkerState& s = e.life;
  if (s.phase != lc::Phase::kPassive || e.rec.status != WorkerStatus::kPassive) return false;
  if (e.spec.timeout_ms != 0 || s.perform_due_ms != 0) return false;
  if (e.mailbox_live || !e.stored_passive || e.rec.pid != 0) return false;
  if (!s.ready_waiters.empty() || !s.exit_waiters.empty() || !s.activate_waiters.empty()) {
    return false;
  }
  if (s.replacement || s.killed_for || boot_slots_.count(e.rec.slot) != 0) return false;
  if (s.restarts != e.rec.restarts || s.passivations != e.rec.passivations) return false;
  if (s.history.consecutive != 0) return false;
  if (!s.history.recent_ms.empty() && s.history.recent_ms.back() + s.limits.window_ms > now_ms) {
    return false;
  }
  return true;
}

std::optional<Entry> Supervisor::Loop::wake(std::uint32_t slot) {
  auto rec = reg_->read(slot);
  if (!rec) {
    log_error("unable to wake the passive id in slot " + std::to_string(slot) + ": " +
              rec.error().message);
    return std::nullopt;
  }
  Entry e;
  e.id = rec->id;
  e.rec = std::move(*rec);
  e.spec = spec_of(e.rec);
  e.mailbox_live = false;
  e.stored_passive = true;
  const lc::Found found{WorkerStatus::kPassive, /*alive=*/false, e.rec.restarts, e.rec.last_exit};
  // Its only action is a publish of what the slot already holds: not done.
  e.life = lc::adopt(e.spec, found, mono_ms(), context(e)).next;
  e.life.passivations = e.rec.passivations;
  // No timer armed before it slept may match one of its tokens.
  e.life.timer_token = fleet_.token_floor() + 1;
  log_debug("woke passive id '" + e.id + "'");
  drowsy_.push_back(slot);  // back to sleep at the next sweep if nothing woke it for good
  return e;
}

void Supervisor::Loop::put_to_sleep() {
  const std::uint64_t now = mono_ms();
  if (!drowsy_.empty() && inbox_.empty()) {
    std::size_t slept = 0;
    for (const std::uint32_t slot : std::exchange(drowsy_, {})) {
      const Entry* e = fleet_.find_awake(slot);
      if (e == nullptr || !can_sleep(*e, now)) continue;
      fleet_.sleep(slot);
      if (unmap_due_.empty()) unmap_since_ = now;
      unmap_due_.push_back(slot);
      ++slept;
    }
    // A large sweep (an import's batch, a boot restoring many ids) leaves
    // the freed entries' pages in the heap: handed back.
    if (slept >= 4096) ::malloc_trim(0);
    if (slept > 0) {
      log_debug(std::to_string(slept) + " passive id(s) put to sleep (" +
                std::to_string(fleet_.asleep_count()) + " asleep in all)");
    }
  }
  // Their registry pages stay in /dev/shm (where workers and clients read
  // them), not in this process's page tables. Done a second after the first
  // of them slept, not at once: during an import each batch's first write
  // maps the neighbouring pages again (the kernel's fault-around maps up to
  // 64 KiB of pages already in memory on a read fault).
  if (unmap_due_.empty() || now - unmap_since_ < kUnmapAfterMs) return;
  std::vector<std::uint32_t> slots;
  for (const std::uint32_t slot : std::exchange(unmap_due_, {})) {
    if (fleet_.asleep(slot)) slots.push_back(slot);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  reg_->unmap_slots(slots);
}

}  // namespace dynmgr
