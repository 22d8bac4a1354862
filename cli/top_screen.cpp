#include "cli/top_screen.hpp"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>

#include <cstring>
#include <string>

#include "shared/clock.hpp"

namespace dynmgr::cli::top {
namespace {

volatile sig_atomic_t g_stop = 0;
extern "C" void on_screen_stop(int) { g_stop = 1; }

// endwin() on every way out of run_screen (q, a signal, -n, an error).
class Terminal {
 public:
  Terminal() {
    // ncursesw draws UTF-8 ids only under a UTF-8 LC_CTYPE; the ids are
    // UTF-8 whatever the environment says.
    ::setlocale(LC_CTYPE, "");
    if (std::strcmp(::nl_langinfo(CODESET), "UTF-8") != 0) ::setlocale(LC_CTYPE, "C.UTF-8");
    screen_ = newterm(nullptr, stdout, stdin);
  }
  ~Terminal() {
    if (screen_ == nullptr) return;
    endwin();
    delscreen(screen_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;
  bool ok() const { return screen_ != nullptr; }

 private:
  SCREEN* screen_ = nullptr;
};

enum Pair : short { kPairTitle = 1, kPairTrouble, kPairSelected, kPairPrompt, kPairEvent };

attr_t attributes(Style s, bool colors) {
  switch (s) {
    case Style::kNormal:
      return A_NORMAL;
    case Style::kTitle:
      return A_BOLD | (colors ? COLOR_PAIR(kPairTitle) : A_NORMAL);
    case Style::kHeader:
      return A_REVERSE;
    case Style::kSelected:
      return colors ? COLOR_PAIR(kPairSelected) | A_BOLD : A_STANDOUT;
    case Style::kTrouble:
      return colors ? COLOR_PAIR(kPairTrouble) | A_BOLD : A_BOLD;
    case Style::kEvent:
      return colors ? COLOR_PAIR(kPairEvent) : A_DIM;
    case Style::kPrompt:
      return A_BOLD | (colors ? COLOR_PAIR(kPairPrompt) : A_NORMAL);
  }
  return A_NORMAL;
}

// A request to the supervisor waiting for its y/n.
struct Pending {
  char action = 0;  // 'r' or 'd'
  std::string id;
};

class Screen {
 public:
  Screen(FleetSource& source, const ScreenOptions& o, bool colors)
      : source_(source), o_(o), colors_(colors) {}

  int run() {
    std::uint64_t next_refresh = 0;
    std::uint64_t refreshes = 0;
    while (g_stop == 0) {
      const std::uint64_t now = mono_ms();
      if (now >= next_refresh) {
        source_.refresh();
        ++refreshes;
        next_refresh = now + o_.delay_ms;
        fresh_ = true;
      }
      draw();
      fresh_ = false;
      if (o_.frames && refreshes >= *o_.frames) break;
      const std::uint64_t wait = next_refresh > mono_ms() ? next_refresh - mono_ms() : 0;
      timeout(static_cast<int>(wait));
      const int key = getch();
      if (key == ERR) continue;  // the refresh is due, or a signal came
      if (!handle(key)) break;
    }
    return 0;
  }

 private:
  // The rows shown: filtered by id, sorted; the selection follows its worker.
  void rebuild() {
    view_rows_.clear();
    for (const auto& r : source_.rows()) {
      if (matches(r.id, filter_)) view_rows_.push_back(r);
    }
    sort_rows(view_rows_, order_, wall_ms());
    if (!selected_id_.empty()) {
      for (std::size_t i = 0; i < view_rows_.size(); ++i) {
        if (view_rows_[i].id == selected_id_) {
          view_.selected = i;
          break;
        }
      }
    }
  }

  void draw() {
    rebuild();
    const auto height = static_cast<std::size_t>(LINES > 0 ? LINES : 1);
    const auto width = static_cast<std::size_t>(COLS > 0 ? COLS : 1);
    view_ = clamp_view(view_, view_rows_.size(), rows_height(height));
    if (!view_rows_.empty()) selected_id_ = view_rows_[view_.selected].id;
    // /proc for the rows on screen only. A redraw for a key reuses samples
    // taken less than half a refresh ago, so CPU % stays a per-refresh figure.
    const std::uint64_t mono = mono_ms();
    const std::size_t end = std::min(view_rows_.size(), view_.top + rows_height(height));
    for (std::size_t i = view_.top; i < end; ++i) sampler_.fill(view_rows_[i], mono, o_.delay_ms / 2);
    if (fresh_) sampler_.prune(mono > 10 * o_.delay_ms ? mono - 10 * o_.delay_ms : 0);

    FrameInput in;
    in.title = "dynmgr top  " + source_.title();
    in.trouble = source_.trouble();
    in.rows = &view_rows_;
    in.counts = count(source_.rows());
    in.order = order_;
    in.filter = filter_;
    in.editing = editing_;
    in.view = view_;
    in.events.assign(source_.events().begin(), source_.events().end());
    in.status = pending_ ? std::string(pending_->action == 'd' ? "delete" : "restart") +
                               " worker '" + pending_->id + "'? (y/n)"
                         : status_;
    in.interactive = true;
    in.width = width;
    in.height = height;
    in.now_ms = wall_ms();
    const auto lines = compose_frame(in);
    erase();
    for (std::size_t y = 0; y < lines.size() && y < height; ++y) {
      const attr_t a = attributes(lines[y].style, colors_);
      attrset(a);
      mvaddstr(static_cast<int>(y), 0, lines[y].text.c_str());
      // Bars (the column header, the selection) run the whole width.
      if (lines[y].style == Style::kHeader || lines[y].style == Style::kSelected) {
        int cy = 0;
        int cx = 0;
        getyx(stdscr, cy, cx);
        (void)cy;
        const int room = static_cast<int>(width) - cx - (y + 1 == height ? 1 : 0);
        if (room > 0) hline(' ', room);
      }
      attrset(A_NORMAL);
    }
    refresh();
  }

  // The first row selected, whichever worker it is.
  void restart_view() {
    view_ = {};
    selected_id_.clear();
  }

  // false: quit.
  bool handle(int key) {
    if (key == KEY_RESIZE) return true;
    if (pending_) {
      const Pending p = *pending_;
      pending_.reset();
      if (key != 'y' && key != 'Y') {
        status_ = std::string(p.action == 'd' ? "del" : "restart") + " '" + p.id + "': cancelled";
        return true;
      }
      status_ = std::string(p.action == 'd' ? "deleting" : "restarting") + " '" + p.id + "'...";
      draw();
      const Status st = p.action == 'd' ? o_.del(p.id) : o_.restart(p.id);
      if (st) {
        status_ = std::string(p.action == 'd' ? "deleted" : "restarted") + " '" + p.id + "'";
      } else {
        status_ = std::string(p.action == 'd' ? "del" : "restart") + " '" + p.id +
                  "' failed: " + st.error().message;
      }
      return true;
    }
    if (editing_) {
      if (key == '\n' || key == '\r' || key == KEY_ENTER) {
        filter_ = *editing_;
        editing_.reset();
        restart_view();
      } else if (key == 27) {  // Esc
        editing_.reset();
        filter_.clear();
        restart_view();
      } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        // Whole UTF-8 characters: continuation bytes go with their lead byte.
        while (!editing_->empty() && (static_cast<unsigned char>(editing_->back()) & 0xC0) == 0x80) {
          editing_->pop_back();
        }
        if (!editing_->empty()) editing_->pop_back();
      } else if (key >= 0x20 && key < 0x100 && key != 0x7f) {
        editing_->push_back(static_cast<char>(key));
      }
      return true;
    }
    const std::size_t page = rows_height(static_cast<std::size_t>(LINES > 0 ? LINES : 1));
    const auto move_to = [&](std::size_t i) {
      view_.selected = i;
      selected_id_.clear();
      if (!view_rows_.empty()) {
        view_ = clamp_view(view_, view_rows_.size(), page);
        selected_id_ = view_rows_[view_.selected].id;
      }
    };
    switch (key) {
      case 'q':
      case 'Q':
        return false;
      case KEY_UP:
      case 'k':
        move_to(view_.selected > 0 ? view_.selected - 1 : 0);
        break;
      case KEY_DOWN:
      case 'j':
        move_to(view_.selected + 1);
        break;
      case KEY_PPAGE:
        move_to(view_.selected > page ? view_.selected - page : 0);
        break;
      case KEY_NPAGE:
      case ' ':
        move_to(view_.selected + page);
        break;
      case KEY_HOME:
      case 'g':
        move_to(0);
        break;
      case KEY_END:
      case 'G':
        move_to(view_rows_.empty() ? 0 : view_rows_.size() - 1);
        break;
      // A new order starts at its first row (as a new filter does).
      case '<':
      case ',':
        order_.column = next_sort_column(order_.column, -1);
        restart_view();
        break;
      case '>':
      case '.':
        order_.column = next_sort_column(order_.column, +1);
        restart_view();
        break;
      case 'i':
      case 'I':
        order_.descending = !order_.descending;
        restart_view();
        break;
      case '/':
        editing_ = filter_;
        status_.clear();
        break;
      case 27:  // Esc: clear the filter
        filter_.clear();
        restart_view();
        break;
      case 'r':
      case 'd':
        if (view_rows_.empty()) {
          status_ = "no worker selected";
        } else {
          pending_ = Pending{static_cast<char>(key), view_rows_[view_.selected].id};
        }
        break;
      default:
        break;
    }
    return true;
  }

 private:
  FleetSource& source_;
  const ScreenOptions& o_;
  const bool colors_;
  ProcSampler sampler_;
  std::vector<Row> view_rows_;
  SortOrder order_;
  std::string filter_;
  std::optional<std::string> editing_;
  Viewport view_;
  std::string selected_id_;
  std::optional<Pending> pending_;
  std::string status_;
  bool fresh_ = false;
};

}  // namespace

std::optional<int> run_screen(FleetSource& source, const ScreenOptions& options) {
  Terminal term;
  if (!term.ok()) return std::nullopt;
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  curs_set(0);
  set_escdelay(25);
  const bool colors = has_colors();
  if (colors) {
    start_color();
    use_default_colors();
    init_pair(kPairTitle, COLOR_CYAN, -1);
    init_pair(kPairTrouble, COLOR_RED, -1);
    init_pair(kPairSelected, COLOR_BLACK, COLOR_CYAN);
    init_pair(kPairPrompt, COLOR_YELLOW, -1);
    init_pair(kPairEvent, COLOR_GREEN, -1);
  }
  // Ours, not ncurses's (which would exit from the handler): a stop signal
  // interrupts getch and the loop returns, so the destructor restores the
  // terminal. No SA_RESTART, for that interruption.
  struct sigaction sa {};
  sa.sa_handler = on_screen_stop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  return Screen(source, options, colors).run();
}

}  // namespace dynmgr::cli::top
