#pragma once
// JSON helpers over Boost.JSON: parsing user input into error values, and the
// accessors the protocol uses. Payloads, values and messages are JSON values.

#include "dynmgr/json.hpp"
#include "shared/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynmgr {

// Field accessors that never throw; nullopt when absent or of another type.
std::optional<std::string_view> get_string(const json::object& o, std::string_view key);
std::optional<std::int64_t> get_int(const json::object& o, std::string_view key);
std::optional<bool> get_bool(const json::object& o, std::string_view key);
const json::value* get_field(const json::object& o, std::string_view key);

}  // namespace dynmgr
