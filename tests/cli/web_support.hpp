#pragma once
// Helpers for the web dashboard's tests: a supervisor listening on a port the
// kernel chose (read back from its log), and a raw HTTP connection that can
// stay open (an event stream, or a client that sends nothing) while the test
// goes on. Every read waits for a condition with a deadline.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "cli/ctl_support.hpp"

namespace dynmgr::testing {

// The port of `metrics at http://127.0.0.1:PORT/metrics` in the daemon's log, or 0.
inline int logged_port(const Daemon& d) {
  const std::string log = read_file(d.log_path());
  const std::string key = "metrics at http://127.0.0.1:";
  const auto at = log.rfind(key);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + key.size());
}

// One TCP connection to 127.0.0.1:port; everything received is kept in `got`.
class RawHttp {
 public:
  explicit RawHttp(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  RawHttp(const RawHttp&) = delete;
  RawHttp& operator=(const RawHttp&) = delete;
  ~RawHttp() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& text) {
    return fd_ >= 0 &&
           ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // GET path with optional extra header lines ("Name: value\r\n").
  bool get(const std::string& path, const std::string& headers = "") {
    return send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n");
  }
  // Reads until pred(got) or the deadline; returns pred's last value. The
  // connection closing ends the wait as well.
  bool read_until(const std::function<bool(const std::string&)>& pred,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!pred(got)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || fd_ < 0) return pred(got);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        return pred(got);
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  bool contains(const std::string& s) const { return got.find(s) != std::string::npos; }

  std::string got;
  bool closed = false;

 private:
  int fd_ = -1;
};

// curl -sS (-D -: the head too) with a generous max time; the output.
inline CommandResult curl(std::vector<std::string> args) {
  std::vector<std::string> argv{"/usr/bin/curl", "-sS", "--max-time", "60"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}
// The HTTP status code of a request (curl -w %{http_code}).
inline std::string http_code(std::vector<std::string> args) {
  std::vector<std::string> argv{"-o", "/dev/null", "-w", "%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  return curl(argv).out;
}

}  // namespace dynmgr::testing
