// exec_probe_command: an exec-worker command that reports what it was started
// with, for the spawn tests (descriptors, environment, working directory).
// Deliberately tiny and free of dynmgr and Boost, so nothing but the spawn
// decides which descriptors it holds.
//
//   exec_probe_command              JSON-lines worker: perform -> {"ok":null};
//                                   call "fds" | "env" | "cwd" | "pid" -> {"reply":...};
//                                   call "nofile" -> its RLIMIT_NOFILE soft limit;
//                                   call "alloc" -> allocates and touches 96 MiB more (kept);
//                                   terminate -> {"ok":null} and exit 0
//   exec_probe_command --list-fds   prints the open descriptors as a JSON array, exits
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

namespace {

// Every open descriptor, found with fcntl (listing /proc/self/fd would open one more).
std::string open_fds() {
  rlimit lim{};
  long max = 4096;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      lim.rlim_cur < 1'048'576) {
    max = static_cast<long>(lim.rlim_cur);
  }
  std::string out = "[";
  for (long fd = 0; fd < max; ++fd) {
    if (::fcntl(static_cast<int>(fd), F_GETFD) == -1) continue;
    if (out.size() > 1) out += ',';
    out += std::to_string(fd);
  }
  return out + "]";
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string environment() {
  std::string out = "{";
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    if (out.size() > 1) out += ',';
    out += quote(kv.substr(0, eq)) + ":" + quote(kv.substr(eq + 1));
  }
  return out + "}";
}

std::string cwd() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) != nullptr ? quote(buf) : "null";
}

// The string message of a call request ("message":"fds"), or "".
std::string message_of(const std::string& line) {
  const std::string key = "\"message\":\"";
  const auto at = line.find(key);
  if (at == std::string::npos) return "";
  const auto end = line.find('"', at + key.size());
  return end == std::string::npos ? "" : line.substr(at + key.size(), end - at - key.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--list-fds") == 0) {
    std::cout << open_fds() << std::endl;
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string answer = R"({"ok":null})";
    if (line.find(R"("op":"call")") != std::string::npos) {
      const std::string what = message_of(line);
      std::string reply = "null";
      if (what == "fds") reply = open_fds();
      if (what == "env") reply = environment();
      if (what == "cwd") reply = cwd();
      if (what == "pid") reply = std::to_string(::getpid());
      if (what == "nofile") {
        rlimit lim{};
        ::getrlimit(RLIMIT_NOFILE, &lim);
        reply = std::to_string(lim.rlim_cur);
      }
      if (what == "alloc") {
        static std::vector<std::vector<char>> kept;
        kept.emplace_back(std::size_t{96} << 20, '\1');  // written: resident
        reply = std::to_string(kept.size() * (std::size_t{96} << 20));
      }
      answer = R"({"reply":)" + reply + "}";
    }
    std::cout << answer << std::endl;
    if (line.find(R"("op":"terminate")") != std::string::npos) return 0;
  }
  return 0;
}
