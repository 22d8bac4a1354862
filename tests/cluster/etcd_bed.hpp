#pragma once
// Test bed for the cluster mode (README "Cluster"): a real etcd cluster on
// loopback, a TCP forwarder a test can cut to partition a process from it, and
// the tiny HTTP client both use. Header-only; POSIX and the standard library.
//
//  * EtcdCluster: N members of /usr/bin/etcd (3.4) in a fresh /tmp/dynmgr-etcd-*
//    directory, each child killed by the kernel if the thread that started it
//    dies (PR_SET_PDEATHSIG), so a crashed test leaves no etcd behind.
//  * TcpProxy: one loopback listener forwarding to one target; cut() resets
//    every forwarded connection and each new one once accepted, heal()
//    forwards again.
//  * MultiProxy: one TcpProxy per member of an EtcdCluster. A process given its
//    endpoints() instead of the cluster's is partitioned from every member by
//    one cut().
//  * http_get / http_post / http_request: one request per connection
//    ("Connection: close") over a raw socket, with a deadline; no curl.
//
// Nothing here sleeps to synchronise: health is polled (every 20 ms) against a
// deadline. Not thread-safe, except TcpProxy::cut/heal/is_cut.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace dynmgr::testing {

namespace etcd_bed_detail {

using Clock = std::chrono::steady_clock;

// Milliseconds left until deadline, as poll() wants them (0 once it passed).
inline int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
}

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// host must be a numeric IPv4 address ("localhost" is taken as 127.0.0.1).
inline std::optional<sockaddr_in> ipv4(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (port <= 0 || port > 65535 || ::inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    return std::nullopt;
  }
  return addr;
}

// A non-blocking, close-on-exec TCP socket whose connect to addr was started.
// *in_progress: not yet connected (wait for POLLOUT, then read SO_ERROR).
// Invalid if the connect failed at once (a refused loopback port).
inline Fd start_connect(const sockaddr_in& addr, bool* in_progress) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    *in_progress = false;
  } else if (errno == EINPROGRESS) {
    *in_progress = true;
  } else {
    fd.reset();
  }
  return fd;
}

// Closes fd with a TCP reset rather than a FIN: the peer's next read fails at
// once (ECONNRESET), as when a link or host goes away.
inline void close_with_reset(int fd) {
  const linger abort{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  ::close(fd);
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The body of a chunked message, or nullopt while the last chunk is missing.
inline std::optional<std::string> dechunk(std::string_view in) {
  std::string out;
  for (;;) {
    const auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    const std::string_view size_text = trim(in.substr(0, in.find_first_of(";\r")));
    std::size_t size = 0;
    const auto [end, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc{} || end != size_text.data() + size_text.size()) return std::nullopt;
    if (size == 0) return out;  // trailers, if any, are ignored
    in.remove_prefix(eol + 2);
    if (in.size() < size + 2) return std::nullopt;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

}  // namespace etcd_bed_detail

// An HTTP answer: any status (4xx and 5xx too) and its body.
struct HttpReply {
  int status = 0;
  std::string body;
};

// Parses what was read of an HTTP/1.x response; eof: the peer closed. The reply
// once complete (by Content-Length, the last chunk, or eof), else nullopt.
inline std::optional<HttpReply> parse_http_reply(std::string_view raw, bool eof) {
  using namespace etcd_bed_detail;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return std::nullopt;
  std::string_view head = raw.substr(0, head_end);
  const std::string_view rest = raw.substr(head_end + 4);
  // "HTTP/1.1 200 OK"
  const auto sp = head.find(' ');
  if (head.substr(0, 5) != "HTTP/" || sp == std::string_view::npos || head.size() < sp + 4) {
    return std::nullopt;
  }
  HttpReply reply;
  const auto [end, ec] = std::from_chars(head.data() + sp + 1, head.data() + sp + 4, reply.status);
  if (ec != std::errc{} || end != head.data() + sp + 4) return std::nullopt;

  std::optional<std::size_t> length;
  bool chunked = false;
  for (auto eol = head.find("\r\n"); eol != std::string_view::npos;) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      std::size_t n = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc{}) {
        length = n;
      }
    } else if (name == "transfer-encoding") {
      chunked = lower(value).find("chunked") != std::string::npos;
    }
  }
  if (chunked) {
    auto body = dechunk(rest);
    if (!body) return std::nullopt;
    reply.body = std::move(*body);
  } else if (length) {
    if (rest.size() < *length) return std::nullopt;
    reply.body = std::string(rest.substr(0, *length));
  } else {
    if (!eof) return std::nullopt;
    reply.body = std::string(rest);
  }
  return reply;
}

