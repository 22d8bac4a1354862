#pragma once
// For the fuzz targets that read shared memory: a real /dev/shm object whose
// bytes (and size) each run replaces with the fuzzer's input, and the places in
// it that must be patched so a reader gets past its liveness checks.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr::fuzz {

// The bytes of a /dev/shm object.
inline std::string read_segment(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) std::abort();
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// Replaces the whole object: its size becomes bytes.size() (a truncated or
// grown segment is a case too), its content bytes.
inline void write_segment(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) std::abort();
  if (::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) std::abort();
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n <= 0) std::abort();
    at += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// Offsets of a marker value in a segment (the writer put it there on purpose).
template <class T>
std::vector<std::size_t> find_value(std::string_view seg, T marker) {
  char m[sizeof(T)];
  std::memcpy(m, &marker, sizeof(T));
  std::vector<std::size_t> at;
  for (std::size_t i = seg.find(std::string_view(m, sizeof m)); i != std::string_view::npos;
       i = seg.find(std::string_view(m, sizeof m), i + 1)) {
    at.push_back(i);
  }
  return at;
}

// Writes value at offset if it fits in seg.
template <class T>
void patch(std::string& seg, std::size_t offset, T value) {
  if (offset + sizeof(T) <= seg.size()) std::memcpy(seg.data() + offset, &value, sizeof(T));
}

}  // namespace dynmgr::fuzz
