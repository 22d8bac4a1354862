#include "worker/exec_manager.hpp"

#include "shared/clock.hpp"
#include "shared/json.hpp"
#include "shared/log.hpp"
#include "shared/overrun.hpp"
#include "worker/boost_process_v2.hpp"
#include "worker/exec_lines.hpp"
#include "worker/worker_runtime.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bp = boost::process::v2;

namespace dynmgr {
namespace {

constexpr std::uint32_t kDefaultResponseTimeoutMs = 30'000;
constexpr std::uint32_t kDefaultReadyTimeoutMs = 500;
// What a failure keeps of the command's stderr: its last lines, bounded.
constexpr std::size_t kStderrTailLines = 3;
constexpr std::size_t kStderrTailBytes = 512;
constexpr std::uint32_t kPerformDeadlineMarginMs = 250;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

[[noreturn]] void fail(const std::string& why) { throw std::runtime_error(why); }

using exec_lines::cut;

// A Boost.Process v2 initializer run in the child between fork and exec.
//
// DANGER: this code runs in the forked child of the worker. Only
// async-signal-safe calls (setpgid, prctl, getppid, signal, sigprocmask,
// close_range, _exit)
// and no allocation: the whitelist is sorted in place.
struct CommandSetup {
  pid_t parent = 0;

  template <class Launcher>
  bp::error_code on_exec_setup(Launcher& launcher, const bp::filesystem::path&,
                               const char* const*) {
    ::setpgid(0, 0);                     // its own process group
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the worker...
    if (::getppid() != parent) ::_exit(127);  // ...even if it died just now
    ::signal(SIGPIPE, SIG_DFL);          // the worker ignores SIGPIPE; the command should not
    sigset_t none;                       // the worker keeps stop signals blocked; the
    sigemptyset(&none);                  // command must receive them
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Close every descriptor but stdio and the launcher's own (its exec-error
    // pipe). Boost 1.81's close_all misses the gaps between whitelist entries.
    auto& wl = launcher.fd_whitelist;
    std::sort(wl.begin(), wl.end());
    unsigned int next = 0;
    for (int fd : wl) {
      if (fd < 0) continue;
      const auto ufd = static_cast<unsigned int>(fd);
      if (ufd > next) ::syscall(SYS_close_range, next, ufd - 1, 0U);
      next = std::max(next, ufd + 1);
    }
    ::syscall(SYS_close_range, next, ~0U, 0U);
    return {};
  }
};

// One line of valid UTF-8 for an error message: control characters become
// spaces, a byte that does not start a valid sequence becomes '?'.
std::string printable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t n = (c & 0xE0) == 0xC0   ? 2
                          : (c & 0xF0) == 0xE0 ? 3
                          : (c & 0xF8) == 0xF0 ? 4
                                               : 0;
    bool ok = n != 0 && i + n <= in.size() && c != 0xC0 && c != 0xC1 && c < 0xF5;
    for (std::size_t k = 1; ok && k < n; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    }
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

json::object options_from_env() {
  const char* env = std::getenv("DYNMGR_WORKER_OPTIONS");
  if (env == nullptr) return {};
  auto v = parse_json(env, "DYNMGR_WORKER_OPTIONS");
  if (!v || !v->is_object()) return {};
  return v->get_object();
}

}  // namespace

struct ExecManager::Command {
  boost::asio::io_context ctx;
  std::unique_ptr<bp::process> proc;
  pid_t pid = 0;
  int in = -1;   // we write requests
  int out = -1;  // we read responses
  int err = -1;  // the command's stderr (non-blocking): forwarded to ours, its tail kept
  std::string buffer;
  std::string err_line;               // a stderr line not yet complete
  char err_chunk[64 * 1024];          // pump_stderr's read buffer
  std::vector<std::string> err_tail;  // its last complete lines (kStderrTailLines)
  std::string id;
  std::uint32_t response_timeout_ms = kDefaultResponseTimeoutMs;
  bool ready_line_seen = false;  // {"ready":true} came (a later one is a stray line)
  bool exited = false;
  std::string exit_status;  // "command exited with code 3" once it has ended
  std::string exit_reason;  // exit_status and its last stderr lines
  ExitInfo exit_info;       // how it ended, with exit_reason as the reason
  MonoClock::time_point started = MonoClock::now();

