// dynmgrctl top's pure part (cli/top_model.hpp): sorting, the id filter,
// /proc parsing, the CPU % arithmetic, the column layout at narrow widths and
// with non-ASCII ids, the viewport, and a whole frame. No terminal, no
// supervisor.
#include "cli/top_model.hpp"

#include <gtest/gtest.h>

#include "cli/columns.hpp"

namespace dynmgr::cli::top {
namespace {

Row row(std::string id, pid_t pid, WorkerStatus status, std::uint32_t restarts = 0,
        std::uint64_t started_ms = 0, std::uint64_t mailbox = 0) {
  Row r;
  r.id = std::move(id);
  r.pid = pid;
  r.status = status;
  r.restarts = restarts;
  r.started_ms = started_ms;
  r.mailbox = mailbox;
  return r;
}

std::vector<std::string> ids(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

std::size_t columns(const std::string& s) { return Columns().width(s); }

TEST(TopSort, EachSortableColumnAscendingAndDescendingTiesById) {
  const std::uint64_t now = 100'000;
  const std::vector<Row> fleet = {
      row("c", 30, WorkerStatus::kRunning, 2, 90'000, 5),
      row("a", 10, WorkerStatus::kFailed, 0, 0, 0),
      row("b", 20, WorkerStatus::kRunning, 2, 50'000, 1),
      row("d", 5, WorkerStatus::kStarting, 9, 99'000, 0),
  };
  struct Case {
    Column column;
    bool descending;
    std::vector<std::string> want;
  };
  // Ties (b and c: 2 restarts, running) go by id ascending in both directions.
  const Case cases[] = {
      {Column::kId, false, {"a", "b", "c", "d"}},
      {Column::kId, true, {"d", "c", "b", "a"}},
      {Column::kPid, false, {"d", "a", "b", "c"}},
      {Column::kRestarts, false, {"a", "b", "c", "d"}},  // b and c tie at 2: by id
      {Column::kRestarts, true, {"d", "b", "c", "a"}},
      {Column::kUptime, true, {"b", "c", "d", "a"}},
      {Column::kMailbox, true, {"c", "b", "a", "d"}},
      {Column::kStatus, false, {"d", "b", "c", "a"}},  // starting < running < failed
  };
  for (const auto& c : cases) {
    auto rows = fleet;
    sort_rows(rows, {c.column, c.descending}, now);
    EXPECT_EQ(ids(rows), c.want) << column_title(c.column) << (c.descending ? " desc" : " asc");
  }
}

TEST(TopSort, CpuAndRssAreNotSortKeysAndTheCycleSkipsThem) {
  EXPECT_FALSE(sortable(Column::kCpu));
  EXPECT_FALSE(sortable(Column::kRss));
  EXPECT_EQ(next_sort_column(Column::kUptime, +1), Column::kMailbox);
  EXPECT_EQ(next_sort_column(Column::kMailbox, -1), Column::kUptime);
  EXPECT_EQ(next_sort_column(Column::kLastExit, +1), Column::kId);
  EXPECT_EQ(next_sort_column(Column::kId, -1), Column::kLastExit);
}

TEST(TopFilter, SubstringOfTheIdCaseSensitive) {
  EXPECT_TRUE(matches("scraper-42", ""));
  EXPECT_TRUE(matches("scraper-42", "per-4"));
  EXPECT_TRUE(matches("scraper-42", "scraper-42"));
  EXPECT_FALSE(matches("scraper-42", "Scraper"));
  EXPECT_FALSE(matches("a", "ab"));
  EXPECT_TRUE(matches("café-1", "é"));
}

TEST(TopProc, StatWithSpacesAndParenthesesInTheName) {
  // Fields 14/15 (utime/stime) = 150/50 and 22 (starttime) = 123456.
  const std::string stat =
      "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 123456 "
      "1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto s = parse_proc_stat(stat);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->cpu_ticks, 200u);
  EXPECT_EQ(s->start_ticks, 123456u);
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("12 (x) S 1 2"));
  EXPECT_FALSE(parse_proc_stat("12 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"));
}

TEST(TopProc, StatmAndUptime) {
  EXPECT_EQ(parse_statm_resident("2500 300 200 10 0 150 0\n"), 300u);
  EXPECT_FALSE(parse_statm_resident("2500"));
  EXPECT_FALSE(parse_statm_resident(""));
  EXPECT_EQ(parse_uptime_ticks("12345.67 4000.00\n", 100), 1234567u);
  EXPECT_EQ(parse_uptime_ticks("10.5 1.0\n", 100), 1050u);
  EXPECT_EQ(parse_uptime_ticks("10 1\n", 100), 1000u);
  EXPECT_FALSE(parse_uptime_ticks("x", 100));
}

TEST(TopCpu, PercentFromTwoSamples) {
  // 50 ticks at 100 Hz = 0.5 s busy in 1 s: 50 %.
  EXPECT_DOUBLE_EQ(*cpu_percent(100, 150, 1000, 100), 50.0);
  // Two cores for 2 s: 200 %.
  EXPECT_DOUBLE_EQ(*cpu_percent(0, 400, 2000, 100), 200.0);
  EXPECT_DOUBLE_EQ(*cpu_percent(7, 7, 500, 100), 0.0);
  EXPECT_FALSE(cpu_percent(100, 150, 0, 100));   // no time passed
  EXPECT_FALSE(cpu_percent(150, 100, 1000, 100));  // another process under the pid
  // Lifetime: 30 ticks over the 300 ticks since it started.
  EXPECT_DOUBLE_EQ(*lifetime_cpu_percent({30, 700}, 1000), 10.0);
  EXPECT_FALSE(lifetime_cpu_percent({30, 1000}, 1000));
}

TEST(TopFormat, BytesCpuAndExits) {
  EXPECT_EQ(format_bytes(std::nullopt), "-");
  EXPECT_EQ(format_bytes(512 * 1024), "512K");
  EXPECT_EQ(format_bytes(3 * 1024 * 1024 + 512 * 1024), "3.5M");
  EXPECT_EQ(format_bytes(2ULL * 1024 * 1024 * 1024), "2.0G");
  EXPECT_EQ(format_cpu(std::nullopt), "-");
  EXPECT_EQ(format_cpu(12.34), "12.3");
  EXPECT_EQ(format_cpu(1600.0), "1600");
  EXPECT_EQ(format_exit({}), "-");
  EXPECT_EQ(format_exit({ExitInfo::Kind::kExited, 3, "exited with code 3"}), "exit 3");
  EXPECT_EQ(format_exit({ExitInfo::Kind::kSignaled, 9, "killed by SIGKILL"}), "SIGKILL");
  EXPECT_EQ(format_exit({ExitInfo::Kind::kSignaled, 11, "killed by SIGSEGV (core dumped)"}),
            "SIGSEGV");
  EXPECT_EQ(format_exit({ExitInfo::Kind::kSignaled, 64, ""}), "signal 64");
  EXPECT_EQ(format_exit({ExitInfo::Kind::kSpawnFailed, 2, "x"}), "spawn failed");
}

TEST(TopLayout, WideTerminalShowsEveryColumnAndFillsTheWidth) {
  const Layout l = layout_columns(160, 12);
  ASSERT_EQ(l.cells.size(), std::size(kAllColumns));
  EXPECT_EQ(l.cells.front().width, 12u);
  EXPECT_EQ(l.total(), 160u);
}

TEST(TopLayout, IdColumnBetween8And32) {
  EXPECT_EQ(layout_columns(200, 2).cells.front().width, 8u);
  EXPECT_EQ(layout_columns(200, 100).cells.front().width, 32u);
}

TEST(TopLayout, NarrowTerminalsDropColumnsLeastUsefulFirstAndNeverOverflow) {
  const Row r = [] {
    Row x = row("a-rather-long-worker-id-that-goes-on-and-on", 123456, WorkerStatus::kRestarting, 12,
                1, 7);
    x.cpu_percent = 12.5;
    x.rss_bytes = 5 * 1024 * 1024;
    x.last_exit = {ExitInfo::Kind::kSignaled, 9, "killed by SIGKILL"};
    return x;
  }();
  std::size_t previous = 0;
  for (std::size_t width = 1; width <= 140; ++width) {
    const Layout l = layout_columns(width, columns(r.id));
    ASSERT_FALSE(l.cells.empty());
    EXPECT_EQ(l.cells.front().column, Column::kId);
    EXPECT_GE(l.cells.size(), previous) << width;  // wider never shows fewer
    previous = l.cells.size();
    EXPECT_LE(columns(row_line(r, l, 10'000, width)), width) << width;
    EXPECT_LE(columns(header_line(l, {}, width)), width) << width;
  }
  // 40 columns: id, pid, status, restarts and uptime are what stays.
  const Layout l40 = layout_columns(40, 20);
  std::vector<Column> shown;
  for (const auto& c : l40.cells) shown.push_back(c.column);
  EXPECT_EQ(shown, (std::vector<Column>{Column::kId, Column::kPid, Column::kStatus,
                                        Column::kRestarts}));
}

TEST(TopLayout, NonAsciiIdsAreMeasuredInColumnsNotBytes) {
  // 6 CJK characters (12 columns, 18 bytes) and an accented id.
  const std::string wide = "作業者一二三";
  const std::string accented = "café-crème";
  const Layout l = layout_columns(100, std::max(columns(wide), columns(accented)));
  EXPECT_EQ(l.cells.front().width, 12u);
  const std::string a = row_line(row(wide, 1, WorkerStatus::kRunning), l, 0, 100);
  const std::string b = row_line(row(accented, 2, WorkerStatus::kRunning), l, 0, 100);
  // The pid column starts at the same terminal column in both lines.
  EXPECT_EQ(columns(a.substr(0, a.find(" 1 ") + 1)), columns(b.substr(0, b.find(" 2 ") + 1)));
  // Cut inside the id: never mid-character, never wider than asked.
  const Layout narrow = layout_columns(10, columns(wide));
  const std::string cut = row_line(row(wide, 1, WorkerStatus::kRunning), narrow, 0, 10);
  EXPECT_LE(columns(cut), 10u);
  EXPECT_EQ(Columns().width(cut), columns(cut));
  for (std::size_t width = 1; width < 40; ++width) {
    EXPECT_LE(columns(row_line(row(wide, 1, WorkerStatus::kRunning),
                               layout_columns(width, columns(wide)), 0, width)),
              width);
  }
}

TEST(TopCounts, ByStatusWithBusyApart) {
  std::vector<Row> rows = {row("a", 1, WorkerStatus::kRunning), row("b", 2, WorkerStatus::kRunning),
                           row("c", 0, WorkerStatus::kFailed)};
  rows[1].busy = true;
  const Counts c = count(rows);
  EXPECT_EQ(counts_line(c), "3 workers: 2 running (1 busy), 1 failed");
  EXPECT_EQ(counts_line(count({})), "0 workers");
}

TEST(TopViewport, SelectionStaysOnScreenAndInRange) {
  EXPECT_EQ(clamp_view({50, 0}, 100, 10).top, 41u);
  EXPECT_EQ(clamp_view({5, 41}, 100, 10).top, 5u);
  EXPECT_EQ(clamp_view({500, 0}, 100, 10).selected, 99u);
  EXPECT_EQ(clamp_view({500, 0}, 100, 10).top, 90u);
  EXPECT_EQ(clamp_view({3, 7}, 0, 10).selected, 0u);
  // Rows deleted under the view: no blank screen while rows exist above.
  EXPECT_EQ(clamp_view({2, 8}, 5, 10).top, 0u);
}

TEST(TopFrame, ScreenFrameHasExactlyItsHeightAndFitsTheWidth) {
  std::vector<Row> rows;
  for (int i = 0; i < 100; ++i) rows.push_back(row("w" + std::to_string(i), 100 + i, WorkerStatus::kRunning));
  FrameInput in;
  in.title = "instance x: manager up, supervisor pid 1";
  in.rows = &rows;
  in.counts = count(rows);
  in.events = {"10:00:00 #1 w1 put (new)", "10:00:01 #2 w1 spawned: pid 101"};
  in.interactive = true;
  in.width = 60;
  in.height = 30;
  in.view = clamp_view({40, 0}, rows.size(), rows_height(30));
  const auto lines = compose_frame(in);
  ASSERT_EQ(lines.size(), 30u);
  std::size_t selected = 0;
  for (const auto& l : lines) {
    EXPECT_LE(columns(l.text), 60u) << l.text;
    if (l.style == Style::kSelected) {
      ++selected;
      EXPECT_EQ(l.text.substr(0, 3), "w40");
    }
  }
  EXPECT_EQ(selected, 1u);
  EXPECT_EQ(lines[29 - 1].text, in.events[1]);  // the events sit at the bottom
}

TEST(TopFrame, PlainFrameShowsEveryRowAndTheFilter) {
  std::vector<Row> rows = {row("alpha", 1, WorkerStatus::kRunning), row("beta", 2, WorkerStatus::kRunning)};
  FrameInput in;
  in.title = "t";
  in.rows = &rows;
  in.counts = count(rows);
  in.filter = "a";
  in.width = 80;
  const auto lines = compose_frame(in);
  std::string all;
  for (const auto& l : lines) all += l.text + "\n";
  EXPECT_NE(all.find("alpha"), std::string::npos) << all;
  EXPECT_NE(all.find("beta"), std::string::npos) << all;
  EXPECT_NE(all.find("filter 'a': 2 shown"), std::string::npos) << all;
  std::vector<Row> none;
  in.rows = &none;
  in.filter = "zzz";
  std::string empty;
  for (const auto& l : compose_frame(in)) empty += l.text + "\n";
  EXPECT_NE(empty.find("(no worker id contains 'zzz')"), std::string::npos) << empty;
}

}  // namespace
}  // namespace dynmgr::cli::top
