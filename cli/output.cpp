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

#include "cli/columns.hpp"
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