  ~Command() {
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    if (err >= 0) {
      pump_stderr();
      flush_stderr_line();
      ::close(err);
    }
    if (pid > 0 && !exited) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    if (proc) {
      bp::error_code ec;
      proc->wait(ec);
      proc->detach();
    }
  }

  // The command's stderr goes through the worker on its way to the worker's
  // own stderr (its log): whole lines, so they never interleave with the
  // worker's own log lines, and the last ones are kept for the reason of a
  // failure. One write per read of complete lines (a line per write cost 15x
  // in throughput). Never blocks on the command; drains what is there now.
  void pump_stderr() {
    // Bounded: a command that floods stderr cannot hold the worker here.
    for (int reads = 0; err >= 0 && reads < 16; ++reads) {
      const ssize_t n = ::read(err, err_chunk, sizeof err_chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EAGAIN: nothing more now
      if (n == 0) {       // every writer is gone
        flush_stderr_line();
        ::close(err);
        err = -1;
        return;
      }
      const std::string_view data(err_chunk, static_cast<std::size_t>(n));
      const auto last_nl = data.rfind('\n');
      if (last_nl == std::string_view::npos) {
        err_line.append(data);
        if (err_line.size() >= 64 * 1024) flush_stderr_line();  // the collector cuts there too
        continue;
      }
      const std::string_view whole = data.substr(0, last_nl + 1);
      if (err_line.empty()) {
        write_all(STDERR_FILENO, whole);
        note_tail(whole);
      } else {
        err_line.append(whole);
        write_all(STDERR_FILENO, err_line);
        note_tail(err_line);
      }
      err_line.assign(data.substr(last_nl + 1));
    }
  }

  void flush_stderr_line() {
    if (err_line.empty()) return;
    write_all(STDERR_FILENO, err_line);
    note_tail(err_line);
    err_line.clear();
  }

  // Keeps the last kStderrTailLines non-empty lines of `text` (each at most
  // kStderrTailBytes, its end kept), looking only at the end of a long block.
  void note_tail(std::string_view text) {
    std::vector<std::string> found;  // newest first
    while (!text.empty() && found.size() < kStderrTailLines) {
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
      if (text.empty()) break;
      const auto nl = text.rfind('\n');
      std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
      text.remove_suffix(line.size());
      if (line.size() > kStderrTailBytes) line = line.substr(line.size() - kStderrTailBytes);
      found.emplace_back(line);
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) err_tail.push_back(std::move(*it));
    if (err_tail.size() > kStderrTailLines) {
      err_tail.erase(err_tail.begin(),
                     err_tail.end() - static_cast<std::ptrdiff_t>(kStderrTailLines));
    }
  }

  static void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // our own stderr is gone: nothing better to do with it
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // "; stderr: a | b | c": the last lines the command wrote (at most
  // kStderrTailLines, kStderrTailBytes), or "" when it wrote none.
  std::string stderr_tail() const {
    std::vector<std::string> lines = err_tail;
    if (!err_line.empty()) lines.push_back(err_line);
    if (lines.size() > kStderrTailLines) lines.erase(lines.begin());
    std::string joined;
    for (const auto& l : lines) {
      if (!joined.empty()) joined += " | ";
      joined += l;
    }
    if (joined.empty()) return {};
    if (joined.size() > kStderrTailBytes)
      joined = "..." + joined.substr(joined.size() - kStderrTailBytes);
    return "; stderr: " + printable(joined);
  }

  // {"ready":true} (extra fields ignored, as everywhere in the protocol).
  static bool is_ready_line(std::string_view line) {
    if (line.find("ready") == std::string_view::npos) return false;  // most lines: no parse
    auto v = parse_json(line, "the command's line");
    if (!v || !v->is_object()) return false;
    const auto r = get_bool(v->get_object(), "ready");
    return r && *r;
  }

  // Non-blocking check; records how it ended.
  bool running() {
    if (exited) return false;
    bp::error_code ec;
    if (proc->running(ec)) return true;
    exited = true;
    const int code = proc->exit_code();
    exit_status = "command exited with code " + std::to_string(code);
    if (code > 128) exit_status += " (signal " + std::to_string(code - 128) + "?)";
    // bp reports a signal death through its native exit code; ask precisely.
    const int native = proc->native_exit_code();
    if (WIFSIGNALED(native)) {
      const char* abbrev = sigabbrev_np(WTERMSIG(native));
      exit_status = std::string("command killed by SIG") + (abbrev ? abbrev : "?");
    }
    pump_stderr();  // what it wrote last, as far as it is there already
    exit_reason = exit_status + stderr_tail();
    exit_info = ExitInfo::from_wait_status(native);
    exit_info.reason = exit_reason;
    return false;
  }

  // Up to half a second for a command that closed its stdio to end.
  void await_exit() {
    for (int i = 0; i < 100 && running(); ++i) {
      pump_stderr();
      struct timespec ts {
        0, 5'000'000
      };
      ::nanosleep(&ts, nullptr);  // poll interval while the closing command exits
    }
  }

  // The command has ended (running() said so): for the runtime's restart in
  // place, with `why` as the reason.
  ChildEnded ended(std::string why) const {
    ExitInfo info = exit_info;
    info.reason = std::move(why);
    const auto ran = std::chrono::duration_cast<Millis>(MonoClock::now() - started);
    return ChildEnded(std::move(info),
                      static_cast<std::uint64_t>(std::max<std::int64_t>(ran.count(), 0)));
  }

  void send(const json::object& request) {
    std::string line = to_json(request);
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(in, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int write_errno = errno;
        // EPIPE: it closed its stdin, most likely as it ended: wait for that.
        if (write_errno == EPIPE) await_exit();
        if (exited) throw ended("unable to write to the command: " + exit_reason);
        fail("unable to write to the command: " + std::string(std::strerror(write_errno)));
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  // One response line within timeout_ms, or throws with the reason.
  std::string read_line(std::uint32_t timeout_ms, const char* op) {
    const Deadline deadline = Deadline::after(Millis(timeout_ms));
    for (;;) {
      while (auto line = exec_lines::take_line(buffer)) {
        if (!ready_line_seen && is_ready_line(*line)) {
          ready_line_seen = true;  // a slow starter's late announcement, not an answer
          continue;
        }
        return std::move(*line);
      }
      const auto left = std::chrono::duration_cast<Millis>(deadline.remaining(Millis(250)));
      if (deadline.expired()) {
        fail("command did not answer " + std::string(op) + " within " +
             std::to_string(timeout_ms) + " ms");
      }
      pollfd pfd[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
      const int r = ::poll(pfd, err >= 0 ? 2 : 1, static_cast<int>(left.count()));
      if (r < 0 && errno != EINTR) fail(std::string("unable to poll the command: ") + std::strerror(errno));
      if (r <= 0) continue;
      if (err >= 0 && pfd[1].revents != 0) pump_stderr();
      if (pfd[0].revents == 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n > 0) {
        buffer.append(chunk, static_cast<std::size_t>(n));
        if (buffer.size() > 16 * 1024 * 1024) fail("command wrote a line over 16 MiB");
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      // EOF: the command closed stdout (it exited, or is about to). Ended,
      // the runtime may restart it in place (ChildEnded).
      await_exit();
      if (exited)
        throw ended(exit_status + " while dynmgr waited for its " + op + " answer" + stderr_tail());
      fail("command closed its stdout");
    }
  }

  // Fails if the command wrote anything no request asked for: a line already
  // buffered (a second answer read together with the first) or bytes readable
  // now. An answer can only follow its request, so checked before each request
  // this never lets a stray line pass for the next answer. Never blocks.
  void reject_unsolicited() {
    pump_stderr();
    pollfd pfd{out, POLLIN, 0};
    if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
      char chunk[512];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n > 0) buffer.append(chunk, static_cast<std::size_t>(n));
    }
    take_late_ready_line();
    const auto start = buffer.find_first_not_of("\r\n");
    if (start == std::string::npos) {
      buffer.clear();  // blank lines are tolerated, as in read_line
      return;
    }
    const auto end = buffer.find_first_of("\r\n", start);
    fail("command wrote a line without a request: " +
         cut(buffer.substr(start, end == std::string::npos ? std::string::npos : end - start)));
  }

  // A command taken as ready because it stayed alive (ready_timeout) may
  // still print its {"ready":true} later: that one line is not a stray one.
  void take_late_ready_line() {
    if (ready_line_seen) return;
    const auto start = buffer.find_first_not_of("\r\n");
    if (start == std::string::npos) return;
    const auto nl = buffer.find('\n', start);
    if (nl == std::string::npos) return;
    std::string_view line(buffer.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!is_ready_line(line)) return;
    ready_line_seen = true;
    buffer.erase(0, nl + 1);
  }

  // The start-up handshake (README "Exec workers"): returns once the command
  // printed {"ready":true}, or once it has stayed alive for timeout_ms without
  // a word; throws if it exits first (with its exit status and its last
  // stderr lines) or writes anything else first.
  void await_ready(std::uint32_t timeout_ms) {
    if (timeout_ms == 0) return;  // the handshake is off: ready at once, as before it existed
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) ::close(fd);
      }
    } closer{pidfd};
    const Deadline deadline = Deadline::after(Millis(timeout_ms));
    bool out_open = true;
    for (;;) {
      pump_stderr();
      const auto nl = buffer.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) {
          buffer.erase(0, nl + 1);
          continue;
        }
        if (!is_ready_line(line)) fail("command wrote a line before it was ready: " + cut(line));
        buffer.erase(0, nl + 1);
        ready_line_seen = true;
        return;
      }
      if (!running()) throw ended(exit_status + " before it was ready" + stderr_tail());
      if (!out_open) {
        // stdout closed, the command not yet reaped: it is ending.
        if (pidfd < 0) {
          struct timespec ts {
            0, 5'000'000
          };
          ::nanosleep(&ts, nullptr);  // no pidfd: poll interval while it exits
          continue;
        }
      }
      if (deadline.expired()) return;  // alive and silent: taken as ready
      // Wait for a line, stderr, its exit (pidfd) or the deadline; without a
      // pidfd its exit is seen at stdout's EOF or, at worst, the deadline.
      pollfd pfd[3] = {{out_open ? out : -1, POLLIN, 0}, {err, POLLIN, 0}, {pidfd, POLLIN, 0}};
      const auto left = std::chrono::duration_cast<Millis>(deadline.remaining(Millis(3'600'000)));
      const int r = ::poll(pfd, 3, static_cast<int>(left.count()) + 1);
      if (r < 0 && errno != EINTR)
        fail(std::string("unable to poll the command: ") + std::strerror(errno));
      if (r <= 0 || pfd[0].revents == 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n > 0) {
        buffer.append(chunk, static_cast<std::size_t>(n));
        if (buffer.size() > 16 * 1024 * 1024) fail("command wrote a line over 16 MiB");
      } else if (n == 0) {
        out_open = false;
      }
    }
  }

  json::object request(json::object req, std::uint32_t timeout_ms, const char* op) {
    reject_unsolicited();
    send(req);
    auto o = exec_lines::parse_object(read_line(timeout_ms, op), op);
    if (!o) fail(o.error().message);
    return std::move(*o);
  }
};

