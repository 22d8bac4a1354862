#pragma once
// Terminal columns, not bytes: ids and payloads are UTF-8, and a CJK character
// takes two columns, a combining accent none. The widths are glibc's wcwidth()
// in the C.UTF-8 locale (set for this thread only, while a Columns lives;
// loaded once per process), so
// a table cut to the terminal's width never wraps whatever the ids hold.

#include <locale.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace dynmgr::cli {

class Columns {
 public:
  Columns();
  ~Columns();
  Columns(const Columns&) = delete;
  Columns& operator=(const Columns&) = delete;

  // The columns of the character starting at s[i]; advances i past it. A byte
  // that does not start valid UTF-8 counts as one column on its own. Without
  // the locale: one column per character (continuation bytes count none).
  std::size_t next(std::string_view s, std::size_t& i) const;
  std::size_t width(std::string_view s) const;
  // s cut to at most `width` columns, ending in "..." when it was cut; never
  // in the middle of a character.
  std::string cut(std::string_view s, std::size_t width) const;
  // s padded with spaces to `width` columns (left-aligned).
  std::string pad(std::string_view s, std::size_t width) const;
  // s padded on the left to `width` columns (right-aligned; cut if wider).
  std::string pad_left(std::string_view s, std::size_t width) const;
  // Exactly `width` columns: cut, then padded (a cut wide character leaves a space).
  std::string fit(std::string_view s, std::size_t width) const;

 private:
  locale_t utf8_;
  locale_t previous_ = LC_GLOBAL_LOCALE;
};

}  // namespace dynmgr::cli
