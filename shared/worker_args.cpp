#include "shared/worker_args.hpp"

#include <charconv>
#include <string_view>

namespace dynmgr {

std::vector<std::string> worker_argv(const std::string& exe, const WorkerArgs& a) {
  return {exe, kWorkerRoleFlag, a.instance, std::to_string(a.slot), std::to_string(a.incarnation),
          std::to_string(a.supervisor_pid), a.containment};
}

namespace {
template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace

std::optional<WorkerArgs> parse_worker_args(int argc, char** argv) {
  if (argc != 7 || std::string_view(argv[1]) != kWorkerRoleFlag) return std::nullopt;
  WorkerArgs a;
  a.instance = argv[2];
  if (!parse_number(argv[3], a.slot) || !parse_number(argv[4], a.incarnation) ||
      !parse_number(argv[5], a.supervisor_pid)) {
    return std::nullopt;
  }
  a.containment = argv[6];
  return a;
}

}  // namespace dynmgr
