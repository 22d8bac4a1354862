// shared/names.cpp: instance-name validation and the shape of every shared
// object name (dynmgr.<uid>.<instance>.<object>; ids never appear in a name).

#include "shared/names.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <ostream>
#include <string>

namespace dynmgr {
namespace {

struct InstanceCase {
  const char* label;
  std::string name;
  bool ok;
  const char* reason;  // substring of the error when !ok
  friend void PrintTo(const InstanceCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class InstanceNameValidation : public ::testing::TestWithParam<InstanceCase> {};

TEST_P(InstanceNameValidation, AcceptsOrRejectsWithReason) {
  const auto& c = GetParam();
  auto st = validate_instance_name(c.name);
  if (c.ok) {
    EXPECT_TRUE(st) << st.error().message;
    return;
  }
  ASSERT_FALSE(st) << "accepted '" << c.name << "'";
  EXPECT_EQ(st.error().code, Errc::kInvalid);
  EXPECT_NE(st.error().message.find(c.reason), std::string::npos) << st.error().message;
  // The message names the offending value (truncated names are still quoted whole).
  EXPECT_NE(st.error().message.find("'" + c.name + "'"), std::string::npos) << st.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Names, InstanceNameValidation,
    ::testing::Values(
        InstanceCase{"default", "default", true, ""},
        InstanceCase{"one_char", "a", true, ""},
        InstanceCase{"all_classes", "Ab9_-z", true, ""},
        InstanceCase{"max_len", std::string(kMaxInstanceName, 'n'), true, ""},
        InstanceCase{"empty", "", false, "1..64 characters"},
        InstanceCase{"too_long", std::string(kMaxInstanceName + 1, 'n'), false, "1..64 characters"},
        InstanceCase{"dot", "a.b", false, "only letters"},
        InstanceCase{"slash", "a/b", false, "only letters"},
        InstanceCase{"dotdot", "..", false, "only letters"},
        InstanceCase{"space", "a b", false, "only letters"},
        InstanceCase{"newline", "a\nb", false, "only letters"},
        InstanceCase{"nul", std::string("a\0b", 3), false, "only letters"},
        InstanceCase{"utf8", "caf\xc3\xa9", false, "only letters"},
        InstanceCase{"star", "*", false, "only letters"}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST(Names, ObjectNamesCarryUidAndInstance) {
  const Names n("demo", 1234);
  EXPECT_EQ(n.instance(), "demo");
  EXPECT_EQ(n.prefix(), "dynmgr.1234.demo.");
  EXPECT_EQ(n.registry(), "dynmgr.1234.demo.registry");
  EXPECT_EQ(n.lock(), "dynmgr.1234.demo.lock");
  EXPECT_EQ(n.control(7), "dynmgr.1234.demo.control.7");
  EXPECT_EQ(n.mailbox(3, 9), "dynmgr.1234.demo.mbox.3.9");
  EXPECT_EQ(n.reply(42, 1000, 5), "dynmgr.1234.demo.reply.42-1000.5");
  EXPECT_EQ(Names::shm_path(n.registry()), "/dev/shm/dynmgr.1234.demo.registry");
}

TEST(Names, EveryObjectStartsWithThePrefix) {
  const Names n("x");
  for (const std::string& obj :
       {n.registry(), n.lock(), n.control(0), n.control(UINT64_MAX), n.mailbox(UINT32_MAX, 1),
        n.reply(1, 2, 3)}) {
    EXPECT_EQ(obj.rfind(n.prefix(), 0), 0U) << obj;
    EXPECT_EQ(obj.find('/'), std::string::npos) << obj;
  }
}

TEST(Names, DefaultUidIsTheCaller) {
  EXPECT_EQ(Names("abc").prefix(), "dynmgr." + std::to_string(::getuid()) + ".abc.");
}

TEST(Names, DifferentGenerationsAndSlotsNeverCollide) {
  const Names n("c");
  EXPECT_NE(n.control(1), n.control(2));
  EXPECT_NE(n.mailbox(1, 12), n.mailbox(11, 2));  // the '.' separator keeps these apart
  EXPECT_NE(n.reply(1, 23, 4), n.reply(12, 3, 4));
}

// Names::parse_reply: the inverse of Names::reply(), for the supervisor's scan
// of dead clients' reply queues (and their ".bell" companions).
struct ReplyParseCase {
  const char* label;
  std::string name;
  std::optional<Names::ReplyOwner> owner;
  friend void PrintTo(const ReplyParseCase& c, std::ostream* os) { *os << '"' << c.label << '"'; }
};

class ReplyNameParse : public ::testing::TestWithParam<ReplyParseCase> {};

TEST_P(ReplyNameParse, Table) {
  const Names n("demo", 1234);
  const auto& c = GetParam();
  const auto got = n.parse_reply(c.name);
  ASSERT_EQ(got.has_value(), c.owner.has_value()) << c.name;
  if (!got) return;
  EXPECT_EQ(got->pid, c.owner->pid);
  EXPECT_EQ(got->start_time, c.owner->start_time);
  EXPECT_EQ(got->serial, c.owner->serial);
}

using Owner = Names::ReplyOwner;
INSTANTIATE_TEST_SUITE_P(
    Names, ReplyNameParse,
    ::testing::Values(
        ReplyParseCase{"made_by_reply", "dynmgr.1234.demo.reply.42-1000.5", Owner{42, 1000, 5}},
        ReplyParseCase{"its_bell", "dynmgr.1234.demo.reply.42-1000.5.bell", Owner{42, 1000, 5}},
        ReplyParseCase{"largest_fields",
                       "dynmgr.1234.demo.reply.2147483647-18446744073709551615.4294967295",
                       Owner{2147483647, UINT64_MAX, UINT32_MAX}},
        ReplyParseCase{"zero_start_time", "dynmgr.1234.demo.reply.7-0.0", Owner{7, 0, 0}},
        ReplyParseCase{"other_instance", "dynmgr.1234.other.reply.42-1000.5", std::nullopt},
        ReplyParseCase{"other_uid", "dynmgr.99.demo.reply.42-1000.5", std::nullopt},
        ReplyParseCase{"not_a_reply", "dynmgr.1234.demo.control.3", std::nullopt},
        ReplyParseCase{"prefix_only", "dynmgr.1234.demo.reply.", std::nullopt},
        ReplyParseCase{"no_dash", "dynmgr.1234.demo.reply.42.5", std::nullopt},
        ReplyParseCase{"no_serial", "dynmgr.1234.demo.reply.42-1000", std::nullopt},
        ReplyParseCase{"empty_pid", "dynmgr.1234.demo.reply.-1000.5", std::nullopt},
        ReplyParseCase{"empty_start", "dynmgr.1234.demo.reply.42-.5", std::nullopt},
        ReplyParseCase{"empty_serial", "dynmgr.1234.demo.reply.42-1000.", std::nullopt},
        ReplyParseCase{"empty_suffix", "dynmgr.1234.demo.reply.42-1000.5.", std::nullopt},
        ReplyParseCase{"letters_in_pid", "dynmgr.1234.demo.reply.4x-1000.5", std::nullopt},
        ReplyParseCase{"negative_start", "dynmgr.1234.demo.reply.42--1000.5", std::nullopt},
        ReplyParseCase{"pid_out_of_range", "dynmgr.1234.demo.reply.99999999999-1.5", std::nullopt},
        ReplyParseCase{"serial_out_of_range", "dynmgr.1234.demo.reply.42-1.4294967296",
                       std::nullopt}),
    [](const auto& tp) { return std::string(tp.param.label); });

TEST(Names, ReplyRoundTripsThroughParseReply) {
  const Names n("rt");
  EXPECT_EQ(n.reply_prefix(), n.prefix() + "reply.");
  for (const Owner o : {Owner{1, 2, 3}, Owner{65535, 123456789012ULL, 0}, Owner{9, 0, 77}}) {
    const std::string name = n.reply(o.pid, o.start_time, o.serial);
    EXPECT_EQ(name.rfind(n.reply_prefix(), 0), 0U) << name;
    EXPECT_EQ(n.parse_reply(name), o) << name;
  }
}

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* key) : key_(key) {
    if (const char* v = ::getenv(key)) old_ = v;
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(key_, old_->c_str(), 1);
    } else {
      ::unsetenv(key_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* key_;
  std::optional<std::string> old_;
};

TEST(Names, DefaultInstanceNameFromEnvironment) {
  ScopedEnv guard("DYNMGR_NAME");
  ::unsetenv("DYNMGR_NAME");
  EXPECT_EQ(default_instance_name(), "default");
  ::setenv("DYNMGR_NAME", "", 1);
  EXPECT_EQ(default_instance_name(), "default");
  ::setenv("DYNMGR_NAME", "prod", 1);
  EXPECT_EQ(default_instance_name(), "prod");
}

}  // namespace
}  // namespace dynmgr
