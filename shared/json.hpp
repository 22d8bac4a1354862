#pragma once
// JSON helpers over Boost.JSON: parsing user input into error values, and the
// accessors the protocol uses. Payloads, values and messages are JSON values.

#include "shared/error.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dynmgr {

namespace json = boost::json;

// Parses text; kInvalid "invalid JSON in <what>: <reason>" on failure. A
// number too large for a double (1e999) is refused too: it would become an
// infinity, which JSON cannot carry (Boost.JSON writes it as 1e99999).
Result<json::value> parse_json(std::string_view text, std::string_view what);
// kInvalid if v holds a non-finite number anywhere (a value built in C++).
Status check_finite(const json::value& v, std::string_view what);
std::string to_json(const json::value& v);

// Field accessors that never throw; nullopt when absent or of another type.
std::optional<std::string_view> get_string(const json::object& o, std::string_view key);
std::optional<std::int64_t> get_int(const json::object& o, std::string_view key);
std::optional<double> get_number(const json::object& o, std::string_view key);
std::optional<bool> get_bool(const json::object& o, std::string_view key);
const json::value* get_field(const json::object& o, std::string_view key);

}  // namespace dynmgr
