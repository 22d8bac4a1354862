#include "supervisor/web_history.hpp"

namespace dynmgr {

void WebHistory::add(HistorySample s) {
  samples_.push_back(std::move(s));
  while (samples_.size() > capacity_) samples_.pop_front();
}

json::object WebHistory::to_json() const {
  json::object o;
  o["interval_ms"] = kHistoryIntervalMs;
  json::array arr;
  arr.reserve(samples_.size());
  for (const auto& s : samples_) {
    json::object e;
    e["time_ms"] = s.time_ms;
    json::object st;
    for (const auto& [k, n] : s.by_status) st[k] = n;
    e["by_status"] = std::move(st);
    e["exits"] = s.exits;
    e["restarts"] = s.restarts;
    arr.push_back(std::move(e));
  }
  o["samples"] = std::move(arr);
  return o;
}

}  // namespace dynmgr