// One HTTP/1.1 request on a fresh connection to host:port (numeric IPv4),
// with Connection: close. timeout covers connect, send and the whole answer.
// nullopt: no complete answer in time (refused, reset, timed out, malformed).
inline std::optional<HttpReply> http_request(std::string_view method, const std::string& host,
                                             int port, std::string_view path, std::string_view body,
                                             std::chrono::milliseconds timeout) {
  using namespace etcd_bed_detail;
  const auto deadline = Clock::now() + timeout;
  const auto addr = ipv4(host, port);
  if (!addr) return std::nullopt;
  bool in_progress = false;
  Fd fd = start_connect(*addr, &in_progress);
  if (!fd) return std::nullopt;

  // Waits until fd is ready for events; false on timeout or a socket error.
  const auto wait_for = [&](short events) {
    for (;;) {
      pollfd p{fd.get(), events, 0};
      const int n = ::poll(&p, 1, ms_left(deadline));
      if (n > 0) return (p.revents & events) != 0 || (p.revents & POLLHUP) != 0;
      if (n == 0 || errno != EINTR) return false;
    }
  };
  if (in_progress) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!wait_for(POLLOUT) || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
        err != 0) {
      return std::nullopt;
    }
  }

  std::string request;
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(host).append(":").append(std::to_string(port)).append("\r\n");
  request.append("Connection: close\r\n");
  if (method != "GET" || !body.empty()) {
    request.append("Content-Type: application/json\r\n");
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);
  for (std::string_view left = request; !left.empty();) {
    const ssize_t n = ::send(fd.get(), left.data(), left.size(), MSG_NOSIGNAL);
    if (n > 0) {
      left.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (!wait_for(POLLOUT)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }

  std::string raw;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<std::size_t>(n));
      if (auto reply = parse_http_reply(raw, /*eof=*/false)) return reply;
      if (raw.size() > (64u << 20)) return std::nullopt;  // not a test-sized answer
    } else if (n == 0) {
      return parse_http_reply(raw, /*eof=*/true);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      if (!wait_for(POLLIN)) return std::nullopt;
    } else {
      return std::nullopt;  // reset
    }
  }
}

// The body of a 2xx answer to GET path, or "" (no answer, or another status).
inline std::string http_get(const std::string& host, int port, const std::string& path,
                            std::chrono::milliseconds timeout) {
  auto reply = http_request("GET", host, port, path, {}, timeout);
  return reply && reply->status / 100 == 2 ? std::move(reply->body) : std::string();
}

// The body of a 2xx answer to POST path with a JSON body, or "".
inline std::string http_post(const std::string& host, int port, const std::string& path,
                             const std::string& body, std::chrono::milliseconds timeout) {
  auto reply = http_request("POST", host, port, path, body, timeout);
  return reply && reply->status / 100 == 2 ? std::move(reply->body) : std::string();
}

// Standard base64 with padding: the etcd JSON gateway's encoding of keys and values.
inline std::string base64(std::string_view in) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      v = (v << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0u);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63u] : '=';
    }
  }
  return out;
}

// n distinct free loopback ports: n sockets bound together to 127.0.0.1:0 (so
// the kernel hands out distinct ports), read back, then closed for etcd to bind.
// Another process may take one in between: a tiny race, accepted. Empty on error.
inline std::vector<int> free_loopback_ports(int n) {
  using namespace etcd_bed_detail;
  std::vector<Fd> held;
  std::vector<int> ports;
  for (int i = 0; i < n; ++i) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = *ipv4("127.0.0.1", 1);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return {};
    }
    ports.push_back(ntohs(addr.sin_port));
    held.push_back(std::move(fd));
  }
  return ports;
}