ExecManager::ExecManager(Config config) : config_(std::move(config)) {}
ExecManager::~ExecManager() = default;

// ------------------------------------------------------------ supervisor side

// parse_children: worker/children_file.cpp.

Result<std::map<std::string, ChildSpec>> ExecManager::read_children_file(const std::string& path,
                                                                        std::string_view label) {
  const std::string what = "unable to read " + std::string(label) + path;
  std::ifstream in(path);
  if (!in) return make_error(Errc::kInvalid, what + ": " + std::strerror(errno));
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure& e) {
    // libstdc++'s filebuf throws on a read error (e.g. a directory) even
    // with no exceptions() set; uncaught, it aborted dynmgrd.
    return make_error(Errc::kInvalid, what + ": " + e.code().message());
  }
  return parse_children(text);
}

std::map<std::string, ChildSpec> ExecManager::children_specs() {
  if (config_.children_file.empty()) return {};
  auto specs = read_children_file(config_.children_file);
  if (!specs) {
    log_error("unable to load children file: " + specs.error().message);
    return {};
  }
  return *specs;
}

Result<std::map<std::string, ChildSpec>> ExecManager::reload_children(const std::string& file) {
  const std::string& path = file.empty() ? config_.children_file : file;
  if (path.empty()) {
    return make_error(Errc::kInvalid, "this dynmgrd was started without --children: give reload a FILE");
  }
  auto specs = read_children_file(path);
  if (!specs) {
    const std::string& m = specs.error().message;
    return make_error(Errc::kInvalid, m.rfind("unable to read", 0) == 0 ? m : path + ": " + m);
  }
  for (auto& [id, spec] : *specs) {
    if (auto st = check_spec(id, spec); !st) return make_error(st.error().code, path + ": " + st.error().message);
  }
  return specs;
}

