#pragma once
// Names of described enums (BOOST_DESCRIBE_ENUM), derived from the enumerators:
// kSpawnFailed is "spawn_failed". A new enumerator needs no other edit — its
// name, its parse and the enum's upper bound follow from the description.
//
// The tables are built at compile time; enum_name and parse_enum are a scan of
// a handful of entries.

#include <boost/describe/enumerators.hpp>
#include <boost/mp11/algorithm.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace dynmgr::enums {

inline constexpr std::size_t kMaxNameLength = 31;

struct Name {
  char text[kMaxNameLength + 1] = {};
  std::size_t size = 0;
  constexpr std::string_view view() const { return {text, size}; }
};

// "kSpawnFailed" -> "spawn_failed": drop the k, lower-case, '_' before each
// inner capital.
constexpr Name snake_name(std::string_view enumerator) {
  Name n;
  std::size_t i = (enumerator.size() > 1 && enumerator[0] == 'k' && enumerator[1] >= 'A' &&
                   enumerator[1] <= 'Z')
                      ? 1
                      : 0;
  const std::size_t first = i;
  for (; i < enumerator.size(); ++i) {
    const char c = enumerator[i];
    const bool upper = c >= 'A' && c <= 'Z';
    if (upper && i != first) n.text[n.size++] = '_';
    n.text[n.size++] = upper ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return n;
}

template <class E>
struct Entry {
  E value;
  Name name;
};

template <class E>
constexpr auto make_table() {
  using D = boost::describe::describe_enumerators<E>;
  std::array<Entry<E>, boost::mp11::mp_size<D>::value> t{};
  std::size_t i = 0;
  boost::mp11::mp_for_each<D>([&](auto d) { t[i++] = Entry<E>{d.value, snake_name(d.name)}; });
  return t;
}

template <class E>
inline constexpr auto kTable = make_table<E>();

// The enumerator's name; `fallback` for a value that is not an enumerator.
template <class E>
constexpr std::string_view enum_name(E e, std::string_view fallback = "unknown") noexcept {
  for (const auto& entry : kTable<E>) {
    if (entry.value == e) return entry.name.view();
  }
  return fallback;
}

template <class E>
constexpr std::optional<E> parse_enum(std::string_view s) noexcept {
  for (const auto& entry : kTable<E>) {
    if (entry.name.view() == s) return entry.value;
  }
  return std::nullopt;
}

// The largest enumerator, as the underlying type (a bound for values read from
// shared memory).
template <class E>
constexpr std::underlying_type_t<E> max_value() noexcept {
  std::underlying_type_t<E> m = static_cast<std::underlying_type_t<E>>(kTable<E>[0].value);
  for (const auto& entry : kTable<E>) {
    m = std::max(m, static_cast<std::underlying_type_t<E>>(entry.value));
  }
  return m;
}

// "a, b or c", for error messages.
template <class E>
std::string expected_names() {
  std::string s;
  for (std::size_t i = 0; i < kTable<E>.size(); ++i) {
    if (i != 0) s += i + 1 == kTable<E>.size() ? " or " : ", ";
    s += kTable<E>[i].name.view();
  }
  return s;
}

}  // namespace dynmgr::enums