// A real etcd cluster on loopback: members m0..m{N-1} of /usr/bin/etcd, data
// and logs (DIR/mN, DIR/mN.log) in a fresh /tmp/dynmgr-etcd-XXXXXX removed by
// the destructor. The constructor starts every member and waits (at most
// kStartTimeout) until each answers /health with "health":"true", which in
// etcd 3.4 means no alarm, a known leader and a read through raft (quorum).
//
// Members run with short raft timers (heartbeat 50 ms, election 500 ms) and
// without fsync (--unsafe-no-fsync: accepted by 3.4.23 though --help omits it).
// Each child has PR_SET_PDEATHSIG=SIGKILL: it dies with the *thread* that
// started it (kill/restart from the same test thread that built the cluster).
class EtcdCluster {
 public:
  static constexpr const char* kEtcd = "/usr/bin/etcd";
  static constexpr std::chrono::milliseconds kStartTimeout{20'000};
  static constexpr std::chrono::milliseconds kHealthPoll{20};

  explicit EtcdCluster(int members = 3) {
    char dir[] = "/tmp/dynmgr-etcd-XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
      error_ = std::string("etcd_bed: unable to create a directory: ") + std::strerror(errno);
      return;
    }
    dir_ = dir;
    // Unique per cluster: members of another bed can never join this one.
    token_ = dir_.substr(dir_.rfind('/') + 1);
    const int n = std::max(members, 1);
    const std::vector<int> ports = free_loopback_ports(2 * n);
    if (ports.empty()) {
      error_ = "etcd_bed: unable to find free loopback ports";
      return;
    }
    for (int i = 0; i < n; ++i) {
      Member m;
      m.name = "m" + std::to_string(i);
      m.client_port = ports[static_cast<std::size_t>(2 * i)];
      m.peer_port = ports[static_cast<std::size_t>(2 * i + 1)];
      if (!initial_cluster_.empty()) initial_cluster_ += ',';
      initial_cluster_ += m.name + "=" + url(m.peer_port);
      members_.push_back(std::move(m));
    }
    // One after another: a new member first asks its peers whether it is
    // already bootstrapped (1 s timeout per peer). A peer whose listener is
    // bound but not yet serving costs that whole second; one not started yet
    // refuses at once, one serving answers at once. Started together, three
    // members often stalled 2 s; staggered, none does.
    const auto deadline = etcd_bed_detail::Clock::now() + kStartTimeout;
    for (int i = 0; i < n; ++i) {
      start(i, "new");
      if (!wait_peer_serving(i, deadline)) {
        error_ = "etcd_bed: " + members_[static_cast<std::size_t>(i)].name +
                 " did not serve its peer port in time";
        return;
      }
    }
    ok_ = wait_healthy(all(), std::chrono::milliseconds(etcd_bed_detail::ms_left(deadline)));
  }

