// libFuzzer target: the exec manager's JSON-lines answers (worker/exec_lines.cpp):
// whatever a command writes on its stdout is cut into lines and each line is
// read as an answer to a perform, call or cast.
//
// Input: byte 0 picks the request the lines answer, the rest is the command's
// output, fed in chunks whose sizes the next bytes choose (as read() returns them).
// Properties: nothing crashes; lines never contain '\n'; every byte ends up in a
// line, a dropped blank line, or the unfinished tail.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "worker/exec_lines.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dynmgr;
  if (size < 2) return 0;
  const auto op = static_cast<exec_lines::Op>(data[0] % 3);
  const std::size_t chunk = 1 + data[1] % 64;
  const char* out = reinterpret_cast<const char*>(data) + 2;
  const std::size_t n = size - 2;
  std::string buffer;
  std::size_t taken = 0;  // bytes of lines returned, with their '\n' (and '\r')
  for (std::size_t at = 0; at < n; at += chunk) {
    buffer.append(out + at, std::min(chunk, n - at));
    while (auto line = exec_lines::take_line(buffer)) {
      if (line->find('\n') != std::string::npos || line->empty()) std::abort();
      taken += line->size();
      auto o = exec_lines::parse_object(*line, exec_lines::op_name(op));
      if (!o) continue;
      auto r = exec_lines::to_response(*o, op);
      if (r && r->kind() == Response::Kind::kReplaceId) (void)validate_id(r->new_id());
    }
  }
  if (taken + buffer.size() > n) std::abort();
  return 0;
}
