#pragma once
// Helpers for the registry tests: records whose fields all encode one counter
// (so any torn read is visible), and a printable form of a record to compare.

#include "shared/registry.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace dynmgr::testing {

// Every field of the record is a function of (slot, n): payload and value both
// carry n, the payload's length varies with n, so a read mixing two updates
// fails check_counter_record().
inline SlotRecord counter_record(std::uint32_t slot, std::uint64_t n) {
  SlotRecord r;
  r.slot = slot;
  r.id = "w" + std::to_string(slot);
  r.status = WorkerStatus::kRunning;
  r.pid = static_cast<pid_t>(n & 0x3fffffff);
  r.restarts = static_cast<std::uint32_t>(n);
  r.started_ms = n;
  r.mailbox_generation = n * 3;
  r.timeout_ms = static_cast<std::uint32_t>(n % 100000);
  const char fill = static_cast<char>('a' + n % 26);
  r.payload = "[" + std::to_string(n) + ",\"" + std::string(n % 97, fill) + "\"]";
  r.value = std::to_string(n);
  r.last_exit.kind = ExitInfo::Kind::kExited;
  r.last_exit.code = static_cast<int>(n % 256);
  r.last_exit.reason = "exited with code " + std::to_string(n % 256);
  return r;
}

// Empty if r is a consistent counter_record for its slot, else what is wrong.
inline std::string check_counter_record(const SlotRecord& r, std::uint64_t* counter = nullptr) {
  std::uint64_t n = 0;
  try {
    n = std::stoull(r.value);
  } catch (...) {
    return "value '" + r.value + "' is not a counter";
  }
  const SlotRecord want = counter_record(r.slot, n);
  std::ostringstream bad;
  if (r.id != want.id) bad << " id '" << r.id << "'";
  if (r.payload != want.payload) bad << " payload '" << r.payload << "'";
  if (r.pid != want.pid) bad << " pid " << r.pid;
  if (r.restarts != want.restarts) bad << " restarts " << r.restarts;
  if (r.started_ms != want.started_ms) bad << " started_ms " << r.started_ms;
  if (r.mailbox_generation != want.mailbox_generation) bad << " mailbox_generation";
  if (r.timeout_ms != want.timeout_ms) bad << " timeout_ms " << r.timeout_ms;
  if (r.last_exit.code != want.last_exit.code) bad << " exit code " << r.last_exit.code;
  if (r.last_exit.reason != want.last_exit.reason) bad << " exit reason '" << r.last_exit.reason << "'";
  if (r.status != WorkerStatus::kRunning) bad << " status " << static_cast<int>(r.status);
  if (counter != nullptr) *counter = n;
  const std::string s = bad.str();
  return s.empty() ? s : "slot " + std::to_string(r.slot) + " value " + r.value + ":" + s;
}

// Every field, for equality checks with a readable diff: the described members
// (worker_info.hpp) and the registry's own words.
inline std::string dump(const SlotRecord& r) {
  std::ostringstream o;
  o << "{";
  for (const auto& f : worker_fields(r)) o << f.name << " '" << f.text << "' ";
  o << "inc " << r.incarnation << " pst " << r.pid_start_time << " updated " << r.updated_ms
    << " mbox " << r.mailbox_generation << "}";
  return o.str();
}

inline std::vector<std::string> dump_all(const std::vector<SlotRecord>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) out.push_back(dump(r));
  return out;
}

}  // namespace dynmgr::testing
