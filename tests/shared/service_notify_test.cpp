// ServiceNotifier: the sd_notify datagram protocol against real sockets the
// test binds (a path and an abstract name), and its refusals.
#include "shared/service_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "support/test_support.hpp"

namespace dynmgr {
namespace {

// A bound datagram socket; receive() does not wait (the send came first).
class Receiver {
 public:
  explicit Receiver(const std::string& addr) : addr_(addr) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, addr.data(), addr.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr.size());
    if (addr[0] == '@') {
      a.sun_path[0] = '\0';
    } else {
      ::unlink(addr.c_str());
      ++len;
    }
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~Receiver() {
    ::close(fd_);
    if (addr_[0] == '/') ::unlink(addr_.c_str());
  }
  bool bound() const { return bound_; }
  std::string receive() {
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing: ") + std::strerror(errno) + ">"
                 : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string addr_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(ServiceNotifier, InactiveWithoutASocketAndSendsNothing) {
  ServiceNotifier n;
  EXPECT_FALSE(n.active());
  EXPECT_TRUE(n.notify("READY=1"));
  EXPECT_FALSE(ServiceNotifier("").active());
}

TEST(ServiceNotifier, FromEnvironment) {
  ::setenv("NOTIFY_SOCKET", "/run/x.sock", 1);
  EXPECT_EQ(ServiceNotifier::from_environment().socket(), "/run/x.sock");
  ::setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_FALSE(ServiceNotifier::from_environment().active());
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(ServiceNotifier::from_environment().active());
}

TEST(ServiceNotifier, SendsOneDatagramToAPath) {
  const std::string path = "/tmp/dynmgr-notify-" + testing::unique_instance("n") + ".sock";
  Receiver r(path);
  ASSERT_TRUE(r.bound()) << std::strerror(errno);
  ASSERT_TRUE(ServiceNotifier(path).notify("READY=1\nSTATUS=up, 3 workers"));
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=up, 3 workers");
}

TEST(ServiceNotifier, SendsToAnAbstractName) {
  const std::string name = "@dynmgr-notify-" + testing::unique_instance("n");
  Receiver r(name);
  ASSERT_TRUE(r.bound()) << std::strerror(errno);
  ASSERT_TRUE(ServiceNotifier(name).notify("STOPPING=1"));
  EXPECT_EQ(r.receive(), "STOPPING=1");
}

TEST(ServiceNotifier, RefusesAddressesThatAreNeitherAbsoluteNorAbstract) {
  for (const char* bad : {"relative.sock", "@", "vsock:2:1234"}) {
    auto st = ServiceNotifier(bad).notify("READY=1");
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, Errc::kInvalid) << bad;
    EXPECT_NE(st.error().message.find("NOTIFY_SOCKET"), std::string::npos) << st.error().message;
  }
  auto st = ServiceNotifier("/" + std::string(200, 'x')).notify("READY=1");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("too long"), std::string::npos) << st.error().message;
}

TEST(ServiceNotifier, ASocketNobodyListensOnIsAnError) {
  auto st = ServiceNotifier("/nonexistent/dynmgr.sock").notify("READY=1");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "send to NOTIFY_SOCKET /nonexistent/dynmgr.sock: No such file or directory");
}

TEST(ServiceNotifier, StatusLinesStayOneLine) {
  EXPECT_EQ(notify_status_line("a\nb\nc"), "a b c");
  EXPECT_EQ(notify_status_line("up, 3 workers"), "up, 3 workers");
}

}  // namespace
}  // namespace dynmgr
