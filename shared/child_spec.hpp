#pragma once
// ChildSpec lives in the public API (dynmgr/child_spec.hpp).

#include "dynmgr/child_spec.hpp"

#include <cstdint>
#include <string_view>

namespace dynmgr {

// "1048576", "512K", "64M", "2G" (powers of 1024; k/m/g too) -> bytes.
// Errors: kInvalid for anything else or a value over 2^63-1.
Result<std::uint64_t> parse_byte_size(std::string_view text);

}  // namespace dynmgr
