#include "shared/template_wire.hpp"

#include <cstring>

namespace dynmgr::template_wire {
namespace {

constexpr std::string_view kMagic = "DYT1";
constexpr std::string_view kReplyMagic = "DYR1";

void put_u32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

bool get_u32(std::string_view& in, std::uint32_t& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

bool get_string(std::string_view& in, std::string& s) {
  const auto nul = in.find('\0');
  if (nul == std::string_view::npos) return false;
  s.assign(in.substr(0, nul));
  in.remove_prefix(nul + 1);
  return true;
}

}  // namespace

std::optional<std::string> encode(const SpawnRequest& r) {
  if (r.to.size() > kMaxFds || r.argv.empty()) return std::nullopt;
  std::string out(kMagic);
  put_u32(out, (r.new_session ? 1U : 0U) | (r.spare ? 2U : 0U));
  put_u32(out, static_cast<std::uint32_t>(r.argv.size()));
  put_u32(out, static_cast<std::uint32_t>(r.env.size()));
  put_u32(out, static_cast<std::uint32_t>(r.to.size()));
  for (const int to : r.to) put_u32(out, static_cast<std::uint32_t>(to));
  for (const auto* list : {&r.argv, &r.env}) {
    for (const auto& s : *list) {
      if (s.find('\0') != std::string::npos) return std::nullopt;
      out += s;
      out += '\0';
    }
  }
  if (out.size() > kMaxMessage) return std::nullopt;
  return out;
}

std::optional<SpawnRequest> decode(std::string_view in) {
  if (in.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  in.remove_prefix(kMagic.size());
  std::uint32_t flags = 0, nargv = 0, nenv = 0, nfds = 0;
  if (!get_u32(in, flags) || !get_u32(in, nargv) || !get_u32(in, nenv) || !get_u32(in, nfds)) {
    return std::nullopt;
  }
  // Every string takes at least its NUL: counts beyond the bytes are lies.
  if (nargv == 0 || nfds > kMaxFds || nargv > in.size() || nenv > in.size() || flags > 3U) {
    return std::nullopt;
  }
  SpawnRequest r;
  r.new_session = (flags & 1U) != 0;
  r.spare = (flags & 2U) != 0;
  for (std::uint32_t i = 0; i < nfds; ++i) {
    std::uint32_t to = 0;
    if (!get_u32(in, to) || static_cast<std::int32_t>(to) < 0) return std::nullopt;
    r.to.push_back(static_cast<int>(to));
  }
  r.argv.resize(nargv);
  for (auto& s : r.argv) {
    if (!get_string(in, s)) return std::nullopt;
  }
  r.env.resize(nenv);
  for (auto& s : r.env) {
    if (!get_string(in, s)) return std::nullopt;
  }
  if (!in.empty()) return std::nullopt;
  return r;
}

std::string encode(const TemplateReply& r) {
  std::string out(kReplyMagic);
  put_u32(out, static_cast<std::uint32_t>(r.pid));
  put_u32(out, static_cast<std::uint32_t>(r.error));
  return out;
}

std::optional<TemplateReply> decode_reply(std::string_view in) {
  if (in.substr(0, kReplyMagic.size()) != kReplyMagic) return std::nullopt;
  in.remove_prefix(kReplyMagic.size());
  std::uint32_t pid = 0, error = 0;
  if (!get_u32(in, pid) || !get_u32(in, error) || !in.empty()) return std::nullopt;
  TemplateReply r;
  r.pid = static_cast<pid_t>(pid);
  r.error = static_cast<int>(error);
  if ((r.pid > 0) == (r.error != 0) || r.pid < 0 || r.error < 0) return std::nullopt;
  return r;
}

}  // namespace dynmgr::template_wire
