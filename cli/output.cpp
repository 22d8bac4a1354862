#include "cli/output.hpp"

#include <locale.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <iostream>
#include <string_view>

#include "shared/clock.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr::cli {

void print_json(const json::value& v) { std::cout << to_json(v) << '\n'; }

json::object worker_json(const WorkerInfo& r) { return worker_to_json(r); }

std::string format_uptime(std::uint64_t started_ms, std::uint64_t now_ms) {
  if (started_ms == 0 || now_ms < started_ms) return "-";
  std::uint64_t s = (now_ms - started_ms) / 1000;
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>((s % 3600) / 60));
  else
    std::snprintf(buf, sizeof buf, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>((s % 86400) / 3600));
  return buf;
}

std::size_t terminal_width() {
  if (const char* c = std::getenv("COLUMNS")) {
    const long v = std::strtol(c, nullptr, 10);
    if (v >= 1 && v <= 1000) return static_cast<std::size_t>(v);
  }
  winsize ws{};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 1) {
    return ws.ws_col;
  }
  return 120;
}

void print_record(const WorkerInfo& r) {
  // One line per described member (worker_info.hpp), then the uptime.
  const auto fields = worker_fields(r);
  std::size_t width = std::string_view("uptime").size();
  for (const auto& f : fields) width = std::max(width, f.name.size());
  const auto line = [width](std::string_view name, const std::string& text) {
    // A multi-line value (the exit history) continues under its first line.
    std::cout << name << ':' << std::string(width + 2 - name.size(), ' ');
    for (char c : text) {
      std::cout << c;
      if (c == '\n') std::cout << std::string(width + 3, ' ');
    }
    std::cout << '\n';
  };
  for (const auto& f : fields) line(f.name, f.text);
  line("uptime", r.pid > 0 ? format_uptime(r.started_ms, wall_ms()) : "-");
}

namespace {

// Terminal columns, not bytes: ids and payloads are UTF-8, and a CJK character
// takes two columns, a combining accent none. The widths are glibc's wcwidth()
// in the C.UTF-8 locale (set for this thread only, while a Columns lives).
class Columns {
 public:
  Columns() : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr)) {
    if (utf8_ != nullptr) previous_ = ::uselocale(utf8_);
  }
  ~Columns() {
    if (utf8_ == nullptr) return;
    ::uselocale(previous_);
    ::freelocale(utf8_);
  }
  Columns(const Columns&) = delete;
  Columns& operator=(const Columns&) = delete;

  // The columns of the character starting at s[i]; advances i past it. A byte
  // that does not start valid UTF-8 counts as one column on its own. Without
  // the locale: one column per character (continuation bytes count none).
  std::size_t next(std::string_view s, std::size_t& i) const {
    if (utf8_ == nullptr) {
      const auto byte = static_cast<unsigned char>(s[i++]);
      return (byte & 0xC0) == 0x80 ? 0 : 1;
    }
    std::mbstate_t st{};
    wchar_t wc = 0;
    const std::size_t n = std::mbrtowc(&wc, s.data() + i, s.size() - i, &st);
    if (n == 0 || n > s.size() - i) {  // NUL, invalid or cut short: one byte
      ++i;
      return 1;
    }
    i += n;
    const int w = ::wcwidth(wc);
    return w < 0 ? 1 : static_cast<std::size_t>(w);
  }
  std::size_t width(std::string_view s) const {
    std::size_t cols = 0;
    for (std::size_t i = 0; i < s.size();) cols += next(s, i);
    return cols;
  }
  // s cut to at most `width` columns, ending in "..." when it was cut; never
  // in the middle of a character.
  std::string cut(std::string_view s, std::size_t width) const {
    if (this->width(s) <= width) return std::string(s);
    const std::size_t room = width > 3 ? width - 3 : width;
    std::size_t cols = 0;
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t j = i;
      const std::size_t w = next(s, j);
      if (cols + w > room) break;
      cols += w;
      i = j;
    }
    return std::string(s.substr(0, i)) + std::string(width > 3 ? 3 : 0, '.');
  }
  // s padded with spaces to `width` columns (left-aligned).
  std::string pad(std::string_view s, std::size_t width) const {
    const std::size_t w = this->width(s);
    return std::string(s) + std::string(w < width ? width - w : 0, ' ');
  }

 private:
  locale_t utf8_;
  locale_t previous_ = LC_GLOBAL_LOCALE;
};

}  // namespace

std::string persistence_line(const PersistenceStatus& p) {
  if (!p.enabled) return "state: off (volatile: nothing survives a reboot)";
  if (!p.ok) return "state: " + p.dir + " FAILING: " + p.error;
  return "state: " + p.dir + " (ok)";
}

void print_table(const InstanceInfo& h, const std::string& instance,
                 const std::vector<WorkerInfo>& workers, std::size_t width) {
  std::printf("instance %s: manager %s, supervisor pid %d%s, %zu worker(s)%s\n", instance.c_str(),
              std::string(to_string(h.manager_state)).c_str(), h.supervisor_pid,
              h.supervisor_alive ? "" : " (not running: workers await a successor)", workers.size(),
              h.adopted > 0 ? (", " + std::to_string(h.adopted) + " adopted").c_str() : "");
  // Only trouble is worth a line in the table's header.
  if (h.persistence.enabled && !h.persistence.ok) {
    std::printf("%s\n", persistence_line(h.persistence).c_str());
  }
  if (workers.empty()) return;
  // Every line of the table fits `width` columns: the payload takes what is
  // left, and a line wider than the terminal (a narrow one) is cut.
  const Columns cols;
  std::size_t id_w = 2;
  for (const auto& r : workers) id_w = std::max(id_w, std::min<std::size_t>(cols.width(r.id), 32));
  const std::uint64_t now = wall_ms();
  char rest[128];
  std::snprintf(rest, sizeof rest, " %7s %-10s %8s %8s  ", "PID", "STATUS", "RESTARTS", "UPTIME");
  const std::size_t fixed = id_w + std::strlen(rest);
  std::printf("%s\n", cols.cut(cols.pad("ID", id_w) + rest + "PAYLOAD", width).c_str());
  for (const auto& r : workers) {
    const std::string_view status = display_status(r);
    std::snprintf(rest, sizeof rest, " %7d %-10.*s %8u %8s  ", r.pid,
                  static_cast<int>(status.size()), status.data(), r.restarts,
                  r.pid > 0 ? format_uptime(r.started_ms, now).c_str() : "-");
    const std::string head = cols.pad(cols.cut(r.id, id_w), id_w) + rest;
    const std::size_t room = width > fixed + 8 ? width - fixed : 8;
    std::printf("%s\n", cols.cut(head + cols.cut(r.payload, room), width).c_str());
  }
}

}  // namespace dynmgr::cli
