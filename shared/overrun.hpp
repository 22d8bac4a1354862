#pragma once
// When a perform or call has taken too long: longer than lull × timeout.
//
// One rounding for every side that compares against it (the supervisor's
// overrun scan reports through Manager::handle_timeout; the exec manager gives
// a command's response that long plus a margin), so they can never disagree
// by a millisecond.

#include <cstdint>

namespace dynmgr {

// lull × timeout_ms rounded up to a whole millisecond. The product is taken
// with a 1e-6 ms tolerance, so binary floating-point noise cannot add one
// (1.1 × 200 is 220.00000000000003 in doubles: the limit is 220, not 221).
// 0 when timeout_ms is 0 or lull is not positive.
std::uint64_t overrun_limit_ms(double lull, std::uint32_t timeout_ms) noexcept;

}  // namespace dynmgr
