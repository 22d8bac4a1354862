#include "cli/top_model.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <tuple>

#include "cli/columns.hpp"
#include "cli/output.hpp"

namespace dynmgr::cli::top {

std::string_view column_title(Column c) noexcept {
  switch (c) {
    case Column::kId:
      return "ID";
    case Column::kPid:
      return "PID";
    case Column::kStatus:
      return "STATUS";
    case Column::kRestarts:
      return "RESTARTS";
    case Column::kUptime:
      return "UPTIME";
    case Column::kCpu:
      return "CPU%";
    case Column::kRss:
      return "RSS";
    case Column::kMailbox:
      return "MAILBOX";
    case Column::kLastExit:
      return "LAST EXIT";
  }
  return "?";
}

bool sortable(Column c) noexcept { return c != Column::kCpu && c != Column::kRss; }

Column next_sort_column(Column c, int step) noexcept {
  constexpr int n = static_cast<int>(std::size(kAllColumns));
  int i = static_cast<int>(c);
  do {
    i = ((i + step) % n + n) % n;
  } while (!sortable(static_cast<Column>(i)));
  return static_cast<Column>(i);
}

namespace {

// Uptime as a sort key: workers without a process sort as the youngest.
std::uint64_t age(const Row& r, std::uint64_t now_ms) {
  if (r.pid <= 0 || r.started_ms == 0 || r.started_ms > now_ms) return 0;
  return now_ms - r.started_ms;
}

}  // namespace

void sort_rows(std::vector<Row>& rows, SortOrder order, std::uint64_t now_ms) {
  const auto key_less = [&](const Row& a, const Row& b) -> int {
    // -1 a first, 1 b first, 0 a tie.
    const auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (order.column) {
      case Column::kPid:
        return cmp(a.pid, b.pid);
      case Column::kStatus:
        return cmp(std::make_tuple(static_cast<std::uint32_t>(a.status), a.busy),
                   std::make_tuple(static_cast<std::uint32_t>(b.status), b.busy));
      case Column::kRestarts:
        return cmp(a.restarts, b.restarts);
      case Column::kUptime:
        return cmp(age(a, now_ms), age(b, now_ms));
      case Column::kMailbox:
        return cmp(a.mailbox, b.mailbox);
      case Column::kLastExit:
        return cmp(format_exit(a.last_exit), format_exit(b.last_exit));
      case Column::kId:
        return cmp(a.id, b.id);
      case Column::kCpu:
      case Column::kRss:
        return 0;
    }
    return 0;
  };
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    // The key in the order asked for; ties by id (then slot) ascending either way.
    if (const int c = key_less(a, b); c != 0) return order.descending ? c > 0 : c < 0;
    if (a.id != b.id) return a.id < b.id;
    return a.slot < b.slot;
  });
}

bool matches(std::string_view id, std::string_view filter) noexcept {
  return filter.empty() || id.find(filter) != std::string_view::npos;
}

namespace {

// The next space-separated unsigned number of text from pos; advances pos.
std::optional<std::uint64_t> number_at(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && text[pos] == ' ') ++pos;
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data() + pos, text.data() + text.size(), v);
  if (r.ec != std::errc()) return std::nullopt;
  pos = static_cast<std::size_t>(r.ptr - text.data());
  return v;
}

// Skips n space-separated fields.
bool skip_fields(std::string_view text, std::size_t& pos, int n) {
  for (int k = 0; k < n; ++k) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (pos >= text.size()) return false;
    while (pos < text.size() && text[pos] != ' ') ++pos;
  }
  return true;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) noexcept {
  const auto paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // After ')': field 3 (state) onwards. utime is field 14: skip 3..13.
  std::size_t pos = paren + 1;
  if (!skip_fields(text, pos, 11)) return std::nullopt;
  const auto utime = number_at(text, pos);
  const auto stime = number_at(text, pos);
  if (!utime || !stime) return std::nullopt;
  // Fields 16..21, then starttime (22).
  if (!skip_fields(text, pos, 6)) return std::nullopt;
  const auto start = number_at(text, pos);
  if (!start) return std::nullopt;
  return ProcStat{*utime + *stime, *start};
}

std::optional<std::uint64_t> parse_statm_resident(std::string_view text) noexcept {
  std::size_t pos = 0;
  if (!number_at(text, pos)) return std::nullopt;
  return number_at(text, pos);
}

