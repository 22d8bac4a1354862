// libFuzzer target: the JSON entry point every user input goes through
// (parse_json, check_finite, to_json in shared/json.cpp) and the accessors the
// protocol reads fields with.
// Properties: nothing crashes; text parse_json accepts prints as text that
// parses to the same value (numbers within 1e-12 relative: Boost.JSON 1.81's
// parser is not exact for every double, see tests/shared/json_test.cpp).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz/json_same.hpp"
#include "shared/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dynmgr;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto v = parse_json(text, "fuzz input");
  if (!v) return 0;
  if (!check_finite(*v, "fuzz input")) std::abort();  // parse_json refuses infinities
  const std::string printed = to_json(*v);
  auto again = parse_json(printed, "printed");
  if (!again || !fuzz::same(*again, *v)) std::abort();
  if (v->is_object()) {
    const json::object& o = v->get_object();
    for (const auto& kv : o) {
      const std::string_view key(kv.key().data(), kv.key().size());
      (void)get_string(o, key);
      (void)get_int(o, key);
      (void)get_bool(o, key);
      (void)get_field(o, key);
    }
  }
  return 0;
}
