#include "shared/json.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace dynmgr {

Result<json::value> parse_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return make_error(Errc::kInvalid,
                      "invalid JSON in " + std::string(what) + ": " + ec.message());
  }
  if (auto st = check_finite(v, what); !st) return st.error();
  return v;
}

namespace {
bool all_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        if (!all_finite(e)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (!all_finite(kv.value())) return false;
      }
      return true;
    default: return true;
  }
}
}  // namespace

Status check_finite(const json::value& v, std::string_view what) {
  if (all_finite(v)) return {};
  return make_error(Errc::kInvalid, "invalid JSON in " + std::string(what) +
                                        ": a number is out of range (not a finite double)");
}

namespace {

// Boost.JSON 1.81 writes every double in scientific notation (1.1 as "1.1E0").
// Rewrites such a number in plain decimal when its exponent is small, keeping
// every digit and its double-ness: 1.1E0 -> 1.1, 2.5E-1 -> 0.25, 2E0 -> 2.0
// (up to 15 significant digits and exponents within +-15; others as written).
// `number` is one number token outside any string.
void append_plain(std::string& out, std::string_view number) {
  const auto e = number.find_first_of("eE");
  if (e == std::string_view::npos) {
    out.append(number);
    return;
  }
  std::string_view mantissa = number.substr(0, e);
  const int exponent = std::atoi(std::string(number.substr(e + 1)).c_str());
  if (exponent > 15 || exponent < -15) {
    out.append(number);
    return;
  }
  const bool negative = !mantissa.empty() && mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  const auto dot = mantissa.find('.');
  std::string digits(mantissa.substr(0, dot));
  if (dot != std::string_view::npos) digits.append(mantissa.substr(dot + 1));
  if (digits.size() > 15) {
    // Over 15 significant digits Boost.JSON 1.81 reads plain and scientific
    // text along different, inexact paths: keep Boost's own form.
    if (negative) out.push_back('-');
    out.append(mantissa).append(number.substr(e));
    return;
  }
  const long point = static_cast<long>(dot == std::string_view::npos ? mantissa.size() : dot) + exponent;
  if (negative) out.push_back('-');
  if (point <= 0) {
    out.append("0.").append(static_cast<std::size_t>(-point), '0').append(digits);
  } else if (static_cast<std::size_t>(point) >= digits.size()) {
    out.append(digits).append(static_cast<std::size_t>(point) - digits.size(), '0').append(".0");
  } else {
    out.append(digits, 0, static_cast<std::size_t>(point)).append(".").append(digits, static_cast<std::size_t>(point));
  }
}

}  // namespace

std::string to_json(const json::value& v) {
  std::string text = json::serialize(v);
  if (text.find_first_of("eE") == std::string::npos) return text;  // no double written (nor an 'e' in a string)
  // Most texts get here for an 'e' in a key or a string, not for a double
  // (a worker object has "restarts", "value", ...): copy runs in bulk and look
  // at numbers only. A byte at a time this was a third of `state --json`.
  std::string out;
  out.reserve(text.size());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // Outside strings: up to the next string or number, as it is.
    std::size_t j = i;
    while (j < size && text[j] != '"' && text[j] != '-' && (text[j] < '0' || text[j] > '9')) ++j;
    out.append(text, i, j - i);
    i = j;
    if (i == size) break;
    if (text[i] == '"') {
      // A string, whole: it ends at the first quote no backslash escapes.
      j = i + 1;
      const char* base = text.data();
      const void* quote = std::memchr(base + j, '"', size - j);
      const std::size_t q = quote != nullptr ? static_cast<const char*>(quote) - base : size;
      if (std::memchr(base + j, '\\', q - j) == nullptr) {
        j = q;  // most strings: no escape before the first quote
      } else {
        while (j < size && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      }
      j = std::min(j + 1, size);
      out.append(text, i, j - i);
      i = j;
      continue;
    }
    j = i + 1;
    bool plain = true;  // an integer: as it is
    for (; j < size; ++j) {
      const char c = text[j];
      if (c >= '0' && c <= '9') continue;
      if (c == 'e' || c == 'E' || c == '.') {
        plain = false;
      } else if (c != '+' && c != '-') {
        break;
      }
    }
    if (plain) {
      out.append(text, i, j - i);
    } else {
      append_plain(out, std::string_view(text).substr(i, j - i));
    }
    i = j;
  }
  return out;
}

const json::value* get_field(const json::object& o, std::string_view key) {
  return o.if_contains(key);
}

std::optional<std::string_view> get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::optional<std::int64_t> get_int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= INT64_MAX) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) {
    // Range-check before converting: outside int64 the conversion is undefined
    // (found by fuzz/fuzz_json). [-2^63, 2^63) holds every double that fits.
    const double d = v->get_double();
    if (d >= -0x1p63 && d < 0x1p63 && std::trunc(d) == d) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

}  // namespace dynmgr
