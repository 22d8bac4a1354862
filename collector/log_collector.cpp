#include "collector/log_collector.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/clock.hpp"
#include "shared/log.hpp"
#include "shared/log_files.hpp"

namespace dynmgr {
namespace {

namespace lf = logfiles;

constexpr int kLockFd = 3;
constexpr int kListenFd = 4;
constexpr std::size_t kReadBytes = 64 * 1024;
constexpr std::size_t kFlushBytes = 256 * 1024;
constexpr std::uint64_t kWarnEveryMs = 10'000;
constexpr int kFirstClientMs = 10'000;  // started, but nobody connected: give up

std::int64_t wall_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// One id's current file; shared by every pipe of that id (a restarted worker
// and a descendant of the old one still writing).
struct LogFile {
  std::string id;
  std::string path;
  std::uint64_t max_bytes = 0;
  unsigned keep = 0;
  int fd = -1;
  std::uint64_t size = 0;     // bytes in the current file (we are its only writer)
  std::string buf;            // whole records not yet written
  int users = 0;              // pipes feeding it
  std::uint64_t dropped = 0;  // lines dropped since the last successful write
  std::string drop_reason;
};

struct Stream {
  int fd = -1;
  LogFile* file = nullptr;
  bool err = false;
  std::string partial;  // the line read so far (no newline yet)
};

class Collector {
 public:
  explicit Collector(std::string dir) : dir_(std::move(dir)) {}
  int run();

 private:
  void accept_clients();
  void receive(int client);
  void register_pipes(std::string_view text, const int* fds, std::size_t nfds);
  enum class Read { kAgain, kData, kClosed };
  Read read_stream(Stream& s);
  void close_stream(int fd);
  void emit(LogFile& f, std::string_view tag, const char* data, std::size_t n);
  void append(LogFile& f, std::string_view tag, const char* data, std::size_t n);
  void flush(LogFile& f);
  void rotate(LogFile& f);
  bool open_file(LogFile& f);
  void drop(LogFile& f, std::uint64_t lines, int err);
  void release(LogFile* f);

  std::string dir_;
  int ep_ = -1;
  int sigfd_ = -1;
  std::map<int, bool> clients_;                            // connected supervisors
  std::map<int, Stream> streams_;                          // by pipe fd
  std::map<std::string, std::unique_ptr<LogFile>> files_;  // by id
  std::vector<LogFile*> dirty_;                            // files with a buffer to write
  bool had_client_ = false;
  bool stopping_ = false;
  std::string now_;  // the timestamp of the current read
  std::uint64_t dropped_total_ = 0;
  std::uint64_t warned_mono_ = 0;
};

void Collector::accept_clients() {
  for (;;) {
    const int c = ::accept4(kListenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = c;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, c, &ev) != 0) {
      ::close(c);
      continue;
    }
    clients_[c] = true;
    had_client_ = true;
  }
}

void Collector::receive(int client) {
  for (;;) {
    char text[512];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 2)];
    iovec iov{text, sizeof text - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(client, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0 && (msg.msg_flags & MSG_CTRUNC) != 0) {
      // Out of descriptors: the kernel closed what did not fit; that worker's
      // writes fail (EPIPE) instead of blocking.
      log_warn("log collector: a worker's pipes were lost: out of descriptors");
    }
    int fds[2] = {-1, -1};
    std::size_t nfds = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < k; ++i) {
          int fd = -1;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          if (nfds < 2) {
            fds[nfds++] = fd;
          } else {
            ::close(fd);
          }
        }
      }
    }
    if (n <= 0) {  // the supervisor went away (exit, crash, re-exec): the pipes stay
      for (std::size_t i = 0; i < nfds; ++i) ::close(fds[i]);
      ::epoll_ctl(ep_, EPOLL_CTL_DEL, client, nullptr);
      ::close(client);
      clients_.erase(client);
      return;
    }
    register_pipes(std::string_view(text, static_cast<std::size_t>(n)), fds, nfds);
  }
}

// "R <max_bytes> <keep> <id>" with the stdout and stderr read ends.
void Collector::register_pipes(std::string_view text, const int* fds, std::size_t nfds) {
  std::uint64_t max_bytes = 0;
  unsigned keep = 0;
  std::string id;
  bool ok = nfds == 2 && text.size() > 2 && text.substr(0, 2) == "R ";
  if (ok) {
    text.remove_prefix(2);
    auto r = std::from_chars(text.data(), text.data() + text.size(), max_bytes);
    ok = r.ec == std::errc() && r.ptr < text.data() + text.size() && *r.ptr == ' ';
    if (ok) {
      text.remove_prefix(static_cast<std::size_t>(r.ptr - text.data()) + 1);
      r = std::from_chars(text.data(), text.data() + text.size(), keep);
      ok = r.ec == std::errc() && r.ptr < text.data() + text.size() && *r.ptr == ' ';
      if (ok) id.assign(r.ptr + 1, text.data() + text.size());
    }
  }
  if (!ok || id.empty() || max_bytes == 0 || keep == 0) {
    log_warn("log collector: ignored a malformed registration");
    for (std::size_t i = 0; i < nfds; ++i) ::close(fds[i]);
    return;
  }
  auto& slot = files_[id];
  if (!slot) {
    slot = std::make_unique<LogFile>();
    slot->id = id;
    slot->path = dir_ + "/" + lf::file_name(id);
  }
  slot->max_bytes = max_bytes;  // the latest supervisor's settings win
  slot->keep = keep;
  for (std::size_t i = 0; i < 2; ++i) {
    const int fd = fds[i];
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    Stream s;
    s.fd = fd;
    s.file = slot.get();
    s.err = i == 1;
    streams_[fd] = std::move(s);
    ++slot->users;
  }
}

