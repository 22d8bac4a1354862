// probe — a manager whose behaviour the tests script through payloads and
// messages, so one binary covers every row of DESIGN.md §3.
//
// Boot children: $PROBE_CHILDREN, a JSON object id -> ChildSpec JSON.
// Logs (each appended one line at a time, if the variable is set):
//   $PROBE_TERMINATE_LOG  "<id> <reason>"        from terminate()
//   $PROBE_STATE_LOG      "<state>"              from handle_state_change()
//   $PROBE_TIMEOUT_LOG    "<id> <busy> <limit>"  from handle_timeout()
//   $PROBE_PERFORM_LOG    "<id> <payload>"       from perform()
//   $PROBE_INIT_LOG       "<id> <pid> <mono_ms>" from init() (mono_ms: CLOCK_MONOTONIC,
//                                                comparable across processes)
// $PROBE_IDLE_MS: idle_interval() in ms (default: the base 5000).
// $PROBE_TERMINATE_SLEEP_MS: terminate() sleeps that long after logging.
// $PROBE_IDLE_OVERRIDE=1: idle() is overridden (it does nothing); without it
// the probe calls the base idle(), so its idle workers never wake.
// $PROBE_RESTART_ON_UP=1: handle_state_change(up) answers restart once per
// supervisor process (a flag in the supervisor's manager object).
//
// perform(id, payload) follows payload["on_perform"]:
//   missing/"count"   replace(payload with n := n + 1)
//   "ok"              ok(n + 1) — payload unchanged, value changes
//   "halt"            halt()
//   "replace_id"      replace(payload["new_id"], payload minus on_perform)
//   "timeout"         timeout(payload["new_timeout"], "rescheduled")
//   "crash"           abort()
//   "exit0"/"exit3"   _exit(0) / _exit(3)
//   "throw"           throws
//   "sleep"           sleeps payload["sleep_ms"], then ok("slept")
//   "ignore_term"     ignores SIGTERM, then sleeps payload["sleep_ms"] (default
//                     600000) without looking at its mailbox: deaf to terminate
// init: payload["init"] == "crash" aborts, == "set" returns {"from_init": true},
//       == "sleep" sleeps payload["init_sleep_ms"] (default 500), payload unchanged;
//       with $PROBE_INIT_SLEEP_MS set, every init first sleeps that long (a slow
//       start whatever the payload, e.g. to queue casts while a worker restarts).
// call: "get" | ["set", v] | ["append", x] (payload array; committed, then answered) | ["sleep",
// ms] | "crash" | "throw" | "halt" | ["echo", x] | "pid"
//       | ["big", n] (replies a string of n bytes, however large)
//       | ["print", n] / ["print_err", n]: writes "<id> out|err <k>" for k = 1..n to stdout /
//         stderr, one write(2) per line, then replies n (worker logs)
//       | ["print_long", n]: writes one line of n 'x' to stdout, then replies n
// cast: ["flood", n]: writes "<id> <k>" for k = 1..n to stdout in 64 KiB writes (as
//         fast as it can; lines cross write boundaries, as with stdio)
// init: payload["print_init"] == true writes "<id> init <pid>" to stdout
// limits (tests/integration/limits_test.cpp):
// call: "limits" -> {"nofile", "as", "cpu", "core"}: this process's soft limits (-1: unlimited)
//       | "ids" -> [ruid, euid, suid, rgid, egid, sgid]
//       | ["open_files", n]: opens /dev/null up to n times (kept open) -> {"opened", "errno"}
// call: "scribble" (issue 11, defect 19): overwrites every writable shared
//       mapping of this instance the process has (its words page, its mailbox,
//       the control queue, a caller's reply queue, their bells) with 0xA5, then
//       stores into the registry, which a worker maps read-only: SIGSEGV.
// cast: ["alloc", n]: allocates n bytes more and touches every page (kept)
//       | "spin": spins on the CPU forever
// cast: ["add", n] (payload number += n) | ["append", x] (payload array) | "crash" | ["set", v]
// Supervisor flags: --pool N makes probe a pool (PoolSpec: N members pool-1..pool-N,
//   payload null, timeout 0, besides $PROBE_CHILDREN) picked by --pickup
//   hashring|random|stream (default stream); without --pool it is not a pool.
//   --pool-passivate-after MS: the members' passivate_after.
#include <fcntl.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dynmgr/run.hpp>
#include <stdexcept>
#include <thread>
#include <vector>
#include <cerrno>
#include <cstring>

