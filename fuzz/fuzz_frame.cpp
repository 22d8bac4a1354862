// libFuzzer target: the frame decoder (shared/frame.cpp), what every queue
// receiver runs on the bytes it takes off a queue.
//
// Properties: decode_frame never crashes on any bytes; a frame it accepts
// encodes back to exactly the same bytes; and the same bytes with their length
// and checksum made right (so the fuzzer gets past the CRC) decode iff magic and
// version are right.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "shared/crc32.hpp"
#include "shared/frame.hpp"

namespace {

void check_round_trip(std::string_view bytes, const dynmgr::Frame& f) {
  std::string again;
  dynmgr::encode_frame(f, again);
  if (again != bytes) std::abort();  // accepted, yet not what encode_frame writes
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dynmgr;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto f = decode_frame(bytes)) check_round_trip(bytes, *f);

  if (size < kFrameHeaderSize) return 0;
  std::string fixed(bytes);
  const auto length = static_cast<std::uint32_t>(size - kFrameHeaderSize);
  std::memcpy(fixed.data() + 16, &length, 4);
  Crc32 crc;
  crc.update(fixed.data(), 20);
  crc.update(fixed.data() + kFrameHeaderSize, length);
  const std::uint32_t sum = crc.value();
  std::memcpy(fixed.data() + 20, &sum, 4);
  std::uint32_t magic = 0;
  std::uint16_t version = 0;
  std::memcpy(&magic, fixed.data(), 4);
  std::memcpy(&version, fixed.data() + 4, 2);
  auto f = decode_frame(fixed);
  if (f.has_value() != (magic == kFrameMagic && version == kFrameVersion)) std::abort();
  if (f) check_round_trip(fixed, *f);
  return 0;
}
