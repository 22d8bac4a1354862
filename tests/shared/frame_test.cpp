// shared/frame.cpp: encoding round trips and every way a received buffer can be
// wrong (a torn send, a foreign writer, a short read) — each one rejected with
// kInvalid and a reason, never parsed.

#include "shared/frame.hpp"

#include "shared/crc32.hpp"

#include <boost/crc.hpp>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <ostream>
#include <string>
#include <vector>

namespace dynmgr {
namespace {

Frame sample_frame() {
  Frame f;
  f.kind = MessageKind::kCall;
  f.request_id = 0x0102030405060708ULL;
  f.body = R"({"id":"worker-1","message":["+","tomato"]})";
  return f;
}

std::string encoded(const Frame& f) {
  std::string out;
  encode_frame(f, out);
  return out;
}

void put_u32_at(std::string& s, std::size_t off, std::uint32_t v) { std::memcpy(&s[off], &v, 4); }
void put_u16_at(std::string& s, std::size_t off, std::uint16_t v) { std::memcpy(&s[off], &v, 2); }

// ---------------------------------------------------------------- round trips

struct RoundTripCase {
  const char* name;
  MessageKind kind;
  std::uint64_t request_id;
  std::string body;
  friend void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << '"' << c.name << '"'; }
};

class FrameRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(FrameRoundTrip, DecodesWhatWasEncoded) {
  const auto& c = GetParam();
  Frame f{c.kind, c.request_id, c.body};
  const std::string bytes = encoded(f);
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + c.body.size());
  auto back = decode_frame(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kind, c.kind);
  EXPECT_EQ(back->request_id, c.request_id);
  EXPECT_EQ(back->body, c.body);
}

INSTANTIATE_TEST_SUITE_P(
    Frames, FrameRoundTrip,
    ::testing::Values(RoundTripCase{"empty_body", MessageKind::kWake, 0, ""},
                      RoundTripCase{"ping", MessageKind::kPing, 1, "null"},
                      RoundTripCase{"max_request_id", MessageKind::kReply, UINT64_MAX, "{}"},
                      RoundTripCase{"binary_body", MessageKind::kCast, 42,
                                    std::string("a\0b\xff\x01", 5)},
                      RoundTripCase{"large_body", MessageKind::kPut, 7, std::string(65536, 'x')},
                      RoundTripCase{"unknown_kind", static_cast<MessageKind>(999), 3, "[]"}),
    [](const auto& tp) { return std::string(tp.param.name); });

// The compile-time CRC-32 is boost::crc_32_type's, byte for byte, whatever
// the length and however the input is split.
TEST(Crc32, MatchesBoostCrc32) {
  std::mt19937 rng(7);
  for (std::size_t len : {0u, 1u, 2u, 3u, 7u, 20u, 255u, 256u, 1000u, 4096u}) {
    std::string data(len, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    boost::crc_32_type reference;
    reference.process_bytes(data.data(), data.size());
    Crc32 whole;
    whole.update(data.data(), data.size());
    EXPECT_EQ(whole.value(), reference.checksum()) << len << " bytes";
    Crc32 split;
    split.update(data.data(), len / 3);
    split.update(data.data() + len / 3, len - len / 3);
    EXPECT_EQ(split.value(), reference.checksum()) << len << " bytes in two parts";
  }
  Crc32 check;
  check.update("123456789", 9);
  EXPECT_EQ(check.value(), 0xcbf43926U);  // the standard check value
}

TEST(Frame, EncodeReplacesPreviousContents) {
  std::string out = "left over from an earlier, longer frame";
  out.append(1000, '#');
  encode_frame(Frame{MessageKind::kPing, 9, "1"}, out);
  EXPECT_EQ(out.size(), kFrameHeaderSize + 1);
  auto back = decode_frame(out);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->body, "1");
}

TEST(Frame, HeaderLayoutIsPinned) {
  // The wire layout is a contract between binaries: pin every offset.
  const std::string bytes = encoded(sample_frame());
  std::uint32_t magic = 0;
  std::uint16_t version = 0;
  std::uint16_t kind = 0;
  std::uint64_t rid = 0;
  std::uint32_t len = 0;
  std::memcpy(&magic, bytes.data(), 4);
  std::memcpy(&version, bytes.data() + 4, 2);
  std::memcpy(&kind, bytes.data() + 6, 2);
  std::memcpy(&rid, bytes.data() + 8, 8);
  std::memcpy(&len, bytes.data() + 16, 4);
  EXPECT_EQ(magic, kFrameMagic);
  EXPECT_EQ(version, kFrameVersion);
  EXPECT_EQ(kind, static_cast<std::uint16_t>(MessageKind::kCall));
  EXPECT_EQ(rid, 0x0102030405060708ULL);
  EXPECT_EQ(len, sample_frame().body.size());
  EXPECT_EQ(bytes.substr(kFrameHeaderSize), sample_frame().body);
}

