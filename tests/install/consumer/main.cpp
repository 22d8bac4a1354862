// The smallest useful manager, built against an installed dynmgr: a worker
// greets whoever calls it and counts the greetings in its payload. --first ID
// (an application flag, so CLI11 through RunOptions) starts one at boot.
#include <CLI/CLI.hpp>
#include <dynmgr/run.hpp>
#include <stdexcept>
#include <string>

namespace {

std::string g_first;  // supervisor side only: workers are started without app flags

class Greeter : public dynmgr::Manager {
 public:
  std::map<std::string, dynmgr::ChildSpec> children_specs() override {
    if (g_first.empty()) return {};
    dynmgr::ChildSpec spec;
    spec.payload = 0;
    return {{g_first, spec}};
  }
  dynmgr::Response perform(const std::string&, const dynmgr::json::value&) override {
    return dynmgr::Response::ok();
  }
  dynmgr::Response call(const dynmgr::json::value& message,
                        const dynmgr::WorkerState& state) override {
    const auto* name = message.if_string();
    if (name == nullptr) throw std::runtime_error("call wants a string");
    const std::int64_t count = state.payload.is_int64() ? state.payload.get_int64() + 1 : 1;
    dynmgr::json::object reply;
    reply["greeting"] = "hello, " + std::string(*name);
    reply["from"] = state.id;
    reply["count"] = count;
    return dynmgr::Response::replace(count).with_reply(std::move(reply));
  }
};

}  // namespace

int main(int argc, char** argv) {
  dynmgr::RunOptions options;
  options.program = "greeter";
  options.add_flags = [](CLI::App& app) {
    app.add_option("--first", g_first, "a worker started at boot");
  };
  return dynmgr::run_manager([] { return std::make_unique<Greeter>(); }, argc, argv, options);
}
