#pragma once
// Names of every shared object dynmgr creates: dynmgr.<uid>.<instance>.<object>.
// Ids never become part of a name (they are user input); objects are addressed
// by slot index and generation instead.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/error.hpp"

namespace dynmgr {

inline constexpr std::size_t kMaxInstanceName = 64;

// Instance names: 1..64 of [A-Za-z0-9_-]; no dots so names stay parseable.
Status validate_instance_name(std::string_view name);

// The instance name from $DYNMGR_NAME, else "default".
std::string default_instance_name();

class Names {
 public:
  explicit Names(std::string instance);
  Names(std::string instance, unsigned uid);

  const std::string& instance() const noexcept { return instance_; }
  // "dynmgr.<uid>.<instance>." — every object of this instance starts with it.
  const std::string& prefix() const noexcept { return prefix_; }

  std::string registry() const { return prefix_ + "registry"; }
  // The worker-owned words, a page per slot (shared/registry.hpp).
  std::string words() const { return prefix_ + "words"; }
  std::string events() const { return prefix_ + "events"; }
  std::string lock() const { return prefix_ + "lock"; }
  std::string control(std::uint64_t generation) const;
  std::string mailbox(std::uint32_t slot, std::uint64_t generation) const;
  // A client's reply queue; pid + process start time make it unique and let the
  // supervisor tell a dead client's queue from a live one.
  std::string reply(int pid, std::uint64_t start_time, std::uint32_t serial) const;
  // "<prefix>reply." — every reply queue of this instance starts with it.
  const std::string& reply_prefix() const noexcept { return reply_prefix_; }

  // What a reply queue's name says about its owner.
  struct ReplyOwner {
    int pid = 0;
    std::uint64_t start_time = 0;  // clock ticks since boot (ProcessIdentity)
    std::uint32_t serial = 0;
    friend bool operator==(const ReplyOwner&, const ReplyOwner&) = default;
  };
  // Parses "<prefix>reply.<pid>-<start>.<serial>", the inverse of reply(); a
  // companion object's name ("<queue>.bell", any ".<suffix>") parses as its
  // queue's. nullopt if `name` is not of that shape for this instance (another
  // instance's, not a reply queue, a field empty, not decimal or out of range).
  std::optional<ReplyOwner> parse_reply(std::string_view name) const noexcept;
  // Path of a POSIX shared memory object, for fstat/chmod/tests.
  static std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

 private:
  std::string instance_;
  std::string prefix_;
  std::string reply_prefix_;
};

}  // namespace dynmgr
