#pragma once
// The worker template's requests (README "Worker start"): the supervisor asks
// its template process for one worker per message on a SOCK_SEQPACKET pair;
// the descriptors the worker gets travel beside it as SCM_RIGHTS, in the order
// of `to`. The template answers every request with a TemplateReply.
//
// A request with the spare flag asks for a spare instead (README "Worker
// start"): a child that takes a new process's faults ahead of time and then
// waits on the one descriptor the request carries, a socket of its own, for
// the request that makes it a worker (same encoding, no spare flag); its argv
// is what `ps` shows of it meanwhile. The reply is the spare's pid.
//
// Message: "DYT1", then u32 flags (bit 0: new session, bit 1: spare), u32 argv count, u32
// env count, u32 descriptor count, one i32 `to` per descriptor, then the argv
// and env strings, each NUL-terminated. Integers are in host order: both ends
// are one build of one program on one host.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr::template_wire {

inline constexpr std::size_t kMaxMessage = 64 * 1024;
inline constexpr std::size_t kMaxFds = 16;
// The template's first message, once it can fork workers.
inline constexpr std::string_view kHello = "DYT1 ready";

struct SpawnRequest {
  bool new_session = false;
  bool spare = false;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V", added to (or replacing in) the template's
  std::vector<int> to;           // where each passed descriptor goes, in order
};

// nullopt if it does not fit kMaxMessage or kMaxFds.
std::optional<std::string> encode(const SpawnRequest& r);
// nullopt for anything malformed: wrong magic, counts beyond the bytes, a
// string without its NUL, an empty argv, a `to` below 0.
std::optional<SpawnRequest> decode(std::string_view bytes);

// The answer: the new worker's pid, or an errno (the fork failed).
struct TemplateReply {
  pid_t pid = 0;
  int error = 0;
};
std::string encode(const TemplateReply& r);
std::optional<TemplateReply> decode_reply(std::string_view bytes);

}  // namespace dynmgr::template_wire
