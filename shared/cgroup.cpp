#include "shared/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

namespace dynmgr::cgroup {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Result<std::string> read_small(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("unable to open " + path, errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return errno_error("unable to read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Status write_small(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("unable to open " + path, errno);
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return errno_error("unable to write " + path, err);
  return {};
}

bool populated(const std::string& leaf) {
  auto ev = read_small(leaf + "/cgroup.events");
  if (!ev) return false;
  return ev->find("populated 1") != std::string::npos;
}

}  // namespace

Result<std::string> own_directory() {
  std::ifstream mi("/proc/self/mountinfo");
  if (!mi) return errno_error("unable to read /proc/self/mountinfo", errno);
  std::string line;
  std::string mount_point;
  std::string mount_root;
  while (std::getline(mi, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, point;
    head >> id >> parent >> dev >> root >> point;
    mount_point = unescape(point);
    mount_root = unescape(root);
    break;
  }
  if (mount_point.empty()) return make_error(Errc::kNotFound, "no cgroup2 file system is mounted");
  std::ifstream cg("/proc/self/cgroup");
  if (!cg) return errno_error("unable to read /proc/self/cgroup", errno);
  std::string own;
  bool found = false;
  while (std::getline(cg, line)) {
    if (line.rfind("0::", 0) == 0) {
      own = line.substr(3);
      found = true;
      break;
    }
  }
  if (!found) return make_error(Errc::kNotFound, "no cgroup2 entry in /proc/self/cgroup");
  if (own.find(" (deleted)") != std::string::npos) {
    return make_error(Errc::kStale, "this process's cgroup was removed");
  }
  // A mount of a subtree (a container's) shows paths relative to its root.
  if (mount_root != "/" && own.rfind(mount_root, 0) == 0) own = own.substr(mount_root.size());
  if (own == "/") own.clear();
  return mount_point + own;
}

bool mountinfo_favors_dynamic_moves(const std::string& mountinfo) {
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    // After the separator: the type, the source, the super options.
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, options;
    tail >> fstype >> source >> options;
    if (fstype != "cgroup2") continue;
    std::istringstream opts(options);
    std::string opt;
    while (std::getline(opts, opt, ',')) {
      if (opt == "favordynmods") return true;
    }
    return false;  // the first cgroup2 mount, as own_directory() takes it
  }
  return false;
}

bool favors_dynamic_moves() {
  std::ifstream mi("/proc/self/mountinfo");
  std::string text((std::istreambuf_iterator<char>(mi)), std::istreambuf_iterator<char>());
  return mountinfo_favors_dynamic_moves(text);
}

Result<std::string> prepare_instance(const std::string& instance) {
  auto own = own_directory();
  if (!own) return own.error();
  const std::string dir = *own + "/dynmgr." + instance;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_error("unable to create cgroup " + dir, errno);
  }
  const std::string probe = dir + "/probe." + std::to_string(::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) {
    const int err = errno;
    ::rmdir(dir.c_str());  // only if empty: a live predecessor's leaves keep it
    return errno_error("unable to create a cgroup leaf in " + dir, err);
  }
  // A worker moves itself from our cgroup to its leaf: that needs write
  // access to both cgroup.procs files (the common ancestor's rule holds since
  // ours is the parent of the instance directory).
  int err = 0;
  if (::access((probe + "/cgroup.procs").c_str(), W_OK) != 0) err = errno;
  if (err == 0 && ::access((*own + "/cgroup.procs").c_str(), W_OK) != 0) err = errno;
  ::rmdir(probe.c_str());
  if (err != 0) {
    ::rmdir(dir.c_str());
    return errno_error("unable to move processes into " + dir, err);
  }
  return dir;
}

std::string leaf_path(const std::string& instance_dir, std::uint32_t slot, pid_t pid) {
  return instance_dir + "/" + std::to_string(slot) + "." + std::to_string(pid);
}

Status enter_leaf(const std::string& instance_dir, std::uint32_t slot) {
  const std::string leaf = leaf_path(instance_dir, slot, ::getpid());
  if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
    return errno_error("unable to create cgroup " + leaf, errno);
  }
  return write_small(leaf + "/cgroup.procs", "0");
}

Result<bool> kill_leaf(const std::string& leaf) {
  // Straight to cgroup.kill: writing it to an empty leaf is harmless, and a
  // worker's reap costs one open, one write and one rmdir.
  if (!write_small(leaf + "/cgroup.kill", "1")) {
    struct stat st {};
    if (::stat(leaf.c_str(), &st) != 0 && errno == ENOENT) return true;  // no leaf: nothing to do
    // Before Linux 5.14: one SIGKILL per listed pid. A process forked while
    // we read is listed at the next call (the caller calls until empty).
    auto procs = read_small(leaf + "/cgroup.procs");
    if (!procs) return procs.error();
    std::istringstream in(*procs);
    pid_t pid = 0;
    while (in >> pid) {
      if (pid > 0) ::kill(pid, SIGKILL);
    }
  }
  if (::rmdir(leaf.c_str()) == 0 || errno == ENOENT) return true;
  if (errno == EBUSY) return false;
  return errno_error("unable to remove cgroup " + leaf, errno);
}

bool kill_leaf_and_wait(const std::string& leaf, Deadline deadline) {
  for (;;) {
    auto done = kill_leaf(leaf);
    if (!done) return false;
    if (*done) return true;
    if (deadline.expired()) return false;
    // cgroup.events signals POLLPRI when `populated` changes; slices of at
    // most 20 ms in case the change came between the read and the poll.
    const int fd = ::open((leaf + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[256];
    (void)!::read(fd, buf, sizeof buf);
    if (populated(leaf)) {
      pollfd p{fd, POLLPRI, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline.remaining(std::chrono::milliseconds(20)));
      (void)::poll(&p, 1, static_cast<int>(left.count()));
    }
    ::close(fd);
  }
}

std::vector<std::string> list_leaves(const std::string& instance_dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(instance_dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (e->d_type != DT_DIR || n == "." || n == "..") continue;
    out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

bool parse_leaf_name(const std::string& name, std::uint32_t& slot, pid_t& pid) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) return false;
  const char* b = name.data();
  const auto r1 = std::from_chars(b, b + dot, slot);
  const auto r2 = std::from_chars(b + dot + 1, b + name.size(), pid);
  return r1.ec == std::errc() && r1.ptr == b + dot && r2.ec == std::errc() &&
         r2.ptr == b + name.size();
}

Status remove_instance(const std::string& instance_dir) {
  if (::rmdir(instance_dir.c_str()) != 0 && errno != ENOENT) {
    return errno_error("unable to remove cgroup " + instance_dir, errno);
  }
  return {};
}

}  // namespace dynmgr::cgroup
