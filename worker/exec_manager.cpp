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
  std::string buffer;
  std::string id;
  std::uint32_t response_timeout_ms = kDefaultResponseTimeoutMs;
  bool exited = false;
  std::string exit_reason;

  ~Command() {
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
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

  // Non-blocking check; records how it ended.
  bool running() {
    if (exited) return false;
    bp::error_code ec;
    if (proc->running(ec)) return true;
    exited = true;
    const int code = proc->exit_code();
    exit_reason = "command exited with code " + std::to_string(code);
    if (code > 128) exit_reason += " (signal " + std::to_string(code - 128) + "?)";
    // bp reports a signal death through its native exit code; ask precisely.
    const int native = proc->native_exit_code();
    if (WIFSIGNALED(native)) {
      const char* abbrev = sigabbrev_np(WTERMSIG(native));
      exit_reason = std::string("command killed by SIG") + (abbrev ? abbrev : "?");
    }
    return false;
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
        running();
        fail("unable to write to the command: " +
             (exited ? exit_reason : std::string(std::strerror(errno))));
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  // One response line within timeout_ms, or throws with the reason.
  std::string read_line(std::uint32_t timeout_ms, const char* op) {
    const Deadline deadline = Deadline::after(Millis(timeout_ms));
    for (;;) {
      if (auto line = exec_lines::take_line(buffer)) return std::move(*line);
      const auto left = std::chrono::duration_cast<Millis>(deadline.remaining(Millis(250)));
      if (deadline.expired()) {
        fail("command did not answer " + std::string(op) + " within " +
             std::to_string(timeout_ms) + " ms");
      }
      pollfd pfd{out, POLLIN, 0};
      const int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (r < 0 && errno != EINTR) fail(std::string("unable to poll the command: ") + std::strerror(errno));
      if (r <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n > 0) {
        buffer.append(chunk, static_cast<std::size_t>(n));
        if (buffer.size() > 16 * 1024 * 1024) fail("command wrote a line over 16 MiB");
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      // EOF: the command closed stdout (it exited, or is about to).
      for (int i = 0; i < 100 && running(); ++i) {
        struct timespec ts{0, 5'000'000};
        ::nanosleep(&ts, nullptr);  // poll interval while the closing command exits
      }
      fail(exited ? exit_reason + " while dynmgr waited for its " + op + " answer"
                  : std::string("command closed its stdout"));
    }
  }

  // Fails if the command wrote anything no request asked for: a line already
  // buffered (a second answer read together with the first) or bytes readable
  // now. An answer can only follow its request, so checked before each request
  // this never lets a stray line pass for the next answer. Never blocks.
  void reject_unsolicited() {
    pollfd pfd{out, POLLIN, 0};
    if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
      char chunk[512];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n > 0) buffer.append(chunk, static_cast<std::size_t>(n));
    }
    const auto start = buffer.find_first_not_of("\r\n");
    if (start == std::string::npos) {
      buffer.clear();  // blank lines are tolerated, as in read_line
      return;
    }
    const auto end = buffer.find_first_of("\r\n", start);
    fail("command wrote a line without a request: " +
         cut(buffer.substr(start, end == std::string::npos ? std::string::npos : end - start)));
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
  return {};
}

// ------------------------------------------------------------ worker side

json::value ExecManager::init(const std::string& id, const json::value& payload) {
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
  if (auto t = get_int(options, "response_timeout"); t && *t > 0 && *t <= INT32_MAX) {
    cmd->response_timeout_ms = static_cast<std::uint32_t>(*t);
  }
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
    fail(std::string("unable to create pipes: ") + std::strerror(errno));
  }
  std::vector<std::string> args(argv.begin() + 1, argv.end());
  bp::error_code ec;
  try {
    // Order matters: stdio is bound (dup2) before CommandSetup closes the rest.
    if (cwd.empty()) {
      cmd->proc = std::make_unique<bp::process>(
          cmd->ctx, exe, args, bp::process_stdio{to_child[0], from_child[1], STDERR_FILENO},
          bp::process_environment(env), CommandSetup{::getpid()});
    } else {
      cmd->proc = std::make_unique<bp::process>(
          cmd->ctx, exe, args, bp::process_stdio{to_child[0], from_child[1], STDERR_FILENO},
          bp::process_environment(env), bp::process_start_dir(cwd), CommandSetup{::getpid()});
    }
  } catch (const std::exception& e) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::close(from_child[1]);
    fail("unable to start '" + argv[0] + "': " + e.what());
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  cmd->in = to_child[1];
  cmd->out = from_child[0];
  cmd->pid = cmd->proc->id();
  if (auto st = wake_on_input(cmd->out); !st) fail("unable to watch the command's stdout: " + st.error().message);
  cmd_ = std::move(cmd);
  log_debug("worker '" + id + "' runs '" + argv[0] + "' as pid " + std::to_string(cmd_->pid));
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
    struct timespec ts{0, 5'000'000};
    ::nanosleep(&ts, nullptr);  // poll interval while the command exits on stdin EOF
  }
  if (cmd_->running()) {
    ::kill(-cmd_->pid, SIGTERM);
    const Deadline hard = Deadline::after(Millis(1000));
    while (cmd_->running() && !hard.expired()) {
      struct timespec ts{0, 5'000'000};
      ::nanosleep(&ts, nullptr);  // poll interval while the command handles SIGTERM
    }
  }
  if (cmd_->running()) ::kill(-cmd_->pid, SIGKILL);
  cmd_.reset();
}

void ExecManager::idle(const WorkerState&) {
  if (!cmd_) return;
  if (!cmd_->running()) fail(cmd_->exit_reason);
  cmd_->reject_unsolicited();  // anything on stdout now answers no request
}

}  // namespace dynmgr
