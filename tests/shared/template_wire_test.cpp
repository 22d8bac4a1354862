// shared/template_wire.cpp: a worker template's request and reply round trip,
// and every malformed message is refused (the template answers EINVAL and
// forks nothing).
#include "shared/template_wire.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace dynmgr::template_wire {
namespace {

SpawnRequest sample() {
  SpawnRequest r;
  r.new_session = true;
  r.argv = {"/usr/bin/app", "--dynmgr-worker", "inst", "3", "1", "42", "none"};
  r.env = {"DYNMGR_NAME=inst", "DYNMGR_WORKER_ID=a=b", "EMPTY="};
  r.to = {1, 2};
  return r;
}

TEST(TemplateWire, ARequestRoundTrips) {
  const auto bytes = encode(sample());
  ASSERT_TRUE(bytes);
  const auto back = decode(*bytes);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->new_session);
  EXPECT_FALSE(back->spare);
  EXPECT_EQ(back->argv, sample().argv);
  EXPECT_EQ(back->env, sample().env);
  EXPECT_EQ(back->to, sample().to);
}

TEST(TemplateWire, ARequestWithoutEnvironmentOrDescriptorsRoundTrips) {
  SpawnRequest r;
  r.argv = {"x"};
  const auto back = decode(*encode(r));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->new_session);
  EXPECT_EQ(back->argv, r.argv);
  EXPECT_TRUE(back->env.empty());
  EXPECT_TRUE(back->to.empty());
}

TEST(TemplateWire, ASpareRequestRoundTripsWithItsFlagAlone) {
  SpawnRequest r;
  r.spare = true;
  r.argv = {"/usr/bin/app", "--dynmgr-spare", "inst"};
  r.to = {3};
  const auto back = decode(*encode(r));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->spare);
  EXPECT_FALSE(back->new_session);
  EXPECT_EQ(back->argv, r.argv);
  EXPECT_EQ(back->to, r.to);
}

TEST(TemplateWire, WhatCannotBeSentIsNotEncoded) {
  SpawnRequest r = sample();
  r.argv.clear();
  EXPECT_FALSE(encode(r));
  r = sample();
  r.to.assign(kMaxFds + 1, 1);
  EXPECT_FALSE(encode(r));
  r = sample();
  r.env.push_back(std::string("A=b\0c", 5));
  EXPECT_FALSE(encode(r));
  r = sample();
  r.argv.push_back(std::string(kMaxMessage, 'x'));
  EXPECT_FALSE(encode(r));
}

TEST(TemplateWire, EveryTruncationIsRefused) {
  const std::string bytes = *encode(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n))) << "cut at " << n;
  }
  EXPECT_FALSE(decode(bytes + "x")) << "trailing bytes";
}

TEST(TemplateWire, LyingCountsAndBadFieldsAreRefused) {
  const std::string good = *encode(sample());
  auto with_u32 = [&](std::size_t at, std::uint32_t v) {
    std::string b = good;
    std::memcpy(b.data() + at, &v, sizeof v);
    return b;
  };
  EXPECT_FALSE(decode("XYT1" + good.substr(4))) << "magic";
  EXPECT_FALSE(decode(with_u32(4, 4))) << "a flag no release knows";
  EXPECT_FALSE(decode(with_u32(8, 0))) << "no argv";
  EXPECT_FALSE(decode(with_u32(8, 1'000'000))) << "argv count beyond the bytes";
  EXPECT_FALSE(decode(with_u32(12, 1'000'000))) << "env count beyond the bytes";
  EXPECT_FALSE(decode(with_u32(16, kMaxFds + 1))) << "too many descriptors";
  EXPECT_FALSE(decode(with_u32(20, static_cast<std::uint32_t>(-1)))) << "negative `to`";
}

TEST(TemplateWire, RepliesRoundTripAndNonsenseIsRefused) {
  auto pid = decode_reply(encode(TemplateReply{1234, 0}));
  ASSERT_TRUE(pid);
  EXPECT_EQ(pid->pid, 1234);
  EXPECT_EQ(pid->error, 0);
  auto err = decode_reply(encode(TemplateReply{0, 11}));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->pid, 0);
  EXPECT_EQ(err->error, 11);
  EXPECT_FALSE(decode_reply(encode(TemplateReply{0, 0}))) << "neither a pid nor an error";
  EXPECT_FALSE(decode_reply(encode(TemplateReply{5, 11}))) << "both";
  EXPECT_FALSE(decode_reply(encode(TemplateReply{-5, 0}))) << "a negative pid";
  EXPECT_FALSE(decode_reply("DYR1")) << "short";
  EXPECT_FALSE(decode_reply(encode(TemplateReply{1, 0}) + "x")) << "long";
}

}  // namespace
}  // namespace dynmgr::template_wire
