#include "shared/overrun.hpp"

#include <cmath>

namespace dynmgr {

std::uint64_t overrun_limit_ms(double lull, std::uint32_t timeout_ms) noexcept {
  const double limit = std::ceil(lull * static_cast<double>(timeout_ms) - 1e-6);
  // Negative (lull <= 0, which ChildSpec::validate refuses) would be UB to convert.
  return limit > 0 ? static_cast<std::uint64_t>(limit) : 0;
}

}  // namespace dynmgr
