// `dynmgrctl state --json` streams (README "state"): through the real binary
// against a registry this test writes itself, so that it can leave a slot
// mid-update where it likes. A stream cut by a torn slot is never a valid
// document; a reader that closed stdout is an error, not a success.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

#include "cli/ctl_support.hpp"
#include "shared/registry.hpp"
#include "shared/registry_test_hooks.hpp"
#include "shared/shm_fixture.hpp"
#include "shared/state_json.hpp"

namespace dynmgr::testing {
namespace {

constexpr std::uint32_t kMaxPayload = 1024;

class StateStream : public ShmTest {
 protected:
  // A registry whose supervisor is this process (alive: a reader waits for it
  // about a second on a slot it left mid-update, then reports it torn), with
  // `n` workers of nearly kMaxPayload bytes of payload each.
  RegistryWriter fleet(std::uint32_t n) {
    RegistryConfig c;
    c.capacity = 512;
    c.max_payload = kMaxPayload;
    c.control_depth = 16;
    c.mailbox_depth = 4;
    auto w = RegistryWriter::create(names_, c);
    if (!w) throw std::runtime_error(w.error().message);
    for (std::uint32_t i = 0; i < n; ++i) {
      auto slot = w->allocate();
      if (!slot) throw std::runtime_error(slot.error().message);
      SlotRecord r;
      r.slot = *slot;
      r.id = "w" + std::to_string(i);
      r.status = WorkerStatus::kPassive;
      r.payload = "[" + std::to_string(i) + ",\"" + std::string(kMaxPayload - 32, 'x') + "\"]";
      if (auto st = w->write(r); !st) throw std::runtime_error(st.error().message);
    }
    return std::move(*w);
  }

  CommandResult state_json() { return ctl(names_.instance(), {"--json", "state"}); }

  // `dynmgrctl --json state` with stdout a pipe whose reader is gone.
  CommandResult state_json_into_closed_pipe() {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[0]);
    const std::string err_path = "/tmp/dynmgr-test." + names_.instance() + ".err";
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const std::string bin = bin_path("dynmgrctl");
    const std::string name = names_.instance();
    const pid_t pid = fork_child([&] {
      ::dup2(p[1], 1);
      ::dup2(err, 2);
      ::execl(bin.c_str(), bin.c_str(), "-n", name.c_str(), "--json", "state", nullptr);
      return 127;
    });
    ::close(p[1]);
    ::close(err);
    CommandResult r;
    const int status = wait_child(pid);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_file(err_path);
    ::unlink(err_path.c_str());
    return r;
  }
};

TEST_F(StateStream, AWholeFleetIsTheDocument) {
  auto w = fleet(300);  // about 300 KB: several writes
  const auto r = state_json();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  Client::Options o;
  o.instance = names_.instance();
  auto c = Client::connect(o);
  ASSERT_TRUE(c);
  auto all = c->state();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(r.out, to_json(dynmgr::state_json(c->header(), names_.instance(), *all)) + "\n");
  EXPECT_EQ(parse(r.out).at("workers").as_array().size(), 300u);
}

TEST_F(StateStream, ATornSlotInASmallFleetWritesNothing) {
  auto w = fleet(3);
  RegistryTestHooks::begin_update(w, 1);
  const auto r = state_json();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, R"({"error":{"code":1,"message":"state: slot 1 stayed mid-update"}})"
                   "\n");
}

TEST_F(StateStream, ATornSlotMidwayLeavesAnInvalidDocument) {
  auto w = fleet(300);
  RegistryTestHooks::begin_update(w, 299);
  const auto r = state_json();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, R"({"error":{"code":1,"message":"state: slot 299 stayed mid-update"}})"
                   "\n");
  // What went out before the torn slot: the head and whole workers, but no
  // closing "]}", so no parser takes it for a fleet of fewer workers.
  ASSERT_GT(r.out.size(), 64u * 1024) << "the test must cut the stream after a write";
  EXPECT_EQ(r.out.rfind(R"({"name":")" + names_.instance() + "\"", 0), 0u);
  boost::system::error_code ec;
  (void)boost::json::parse(r.out, ec);
  EXPECT_TRUE(ec) << "a cut stream parsed as JSON";
  EXPECT_EQ(r.out.back(), '}');  // the last whole worker
  EXPECT_EQ(r.out.find("\"w299\""), std::string::npos);
}

TEST_F(StateStream, AClosedStdoutIsAFailure) {
  for (const std::uint32_t n : {3u, 300u}) {  // the final flush, and a write midway
    SCOPED_TRACE(n);
    TearDown();
    auto w = fleet(n);
    const auto r = state_json_into_closed_pipe();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err,
              R"({"error":{"code":1,"message":"state: unable to write stdout: Broken pipe"}})"
              "\n");
  }
}

}  // namespace
}  // namespace dynmgr::testing
