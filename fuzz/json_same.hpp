#pragma once
// Equality of two JSON values after a trip through text: numbers within 1e-12
// relative (Boost.JSON 1.81's parser is not exact for every double, see
// tests/shared/json_test.cpp), everything else exactly.

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "dynmgr/json.hpp"

namespace dynmgr::fuzz {

using dynmgr::json::value;

inline bool same(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.to_number<double>();
    const double y = b.to_number<double>();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& p = a.get_array();
    const auto& q = b.get_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (!same(p[i], q[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& p = a.get_object();
    const auto& q = b.get_object();
    if (p.size() != q.size()) return false;
    auto j = q.begin();
    for (auto i = p.begin(); i != p.end(); ++i, ++j) {
      if (i->key() != j->key() || !same(i->value(), j->value())) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace dynmgr::fuzz