Status ExecManager::check_spec(const std::string& id, ChildSpec& spec) {
  json::value* exec = spec.options.if_contains("exec");
  if (exec == nullptr) {
    if (config_.default_command.empty()) {
      return make_error(Errc::kInvalid, "worker '" + id +
                                            "' has no command: use --exec CMD ARGS... (this "
                                            "dynmgrd has no default command)");
    }
    json::array argv;
    for (const auto& a : config_.default_command) argv.emplace_back(a);
    spec.options["exec"] = std::move(argv);
    exec = spec.options.if_contains("exec");
  }
  if (!exec->is_array() || exec->get_array().empty()) {
    return make_error(Errc::kInvalid, "invalid exec of '" + id + "': not a non-empty array of strings");
  }
  for (const auto& a : exec->get_array()) {
    if (!a.is_string()) return make_error(Errc::kInvalid, "invalid exec of '" + id + "': " + to_json(a) + " is not a string");
  }
  if (auto* env = spec.options.if_contains("env")) {
    if (!env->is_object()) return make_error(Errc::kInvalid, "invalid env of '" + id + "': not an object");
    for (const auto& kv : env->get_object()) {
      if (!kv.value().is_string() || kv.key().empty() || kv.key().find('=') != json::string_view::npos) {
        return make_error(Errc::kInvalid, "invalid env of '" + id + "': " + std::string(kv.key()));
      }
    }
  }
  if (auto* cwd = spec.options.if_contains("cwd")) {
    if (!cwd->is_string()) return make_error(Errc::kInvalid, "invalid cwd of '" + id + "': not a string");
  }
  if (auto* rt = spec.options.if_contains("response_timeout")) {
    const auto ms = get_int(spec.options, "response_timeout");
    if (!ms || *ms <= 0 || *ms > INT32_MAX) {
      return make_error(Errc::kInvalid, "invalid response_timeout of '" + id + "': " + to_json(*rt) +
                                            " is not a positive integer of ms");
    }
  }
  if (auto* rt = spec.options.if_contains("ready_timeout")) {
    const auto ms = get_int(spec.options, "ready_timeout");
    if (!ms || *ms < 0 || *ms > INT32_MAX) {
      return make_error(Errc::kInvalid, "invalid ready_timeout of '" + id + "': " + to_json(*rt) +
                                            " is not an integer of ms from 0");
    }
  }
  return {};
}

