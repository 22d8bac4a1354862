#include "cli/columns.hpp"

#include <cwchar>

namespace dynmgr::cli {

namespace {
// Loaded once per process (newlocale reads the locale files: about a
// millisecond, too much for each line of a 10 000-row table) and never freed.
locale_t utf8_locale() {
  static const locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  return utf8;
}
}  // namespace

Columns::Columns() : utf8_(utf8_locale()) {
  if (utf8_ != nullptr) previous_ = ::uselocale(utf8_);
}

Columns::~Columns() {
  if (utf8_ != nullptr) ::uselocale(previous_);
}

std::size_t Columns::next(std::string_view s, std::size_t& i) const {
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

std::size_t Columns::width(std::string_view s) const {
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size();) cols += next(s, i);
  return cols;
}

std::string Columns::cut(std::string_view s, std::size_t width) const {
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

std::string Columns::pad(std::string_view s, std::size_t width) const {
  const std::size_t w = this->width(s);
  return std::string(s) + std::string(w < width ? width - w : 0, ' ');
}

std::string Columns::pad_left(std::string_view s, std::size_t width) const {
  const std::string c = cut(s, width);
  const std::size_t w = this->width(c);
  return std::string(w < width ? width - w : 0, ' ') + c;
}

std::string Columns::fit(std::string_view s, std::size_t width) const {
  return pad(cut(s, width), width);
}

}  // namespace dynmgr::cli