Collector::Read Collector::read_stream(Stream& s) {
  char buf[kReadBytes];
  const ssize_t n = ::read(s.fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Read::kAgain;
  now_ = lf::format_time(wall_us());
  const std::string_view whole = s.err ? "err" : "out";
  if (n <= 0) {  // EOF (every writer gone) or an error: the stream is over
    if (!s.partial.empty())
      emit(*s.file, s.err ? "err-" : "out-", s.partial.data(), s.partial.size());
    close_stream(s.fd);
    return Read::kClosed;
  }
  const char* p = buf;
  const char* const end = buf + n;
  while (p < end) {
    const auto* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (nl == nullptr) break;
    if (s.partial.empty()) {
      emit(*s.file, whole, p, static_cast<std::size_t>(nl - p));
    } else {
      s.partial.append(p, nl);
      emit(*s.file, whole, s.partial.data(), s.partial.size());
      s.partial.clear();
    }
    p = nl + 1;
  }
  s.partial.append(p, end);
  // A line longer than the cap is written in pieces, never held without bound.
  if (s.partial.size() >= lf::kMaxLineBytes) {
    std::size_t off = 0;
    while (s.partial.size() - off >= lf::kMaxLineBytes) {
      append(*s.file, s.err ? "err+" : "out+", s.partial.data() + off, lf::kMaxLineBytes);
      off += lf::kMaxLineBytes;
    }
    s.partial.erase(0, off);
  }
  return Read::kData;
}

// A whole line (or the last piece of one): cut to the cap, the pieces but the
// last tagged '+'.
void Collector::emit(LogFile& f, std::string_view tag, const char* data, std::size_t n) {
  std::string cont(tag.substr(0, 3));
  cont += '+';
  while (n > lf::kMaxLineBytes) {
    append(f, cont, data, lf::kMaxLineBytes);
    data += lf::kMaxLineBytes;
    n -= lf::kMaxLineBytes;
  }
  append(f, tag, data, n);
}

void Collector::append(LogFile& f, std::string_view tag, const char* data, std::size_t n) {
  const std::size_t record = now_.size() + 1 + tag.size() + 1 + n + 1;
  // Rotation is between two whole records: the file a line starts in holds all of it.
  if (f.size + f.buf.size() + record > f.max_bytes && f.size + f.buf.size() > 0) {
    flush(f);
    rotate(f);
  }
  if (f.buf.empty()) dirty_.push_back(&f);
  f.buf.append(now_).append(1, ' ').append(tag).append(1, ' ').append(data, n).append(1, '\n');
  if (f.buf.size() >= kFlushBytes) flush(f);
}

bool Collector::open_file(LogFile& f) {
  f.fd = ::open(f.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (f.fd < 0) return false;
  struct stat st {};
  f.size = ::fstat(f.fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  if (lf::name_is_hashed(f.id)) {
    // The cut name cannot be turned back into the id: it is written beside it.
    const std::string idp = f.path.substr(0, f.path.size() - 4) + ".id";
    const int fd = ::open(idp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      (void)!::write(fd, f.id.data(), f.id.size());
      ::close(fd);
    }
  }
  return true;
}

void Collector::flush(LogFile& f) {
  if (f.buf.empty()) return;
  if (f.fd < 0 && !open_file(f)) {
    const int err = errno;
    const auto lines = static_cast<std::uint64_t>(std::count(f.buf.begin(), f.buf.end(), '\n'));
    f.buf.clear();
    drop(f, lines, err);
    return;
  }
  std::size_t note = 0;
  if (f.dropped > 0) {
    // Said in the file itself, ahead of the first lines written again.
    const std::string text =
        now_ + " log dropped " + std::to_string(f.dropped) + " line(s): " + f.drop_reason + "\n";
    f.buf.insert(0, text);
    note = text.size();
  }
  std::size_t off = 0;
  int err = 0;
  while (off < f.buf.size()) {
    const ssize_t w = ::write(f.fd, f.buf.data() + off, f.buf.size() - off);
    if (w > 0) {
      off += static_cast<std::size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      err = w < 0 ? errno : ENOSPC;
      break;
    }
  }
  if (off == f.buf.size()) {
    f.size += off;
    f.buf.clear();
    f.dropped = 0;
    return;
  }
  // A short write: cut the file back to the last whole record written, so no
  // line is ever half in a file; the rest is dropped.
  std::size_t whole = 0;
  if (off > 0) {
    const auto last = f.buf.rfind('\n', off - 1);
    whole = last == std::string::npos ? 0 : last + 1;
  }
  if (whole < off && ::ftruncate(f.fd, static_cast<off_t>(f.size + whole)) != 0) {
    // Could not cut it back: end the torn record so the next one starts a line.
    (void)!::write(f.fd, "\n", 1);
  }
  f.size += whole;
  auto lines = static_cast<std::uint64_t>(
      std::count(f.buf.begin() + static_cast<std::ptrdiff_t>(whole), f.buf.end(), '\n'));
  if (note > 0 && whole >= note) {
    f.dropped = 0;  // the note made it; what follows is a new loss
  } else if (note > 0) {
    --lines;  // the note itself is no worker line
  }
  f.buf.clear();
  drop(f, lines, err);
}

void Collector::drop(LogFile& f, std::uint64_t lines, int err) {
  f.dropped += lines;
  f.drop_reason = std::strerror(err);
  dropped_total_ += lines;
  const std::uint64_t now = mono_ms();
  if (warned_mono_ == 0 || now - warned_mono_ >= kWarnEveryMs) {
    warned_mono_ = now;
    log_warn("log collector: unable to write " + f.path + ": " + f.drop_reason + "; dropped " +
             std::to_string(lines) + " line(s) of '" + f.id + "' (" +
             std::to_string(dropped_total_) + " in all)");
  }
}

void Collector::rotate(LogFile& f) {
  if (f.fd >= 0) ::close(f.fd);
  f.fd = -1;
  for (unsigned k = f.keep; k >= 2; --k) {
    (void)::rename(lf::rotated_name(f.path, k - 1).c_str(), lf::rotated_name(f.path, k).c_str());
  }
  if (::rename(f.path.c_str(), lf::rotated_name(f.path, 1).c_str()) != 0 && errno != ENOENT) {
    log_warn("log collector: unable to rotate " + f.path + ": " + std::strerror(errno));
  }
  f.size = 0;
  if (!open_file(f)) f.size = 0;  // retried at the next flush; lines dropped meanwhile
}

void Collector::close_stream(int fd) {
  auto it = streams_.find(fd);
  if (it == streams_.end()) return;
  ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  LogFile* f = it->second.file;
  streams_.erase(it);
  release(f);
}

void Collector::release(LogFile* f) {
  if (--f->users > 0) return;
  flush(*f);
  std::erase(dirty_, f);
  if (f->fd >= 0) ::close(f->fd);
  files_.erase(f->id);
}

int Collector::run() {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  sigfd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN);
  // Two descriptors per worker: as many as we are allowed.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }  // a file over RLIMIT_FSIZE is EFBIG: lines dropped, counted
  if (ep_ < 0 || sigfd_ < 0) {
    log_error("log collector: unable to start: " + std::string(std::strerror(errno)));
    return 1;
  }
  ::fcntl(kListenFd, F_SETFL, ::fcntl(kListenFd, F_GETFL) | O_NONBLOCK);
  for (int fd : {kListenFd, sigfd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }
  epoll_event evs[64];
  for (;;) {
    for (LogFile* f : dirty_) flush(*f);
    dirty_.clear();
    if (stopping_ || (had_client_ && streams_.empty() && clients_.empty())) break;
    const int n = ::epoll_wait(ep_, evs, 64, had_client_ ? -1 : kFirstClientMs);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 && !had_client_) break;
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == kListenFd) {
        accept_clients();
      } else if (fd == sigfd_) {
        signalfd_siginfo si{};
        while (::read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          if (si.ssi_signo == SIGTERM) stopping_ = true;  // the others: we belong to no terminal
        }
      } else if (clients_.count(fd) != 0) {
        receive(fd);
      } else if (auto it = streams_.find(fd); it != streams_.end()) {
        read_stream(it->second);
      }
    }
  }
  // Whatever the pipes already hold is written before leaving.
  if (stopping_) {
    std::vector<int> fds;
    for (auto& [fd, st] : streams_) fds.push_back(fd);
    for (int fd : fds) {
      while (streams_.count(fd) != 0 && read_stream(streams_[fd]) == Read::kData) {
      }
    }
    for (auto& [id, f] : files_) flush(*f);
  }
  // Unlink our socket only while we hold the lock: no successor can have bound it yet.
  ::unlink((dir_ + "/" + lf::kSocketName).c_str());
  return 0;
}

}  // namespace

int run_log_collector(int argc, char** argv) {
  if (argc != 3) return 2;
  set_log_program("dynmgr-log-collector");
  Collector c(argv[2]);
  return c.run();
}

}  // namespace dynmgr
