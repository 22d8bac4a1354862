// dynmgrctl logs: a worker's log lines, read straight from its files
// (README "Worker logs"). No request to anyone: it works with no supervisor,
// and a supervisor never sees a reader.
//
// Following (-f) polls every 100 ms, like tail -F: new bytes of the current
// file are printed as they come; a new inode under the name (a rotation) is
// read to its end through the descriptor still open on the old one, then the
// new file from its start; a file that got shorter (truncated) is read again
// from its start. With --all, new workers' files are picked up as they appear.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "shared/log_files.hpp"
#include "shared/names.hpp"
#include "shared/state_dir.hpp"

namespace dynmgr::cli {
namespace {

namespace lf = logfiles;

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

constexpr int kPollMs = 100;
constexpr std::uint64_t kNoLimit = ~std::uint64_t{0};

struct Options {
  std::string id;
  bool all = false;
  std::uint64_t lines = 20;
  bool follow = false;
  std::string since;
  std::string log_dir;
  std::string state_dir;
};

std::int64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

struct Line {
  lf::Record rec;
  std::string tag;  // as in the file: out, err+, log, ...
  const std::string* id = nullptr;
};

// Reads a whole file; the bytes after its last newline (a record being
// written) are left for the next read.
bool read_whole(int fd, std::string& out) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n == 0;
    }
  }
}

std::optional<Line> parse_line(std::string_view text, const std::string* id) {
  auto rec = lf::parse_record(text);
  if (!rec) return std::nullopt;
  Line l;
  const auto sp = text.find(' ', lf::kTimeBytes + 1);
  l.tag = std::string(text.substr(lf::kTimeBytes + 1, sp - lf::kTimeBytes - 1));
  l.rec = std::move(*rec);
  l.id = id;
  return l;
}

// One worker's files: the rotated ones (oldest first) and the current one,
// which -f keeps open.
class IdLog {
 public:
  IdLog(std::string dir, std::string id, std::string name)
      : dir_(std::move(dir)), id_(std::move(id)), name_(std::move(name)) {}
  ~IdLog() {
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& id() const { return id_; }
  std::string path() const { return dir_ + "/" + name_; }

  // Rotation numbers present, largest (oldest) first.
  std::vector<unsigned> rotated() const {
    std::vector<unsigned> out;
    DIR* d = ::opendir(dir_.c_str());
    if (d == nullptr) return out;
    const std::string prefix = name_ + ".";
    while (dirent* e = ::readdir(d)) {
      const std::string_view n(e->d_name);
      if (n.size() <= prefix.size() || n.substr(0, prefix.size()) != prefix) continue;
      unsigned k = 0;
      const auto tail = n.substr(prefix.size());
      const auto r = std::from_chars(tail.data(), tail.data() + tail.size(), k);
      if (r.ec == std::errc() && r.ptr == tail.data() + tail.size() && k > 0) out.push_back(k);
    }
    ::closedir(d);
    std::sort(out.rbegin(), out.rend());
    return out;
  }

  bool exists() const {
    struct stat st {};
    return ::stat(path().c_str(), &st) == 0 || !rotated().empty();
  }

  // The last `limit` records at or after since_us, oldest first; opens the
  // current file and remembers where it stopped, for follow().
  std::deque<Line> tail(std::uint64_t limit, std::int64_t since_us) {
    std::deque<Line> out;
    open_current();
    std::string text;
    if (fd_ >= 0) {
      read_whole(fd_, text);
      const auto last = text.rfind('\n');
      const std::size_t whole = last == std::string::npos ? 0 : last + 1;
      offset_ = whole;
      text.resize(whole);
    }
    collect(text, limit, since_us, out);
    // Older files, newest first, only while more is wanted.
    for (unsigned k : rotated_newest_first()) {
      if (out.size() >= limit) break;
      if (!out.empty() && out.front().rec.time_us < since_us) break;
      std::string older;
      const int fd = ::open(lf::rotated_name(path(), k).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      read_whole(fd, older);
      ::close(fd);
      std::deque<Line> part;
      collect(older, limit - out.size(), since_us, part);
      out.insert(out.begin(), part.begin(), part.end());
    }
    return out;
  }

  // New records since the last call (after a rotation: the rest of the old
  // file, then the new one).
  void follow(std::vector<Line>& out) {
    struct stat now {};
    const bool present = ::stat(path().c_str(), &now) == 0;
    if (fd_ >= 0) {
      read_new(out);
      struct stat mine {};
      if (::fstat(fd_, &mine) == 0 && present &&
          (mine.st_ino != now.st_ino || mine.st_dev != now.st_dev)) {
        ::close(fd_);  // rotated away: what it held is read
        fd_ = -1;
        read_rotated_since(mine.st_ino, out);
      } else if (present && static_cast<std::uint64_t>(now.st_size) < offset_ + pending_.size()) {
        offset_ = 0;  // truncated: start over
        pending_.clear();
      }
    }
    if (fd_ < 0 && present) {
      open_current();
      offset_ = 0;
      pending_.clear();
      read_new(out);
    }
  }

 private:
  // Several rotations between two polls: the files rotated after the one we
  // had open (inode `old`) are read whole, oldest first. When `old` itself is
  // gone (more than --log-keep rotations behind), every rotated file is newer.
  void read_rotated_since(ino_t old, std::vector<Line>& out) {
    const auto ks = rotated();  // oldest first
    std::size_t from = 0;
    for (std::size_t i = 0; i < ks.size(); ++i) {
      struct stat st {};
      if (::stat(lf::rotated_name(path(), ks[i]).c_str(), &st) == 0 && st.st_ino == old)
        from = i + 1;
    }
    for (std::size_t i = from; i < ks.size(); ++i) {
      const int fd = ::open(lf::rotated_name(path(), ks[i]).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      std::string text;
      read_whole(fd, text);
      ::close(fd);
      std::size_t begin = 0;
      for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', begin)) {
        if (auto l = parse_line(std::string_view(text).substr(begin, nl - begin), &id_)) {
          out.push_back(std::move(*l));
        }
        begin = nl + 1;
      }
    }
  }

  std::vector<unsigned> rotated_newest_first() const {
    auto r = rotated();
    std::reverse(r.begin(), r.end());
    return r;
  }

  void open_current() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
  }

  void collect(const std::string& text, std::uint64_t limit, std::int64_t since_us,
               std::deque<Line>& out) const {
    // From the end backwards: stop at the limit or at a record older than since.
    std::size_t end = text.size();
    while (end > 0 && out.size() < limit) {
      const auto nl = end >= 2 ? text.rfind('\n', end - 2) : std::string::npos;
      const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
      auto l = parse_line(std::string_view(text).substr(begin, end - 1 - begin), &id_);
      end = begin;
      if (!l) continue;
      if (l->rec.time_us < since_us) break;
      out.push_front(std::move(*l));
    }
  }

  void read_new(std::vector<Line>& out) {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n =
          ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_ + pending_.size()));
      if (n <= 0) break;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t begin = 0;
    for (;;) {
      const auto nl = pending_.find('\n', begin);
      if (nl == std::string::npos) break;
      if (auto l = parse_line(std::string_view(pending_).substr(begin, nl - begin), &id_)) {
        out.push_back(std::move(*l));
      }
      begin = nl + 1;
    }
    offset_ += begin;
    pending_.erase(0, begin);
  }

  std::string dir_;
  std::string id_;
  std::string name_;
  int fd_ = -1;
  std::uint64_t offset_ = 0;  // bytes of the current file consumed (whole records)
  std::string pending_;       // read past offset_, no newline yet
};

