#pragma once
// JSON in the public API: payloads, values, results and messages are Boost.JSON
// values.

#include "dynmgr/error.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace dynmgr {

namespace json = boost::json;

// Parses text. Errors: kInvalid "invalid JSON in <what>: <reason>"; a number
// too large for a double (1e999) is refused too: it would become an infinity,
// which JSON cannot carry (Boost.JSON writes it as 1e99999).
Result<json::value> parse_json(std::string_view text, std::string_view what);
// kInvalid if v holds a non-finite number anywhere (a value built in C++).
Status check_finite(const json::value& v, std::string_view what);
// Compact JSON text of v. Never fails.
std::string to_json(const json::value& v);

}  // namespace dynmgr