// ---------------------------------------------------------------- corruptions

struct CorruptCase {
  const char* name;
  std::function<std::string(std::string)> corrupt;  // takes a valid encoding
  const char* reason;                                // substring of the error
  friend void PrintTo(const CorruptCase& c, std::ostream* os) { *os << '"' << c.name << '"'; }
};

class FrameCorruption : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(FrameCorruption, IsRejectedWithReason) {
  const auto& c = GetParam();
  const std::string bytes = c.corrupt(encoded(sample_frame()));
  auto r = decode_frame(bytes);
  ASSERT_FALSE(r) << "a corrupted frame was accepted";
  EXPECT_EQ(r.error().code, Errc::kInvalid);
  EXPECT_NE(r.error().message.find(c.reason), std::string::npos) << r.error().message;
}

const std::size_t kBody = kFrameHeaderSize;  // offset of the body

INSTANTIATE_TEST_SUITE_P(
    Frames, FrameCorruption,
    ::testing::Values(
        CorruptCase{"empty_buffer", [](std::string) { return std::string(); }, "shorter than its header"},
        CorruptCase{"one_byte", [](std::string s) { return s.substr(0, 1); }, "shorter than its header"},
        CorruptCase{"header_minus_one", [](std::string s) { return s.substr(0, kFrameHeaderSize - 1); },
                    "shorter than its header"},
        CorruptCase{"bad_magic", [](std::string s) { put_u32_at(s, 0, 0xdeadbeef); return s; },
                    "bad frame magic"},
        CorruptCase{"magic_one_bit", [](std::string s) { s[0] = static_cast<char>(s[0] ^ 1); return s; },
                    "bad frame magic"},
        CorruptCase{"zeroed", [](std::string s) { return std::string(s.size(), '\0'); }, "bad frame magic"},
        CorruptCase{"newer_version", [](std::string s) { put_u16_at(s, 4, static_cast<std::uint16_t>(kFrameVersion + 1)); return s; },
                    "unsupported frame version 2"},
        CorruptCase{"version_zero", [](std::string s) { put_u16_at(s, 4, 0); return s; },
                    "unsupported frame version 0"},
        CorruptCase{"length_too_big", [](std::string s) { put_u32_at(s, 16, 1000); return s; },
                    "does not match"},
        CorruptCase{"length_too_small", [](std::string s) { put_u32_at(s, 16, 2); return s; },
                    "does not match"},
        CorruptCase{"length_huge", [](std::string s) { put_u32_at(s, 16, 0xffffffffU); return s; },
                    "does not match"},
        CorruptCase{"truncated_body", [](std::string s) { return s.substr(0, s.size() - 3); },
                    "does not match"},
        CorruptCase{"trailing_garbage", [](std::string s) { return s + "xyz"; }, "does not match"},
        CorruptCase{"checksum_flipped", [](std::string s) { s[20] = static_cast<char>(s[20] ^ 0x80); return s; },
                    "bad checksum"},
        CorruptCase{"body_bit_flip", [](std::string s) { s[kBody + 3] = static_cast<char>(s[kBody + 3] ^ 4); return s; },
                    "bad checksum"},
        CorruptCase{"body_replaced_same_length",
                    [](std::string s) { std::memset(&s[kBody], 'X', s.size() - kBody); return s; },
                    "bad checksum"},
        CorruptCase{"kind_changed", [](std::string s) { put_u16_at(s, 6, 41); return s; }, "bad checksum"},
        CorruptCase{"request_id_changed", [](std::string s) { s[8] = static_cast<char>(s[8] + 1); return s; },
                    "bad checksum"},
        // A sender killed mid-copy: the header made it, the tail of the body is stale.
        CorruptCase{"torn_tail",
                    [](std::string s) { std::memset(&s[s.size() / 2], 0, s.size() - s.size() / 2); return s; },
                    "bad checksum"}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST(Frame, EveryTruncationIsRejected) {
  const std::string bytes = encoded(sample_frame());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_frame(std::string_view(bytes.data(), n));
    EXPECT_FALSE(r) << "prefix of " << n << " bytes accepted";
  }
}

TEST(Frame, EverySingleBitFlipIsRejected) {
  const std::string bytes = encoded(sample_frame());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string s = bytes;
      s[i] = static_cast<char>(s[i] ^ (1 << bit));
      EXPECT_FALSE(decode_frame(s)) << "flip of bit " << bit << " in byte " << i << " accepted";
    }
  }
}

}  // namespace
}  // namespace dynmgr
