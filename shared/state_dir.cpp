#include "shared/state_dir.hpp"

#include <unistd.h>

#include <cstdlib>

namespace dynmgr {

std::string default_state_dir_for(uid_t euid, std::string_view instance, const char* xdg_state_home,
                                  const char* home) {
  const std::string tail = "dynmgr/" + std::string(instance);
  if (euid == 0) return "/var/lib/" + tail;
  if (xdg_state_home && xdg_state_home[0] == '/') return std::string(xdg_state_home) + "/" + tail;
  if (home && home[0] != '\0') return std::string(home) + "/.local/state/" + tail;
  return {};
}

std::string default_state_dir(std::string_view instance) {
  // Tests and packagers put every instance under one root.
  if (const char* root = std::getenv("DYNMGR_STATE_ROOT"); root != nullptr && root[0] == '/') {
    return std::string(root) + "/" + std::string(instance);
  }
  return default_state_dir_for(::geteuid(), instance, std::getenv("XDG_STATE_HOME"),
                               std::getenv("HOME"));
}

}  // namespace dynmgr