std::optional<std::uint64_t> parse_uptime_ticks(std::string_view text,
                                                long ticks_per_second) noexcept {
  std::size_t pos = 0;
  const auto whole = number_at(text, pos);
  if (!whole || ticks_per_second <= 0) return std::nullopt;
  std::uint64_t hundredths = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && digits < 2 && text[pos] >= '0' && text[pos] <= '9') {
      hundredths = hundredths * 10 + static_cast<std::uint64_t>(text[pos] - '0');
      ++pos;
      ++digits;
    }
    if (digits == 1) hundredths *= 10;
  }
  const auto tps = static_cast<std::uint64_t>(ticks_per_second);
  return *whole * tps + hundredths * tps / 100;
}

std::optional<double> cpu_percent(std::uint64_t ticks_before, std::uint64_t ticks_now,
                                  std::uint64_t elapsed_ms, long ticks_per_second) noexcept {
  if (elapsed_ms == 0 || ticks_now < ticks_before || ticks_per_second <= 0) return std::nullopt;
  const double busy_ms = static_cast<double>(ticks_now - ticks_before) * 1000.0 /
                         static_cast<double>(ticks_per_second);
  return busy_ms * 100.0 / static_cast<double>(elapsed_ms);
}

std::optional<double> lifetime_cpu_percent(const ProcStat& s, std::uint64_t uptime_ticks) noexcept {
  if (uptime_ticks <= s.start_ticks) return std::nullopt;
  return static_cast<double>(s.cpu_ticks) * 100.0 /
         static_cast<double>(uptime_ticks - s.start_ticks);
}

std::string format_bytes(std::optional<std::uint64_t> bytes) {
  if (!bytes) return "-";
  char buf[32];
  const double b = static_cast<double>(*bytes);
  if (*bytes < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%lluK", static_cast<unsigned long long>(*bytes / 1024));
  } else if (*bytes < 1024ULL * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1fM", b / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.1fG", b / (1024.0 * 1024 * 1024));
  }
  return buf;
}

std::string format_cpu(std::optional<double> percent) {
  if (!percent) return "-";
  char buf[32];
  if (*percent >= 999.5) {
    std::snprintf(buf, sizeof buf, "%.0f", *percent);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", *percent);
  }
  return buf;
}

std::string format_exit(const ExitInfo& e) {
  switch (e.kind) {
    case ExitInfo::Kind::kNone:
      return "-";
    case ExitInfo::Kind::kExited:
      return "exit " + std::to_string(e.code);
    case ExitInfo::Kind::kSignaled: {
      // The reason reads "killed by SIGKILL" (ExitInfo::from_wait_status).
      const auto sig = e.reason.find("SIG");
      if (sig != std::string::npos) {
        const auto end = e.reason.find_first_of(" (", sig);
        return e.reason.substr(sig, end == std::string::npos ? std::string::npos : end - sig);
      }
      return "signal " + std::to_string(e.code);
    }
    case ExitInfo::Kind::kSpawnFailed:
      return "spawn failed";
    case ExitInfo::Kind::kUnknown:
      return "unknown";
    case ExitInfo::Kind::kOverrun:
      return "overrun";
    case ExitInfo::Kind::kMaxMemory:
      return "max memory";
  }
  return "?";
}

namespace {

struct ColumnSpec {
  Column column;
  std::size_t width;  // fixed width (id and last exit: their minimum)
  bool right;         // right-aligned (numbers)
};
constexpr ColumnSpec kSpecs[] = {
    {Column::kId, 8, false},      {Column::kPid, 7, true},     {Column::kStatus, 10, false},
    {Column::kRestarts, 8, true}, {Column::kUptime, 7, true},  {Column::kCpu, 6, true},
    {Column::kRss, 7, true},      {Column::kMailbox, 7, true}, {Column::kLastExit, 9, false},
};
// The order in which columns go when the terminal is too narrow.
constexpr Column kDropOrder[] = {Column::kLastExit, Column::kMailbox,  Column::kRss,
                                 Column::kCpu,      Column::kUptime,   Column::kRestarts,
                                 Column::kPid};
constexpr std::size_t kIdMax = 32;

const ColumnSpec& spec(Column c) { return kSpecs[static_cast<std::size_t>(c)]; }

}  // namespace

std::size_t Layout::total() const noexcept {
  std::size_t t = 0;
  for (const auto& c : cells) t += c.width;
  return cells.empty() ? 0 : t + cells.size() - 1;
}