  // Kills every member (SIGKILL) and removes the directory.
  ~EtcdCluster() {
    kill_all();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Every member was healthy within kStartTimeout of construction.
  bool ok() const { return ok_; }
  int size() const { return static_cast<int>(members_.size()); }
  const std::string& dir() const { return dir_; }

  // "http://127.0.0.1:CP,..." of every member, in member order.
  std::string endpoints() const {
    std::string out;
    for (const Member& m : members_) out += (out.empty() ? "" : ",") + url(m.client_port);
    return out;
  }
  std::string endpoint(int i) const {
    return url(members_.at(static_cast<std::size_t>(i)).client_port);
  }
  int client_port(int i) const { return members_.at(static_cast<std::size_t>(i)).client_port; }
  // The member's pid, -1 while it is not running (e.g. to SIGSTOP it).
  pid_t pid(int i) const { return members_.at(static_cast<std::size_t>(i)).pid; }

  // SIGKILL and reap member i (nothing if it is not running).
  void kill(int i) {
    Member& m = members_.at(static_cast<std::size_t>(i));
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    int status = 0;
    while (::waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
    }
    m.pid = -1;
  }
  void kill_all() {
    for (int i = 0; i < size(); ++i) kill(i);
  }

  // Starts member i again (killing it first if it runs) on its data dir, with
  // --initial-cluster-state existing; true once it is healthy (kStartTimeout).
  bool restart(int i) {
    kill(i);
    start(i, "existing");
    return wait_healthy({i}, kStartTimeout);
  }
  // Starts every member that is not running; true once all are healthy.
  bool restart_all() {
    for (int i = 0; i < size(); ++i) {
      if (members_[static_cast<std::size_t>(i)].pid <= 0) start(i, "existing");
    }
    return wait_healthy(all(), kStartTimeout);
  }

  // Member i answers "health":"true" within timeout (polled every kHealthPoll).
  // False at once if it is not running (killed, or it exited: see log(i)).
  bool healthy(int i, std::chrono::milliseconds timeout) { return wait_healthy({i}, timeout); }

  // Member i's log (etcd writes only errors), and how it ended if it exited by itself.
  std::string log(int i) const {
    const Member& m = members_.at(static_cast<std::size_t>(i));
    std::ifstream in(dir_ + "/" + m.name + ".log");
    std::ostringstream out;
    out << in.rdbuf();
    return out.str() + m.exit_note;
  }
  // Every member's log, labelled, plus any setup error: for failure messages.
  std::string logs() const {
    std::string out = error_.empty() ? "" : error_ + "\n";
    for (int i = 0; i < size(); ++i) {
      out += "--- etcd " + members_[static_cast<std::size_t>(i)].name + " (" + endpoint(i) +
             ") ---\n" + log(i) + "\n";
    }
    return out;
  }

 private:
  struct Member {
    std::string name;  // m0, m1, ...
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;         // -1 while not running
    std::string exit_note;  // how it ended, if it exited by itself
  };

  static std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

  std::vector<int> all() const {
    std::vector<int> v;
    for (int i = 0; i < size(); ++i) v.push_back(i);
    return v;
  }

  // fork + exec of member i; state: "new" or "existing".
  void start(int i, const char* state) {
    Member& m = members_.at(static_cast<std::size_t>(i));
    m.exit_note.clear();
    const std::string client = url(m.client_port);
    const std::string peer = url(m.peer_port);
    const std::pair<const char*, std::string> flags[] = {
        {"--name", m.name},
        {"--data-dir", dir_ + "/" + m.name},
        {"--listen-client-urls", client},
        {"--advertise-client-urls", client},
        {"--listen-peer-urls", peer},
        {"--initial-advertise-peer-urls", peer},
        {"--initial-cluster", initial_cluster_},
        {"--initial-cluster-state", state},
        {"--initial-cluster-token", token_},
        {"--heartbeat-interval", "50"},
        {"--election-timeout", "500"},
        {"--logger", "zap"},  // capnslog (3.4's default) warns it is deprecated
        {"--log-outputs", "stderr"},
        {"--log-level", "error"},
    };
    std::vector<std::string> args = {kEtcd, "--unsafe-no-fsync"};
    for (const auto& [flag, value] : flags) {
      args.push_back(flag);
      args.push_back(value);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // ETCD_* variables of the caller's environment would configure etcd too.
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "ETCD_", 5) != 0) envp.push_back(*e);
    }
    envp.push_back(nullptr);

