// libFuzzer target: children files (`dynmgrd --children FILE`), read as dynmgrd
// reads them at start: ExecManager::parse_children (worker/children_file.cpp),
// with ChildSpec::from_json and parse_json under it. (dynmgrd's check_spec of
// the exec options after it is not linked: it lives with the process code.)
// Properties: nothing crashes; every spec parse_children returns is valid, and
// its to_json form parses back to an equal form.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dynmgr/child_spec.hpp"
#include "worker/exec_manager.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dynmgr;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto specs = ExecManager::parse_children(text);
  if (!specs) return 0;
  for (const auto& [id, spec] : *specs) {
    if (!validate_id(id) || !spec.validate()) std::abort();
    const json::object form = spec.to_json();
    auto again = ChildSpec::from_json(form);
    if (!again || again->to_json() != form) std::abort();
  }
  return 0;
}
