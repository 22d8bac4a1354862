#pragma once
// The exec manager's JSON-lines answers, as pure functions (no process, no
// clock, no throw): cutting lines out of what the command wrote, and turning
// one answer line into a Response. ExecManager (exec_manager.cpp) turns an
// error here into a worker failure; fuzz/fuzz_exec_lines.cpp feeds it any bytes.

#include <optional>
#include <string>
#include <string_view>

#include "dynmgr/manager.hpp"
#include "shared/error.hpp"
#include "shared/json.hpp"

namespace dynmgr::exec_lines {

enum class Op { kPerform, kCall, kCast };
const char* op_name(Op op) noexcept;

// Takes the first complete line ('\n'-terminated) out of `buffer`, without its
// '\n' and one trailing '\r'. Blank lines are dropped. nullopt (and the
// incomplete tail left in `buffer`) when no complete non-blank line is buffered.
std::optional<std::string> take_line(std::string& buffer);

// One answer line as a JSON object. kInvalid "command wrote invalid JSON: ..."
// or "command answered <op> with a non-object: ...".
Result<json::object> parse_object(std::string_view line, std::string_view op);

// The answer's meaning (vocabulary in exec_manager.hpp): {"halt":true},
// {"replace":P[,"id":NEW]}, {"timeout":MS,"result":R}, {"ok":R}; a call also
// {"reply":X[,"replace":P]}. kInvalid with the reason otherwise.
Result<Response> to_response(const json::object& answer, Op op);

// Shortens text quoted in an error message.
std::string cut(std::string_view s, std::size_t n = 80);

}  // namespace dynmgr::exec_lines