    using etcd_bed_detail::Fd;
    Fd log(::open((dir_ + "/" + m.name + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644));
    Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!log || !null) {
      m.exit_note = std::string("etcd_bed: unable to open its log: ") + std::strerror(errno);
      return;
    }
    sigset_t none;
    sigemptyset(&none);
    const int log_fd = log.get();
    const int null_fd = null.get();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // DANGER: the child of a possibly multi-threaded process (TcpProxy
      // threads). Only async-signal-safe calls until execve: no allocation,
      // no locks, nothing that touches the C++ objects above but reads.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execve(kEtcd, argv.data(), envp.data());
      static constexpr char kMsg[] = "etcd_bed: unable to exec /usr/bin/etcd\n";
      if (::write(STDERR_FILENO, kMsg, sizeof kMsg - 1) < 0) {
      }
      ::_exit(127);
    }
    if (pid < 0) {
      m.exit_note = std::string("etcd_bed: unable to fork: ") + std::strerror(errno);
      return;
    }
    m.pid = pid;
  }

  // Reaps member i if it exited by itself, noting how. True while it runs.
  bool running(int i) {
    Member& m = members_.at(static_cast<std::size_t>(i));
    if (m.pid <= 0) return false;
    int status = 0;
    if (::waitpid(m.pid, &status, WNOHANG) != m.pid) return true;
    m.exit_note =
        "etcd_bed: " + m.name +
        (WIFEXITED(status) ? " exited with status " + std::to_string(WEXITSTATUS(status))
                           : " was killed by signal " + std::to_string(WTERMSIG(status))) +
        "\n";
    m.pid = -1;
    return false;
  }

  // Polls member i's peer listener (GET /version) every kHealthPoll until it
  // answers; false if the member is not running or the deadline passed.
  bool wait_peer_serving(int i, etcd_bed_detail::Clock::time_point deadline) {
    const int port = members_.at(static_cast<std::size_t>(i)).peer_port;
    for (;;) {
      if (!running(i)) return false;
      const auto probe = std::min(std::chrono::milliseconds(etcd_bed_detail::ms_left(deadline)),
                                  std::chrono::milliseconds(1500));
      if (!http_get("127.0.0.1", port, "/version", probe).empty()) return true;
      if (etcd_bed_detail::Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(kHealthPoll);  // the poll interval, not a synchronisation
    }
  }

  // Polls /health of each of `which` every kHealthPoll until all said
  // "health":"true" or timeout passed; false at once if one is not running.
  bool wait_healthy(const std::vector<int>& which, std::chrono::milliseconds timeout) {
    using etcd_bed_detail::Clock;
    const auto deadline = Clock::now() + timeout;
    std::vector<int> pending = which;
    for (;;) {
      for (auto it = pending.begin(); it != pending.end();) {
        if (!running(*it)) return false;
        // etcd 3.4 bounds its own /health check by 1 s; allow a little more.
        const auto probe = std::min(std::chrono::milliseconds(etcd_bed_detail::ms_left(deadline)),
                                    std::chrono::milliseconds(1500));
        const std::string body = http_get(
            "127.0.0.1", members_.at(static_cast<std::size_t>(*it)).client_port, "/health", probe);
        it = body.find(R"("health":"true")") != std::string::npos ? pending.erase(it) : it + 1;
      }
      if (pending.empty()) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(kHealthPoll);  // the poll interval, not a synchronisation
    }
  }

  std::string dir_;              // constant after construction
  std::string token_;            // constant after construction
  std::string initial_cluster_;  // "m0=http://127.0.0.1:PP,..."; constant
  std::string error_;            // why construction failed, if it did
  std::vector<Member> members_;
  bool ok_ = false;
};

// A loopback TCP forwarder: listens on 127.0.0.1:<free port> and forwards each
// accepted connection to target, both ways, from one background thread
// (poll(), non-blocking sockets, a bounded buffer per direction; half-closes
// are passed on). cut() closes every forwarded connection at once with a reset
// and, until heal(), resets each new connection as soon as it is accepted: a
// client sees its connection fail within milliseconds, as with a lost peer.
// cut() and heal() take effect before they return; any thread may call them.
class TcpProxy {
 public:
  TcpProxy(std::string target_host, int target_port)
      : target_host_(std::move(target_host)), target_port_(target_port) {
    using namespace etcd_bed_detail;
    const auto target = ipv4(target_host_, target_port_);
    auto addr = ipv4("127.0.0.1", 1);
    if (!target || !addr) return;
    target_ = *target;
    addr->sin_port = 0;
    socklen_t len = sizeof *addr;
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    Fd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!listener || !wake ||
        ::bind(listener.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0 ||
        ::listen(listener.get(), 128) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&*addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr->sin_port);
    listener_ = std::move(listener);
    wake_ = std::move(wake);
    thread_ = std::thread([this] { loop(); });
  }

  // Stops the thread and closes every connection and the listener.
  ~TcpProxy() {
    if (!thread_.joinable()) return;
    stop_ = true;
    wake();
    thread_.join();
  }

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Listening (the constructor can fail only on a bad target or no free port).
  bool ok() const { return thread_.joinable(); }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& target_host() const { return target_host_; }
  int target_port() const { return target_port_; }

  void cut() { set_cut(true); }
  void heal() { set_cut(false); }
  bool is_cut() const { return cut_; }

 private:
  static constexpr std::size_t kBufferCap = 256 * 1024;  // per direction

