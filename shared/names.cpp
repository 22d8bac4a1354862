#include "shared/names.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>

namespace dynmgr {

Status validate_instance_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxInstanceName) {
    return make_error(Errc::kInvalid, "invalid instance name '" + std::string(name) +
                                          "': must be 1..64 characters");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return make_error(Errc::kInvalid, "invalid instance name '" + std::string(name) +
                                            "': only letters, digits, '_' and '-' are allowed");
    }
  }
  return {};
}

std::string default_instance_name() {
  const char* env = std::getenv("DYNMGR_NAME");
  return (env != nullptr && *env != '\0') ? std::string(env) : std::string("default");
}

Names::Names(std::string instance) : Names(std::move(instance), ::getuid()) {}

Names::Names(std::string instance, unsigned uid)
    : instance_(std::move(instance)),
      prefix_("dynmgr." + std::to_string(uid) + "." + instance_ + "."),
      reply_prefix_(prefix_ + "reply.") {}

std::string Names::control(std::uint64_t generation) const {
  return prefix_ + "control." + std::to_string(generation);
}

std::string Names::mailbox(std::uint32_t slot, std::uint64_t generation) const {
  return prefix_ + "mbox." + std::to_string(slot) + "." + std::to_string(generation);
}

std::string Names::reply(int pid, std::uint64_t start_time, std::uint32_t serial) const {
  return prefix_ + "reply." + std::to_string(pid) + "-" + std::to_string(start_time) + "." +
         std::to_string(serial);
}

namespace {
// Parses one decimal field of `s` up to `end` (or to the end of `s` when end
// is '\0'); advances `s` past the field and its terminator.
template <class T>
bool take_field(std::string_view& s, char end, T& out) {
  const auto stop = end == '\0' ? s.size() : s.find(end);
  if (stop == 0 || stop == std::string_view::npos) return false;
  const char* first = s.data();
  const char* last = s.data() + stop;
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || ptr != last) return false;
  s.remove_prefix(stop == s.size() ? stop : stop + 1);
  return true;
}
}  // namespace

std::optional<Names::ReplyOwner> Names::parse_reply(std::string_view name) const noexcept {
  if (!name.starts_with(reply_prefix_)) return std::nullopt;
  std::string_view rest = name.substr(reply_prefix_.size());
  ReplyOwner o;
  if (!take_field(rest, '-', o.pid) || !take_field(rest, '.', o.start_time)) return std::nullopt;
  // The serial ends the name, or a companion's ".<suffix>" follows it.
  const char end = rest.find('.') == std::string_view::npos ? '\0' : '.';
  if (!take_field(rest, end, o.serial)) return std::nullopt;
  if (end == '.' && rest.empty()) return std::nullopt;  // "….<serial>." has no suffix
  return o;
}

}  // namespace dynmgr
