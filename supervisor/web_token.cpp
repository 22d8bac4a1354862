#include "supervisor/web_token.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dynmgr {

Result<std::string> read_web_token_file(const std::string& path) {
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::kInvalid, "invalid --web-token-file '" + path + "': " + why);
  };
  // fstat on the opened file, not stat on the name: what is checked is what is read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return bad(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return bad(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return bad("not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return bad("readable or writable by group or others (chmod 600 it)");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return bad(std::strerror(err));
    }
    if (n == 0 || text.size() > 64 * 1024) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string token = text.substr(0, text.find('\n'));
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) return bad("its first line is empty");
  // The token travels in an HTTP header: printable ASCII only.
  for (const char c : token) {
    if (c < 0x21 || c > 0x7e) return bad("the token must be printable ASCII without spaces");
  }
  return token;
}

bool token_equals(std::string_view a, std::string_view b) noexcept {
  // Every byte of the longer one is looked at, whatever matched before.
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

}  // namespace dynmgr