  // One forwarded connection. Owned by the loop thread.
  struct Conn {
    etcd_bed_detail::Fd client;
    etcd_bed_detail::Fd upstream;
    bool connecting = true;      // upstream connect not finished
    std::string to_upstream;     // read from client, not yet written upstream
    std::string to_client;       // read from upstream, not yet written to client
    bool client_eof = false;     // client sent FIN
    bool upstream_eof = false;   // upstream sent FIN
    bool client_shut = false;    // we sent FIN to client
    bool upstream_shut = false;  // we sent FIN upstream
    bool done = false;           // to be closed (reset unless both sides shut)
  };

  void wake() {
    const std::uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) < 0) {
    }
  }

  // Publishes the new state and waits until the loop thread applied it.
  void set_cut(bool cut) {
    std::unique_lock lock(mu_);
    cut_ = cut;
    const std::uint64_t generation = ++requested_;
    if (!thread_.joinable()) return;
    wake();
    applied_cv_.wait(lock, [&] { return applied_ >= generation; });
  }

  void loop() {
    std::vector<pollfd> fds;
    while (!stop_) {
      fds.clear();
      fds.push_back({wake_.get(), POLLIN, 0});
      fds.push_back({listener_.get(), POLLIN, 0});
      for (const auto& c : conns_) {
        const bool up = !c->connecting;
        short ce = 0, ue = 0;
        if (up && !c->client_eof && c->to_upstream.size() < kBufferCap) ce |= POLLIN;
        if (!c->to_client.empty()) ce |= POLLOUT;
        if (!up) ue |= POLLOUT;
        if (up && !c->upstream_eof && c->to_client.size() < kBufferCap) ue |= POLLIN;
        if (up && !c->to_upstream.empty()) ue |= POLLOUT;
        // No interest: leave the fd out (a hung-up fd would wake poll forever).
        fds.push_back({ce != 0 ? c->client.get() : -1, ce, 0});
        fds.push_back({ue != 0 ? c->upstream.get() : -1, ue, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      if ((fds[0].revents & POLLIN) != 0) {
        std::uint64_t n = 0;
        if (::read(wake_.get(), &n, sizeof n) < 0) {
        }
      }
      for (std::size_t k = 0; k < conns_.size() && 2 + 2 * k < fds.size(); ++k) {
        service(*conns_[k], fds[2 + 2 * k].revents, fds[3 + 2 * k].revents);
      }
      close_done();
      apply_cut();
      if ((fds[1].revents & POLLIN) != 0) accept_all();
    }
    for (auto& c : conns_) c->done = true;
    close_done();
  }

  // Moves bytes for one connection after poll said cr (client) / ur (upstream).
  void service(Conn& c, short cr, short ur) {
    if (c.connecting) {
      if (ur == 0) return;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(c.upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        c.done = true;  // target refused: the client gets a reset
        return;
      }
      c.connecting = false;
      return;
    }
    if (((cr | ur) & POLLERR) != 0) {
      c.done = true;
      return;
    }
    if ((cr & (POLLIN | POLLHUP)) != 0 && !c.client_eof &&
        !read_into(c.client.get(), c.to_upstream, c.client_eof)) {
      c.done = true;
      return;
    }
    if ((ur & (POLLIN | POLLHUP)) != 0 && !c.upstream_eof &&
        !read_into(c.upstream.get(), c.to_client, c.upstream_eof)) {
      c.done = true;
      return;
    }
    // Write whatever is pending (EAGAIN leaves it for the next POLLOUT).
    if (!flush(c.upstream.get(), c.to_upstream) || !flush(c.client.get(), c.to_client)) {
      c.done = true;
      return;
    }
    // Pass a FIN on once everything before it was delivered.
    if (c.client_eof && c.to_upstream.empty() && !c.upstream_shut) {
      ::shutdown(c.upstream.get(), SHUT_WR);
      c.upstream_shut = true;
    }
    if (c.upstream_eof && c.to_client.empty() && !c.client_shut) {
      ::shutdown(c.client.get(), SHUT_WR);
      c.client_shut = true;
    }
    if (c.client_shut && c.upstream_shut) c.done = true;
  }

  // One recv into buf (up to its cap); false on a socket error.
  static bool read_into(int fd, std::string& buf, bool& eof) {
    char tmp[16384];
    const std::size_t room = std::min(sizeof tmp, kBufferCap - std::min(kBufferCap, buf.size()));
    if (room == 0) return true;
    const ssize_t n = ::recv(fd, tmp, room, 0);
    if (n > 0) {
      buf.append(tmp, static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      return false;
    }
    return true;
  }

  // Sends as much of buf as the socket takes; false on a socket error.
  static bool flush(int fd, std::string& buf) {
    while (!buf.empty()) {
      const ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
      if (n > 0) {
        buf.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return true;
      } else {
        return false;
      }
    }
    return true;
  }

  // Closes finished connections: quietly if both sides shut, else with a reset.
  void close_done() {
    for (auto& c : conns_) {
      if (!c->done) continue;
      if (!(c->client_shut && c->upstream_shut)) {
        etcd_bed_detail::close_with_reset(c->client.get());
        etcd_bed_detail::close_with_reset(c->upstream.get());
        // close_with_reset closed them: release ownership without closing again.
        c->client = etcd_bed_detail::Fd();
        c->upstream = etcd_bed_detail::Fd();
      }
    }
    std::erase_if(conns_, [](const auto& c) { return c->done; });
  }

  // Applies the latest cut()/heal() and tells its caller.
  void apply_cut() {
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      generation = requested_;
    }
    if (generation == seen_) return;
    seen_ = generation;
    if (cut_) {
      for (auto& c : conns_) c->done = true;
      close_done();
    }
    {
      std::lock_guard lock(mu_);
      applied_ = generation;
    }
    applied_cv_.notify_all();
  }

  void accept_all() {
    using namespace etcd_bed_detail;
    for (;;) {
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN (or out of fds: the client waits in the backlog)
      if (cut_) {
        close_with_reset(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Conn>();
      c->client = Fd(fd);
      c->upstream = start_connect(target_, &c->connecting);
      if (!c->upstream) {
        close_with_reset(c->client.get());
        c->client = Fd();  // already closed
        continue;
      }
      conns_.push_back(std::move(c));
    }
  }

  const std::string target_host_;
  const int target_port_;
  sockaddr_in target_{};  // constant after construction
  int port_ = 0;          // constant after construction
  etcd_bed_detail::Fd listener_;
  etcd_bed_detail::Fd wake_;  // eventfd: cut/heal/stop wake the loop
  std::atomic<bool> cut_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable applied_cv_;
  std::uint64_t requested_ = 0;               // guarded by mu_: cut/heal calls so far
  std::uint64_t applied_ = 0;                 // guarded by mu_: how many the loop applied
  std::uint64_t seen_ = 0;                    // loop thread only
  std::vector<std::unique_ptr<Conn>> conns_;  // loop thread only
  std::thread thread_;                        // last: started when everything above is ready
};

// One TcpProxy per member of an EtcdCluster, in member order. A process given
// endpoints() as its etcd endpoints is partitioned from the whole cluster by
// cut() and reconnected by heal(); at(i) cuts the path to one member only.
class MultiProxy {
 public:
  explicit MultiProxy(const EtcdCluster& cluster) {
    for (int i = 0; i < cluster.size(); ++i) {
      proxies_.push_back(std::make_unique<TcpProxy>("127.0.0.1", cluster.client_port(i)));
    }
  }
  bool ok() const {
    return std::all_of(proxies_.begin(), proxies_.end(), [](const auto& p) { return p->ok(); });
  }
  int size() const { return static_cast<int>(proxies_.size()); }
  TcpProxy& at(int i) { return *proxies_.at(static_cast<std::size_t>(i)); }
  // "http://127.0.0.1:P0,..." of the proxies, in member order.
  std::string endpoints() const {
    std::string out;
    for (const auto& p : proxies_) out += (out.empty() ? "" : ",") + p->url();
    return out;
  }
  void cut() {
    for (auto& p : proxies_) p->cut();
  }
  void heal() {
    for (auto& p : proxies_) p->heal();
  }
  bool is_cut() const {
    return std::all_of(proxies_.begin(), proxies_.end(), [](const auto& p) { return p->is_cut(); });
  }

 private:
  std::vector<std::unique_ptr<TcpProxy>> proxies_;
};

}  // namespace dynmgr::testing
