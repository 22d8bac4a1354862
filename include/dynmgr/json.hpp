#pragma once
// JSON in the public API: payloads, values, results and messages are Boost.JSON
// values.

#include "dynmgr/error.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace dynmgr {

namespace json = boost::json;

// Parses text. Errors: kInvalid "invalid JSON in <what>: <reason>".
Result<json::value> parse_json(std::string_view text, std::string_view what);
// Compact JSON text of v. Never fails.
std::string to_json(const json::value& v);

}  // namespace dynmgr