Layout layout_columns(std::size_t width, std::size_t widest_id) {
  std::vector<Column> shown(std::begin(kAllColumns), std::end(kAllColumns));
  const auto minimum = [&] {
    std::size_t t = 0;
    for (Column c : shown) t += spec(c).width;
    return t + shown.size() - 1;
  };
  for (Column drop : kDropOrder) {
    if (minimum() <= width) break;
    shown.erase(std::find(shown.begin(), shown.end(), drop));
  }
  Layout l;
  for (Column c : shown) l.cells.push_back({c, spec(c).width});
  // The id column grows first (up to what the widest id needs), then the last
  // exit takes what is left; on a terminal narrower than id + status the id
  // shrinks (row_line cuts every line to the width anyway).
  const std::size_t base = minimum();
  auto& id = l.cells.front();
  if (base > width) {
    const std::size_t over = base - width;
    id.width = id.width > over + 1 ? id.width - over : 1;
    return l;
  }
  std::size_t spare = width - base;
  const std::size_t want = std::min(std::max(widest_id, spec(Column::kId).width), kIdMax);
  const std::size_t grow = std::min(spare, want - id.width);
  id.width += grow;
  spare -= grow;
  if (l.cells.back().column == Column::kLastExit) l.cells.back().width += spare;
  return l;
}

namespace {

std::string cell_text(const Row& r, Column c, std::uint64_t now_ms) {
  switch (c) {
    case Column::kId:
      return r.id;
    case Column::kPid:
      return r.pid > 0 ? std::to_string(r.pid) : "-";
    case Column::kStatus:
      return r.busy && r.status == WorkerStatus::kRunning ? "busy"
                                                          : std::string(to_string(r.status));
    case Column::kRestarts:
      return std::to_string(r.restarts);
    case Column::kUptime:
      return r.pid > 0 ? format_uptime(r.started_ms, now_ms) : "-";
    case Column::kCpu:
      return format_cpu(r.cpu_percent);
    case Column::kRss:
      return format_bytes(r.rss_bytes);
    case Column::kMailbox:
      return std::to_string(r.mailbox);
    case Column::kLastExit:
      return format_exit(r.last_exit);
  }
  return "";
}

std::string join_cells(const Layout& l, const std::vector<std::string>& texts,
                       std::size_t width) {
  const Columns cols;
  std::string out;
  for (std::size_t i = 0; i < l.cells.size(); ++i) {
    const auto& cell = l.cells[i];
    if (i > 0) out += ' ';
    out += spec(cell.column).right ? cols.pad_left(texts[i], cell.width)
                                   : cols.fit(texts[i], cell.width);
  }
  // Trailing blanks carry nothing; a line never exceeds the width.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return cols.cut(out, width);
}

}  // namespace

std::string header_line(const Layout& l, SortOrder order, std::size_t width) {
  std::vector<std::string> texts;
  for (const auto& cell : l.cells) {
    std::string t(column_title(cell.column));
    if (cell.column == order.column) t += order.descending ? "v" : "^";
    texts.push_back(std::move(t));
  }
  return join_cells(l, texts, width);
}

std::string row_line(const Row& r, const Layout& l, std::uint64_t now_ms, std::size_t width) {
  std::vector<std::string> texts;
  texts.reserve(l.cells.size());
  for (const auto& cell : l.cells) texts.push_back(cell_text(r, cell.column, now_ms));
  return join_cells(l, texts, width);
}

Counts count(const std::vector<Row>& rows) noexcept {
  Counts c;
  c.total = rows.size();
  for (const auto& r : rows) {
    const auto s = static_cast<std::size_t>(r.status);
    if (s < std::size(c.by_status)) ++c.by_status[s];
    if (r.busy && r.status == WorkerStatus::kRunning) ++c.busy;
  }
  return c;
}

std::string counts_line(const Counts& c) {
  std::string out = std::to_string(c.total) + (c.total == 1 ? " worker" : " workers");
  bool first = true;
  for (std::size_t s = 1; s < std::size(c.by_status); ++s) {
    if (c.by_status[s] == 0) continue;
    out += first ? ": " : ", ";
    first = false;
    out += std::to_string(c.by_status[s]) + " " +
           std::string(to_string(static_cast<WorkerStatus>(s)));
    if (s == static_cast<std::size_t>(WorkerStatus::kRunning) && c.busy > 0) {
      out += " (" + std::to_string(c.busy) + " busy)";
    }
  }
  return out;
}

