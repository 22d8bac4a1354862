#include "supervisor/instance_objects.hpp"

#include "shared/log.hpp"
#include "shared/process_identity.hpp"
#include "shared/queue.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>

namespace dynmgr {
namespace {

std::vector<std::string> objects_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.rfind(prefix, 0) == 0) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// dynmgr.<uid>.<instance>.reply.<pid>-<start>.<serial>
bool reply_owner_alive(const std::string& prefix, const std::string& name) {
  const std::string rest = name.substr(prefix.size());
  const auto dash = rest.find('-');
  const auto dot = rest.find('.', dash == std::string::npos ? 0 : dash);
  if (dash == std::string::npos || dot == std::string::npos) return false;
  const pid_t pid = static_cast<pid_t>(std::strtol(rest.substr(0, dash).c_str(), nullptr, 10));
  const std::uint64_t start = std::strtoull(rest.substr(dash + 1, dot - dash - 1).c_str(), nullptr, 10);
  return process_alive(pid, start);
}

}  // namespace

void remove_stale_objects(const Names& names) {
  for (const auto& n : objects_with_prefix(names.prefix())) {
    if (n == names.lock()) continue;
    log_warn("removing stale shared object /dev/shm/" + n);
    ::unlink(Names::shm_path(n).c_str());
  }
}

std::vector<std::string> remove_dead_reply_queues(const Names& names) {
  const std::string prefix = names.prefix() + "reply.";
  std::vector<std::string> removed;
  for (const auto& n : objects_with_prefix(prefix)) {
    // A bell ("<queue>.bell") parses as its queue does, so an orphan bell goes too.
    if (reply_owner_alive(prefix, n)) continue;
    Queue::remove(n);
    removed.push_back(n);
  }
  return removed;
}

}  // namespace dynmgr