// ------------------------------------------------------------ worker side

json::value ExecManager::init(const std::string& id, const json::value& payload) {
  // Called again for a restart in place (ChildEnded): the ended command's
  // pipes are closed and its last stderr forwarded first.
  cmd_.reset();
  const json::object options = options_from_env();
  const json::value* exec = options.if_contains("exec");
  if (exec == nullptr || !exec->is_array() || exec->get_array().empty()) {
    fail("no command to run (options carry no exec)");
  }
  std::vector<std::string> argv;
  for (const auto& a : exec->get_array()) argv.emplace_back(a.is_string() ? std::string(a.get_string()) : to_json(a));

  std::vector<std::string> env;
  bool has_path = false;
  if (const json::value* e = options.if_contains("env"); e != nullptr && e->is_object()) {
    for (const auto& kv : e->get_object()) {
      if (!kv.value().is_string()) continue;
      if (kv.key() == "PATH") has_path = true;
      env.push_back(std::string(kv.key()) + "=" + std::string(kv.value().get_string()));
    }
  }
  if (!has_path) env.push_back(std::string("PATH=") + kDefaultPath);
  env.push_back("DYNMGR_ID=" + id);
  env.push_back("DYNMGR_NAME=" + current_worker_context().instance);

  // The executable is resolved with the worker's PATH (the command's clean
  // environment may not have one that finds it).
  bp::filesystem::path exe = argv[0];
  if (argv[0].find('/') == std::string::npos) {
    exe = bp::environment::find_executable(argv[0]);
    if (exe.empty()) fail("command '" + argv[0] + "' not found in PATH");
  } else if (::access(argv[0].c_str(), X_OK) != 0) {
    fail("command '" + argv[0] + "' is not executable: " + std::strerror(errno));
  }
  std::string cwd;
  if (const json::value* c = options.if_contains("cwd"); c != nullptr && c->is_string()) {
    cwd = std::string(c->get_string());
    // Checked here: a chdir failing in the child reaches us only as Boost's
    // bare "No such file or directory", which reads as if the command were missing.
    struct stat st{};
    const int err = ::stat(cwd.c_str(), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (err != 0) fail("working directory '" + cwd + "' is not usable: " + std::strerror(err));
  }

  auto cmd = std::make_unique<Command>();
  cmd->id = id;
  std::uint32_t ready_timeout_ms = kDefaultReadyTimeoutMs;
  if (auto t = get_int(options, "response_timeout"); t && *t > 0 && *t <= INT32_MAX) {
    cmd->response_timeout_ms = static_cast<std::uint32_t>(*t);
  }
  if (auto t = get_int(options, "ready_timeout"); t && *t >= 0 && *t <= INT32_MAX) {
    ready_timeout_ms = static_cast<std::uint32_t>(*t);
  }
  int to_child[2];
  int from_child[2];
  int err_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 ||
      ::pipe2(err_child, O_CLOEXEC) != 0) {
    fail(std::string("unable to create pipes: ") + std::strerror(errno));
  }
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::error_code ec;
  try {
    // Order matters: stdio is bound (dup2) before CommandSetup closes the rest.
    if (cwd.empty()) {
      cmd->proc = std::make_unique<bp::process>(
          cmd->ctx, exe, args, bp::process_stdio{to_child[0], from_child[1], err_child[1]},
          bp::process_environment(env), CommandSetup{::getpid()});
    } else {
      cmd->proc = std::make_unique<bp::process>(
          cmd->ctx, exe, args, bp::process_stdio{to_child[0], from_child[1], err_child[1]},
          bp::process_environment(env), bp::process_start_dir(cwd), CommandSetup{::getpid()});
    }
  } catch (const std::exception& e) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::close(from_child[1]);
    ::close(err_child[0]);
    ::close(err_child[1]);
    fail("unable to start '" + argv[0] + "': " + e.what());
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(err_child[1]);
  cmd->in = to_child[1];
  cmd->out = from_child[0];
  cmd->err = err_child[0];
  cmd->pid = cmd->proc->id();
  if (::fcntl(cmd->err, F_SETFL, ::fcntl(cmd->err, F_GETFL) | O_NONBLOCK) != 0) {
    fail(std::string("unable to read the command's stderr: ") + std::strerror(errno));
  }
  if (auto st = wake_on_input(cmd->out); !st) fail("unable to watch the command's stdout: " + st.error().message);
  if (auto st = wake_on_input(cmd->err); !st)
    fail("unable to watch the command's stderr: " + st.error().message);
  cmd_ = std::move(cmd);
  log_debug("worker '" + id + "' runs '" + argv[0] + "' as pid " + std::to_string(cmd_->pid));
  // Ready only once the command is (README "Exec workers"): `put` answers,
  // and a restart counts as started, after this.
  cmd_->await_ready(ready_timeout_ms);
  return payload;
}

