#pragma once
// The supervisor's workers: one Entry per registry slot in use (or, for a
// sleeping passive id, its slot alone), found by slot, by id and (while it
// runs) by pid. Owned and used by the loop thread only.
//
// An Entry keeps three things apart: what the worker should be (its spec),
// what is published (the registry record), and where it is in its life cycle
// (the pure machine's state, supervisor/worker_lifecycle.hpp).

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory_resource>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/child_spec.hpp"
#include "shared/registry.hpp"
#include "supervisor/worker_lifecycle.hpp"

namespace dynmgr {

struct Entry {
  std::string id;
  ChildSpec spec;               // what a (re)start uses; payload = last committed
  SlotRecord rec;               // the published copy (the authoritative one)
  lifecycle::WorkerState life;  // the machine's state
  std::uint64_t started_mono = 0;      // monotonic ms the current process started
  std::uint64_t overrun_reported = 0;  // busy_since already reported to handle_timeout
  // The process is this supervisor's child. An adopted worker from a dead
  // supervisor is not: its exit status cannot be read, and once it ends its
  // pid may be reused at once (no zombie holds it).
  bool child = true;
  // The slot's mailbox exists (false while passive: released, made again
  // by the next spawn).
  bool mailbox_live = true;
  bool stored_passive = false;  // what the state database was last told
};

// What a (re)start uses, rebuilt from the published record (adoption, and a
// sleeping id woken).
ChildSpec spec_of(const SlotRecord& r);

// Many ids, few running (README "Passivation", "What an id costs"): a
// passive id with nothing pending (no timer, waiter or messages; see
// Supervisor::Loop::can_sleep) is put to sleep: its Entry is dropped and only
// its id and slot are kept here. The registry slot and the state database
// row hold everything else, and find() wakes it (the Waker rebuilds the
// Entry from the slot) the first time anything asks for it. Only awake
// entries are walked by awake(); size() and slots() count both.
class Fleet {
 public:
  // Rebuilds a sleeping slot's Entry (nullopt: its slot cannot be read).
  using Waker = std::function<std::optional<Entry>(std::uint32_t slot)>;
  void set_waker(Waker w) { waker_ = std::move(w); }

  // The entry of a slot, woken if it sleeps.
  Entry* find(std::uint32_t slot) {
    if (Entry* e = find_awake(slot)) return e;
    if (!asleep(slot) || !waker_) return nullptr;
    auto e = waker_(slot);
    if (!e) return nullptr;
    mark_awake(slot);
    return &entries_.insert_or_assign(slot, std::move(*e)).first->second;
  }
  // The entry of a slot only if it is awake.
  Entry* find_awake(std::uint32_t slot) {
    auto it = entries_.find(slot);
    return it == entries_.end() ? nullptr : &it->second;
  }
  Entry* find_id(const std::string& id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : find(it->second);
  }
  // The slot of an id, awake or asleep, without waking it.
  std::optional<std::uint32_t> slot_of(const std::string& id) const {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return std::nullopt;
    return it->second;
  }
  bool asleep(std::uint32_t slot) const noexcept { return slot < asleep_.size() && asleep_[slot]; }
  // The slot of a running process, forgotten once asked (the process is reaped).
  std::optional<std::uint32_t> take_pid(pid_t pid) {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) return std::nullopt;
    const std::uint32_t slot = it->second;
    by_pid_.erase(it);
    return slot;
  }
  void add_pid(pid_t pid, std::uint32_t slot) { by_pid_[pid] = slot; }

  Entry& add(Entry e) {
    const std::uint32_t slot = e.rec.slot;
    by_id_[e.id] = slot;
    mark_awake(slot);
    return entries_.insert_or_assign(slot, std::move(e)).first->second;
  }
  void erase(std::uint32_t slot) {
    // A sleeping id's id is in its slot: woken for it (an unreadable slot's
    // id is looked for in the index).
    if (asleep(slot) && find(slot) == nullptr) {
      for (auto it = by_id_.begin(); it != by_id_.end(); ++it) {
        if (it->second == slot) {
          by_id_.erase(it);
          break;
        }
      }
      mark_awake(slot);
      return;
    }
    auto it = entries_.find(slot);
    if (it == entries_.end()) return;
    by_id_.erase(it->second.id);
    entries_.erase(it);
  }
  // Drops an awake entry, keeping its id and slot (the caller checked it may).
  void sleep(std::uint32_t slot) {
    auto it = entries_.find(slot);
    if (it == entries_.end()) return;
    token_floor_ = std::max(token_floor_, it->second.life.timer_token);
    entries_.erase(it);
    if (asleep_.size() <= slot) asleep_.resize(std::size_t{slot} + 1, false);
    asleep_[slot] = true;
    ++asleep_count_;
  }
  // Forgets every sleeping id at once (a supervisor stopping: their slots
  // and database rows stay as they are); how many there were.
  std::size_t drop_asleep() {
    if (asleep_count_ == 0) return 0;
    for (auto it = by_id_.begin(); it != by_id_.end();) {
      it = asleep(it->second) ? by_id_.erase(it) : std::next(it);
    }
    const std::size_t n = asleep_count_;
    asleep_.clear();
    asleep_count_ = 0;
    return n;
  }
  // A timer token above any a sleeping entry was given before it slept: a
  // woken entry starts from it, so no timer armed before it slept matches.
  std::uint64_t token_floor() const noexcept { return token_floor_; }

  bool empty() const noexcept { return entries_.empty() && asleep_count_ == 0; }
  std::size_t size() const noexcept { return entries_.size() + asleep_count_; }
  std::size_t asleep_count() const noexcept { return asleep_count_; }
  // Every slot in use, awake or asleep.
  std::vector<std::uint32_t> slots() const {
    std::vector<std::uint32_t> out;
    out.reserve(size());
    for (const auto& [slot, e] : entries_) out.push_back(slot);
    for (std::uint32_t slot = 0; slot < asleep_.size(); ++slot) {
      if (asleep_[slot]) out.push_back(slot);
    }
    return out;
  }
  std::vector<std::uint32_t> asleep_slots() const {
    std::vector<std::uint32_t> out;
    out.reserve(asleep_count_);
    for (std::uint32_t slot = 0; slot < asleep_.size(); ++slot) {
      if (asleep_[slot]) out.push_back(slot);
    }
    return out;
  }
  // The awake entries only (a sleeping id has no process, mailbox or timer).
  std::map<std::uint32_t, Entry>& awake() noexcept { return entries_; }
  const std::map<std::uint32_t, Entry>& awake() const noexcept { return entries_; }

 private:
  void mark_awake(std::uint32_t slot) {
    if (!asleep(slot)) return;
    asleep_[slot] = false;
    --asleep_count_;
  }

  std::map<std::uint32_t, Entry> entries_;  // awake
  std::vector<bool> asleep_;                // by slot
  std::size_t asleep_count_ = 0;
  std::uint64_t token_floor_ = 0;
  Waker waker_;
  // The id index's nodes (one per id, kept for the id's life) come from a
  // pool of their own, not from between the records an import makes and
  // drops: there they pinned the heap's pages and filled its bins with free
  // chunks of every size (BENCHMARKS.md, "sleeping passive ids").
  std::pmr::unsynchronized_pool_resource id_pool_;
  std::pmr::unordered_map<std::string, std::uint32_t> by_id_{&id_pool_};  // awake and asleep
  std::unordered_map<pid_t, std::uint32_t> by_pid_;       // running processes
};

}  // namespace dynmgr
