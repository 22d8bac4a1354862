// shared/run_as.*: a spec's user and group resolved to ids (README "User and
// group"), against this machine's databases: nobody (65534) and nogroup
// (65534) are in every Debian base system; root is uid 0.
#include "shared/run_as.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace dynmgr {
namespace {

ChildSpec spec(std::string user, std::string group) {
  ChildSpec s;
  s.user = std::move(user);
  s.group = std::move(group);
  return s;
}

TEST(RunAs, NeitherSetIsNoIdentity) {
  auto r = resolve_run_as(ChildSpec{});
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(RunAs, AUserBringsItsPrimaryGroup) {
  for (const char* user : {"nobody", "65534"}) {
    auto r = resolve_run_as(spec(user, ""));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(*r);
    EXPECT_EQ((*r)->uid, 65534U) << user;
    EXPECT_EQ((*r)->gid, 65534U) << user;
  }
}

TEST(RunAs, AGroupAloneKeepsTheEffectiveUser) {
  auto r = resolve_run_as(spec("", "nogroup"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->uid, ::geteuid());
  EXPECT_EQ((*r)->gid, 65534U);
  // A numeric gid needs no group entry.
  auto n = resolve_run_as(spec("root", "4242"));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ((*n)->uid, 0U);
  EXPECT_EQ((*n)->gid, 4242U);
}

TEST(RunAs, UnknownNamesAreInvalid) {
  auto u = resolve_run_as(spec("no-such-user-dynmgr", ""));
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::kInvalid);
  EXPECT_EQ(u.error().message, "unknown user 'no-such-user-dynmgr'");
  auto g = resolve_run_as(spec("", "no-such-group-dynmgr"));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().message, "unknown group 'no-such-group-dynmgr'");
  // A uid with no passwd entry has no primary group to take.
  auto bare = resolve_run_as(spec("4242", ""));
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().message, "user 4242 has no passwd entry: give its group too");
  auto with_group = resolve_run_as(spec("4242", "4242"));
  ASSERT_TRUE(with_group) << with_group.error().message;
  EXPECT_EQ((*with_group)->uid, 4242U);
}

TEST(RunAs, OnlyRootSwitches) {
  auto own = check_run_as(spec(std::to_string(::geteuid()), std::to_string(::getegid())));
  EXPECT_TRUE(own) << own.error().message;
  auto other = check_run_as(spec(::geteuid() == 65534 ? "root" : "nobody", ""));
  EXPECT_EQ(static_cast<bool>(other), ::geteuid() == 0);
  if (!other) {
    EXPECT_EQ(other.error().code, Errc::kInvalid);
  }
}

TEST(RunAs, OnlyAnotherUidRestartsToReopen) {
  EXPECT_FALSE(restart_to_reopen_shared(std::nullopt));
  EXPECT_FALSE(restart_to_reopen_shared(::geteuid()));
  EXPECT_TRUE(restart_to_reopen_shared(::geteuid() + 1));
}

}  // namespace
}  // namespace dynmgr
