// Bucket — the seed's "Multiple Stateful Processes" example: one worker per
// customer, holding that customer's shopping bucket as its payload.
//
//   new(customer)        dynmgrctl put Aleksei --payload '{}' --timeout 10000
//   {:+, :tomato}        the message ["+", "tomato"] (call or cast): adds one
//   :<                   the message "<" (call): replies with the bucket
//   perform              prints "Hey, <customer>, we have a discount" once the
//                        bucket is not empty; its value is the time of the check
#include <dynmgr/run.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace {

using dynmgr::json::value;

class Bucket : public dynmgr::Manager {
 public:
  std::map<std::string, dynmgr::ChildSpec> children_specs() override { return {}; }

  dynmgr::Response perform(const std::string& id, const value& payload) override {
    if (payload.is_object() && !payload.get_object().empty()) {
      std::printf("\"Hey, %s, we have a discount\"\n", id.c_str());
      std::fflush(stdout);
    }
    return dynmgr::Response::ok(value(static_cast<std::int64_t>(std::time(nullptr))));
  }

  dynmgr::Response call(const value& message, const dynmgr::WorkerState& state) override {
    if (message.is_string() && message.get_string() == "<") return dynmgr::Response::ok(state.payload);
    if (auto added = add(message, state.payload)) return dynmgr::Response::replace(*added);
    return dynmgr::Response::ok(value("unknown message"));
  }

  dynmgr::Response cast(const value& message, const dynmgr::WorkerState& state) override {
    if (auto added = add(message, state.payload)) return dynmgr::Response::replace(*added);
    return dynmgr::Response::ok();
  }

 private:
  // ["+", item] -> the bucket with item's count incremented.
  static std::optional<value> add(const value& message, const value& payload) {
    if (!message.is_array()) return std::nullopt;
    const auto& a = message.get_array();
    if (a.size() != 2 || !a[0].is_string() || a[0].get_string() != "+" || !a[1].is_string()) {
      return std::nullopt;
    }
    dynmgr::json::object bucket = payload.is_object() ? payload.get_object() : dynmgr::json::object{};
    auto& slot = bucket[a[1].get_string()];
    slot = (slot.is_int64() ? slot.get_int64() : 0) + 1;
    // Keys in order, as Elixir prints a map: {"cucumber":1,"tomato":2}.
    std::vector<std::string> keys;
    for (const auto& kv : bucket) keys.emplace_back(kv.key());
    std::sort(keys.begin(), keys.end());
    dynmgr::json::object sorted;
    for (const auto& k : keys) sorted[k] = bucket[k];
    return value(std::move(sorted));
  }
};

}  // namespace

int main(int argc, char** argv) { return dynmgr::run<Bucket>(argc, argv); }
