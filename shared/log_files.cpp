#include "shared/log_files.hpp"

#include <time.h>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace dynmgr::logfiles {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool kept(unsigned char c, bool first) {
  if (c >= 0x80) return true;
  if (std::isalnum(c) != 0 || c == '_' || c == '-') return true;
  return c == '.' && !first;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

template <class T>
bool number(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// RFC 3339 date-time: YYYY-MM-DD[T ]hh:mm:ss[.frac](Z|+hh:mm|-hh:mm).
std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  int y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!number(s.substr(0, 4), y) || !number(s.substr(5, 2), mo) || !number(s.substr(8, 2), d) ||
      !number(s.substr(11, 2), h) || !number(s.substr(14, 2), mi) || !number(s.substr(17, 2), se)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t i = 19;
  std::int64_t us = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = 100000;
    const std::size_t begin = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) {
      us += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == begin) return std::nullopt;
  }
  if (i >= s.size()) return std::nullopt;
  std::int64_t offset_s = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    unsigned oh = 0, om = 0;
    if (s.size() != i + 6 || s[i + 3] != ':' || !number(s.substr(i + 1, 2), oh) ||
        !number(s.substr(i + 4, 2), om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (s[i] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_s;
  return secs * 1'000'000 + us;
}

}  // namespace

std::string escape_id(std::string_view id) {
  std::string out;
  out.reserve(id.size());
  for (std::size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (kept(c, i == 0)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> unescape_id(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c == '%') {
      if (i + 2 >= name.size()) return std::nullopt;
      const int hi = hex_value(name[i + 1]);
      const int lo = hex_value(name[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (kept(c, i == 0)) {
      out.push_back(static_cast<char>(c));
    } else {
      return std::nullopt;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool name_is_hashed(std::string_view id) { return escape_id(id).size() > kMaxEscapedName; }

std::string file_name(std::string_view id) {
  std::string e = escape_id(id);
  if (e.size() > kMaxEscapedName) {
    std::size_t cut = kMaxEscapedName - 17;
    // Never inside a %XX.
    if (cut >= 1 && e[cut - 1] == '%') cut -= 1;
    if (cut >= 2 && e[cut - 2] == '%') cut -= 2;
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(id)));
    e = e.substr(0, cut) + "~" + hash;
  }
  return e + ".log";
}

std::string rotated_name(const std::string& current, unsigned k) {
  return current + "." + std::to_string(k);
}

std::optional<Record> parse_record(std::string_view t) {
  if (t.size() < kTimeBytes + 4 || t[kTimeBytes] != ' ') return std::nullopt;
  Record r;
  r.time = std::string(t.substr(0, kTimeBytes));
  auto us = parse_rfc3339(r.time);
  if (!us) return std::nullopt;
  r.time_us = *us;
  const std::string_view rest = t.substr(kTimeBytes + 1);
  const auto sp = rest.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string_view tag = rest.substr(0, sp);
  if (!tag.empty() && (tag.back() == '+' || tag.back() == '-')) {
    r.partial = true;
    tag.remove_suffix(1);
  }
  if (tag != "out" && tag != "err" && tag != "log") return std::nullopt;
  r.stream = std::string(tag);
  r.line = std::string(rest.substr(sp + 1));
  return r;
}

std::string format_time(std::int64_t unix_us) {
  const time_t secs = static_cast<time_t>(unix_us / 1'000'000);
  tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<unsigned>(unix_us % 1'000'000) % 1'000'000u);
  return buf;
}

std::optional<std::int64_t> parse_since(std::string_view text, std::int64_t now_us) {
  if (auto abs = parse_rfc3339(text)) return abs;
  if (text.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
  }
  std::uint32_t n = 0;
  if (!number(text.substr(0, text.size() - 1), n)) return std::nullopt;
  return now_us - static_cast<std::int64_t>(n) * unit * 1'000'000;
}

}  // namespace dynmgr::logfiles
