#pragma once
// The supervisor's workers: one Entry per registry slot in use, found by slot,
// by id and (while it runs) by pid. Owned and used by the loop thread only.
//
// An Entry keeps three things apart: what the worker should be (its spec),
// what is published (the registry record), and where it is in its life cycle
// (the pure machine's state, supervisor/worker_lifecycle.hpp).

#include "shared/child_spec.hpp"
#include "shared/registry.hpp"
#include "supervisor/worker_lifecycle.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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

class Fleet {
 public:
  Entry* find(std::uint32_t slot) {
    auto it = entries_.find(slot);
    return it == entries_.end() ? nullptr : &it->second;
  }
  Entry* find_id(const std::string& id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : find(it->second);
  }
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
    return entries_.insert_or_assign(slot, std::move(e)).first->second;
  }
  void erase(std::uint32_t slot) {
    auto it = entries_.find(slot);
    if (it == entries_.end()) return;
    by_id_.erase(it->second.id);
    entries_.erase(it);
  }

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  std::vector<std::uint32_t> slots() const {
    std::vector<std::uint32_t> out;
    out.reserve(entries_.size());
    for (const auto& [slot, e] : entries_) out.push_back(slot);
    return out;
  }
  std::map<std::uint32_t, Entry>& entries() noexcept { return entries_; }
  const std::map<std::uint32_t, Entry>& entries() const noexcept { return entries_; }

 private:
  std::map<std::uint32_t, Entry> entries_;
  std::unordered_map<std::string, std::uint32_t> by_id_;
  std::unordered_map<pid_t, std::uint32_t> by_pid_;  // running processes
};

}  // namespace dynmgr
