#include "shared/names.hpp"

#include <unistd.h>

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
      prefix_("dynmgr." + std::to_string(uid) + "." + instance_ + ".") {}

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

}  // namespace dynmgr
