#include "shared/frame.hpp"

#include "shared/crc32.hpp"

#include <cstring>

namespace dynmgr {
namespace {

void put_u16(char* p, std::uint16_t v) { std::memcpy(p, &v, 2); }
void put_u32(char* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(char* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint16_t get_u16(const char* p) { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
std::uint32_t get_u32(const char* p) { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
std::uint64_t get_u64(const char* p) { std::uint64_t v; std::memcpy(&v, p, 8); return v; }

std::uint32_t checksum(const char* header_first20, std::string_view body) {
  Crc32 crc;
  crc.update(header_first20, 20);
  crc.update(body.data(), body.size());
  return crc.value();
}

}  // namespace

void encode_frame(const Frame& frame, std::string& out) {
  out.resize(kFrameHeaderSize + frame.body.size());
  char* p = out.data();
  put_u32(p, kFrameMagic);
  put_u16(p + 4, kFrameVersion);
  put_u16(p + 6, static_cast<std::uint16_t>(frame.kind));
  put_u64(p + 8, frame.request_id);
  put_u32(p + 16, static_cast<std::uint32_t>(frame.body.size()));
  std::memcpy(p + kFrameHeaderSize, frame.body.data(), frame.body.size());
  put_u32(p + 20, checksum(p, frame.body));
}

Result<Frame> decode_frame(std::string_view bytes) {
  if (bytes.size() < kFrameHeaderSize) {
    return make_error(Errc::kInvalid, "frame of " + std::to_string(bytes.size()) +
                                          " bytes is shorter than its header");
  }
  const char* p = bytes.data();
  if (get_u32(p) != kFrameMagic) return make_error(Errc::kInvalid, "bad frame magic");
  if (get_u16(p + 4) != kFrameVersion) {
    return make_error(Errc::kInvalid,
                      "unsupported frame version " + std::to_string(get_u16(p + 4)));
  }
  const std::uint32_t length = get_u32(p + 16);
  if (length != bytes.size() - kFrameHeaderSize) {
    return make_error(Errc::kInvalid, "frame length " + std::to_string(length) +
                                          " does not match " +
                                          std::to_string(bytes.size() - kFrameHeaderSize));
  }
  const std::string_view body = bytes.substr(kFrameHeaderSize);
  if (get_u32(p + 20) != checksum(p, body)) return make_error(Errc::kInvalid, "bad checksum");
  Frame f;
  f.kind = static_cast<MessageKind>(get_u16(p + 6));
  f.request_id = get_u64(p + 8);
  f.body.assign(body);
  return f;
}

}  // namespace dynmgr
