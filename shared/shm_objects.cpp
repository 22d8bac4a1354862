#include "shared/shm_objects.hpp"

#include <sys/stat.h>

#include "shared/process_identity.hpp"

#include <dirent.h>

namespace dynmgr {

std::vector<std::string> list_shm_objects(std::string_view prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n.starts_with(prefix)) out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

std::vector<std::string> dead_reply_queues(const Names& names) {
  std::vector<std::string> dead = list_shm_objects(names.reply_prefix());
  std::erase_if(dead, [&](const std::string& n) {
    const auto owner = names.parse_reply(n);
    return owner && process_alive(owner->pid, owner->start_time);
  });
  return dead;
}

std::uint64_t shm_object_bytes(const std::string& name) {
  struct stat st {};
  if (::stat(Names::shm_path(name).c_str(), &st) != 0 || st.st_size < 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace dynmgr
