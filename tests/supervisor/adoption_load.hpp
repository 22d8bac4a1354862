#pragma once
// Load for the takeover tests: 8 client threads, each with its own Client and
// its own worker ("w1".."w8", payload an array). Each thread alternates a call
// ["append", k] (answered only once the longer payload is committed: an
// acknowledged k must survive anything) and a cast ["append", -k] (queued in
// the worker's mailbox: a cast that was sent must be applied). The test kills
// or re-executes the supervisor meanwhile; afterwards every acknowledged call
// and every sent cast must be in the payload, and no request may have taken
// much longer than its deadline (a hang).

#include "probe_harness.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace dynmgr::testing {

inline constexpr int kLoadWorkers = 8;
inline constexpr Millis kLoadDeadline{3000};

class AdoptionLoad {
 public:
  explicit AdoptionLoad(std::string instance) : instance_(std::move(instance)) {
    for (int i = 0; i < kLoadWorkers; ++i) lanes_.push_back(std::make_unique<Lane>());
  }
  ~AdoptionLoad() { stop(); }

  void start() {
    for (int i = 0; i < kLoadWorkers; ++i) threads_.emplace_back([this, i] { run(i); });
  }
  void stop() {
    done_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Calls acknowledged so far (all lanes).
  std::uint64_t acked() const {
    std::uint64_t n = 0;
    for (const auto& l : lanes_) n += l->acked_count.load();
    return n;
  }
  // Waits until every lane has `more` acknowledged calls beyond now.
  bool wait_progress(std::uint64_t more, std::chrono::milliseconds timeout = kWait) {
    std::vector<std::uint64_t> base;
    for (const auto& l : lanes_) base.push_back(l->acked_count.load());
    return wait_until(
        [&] {
          for (std::size_t i = 0; i < lanes_.size(); ++i) {
            if (lanes_[i]->acked_count.load() < base[i] + more) return false;
          }
          return true;
        },
        timeout, 1ms);
  }
  // Every acknowledged call and every sent cast of lane i is in `payload`.
  ::testing::AssertionResult all_in(int i, const json::value& payload) const {
    std::set<std::int64_t> have;
    if (payload.is_array()) {
      for (const auto& v : payload.get_array()) {
        if (v.is_int64()) have.insert(v.get_int64());
      }
    }
    std::lock_guard<std::mutex> l(lanes_[i]->mu);
    for (std::int64_t k : lanes_[i]->acked) {
      if (!have.count(k)) return ::testing::AssertionFailure() << "acknowledged append " << k << " is lost";
    }
    for (std::int64_t k : lanes_[i]->cast) {
      if (!have.count(-k)) return ::testing::AssertionFailure() << "sent cast " << -k << " is lost";
    }
    return ::testing::AssertionSuccess();
  }
  std::size_t sent_casts(int i) const {
    std::lock_guard<std::mutex> l(lanes_[i]->mu);
    return lanes_[i]->cast.size();
  }
  // The longest a request took, in ms.
  std::int64_t longest_ms() const {
    std::int64_t m = 0;
    for (const auto& l : lanes_) m = std::max<std::int64_t>(m, l->longest.load());
    return m;
  }
  static std::string id(int i) { return "w" + std::to_string(i + 1); }

 private:
  struct Lane {
    mutable std::mutex mu;
    std::vector<std::int64_t> acked;
    std::vector<std::int64_t> cast;
    std::atomic<std::uint64_t> acked_count{0};
    std::atomic<std::int64_t> longest{0};
  };

  void run(int i) {
    Lane& lane = *lanes_[i];
    std::optional<Client> c;
    std::int64_t k = 0;
    while (!done_) {
      if (!c) {
        auto cc = Client::connect(Client::Options{instance_, kLoadDeadline});
        if (!cc) continue;  // between a supervisor's death and its successor
        c.emplace(std::move(*cc));
      }
      ++k;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = c->call(id(i), json::array{"append", k});
      auto t1 = std::chrono::steady_clock::now();
      note(lane, t1 - t0);
      if (r) {
        std::lock_guard<std::mutex> l(lane.mu);
        lane.acked.push_back(k);
        lane.acked_count.fetch_add(1);
      }
      const auto t2 = std::chrono::steady_clock::now();
      auto st = c->cast(id(i), json::array{"append", -k});
      note(lane, std::chrono::steady_clock::now() - t2);
      if (st) {
        std::lock_guard<std::mutex> l(lane.mu);
        lane.cast.push_back(k);
      }
    }
  }
  static void note(Lane& lane, std::chrono::steady_clock::duration d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    std::int64_t prev = lane.longest.load();
    while (ms > prev && !lane.longest.compare_exchange_weak(prev, ms)) {
    }
  }

  std::string instance_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<std::thread> threads_;
  std::atomic<bool> done_{false};
};

}  // namespace dynmgr::testing
