// Pool — the seed's "Workers Pool" example: pool_size 2, perform suppressed
// (timeout 0), every worker's payload initialised to 0.
//
//   synch()     call ["synch"]      replies the chosen worker's payload
//   synch(n)    call ["synch", n]   replies payload + n
//   asynch(n)   cast ["asynch", n]  the chosen worker's payload := payload + n
//
//   dynmgrctl -n pool call --any '["synch", 1]'   # -> 1
//   dynmgrctl -n pool cast --any '["asynch", 1]'
#include <dynmgr/run.hpp>

#include <CLI/CLI.hpp>

namespace {

using dynmgr::json::value;

std::string g_pickup = "stream";
std::uint32_t g_size = 2;

std::int64_t as_int(const value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
  return 0;
}

class Pool : public dynmgr::Manager {
 public:
  std::optional<dynmgr::PoolSpec> pool() const override {
    dynmgr::PoolSpec spec;
    spec.size = g_size;
    spec.strategy = dynmgr::parse_pool_strategy(g_pickup).value();
    return spec;
  }

  // The seed's initializer: every worker starts from 0.
  value init(const std::string&, const value&) override { return value(0); }

  dynmgr::Response perform(const std::string&, const value&) override {
    return dynmgr::Response::ok();  // never called: pool workers have timeout 0
  }

  dynmgr::Response call(const value& message, const dynmgr::WorkerState& state) override {
    if (message.is_array() && !message.get_array().empty() &&
        message.get_array()[0] == value("synch")) {
      const auto& a = message.get_array();
      const std::int64_t n = a.size() > 1 ? as_int(a[1]) : 0;
      return dynmgr::Response::ok(value(as_int(state.payload) + n));
    }
    return dynmgr::Response::ok(value("unknown message"));
  }

  dynmgr::Response cast(const value& message, const dynmgr::WorkerState& state) override {
    if (message.is_array() && message.get_array().size() == 2 &&
        message.get_array()[0] == value("asynch")) {
      return dynmgr::Response::replace(value(as_int(state.payload) + as_int(message.get_array()[1])));
    }
    return dynmgr::Response::ok();
  }
};

}  // namespace

int main(int argc, char** argv) {
  dynmgr::RunOptions opts;
  opts.add_flags = [](CLI::App& app) {
    app.add_option("--pickup", g_pickup, "hashring|random|stream (default stream)");
    app.add_option("--pool-size", g_size, "workers in the pool (default 2)")->check(CLI::Range(1u, 100000u));
  };
  opts.after_parse = []() -> dynmgr::Status {
    auto s = dynmgr::parse_pool_strategy(g_pickup);
    if (!s) return s.error();
    return {};
  };
  return dynmgr::run_manager([] { return std::make_unique<Pool>(); }, argc, argv, opts);
}
