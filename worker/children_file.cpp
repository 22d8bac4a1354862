// ExecManager::parse_children on its own, so the children-file fuzz target
// (fuzz/fuzz_children.cpp) links it without the process machinery of
// exec_manager.cpp.

#include "shared/json.hpp"
#include "worker/exec_manager.hpp"

namespace dynmgr {

Result<std::map<std::string, ChildSpec>> ExecManager::parse_children(const std::string& text) {
  auto v = parse_json(text, "children file");
  if (!v) return v.error();
  if (!v->is_object()) return make_error(Errc::kInvalid, "children file: not a JSON object of id -> spec");
  std::map<std::string, ChildSpec> out;
  for (const auto& kv : v->get_object()) {
    const std::string id(kv.key());
    if (auto st = validate_id(id); !st) {
      return make_error(Errc::kInvalid, "children file: " + st.error().message);
    }
    if (!kv.value().is_object()) {
      return make_error(Errc::kInvalid, "children file: spec of '" + id + "' is not an object");
    }
    json::object spec_json = kv.value().get_object();
    json::object options;
    for (const char* key : {"exec", "env", "cwd", "response_timeout", "ready_timeout"}) {
      if (auto* f = spec_json.if_contains(key)) {
        options[key] = *f;
        spec_json.erase(key);
      }
    }
    auto spec = ChildSpec::from_json(spec_json);
    if (!spec) return make_error(Errc::kInvalid, "children file: '" + id + "': " + spec.error().message);
    for (auto& o : options) spec->options[o.key()] = o.value();
    out[id] = std::move(*spec);
  }
  return out;
}

}  // namespace dynmgr
