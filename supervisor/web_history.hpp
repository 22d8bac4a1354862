#pragma once
// The web dashboard's charts over the last hour (/api/history): the server
// thread takes one sample every kHistoryIntervalMs — workers by status at that
// moment, and the exits and restarts seen in the event ring since the previous
// sample — and keeps the newest kHistorySamples. Kept in the supervisor, so a
// reopened page shows the hour it missed; lost with the process (a `reexec`
// or a new supervisor starts an empty hour).
//
// Threading: used by the server thread only.

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "shared/json.hpp"

namespace dynmgr {

inline constexpr std::uint32_t kHistoryIntervalMs = 10'000;
inline constexpr std::size_t kHistorySamples = 360;  // one hour

struct HistorySample {
  std::uint64_t time_ms = 0;                       // wall ms of the sample
  std::map<std::string, std::uint32_t> by_status;  // display status -> workers
  std::uint64_t exits = 0;                         // exited events since the previous sample
  std::uint64_t restarts = 0;                      // restarting events since the previous sample
};

class WebHistory {
 public:
  explicit WebHistory(std::size_t capacity = kHistorySamples) : capacity_(capacity) {}
  void add(HistorySample s);
  const std::deque<HistorySample>& samples() const noexcept { return samples_; }
  // {"interval_ms":10000,"samples":[{"time_ms":..,"by_status":{..},"exits":..,"restarts":..}]}
  // oldest first.
  json::object to_json() const;

 private:
  std::size_t capacity_;
  std::deque<HistorySample> samples_;
};

}  // namespace dynmgr