namespace {

std::uint32_t perform_deadline_ms() {
  const auto& ctx = current_worker_context();
  if (ctx.timeout_ms == 0) return kDefaultResponseTimeoutMs;
  // A margin over lull * timeout: the supervisor's overrun check (every 100 ms)
  // reports the stuck perform through handle_timeout before the worker gives up.
  return static_cast<std::uint32_t>(overrun_limit_ms(ctx.lull, ctx.timeout_ms)) +
         kPerformDeadlineMarginMs;
}

// The answer's vocabulary (exec_lines.cpp); an unknown answer fails the worker.
Response answer_or_fail(const json::object& o, exec_lines::Op op) {
  auto r = exec_lines::to_response(o, op);
  if (!r) fail(r.error().message);
  return std::move(*r);
}

json::object base_request(const char* op, const std::string& id, const json::value& payload) {
  json::object r;
  r["op"] = op;
  r["id"] = id;
  r["payload"] = payload;
  return r;
}

}  // namespace

Response ExecManager::perform(const std::string& id, const json::value& payload) {
  if (!cmd_) fail("no command running");
  auto o = cmd_->request(base_request("perform", id, payload), perform_deadline_ms(), "perform");
  return answer_or_fail(o, exec_lines::Op::kPerform);
}

Response ExecManager::call(const json::value& message, const WorkerState& state) {
  if (!cmd_) fail("no command running");
  auto req = base_request("call", state.id, state.payload);
  req["message"] = message;
  auto o = cmd_->request(std::move(req), cmd_->response_timeout_ms, "call");
  return answer_or_fail(o, exec_lines::Op::kCall);
}

