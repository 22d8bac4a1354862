// The seed's Bucket ("Multiple Stateful Processes"), exactly the seed session,
// through the real dynmgrctl:
//
//   iex|2 Bucket.new "Aleksei"                          put Aleksei --payload '{}' --timeout ...
//   iex|3 Bucket.synch_call "Aleksei", {:+, :tomato}    call Aleksei '["+","tomato"]'
//   iex|4 Bucket.asynch_call "Aleksei", {:+, :tomato}   cast Aleksei '["+","tomato"]'
//   iex|5 Bucket.asynch_call "Aleksei", {:+, :cucumber} cast Aleksei '["+","cucumber"]'
//   "Hey, Aleksei, we have a discount"                  printed by perform (supervisor output)
//   iex|6 Bucket.synch_call "Aleksei", :<               call Aleksei '"<"'
//   {:ok, %{cucumber: 1, tomato: 2}}                    {"cucumber":1,"tomato":2}
//
// The seed's timeout is 10 s; 200 ms here so the discount line shows quickly.
#include "cli/ctl_support.hpp"

#include <gtest/gtest.h>

#include <set>

namespace dynmgr::testing {
namespace {

const std::string kDiscount = "\"Hey, Aleksei, we have a discount\"";

std::size_t count_lines(const std::string& text, const std::string& line) {
  std::size_t n = 0;
  for (const auto& l : lines_of(text)) n += l == line ? 1 : 0;
  return n;
}

TEST(BucketExample, TheSeedSession) {
  Daemon bucket("bucket", {}, {}, "bk");
  ASSERT_TRUE(bucket.ok()) << bucket.start_result().err;

  const auto put = bucket.ctl({"put", "Aleksei", "--payload", "{}", "--timeout", "200"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(put.out.rfind("put 'Aleksei': running (pid ", 0), 0u) << put.out;

  // Performs on an empty bucket print nothing: let a few of them happen.
  Client c = bucket.client();
  std::set<std::uint64_t> performs;
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = c.get("Aleksei");
        if (r && r->last_perform_ms != 0) performs.insert(r->last_perform_ms);
        return performs.size() >= 3;
      },
      5s, 5ms));
  EXPECT_EQ(count_lines(bucket.log(), kDiscount), 0u) << "discount before the bucket had anything";

  const auto call1 = bucket.ctl({"call", "Aleksei", R"(["+","tomato"])"});
  EXPECT_EQ(call1.exit_code, 0) << call1.err;
  EXPECT_EQ(call1.out, "{\"tomato\":1}\n");
  const auto cast1 = bucket.ctl({"cast", "Aleksei", R"(["+","tomato"])"});
  EXPECT_EQ(cast1.exit_code, 0) << cast1.err;
  EXPECT_EQ(cast1.out, "accepted\n");
  const auto cast2 = bucket.ctl({"cast", "Aleksei", R"(["+","cucumber"])"});
  EXPECT_EQ(cast2.exit_code, 0) << cast2.err;
  EXPECT_EQ(cast2.out, "accepted\n");

  // Casts are asynchronous, but the mailbox keeps order: the call sees both.
  const auto look = bucket.ctl({"call", "Aleksei", R"("<")"});
  EXPECT_EQ(look.exit_code, 0) << look.err;
  EXPECT_EQ(look.out, "{\"cucumber\":1,\"tomato\":2}\n");
  EXPECT_EQ(look.err, "");

  // perform sees a non-empty bucket now and prints the discount (once per perform).
  EXPECT_TRUE(wait_until([&] { return count_lines(bucket.log(), kDiscount) >= 2; }, 5s, 10ms))
      << bucket.log();
  auto rec = c.get("Aleksei");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->payload, R"({"cucumber":1,"tomato":2})");
  EXPECT_EQ(rec->restarts, 0u);
}

TEST(BucketExample, EachCustomerHasItsOwnBucket) {
  Daemon bucket("bucket", {}, {}, "bk");
  ASSERT_TRUE(bucket.ok()) << bucket.start_result().err;
  for (const char* who : {"Aleksei", "Jose"}) {
    ASSERT_EQ(bucket.ctl({"put", who, "--payload", "{}", "--timeout", "10000"}).exit_code, 0);
  }
  EXPECT_EQ(bucket.ctl({"call", "Aleksei", R"(["+","tomato"])"}).out, "{\"tomato\":1}\n");
  EXPECT_EQ(bucket.ctl({"call", "Jose", R"(["+","lime"])"}).out, "{\"lime\":1}\n");
  EXPECT_EQ(bucket.ctl({"call", "Jose", R"(["+","lime"])"}).out, "{\"lime\":2}\n");
  EXPECT_EQ(bucket.ctl({"call", "Aleksei", R"("<")"}).out, "{\"tomato\":1}\n");
  EXPECT_EQ(bucket.ctl({"call", "Jose", R"("<")"}).out, "{\"lime\":2}\n");
  // A crashed bucket comes back with its last committed content.
  Client c = bucket.client();
  const pid_t pid = c.get("Jose").value().pid;
  ::kill(pid, SIGKILL);
  EXPECT_TRUE(wait_until([&] { auto r = c.get("Jose"); return r && r->pid != pid && r->status == WorkerStatus::kRunning; }, 5s));
  EXPECT_EQ(bucket.ctl({"call", "Jose", R"("<")"}).out, "{\"lime\":2}\n");
}

}  // namespace
}  // namespace dynmgr::testing

namespace dynmgr::testing {
namespace {

// The exec options are dynmgrd's: the Bucket manager runs no commands, so a
// put with --exec, --env or --cwd is refused (exit 2) instead of starting a
// bucket that silently ignores them.
TEST(BucketExample, RefusesTheExecOptions) {
  Daemon bucket("bucket", {}, {}, "bk");
  ASSERT_TRUE(bucket.ok()) << bucket.start_result().err;
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--env", "A=1"}, std::vector<std::string>{"--cwd", "/"},
        std::vector<std::string>{"--exec", "/bin/true"}}) {
    std::vector<std::string> args{"put", "Aleksei", "--payload", "{}"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = bucket.ctl(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("this manager runs no commands"), std::string::npos) << r.err;
    EXPECT_EQ(bucket.ctl({"get", "Aleksei"}).exit_code, 3);
  }
}

}  // namespace
}  // namespace dynmgr::testing