// Every worker with a log in dir: file name -> its id.
std::map<std::string, std::string> scan(const std::string& dir) {
  std::map<std::string, std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n(e->d_name);
    if (n.empty() || n[0] == '.') continue;
    const auto pos = n.find(".log");
    if (pos == std::string::npos) continue;
    const std::string rest = n.substr(pos + 4);
    if (!rest.empty() &&
        (rest[0] != '.' || rest.find_first_not_of("0123456789", 1) != std::string::npos)) {
      continue;
    }
    const std::string base = n.substr(0, pos);
    const std::string current = base + ".log";
    if (out.count(current) != 0) continue;
    std::optional<std::string> id;
    if (base.find('~') != std::string::npos) {
      std::string text;
      const int fd = ::open((dir + "/" + base + ".id").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        read_whole(fd, text);
        ::close(fd);
        if (!text.empty()) id = text;
      }
    } else {
      id = lf::unescape_id(base);
    }
    if (id) out[current] = *id;
  }
  ::closedir(d);
  return out;
}

class Printer {
 public:
  Printer(bool json, bool with_id) : json_(json), with_id_(with_id) {}
  // False once stdout is gone (a closed pipe).
  bool print(const Line& l) {
    std::string s;
    if (json_) {
      json::object o;
      o["time"] = l.rec.time;
      o["id"] = *l.id;
      o["stream"] = l.rec.stream;
      o["line"] = l.rec.line;
      if (l.rec.partial) o["partial"] = true;
      s = to_json(json::value(std::move(o)));
    } else {
      s = l.rec.time + " ";
      if (with_id_) s += *l.id + " ";
      s += l.tag + " " + l.rec.line;
    }
    s += '\n';
    return std::fwrite(s.data(), 1, s.size(), stdout) == s.size();
  }