namespace {

using dynmgr::Response;

// Every mapping of a /dev/shm/dynmgr.* object: writable ones are overwritten,
// then the first read-only one is stored into (the process dies there).
[[noreturn]] void scribble() {
  struct Region {
    char* from;
    char* to;
    bool writable;
  };
  std::vector<Region> regions;
  if (FILE* f = std::fopen("/proc/self/maps", "r")) {
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      const std::string l(line);
      if (l.find("/dev/shm/dynmgr.") == std::string::npos) continue;
      unsigned long from = 0, to = 0;
      char perms[8] = {};
      if (std::sscanf(line, "%lx-%lx %7s", &from, &to, perms) != 3) continue;
      regions.push_back({reinterpret_cast<char*>(from), reinterpret_cast<char*>(to),
                         perms[1] == 'w'});
    }
    std::fclose(f);
  }
  for (const auto& r : regions) {
    if (r.writable) std::memset(r.from, 0xA5, static_cast<std::size_t>(r.to - r.from));
  }
  // Die of the fault itself, not of a sanitizer's report of it.
  ::signal(SIGSEGV, SIG_DFL);
  for (const auto& r : regions) {
    if (!r.writable) *static_cast<volatile char*>(r.from) = 0x5A;  // SIGSEGV
  }
  std::abort();  // no read-only mapping: the test finds the wrong exit
}
using dynmgr::json::value;

// Supervisor-side flags (--pool, --pickup); unused in the worker role.
std::uint32_t g_pool_size = 0;
std::uint32_t g_pool_passivate_after = 0;  // --pool-passivate-after MS
std::vector<std::vector<char>> g_allocated;  // ["alloc", n]: kept for the process's life

std::int64_t soft_limit(int resource) {
  rlimit rl{};
  if (::getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
  return static_cast<std::int64_t>(rl.rlim_cur);
}
std::string g_pickup = "stream";

void append_line(const char* env, const std::string& line) {
  const char* path = std::getenv(env);
  if (path == nullptr) return;
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string l = line + "\n";
  (void)::write(fd, l.data(), l.size());
  ::close(fd);
}

void write_all(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// One write(2): the line is in the pipe when this returns (a SIGKILL next loses nothing).
void write_line(int fd, std::string line) {
  line += '\n';
  write_all(fd, line);
}

std::int64_t num(const value& v, std::int64_t dflt = 0) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) return static_cast<std::int64_t>(v.get_double());
  return dflt;
}

const value* field(const value& v, const char* key) {
  return v.is_object() ? v.get_object().if_contains(key) : nullptr;
}

std::string str_field(const value& v, const char* key) {
  const value* f = field(v, key);
  return f != nullptr && f->is_string() ? std::string(f->get_string()) : std::string();
}

class Probe : public dynmgr::Manager {
 public:
  std::map<std::string, dynmgr::ChildSpec> children_specs() override {
    std::map<std::string, dynmgr::ChildSpec> out;
    const char* env = std::getenv("PROBE_CHILDREN");
    if (env == nullptr) return out;
    auto v = dynmgr::parse_json(env, "PROBE_CHILDREN");
    if (!v || !v->is_object()) return out;
    for (const auto& kv : v->get_object()) {
      auto spec = dynmgr::ChildSpec::from_json(kv.value());
      if (spec) out[std::string(kv.key())] = *spec;
    }
    return out;
  }

  dynmgr::StateChangeAnswer handle_state_change(dynmgr::ManagerState s) override {
    append_line("PROBE_STATE_LOG", std::string(dynmgr::to_string(s)));
    if (s == dynmgr::ManagerState::kUp && std::getenv("PROBE_RESTART_ON_UP") != nullptr &&
        !restarted_once_) {
      restarted_once_ = true;
      return dynmgr::StateChangeAnswer::kRestart;
    }
    return dynmgr::StateChangeAnswer::kOk;
  }

  void handle_timeout(const dynmgr::TimeoutInfo& info) override {
    append_line("PROBE_TIMEOUT_LOG",
                info.id + " " + std::to_string(info.busy_ms) + " " + std::to_string(info.limit_ms));
  }

  std::optional<dynmgr::PoolSpec> pool() const override {
    if (g_pool_size == 0) return std::nullopt;
    dynmgr::PoolSpec spec;
    spec.size = g_pool_size;
    spec.passivate_after_ms = g_pool_passivate_after;
    spec.strategy = dynmgr::parse_pool_strategy(g_pickup).value();
    return spec;
  }