Response ExecManager::cast(const json::value& message, const WorkerState& state) {
  if (!cmd_) fail("no command running");
  auto req = base_request("cast", state.id, state.payload);
  req["message"] = message;
  auto o = cmd_->request(std::move(req), cmd_->response_timeout_ms, "cast");
  return answer_or_fail(o, exec_lines::Op::kCast);
}

void ExecManager::terminate(std::string_view reason, const WorkerState& state) {
  if (!cmd_) return;
  // Best effort: tell the command, give it a moment to answer and exit, then
  // its process group gets SIGTERM and finally SIGKILL.
  if (cmd_->running()) {
    try {
      auto req = base_request("terminate", state.id, state.payload);
      req["reason"] = std::string(reason);
      cmd_->send(req);
      (void)cmd_->read_line(1000, "terminate");
    } catch (const std::exception& e) {
      log_debug(std::string("terminate: ") + e.what());
    }
  }
  ::close(cmd_->in);
  cmd_->in = -1;
  const Deadline soft = Deadline::after(Millis(1000));
  while (cmd_->running() && !soft.expired()) {
    cmd_->pump_stderr();
    struct timespec ts{0, 5'000'000};
    ::nanosleep(&ts, nullptr);  // poll interval while the command exits on stdin EOF
  }
  if (cmd_->running()) {
    ::kill(-cmd_->pid, SIGTERM);
    const Deadline hard = Deadline::after(Millis(1000));
    while (cmd_->running() && !hard.expired()) {
      cmd_->pump_stderr();
      struct timespec ts{0, 5'000'000};
      ::nanosleep(&ts, nullptr);  // poll interval while the command handles SIGTERM
    }
  }
  if (cmd_->running()) ::kill(-cmd_->pid, SIGKILL);
  cmd_.reset();
}

void ExecManager::idle(const WorkerState&) {
  if (!cmd_) return;
  cmd_->pump_stderr();
  // The runtime asks the supervisor whether to start it again in place (not
  // a throw: see report_child_ended).
  if (!cmd_->running()) {
    ChildEnded e = cmd_->ended(cmd_->exit_reason);
    report_child_ended(std::move(e.exit), e.uptime_ms);
    return;
  }
  cmd_->reject_unsolicited();  // anything on stdout now answers no request
}

}  // namespace dynmgr