Viewport clamp_view(Viewport v, std::size_t rows, std::size_t height) noexcept {
  if (height == 0) height = 1;
  if (rows == 0) return {};
  v.selected = std::min(v.selected, rows - 1);
  if (v.selected < v.top) v.top = v.selected;
  if (v.selected >= v.top + height) v.top = v.selected + 1 - height;
  // No empty space below the last row while there are rows above the top.
  if (v.top + height > rows) v.top = rows > height ? rows - height : 0;
  return v;
}

std::string fit_width(std::string_view s, std::size_t width) {
  const Columns cols;
  return cols.cut(s, width);
}

namespace {
constexpr std::size_t kFixedLines = 5;  // title, counts, help, column header, status line
}

std::size_t events_height(std::size_t height) noexcept {
  if (height < kFixedLines + 8) return 0;
  return std::min<std::size_t>(8, (height - kFixedLines) / 4);
}

std::size_t rows_height(std::size_t height) noexcept {
  const std::size_t ev = events_height(height);
  const std::size_t fixed = kFixedLines + (ev > 0 ? ev + 1 : 0);
  return height > fixed ? height - fixed : 1;
}

std::vector<Line> compose_frame(const FrameInput& in) {
  const Columns cols;
  const std::size_t w = in.width;
  std::vector<Line> out;
  const auto add = [&](std::string_view text, Style style) {
    out.push_back({cols.cut(text, w), style});
  };
  add(in.title, in.trouble ? Style::kTrouble : Style::kTitle);

  const std::vector<Row> none;
  const std::vector<Row>& rows = in.rows != nullptr ? *in.rows : none;
  std::string second = counts_line(in.counts);
  if (!in.filter.empty()) {
    second += "  filter '" + in.filter + "': " + std::to_string(rows.size()) + " shown";
  }
  second += std::string("  sort: ") + std::string(column_title(in.order.column)) +
            (in.order.descending ? " desc" : " asc");
  add(second, Style::kNormal);
  if (in.interactive) {
    add("q quit  </> sort column  i invert  / filter  r restart  d del  "
        "Up/Down PgUp/PgDn Home/End move",
        Style::kNormal);
  }

  // The id column as wide as the widest id on screen (never scans the fleet).
  const std::size_t shown = in.height == 0 ? rows.size() : rows_height(in.height);
  const std::size_t first = in.height == 0 ? 0 : std::min(in.view.top, rows.size());
  const std::size_t last = std::min(rows.size(), first + shown);
  std::size_t widest = 2;
  for (std::size_t i = first; i < last; ++i) widest = std::max(widest, cols.width(rows[i].id));
  const Layout layout = layout_columns(w, widest);
  add(header_line(layout, in.order, w), Style::kHeader);
  for (std::size_t i = first; i < last; ++i) {
    Style style = Style::kNormal;
    const Row& r = rows[i];
    if (r.status == WorkerStatus::kFailed || r.status == WorkerStatus::kRestarting) {
      style = Style::kTrouble;
    }
    if (in.interactive && i == in.view.selected) style = Style::kSelected;
    out.push_back({row_line(r, layout, in.now_ms, w), style});
  }
  if (rows.empty()) {
    add(in.filter.empty() ? "(no workers)" : "(no worker id contains '" + in.filter + "')",
        Style::kNormal);
  }
  const std::size_t ev = in.height == 0 ? std::min<std::size_t>(in.events.size(), 8)
                                        : events_height(in.height);
  if (in.height != 0) {
    // Blank lines up to the events, so they stay at the bottom.
    const std::size_t rows_end = (in.interactive ? 4 : 3) + rows_height(in.height);
    while (out.size() < rows_end) out.push_back({"", Style::kNormal});
  }
  if (ev > 0) {
    // The newest event sits just above the status line.
    add("last events", Style::kHeader);
    const std::size_t from = in.events.size() > ev ? in.events.size() - ev : 0;
    if (in.height != 0) {
      for (std::size_t i = in.events.size() - from; i < ev; ++i) out.push_back({"", Style::kNormal});
    }
    for (std::size_t i = from; i < in.events.size(); ++i) add(in.events[i], Style::kEvent);
  }
  if (in.editing) {
    add("filter: " + *in.editing + "_  (Enter apply, Esc clear)", Style::kPrompt);
  } else if (!in.status.empty()) {
    add(in.status, Style::kPrompt);
  } else if (in.height != 0) {
    out.push_back({"", Style::kNormal});
  }
  if (in.height != 0) {
    out.resize(in.height, Line{"", Style::kNormal});
  }
  return out;
}

}  // namespace dynmgr::cli::top