  value init(const std::string& id, const value& payload) override {
    if (const char* ms = std::getenv("PROBE_INIT_SLEEP_MS")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::strtol(ms, nullptr, 10)));
    }
    const auto mono = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
    append_line("PROBE_INIT_LOG",
                id + " " + std::to_string(::getpid()) + " " + std::to_string(mono.count()));
    if (const value* p = field(payload, "print_init"); p != nullptr && *p == value(true)) {
      write_line(STDOUT_FILENO, id + " init " + std::to_string(::getpid()));
    }
    const std::string mode = str_field(payload, "init");
    if (mode == "crash") std::abort();
    if (mode == "set") return value(dynmgr::json::object{{"from_init", true}});
    if (mode == "sleep") {
      const value* ms = field(payload, "init_sleep_ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms != nullptr ? num(*ms) : 500));
    }
    return payload;
  }

  Response perform(const std::string& id, const value& payload) override {
    append_line("PROBE_PERFORM_LOG", id + " " + dynmgr::to_json(payload));
    const std::string mode = str_field(payload, "on_perform");
    const value* n = field(payload, "n");
    const std::int64_t next = (n != nullptr ? num(*n) : 0) + 1;
    if (mode.empty() || mode == "count") {
      value p = payload.is_object() ? payload : value(dynmgr::json::object{});
      p.get_object()["n"] = next;
      return Response::replace(p);
    }
    if (mode == "ok") return Response::ok(value(next));
    if (mode == "halt") return Response::halt();
    if (mode == "replace_id") {
      value p = payload;
      p.get_object().erase("on_perform");
      return Response::replace(str_field(payload, "new_id"), p);
    }
    if (mode == "timeout") {
      const value* t = field(payload, "new_timeout");
      return Response::timeout(static_cast<std::uint32_t>(t != nullptr ? num(*t) : 1000),
                               value("rescheduled"));
    }
    if (mode == "crash") std::abort();
    if (mode == "exit0") ::_exit(0);
    if (mode == "exit3") ::_exit(3);
    if (mode == "throw") throw std::runtime_error("perform failed on purpose");
    if (mode == "sleep") {
      const value* ms = field(payload, "sleep_ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms != nullptr ? num(*ms) : 100));
      return Response::ok(value("slept"));
    }
    if (mode == "ignore_term") {
      ::signal(SIGTERM, SIG_IGN);
      const value* ms = field(payload, "sleep_ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms != nullptr ? num(*ms) : 600'000));
      return Response::ok(value("slept"));
    }
    return Response::ok();
  }

  Response call(const value& m, const dynmgr::WorkerState& st) override {
    if (m == value("scribble")) scribble();
    if (m == value("get")) return Response::ok(st.payload);
    if (m == value("pid")) return Response::ok(value(static_cast<std::int64_t>(::getpid())));
    if (m == value("crash")) std::abort();
    if (m == value("throw")) throw std::runtime_error("call failed on purpose");
    if (m == value("halt")) return Response::halt();
    if (m == value("limits")) {
      return Response::ok(value(dynmgr::json::object{{"nofile", soft_limit(RLIMIT_NOFILE)},
                                                     {"as", soft_limit(RLIMIT_AS)},
                                                     {"cpu", soft_limit(RLIMIT_CPU)},
                                                     {"core", soft_limit(RLIMIT_CORE)}}));
    }
    if (m == value("ids")) {
      uid_t ru = 0, eu = 0, su = 0;
      gid_t rg = 0, eg = 0, sg = 0;
      ::getresuid(&ru, &eu, &su);
      ::getresgid(&rg, &eg, &sg);
      dynmgr::json::array ids;
      for (const auto id : {ru, eu, su}) ids.emplace_back(static_cast<std::int64_t>(id));
      for (const auto id : {rg, eg, sg}) ids.emplace_back(static_cast<std::int64_t>(id));
      return Response::ok(value(std::move(ids)));
    }
    if (m.is_array() && m.get_array().size() == 2) {
      const auto& a = m.get_array();
      if (a[0] == value("set")) return Response::replace(a[1]);
      if (a[0] == value("open_files")) {
        std::int64_t opened = 0;
        int err = 0;
        for (; opened < num(a[1]); ++opened) {
          if (::open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
            err = errno;
            break;
          }
        }
        return Response::ok(value(dynmgr::json::object{
            {"opened", opened}, {"errno", err == 0 ? std::string() : std::strerror(err)}}));
      }
      if (a[0] == value("append")) {  // answered once the longer payload is committed
        dynmgr::json::array arr =
            st.payload.is_array() ? st.payload.get_array() : dynmgr::json::array{};
        arr.push_back(a[1]);
        return Response::replace(value(std::move(arr)));
      }
      if (a[0] == value("echo")) return Response::ok(a[1]);
      if (a[0] == value("print") || a[0] == value("print_err")) {
        const bool err = a[0] == value("print_err");
        for (std::int64_t k = 1; k <= num(a[1]); ++k) {
          write_line(err ? STDERR_FILENO : STDOUT_FILENO,
                     st.id + (err ? " err " : " out ") + std::to_string(k));
        }
        return Response::ok(a[1]);
      }
      if (a[0] == value("print_long")) {
        write_line(STDOUT_FILENO, std::string(static_cast<std::size_t>(num(a[1])), 'x'));
        return Response::ok(a[1]);
      }
      if (a[0] == value("big"))
        return Response::ok(value(std::string(static_cast<std::size_t>(num(a[1])), 'x')));
      if (a[0] == value("sleep")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(num(a[1])));
        return Response::ok(value("slept"));
      }
    }
    return Response::ok(value("unknown"));
  }

  Response cast(const value& m, const dynmgr::WorkerState& st) override {
    if (m == value("crash")) std::abort();
    if (m == value("spin")) {
      volatile std::uint64_t spins = 0;
      for (;;) spins = spins + 1;
    }
    if (m.is_array() && m.get_array().size() == 2) {
      const auto& a = m.get_array();
      if (a[0] == value("alloc")) {
        g_allocated.emplace_back(static_cast<std::size_t>(num(a[1])), '\1');  // written: resident
        return Response::ok();
      }
      if (a[0] == value("flood")) {
        std::string buf;
        for (std::int64_t k = 1; k <= num(a[1]); ++k) {
          buf += st.id + " " + std::to_string(k) + "\n";
          if (buf.size() >= 64 * 1024) {  // a full buffer, cut anywhere, as stdio does
            write_all(STDOUT_FILENO, std::string_view(buf).substr(0, 64 * 1024));
            buf.erase(0, 64 * 1024);
          }
        }
        write_all(STDOUT_FILENO, buf);
        return Response::ok();
      }
      if (a[0] == value("add")) return Response::replace(value(num(st.payload) + num(a[1])));
      if (a[0] == value("set")) return Response::replace(a[1]);
      if (a[0] == value("append")) {
        dynmgr::json::array arr =
            st.payload.is_array() ? st.payload.get_array() : dynmgr::json::array{};
        arr.push_back(a[1]);
        return Response::replace(value(std::move(arr)));
      }
    }
    return Response::ok();
  }

  void terminate(std::string_view reason, const dynmgr::WorkerState& st) override {
    append_line("PROBE_TERMINATE_LOG", st.id + " " + std::string(reason));
    // A slow stop: messages sent meanwhile wait behind the terminate.
    if (const char* ms = std::getenv("PROBE_TERMINATE_SLEEP_MS")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::strtol(ms, nullptr, 10)));
    }
  }

  // With $PROBE_IDLE_OVERRIDE, idle() is a real housekeeping callback (it does
  // nothing); otherwise it is the base one, and an idle worker never wakes.
  void idle(const dynmgr::WorkerState& st) override {
    if (std::getenv("PROBE_IDLE_OVERRIDE") == nullptr) Manager::idle(st);
  }
  std::chrono::milliseconds idle_interval() const override {
    const char* ms = std::getenv("PROBE_IDLE_MS");
    return ms != nullptr ? std::chrono::milliseconds(std::strtol(ms, nullptr, 10))
                         : Manager::idle_interval();
  }

 private:
  bool restarted_once_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  dynmgr::RunOptions opts;
  opts.add_flags = [](CLI::App& app) {
    app.add_option("--pool", g_pool_size, "declare a pool of N members (default: not a pool)")
        ->check(CLI::Range(0u, 100000u));
    app.add_option("--pickup", g_pickup, "pool pickup: hashring|random|stream (default stream)");
    app.add_option("--pool-passivate-after", g_pool_passivate_after,
                   "pool members passivate after MS idle (default 0: never)");
  };
  opts.after_parse = []() -> dynmgr::Status {
    auto s = dynmgr::parse_pool_strategy(g_pickup);
    if (!s) return s.error();
    return {};
  };
  return dynmgr::run_manager([] { return std::make_unique<Probe>(); }, argc, argv, opts);
}
