#pragma once
// CRC-32 (IEEE 802.3, reflected, the checksum of zlib and boost::crc_32_type)
// with its table built at compile time.
//
// Why not boost::crc_32_type: Boost.CRC builds its table at run time on the
// first checksum of each process, ~60 us here. Every worker start and every
// dynmgrctl run checksums a frame, so that was ~8 % of a worker restart.
// tests/shared/frame_test.cpp checks this against boost::crc_32_type.

#include <array>
#include <cstddef>
#include <cstdint>

namespace dynmgr {

namespace detail {
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xedb88320U ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
inline constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();
}  // namespace detail

class Crc32 {
 public:
  void update(const void* data, std::size_t size) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t r = state_;
    for (std::size_t i = 0; i < size; ++i) r = detail::kCrc32Table[(r ^ p[i]) & 0xffU] ^ (r >> 8);
    state_ = r;
  }
  std::uint32_t value() const noexcept { return state_ ^ 0xffffffffU; }

 private:
  std::uint32_t state_ = 0xffffffffU;
};

}  // namespace dynmgr