 private:
  bool json_;
  bool with_id_;
};

bool by_time(const Line& a, const Line& b) { return a.rec.time_us < b.rec.time_us; }

int run_logs(Context& ctx, const Options& o) {
  const std::string what = o.all ? "logs --all" : "logs '" + o.id + "'";
  if (o.all == !o.id.empty()) {
    return ctx.fail("logs", Errc::kInvalid, "usage: logs ID | logs --all");
  }
  if (!o.all) {
    if (auto st = validate_id(o.id); !st) return ctx.fail("logs", st.error());
  }
  std::int64_t since_us = std::numeric_limits<std::int64_t>::min();
  if (!o.since.empty()) {
    auto s = lf::parse_since(o.since, now_us());
    if (!s) {
      return ctx.fail(what, Errc::kInvalid,
                      "invalid --since '" + o.since +
                          "': give an RFC 3339 time (2026-11-30T07:30:00Z) or an age (90s, 10m, "
                          "2h, 1d)");
    }
    since_us = *s;
  }
  std::string dir = o.log_dir;
  if (dir.empty()) {
    std::string state = o.state_dir;
    if (state.empty())
      state = default_state_dir(ctx.instance.empty() ? default_instance_name() : ctx.instance);
    if (state.empty()) {
      return ctx.fail(what, Errc::kInvalid, "no state directory: HOME is unset; give --log-dir");
    }
    dir = state + "/logs";
  }
  const std::uint64_t limit = o.lines;

  std::map<std::string, std::unique_ptr<IdLog>> logs;  // by file name
  if (o.all) {
    for (const auto& [name, id] : scan(dir)) logs[name] = std::make_unique<IdLog>(dir, id, name);
  } else {
    const std::string name = lf::file_name(o.id);
    auto log = std::make_unique<IdLog>(dir, o.id, name);
    if (!log->exists() && !o.follow) {
      return ctx.fail(what, Errc::kNotFound, "no log for worker '" + o.id + "' in " + dir);
    }
    logs[name] = std::move(log);
  }

  Printer printer(ctx.json, o.all);
  std::vector<Line> first;
  for (auto& [name, log] : logs) {
    auto part = log->tail(limit, since_us);
    first.insert(first.end(), std::make_move_iterator(part.begin()),
                 std::make_move_iterator(part.end()));
  }
  std::stable_sort(first.begin(), first.end(), by_time);
  const std::size_t skip = first.size() > limit ? first.size() - limit : 0;
  for (std::size_t i = skip; i < first.size(); ++i) {
    if (!printer.print(first[i])) return 0;
  }
  std::fflush(stdout);
  if (!o.follow) return 0;

  struct sigaction sa {};
  sa.sa_handler = on_stop;  // no SA_RESTART: poll returns at once
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
  int rescan = 0;
  while (g_stop == 0) {
    ::poll(nullptr, 0, kPollMs);
    if (g_stop != 0) break;
    if (o.all && ++rescan % 5 == 0) {
      for (const auto& [name, id] : scan(dir)) {
        if (logs.count(name) == 0) logs[name] = std::make_unique<IdLog>(dir, id, name);
      }
    }
    std::vector<Line> fresh;
    for (auto& [name, log] : logs) log->follow(fresh);
    std::stable_sort(fresh.begin(), fresh.end(), by_time);
    for (const auto& l : fresh) {
      if (l.rec.time_us < since_us) continue;
      if (!printer.print(l)) return 0;
    }
    if (!fresh.empty() && std::fflush(stdout) != 0) return 0;
  }
  std::fflush(stdout);
  return 0;  // Ctrl-C ends a follow normally
}

}  // namespace

void add_logs(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("logs", "print a worker's log lines (read from its files)");
  cmd->add_option("ID", o->id, "worker id");
  cmd->add_flag("--all", o->all, "every worker's lines, by time, with the id on each line");
  cmd->add_option("-n,--lines", o->lines, "the last N lines (default 20; with --since: all)");
  cmd->add_flag("-f,--follow", o->follow, "then print new lines as they come, until Ctrl-C");
  cmd->add_option("--since", o->since,
                  "only lines at or after TIME (RFC 3339, or 90s, 10m, 2h, 1d)");
  cmd->add_option("--log-dir", o->log_dir, "the supervisor's --log-dir (default STATE_DIR/logs)");
  cmd->add_option("--state-dir", o->state_dir, "the supervisor's --state-dir");
  cmd->callback([&ctx, o, cmd] {
    Options opts = *o;
    if (cmd->count("--lines") == 0 && !opts.since.empty()) opts.lines = kNoLimit;
    ctx.exit_code = run_logs(ctx, opts);
  });
}

}  // namespace dynmgr::cli
