#include "shared/cluster_layout.hpp"

#include <algorithm>

#include "shared/json.hpp"

namespace dynmgr::cluster {

Layout::Layout(std::string_view cluster) : root_("/dynmgr/" + std::string(cluster) + "/") {}

std::optional<std::string> Layout::name_after(std::string_view key, std::string_view prefix) {
  if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(key.substr(prefix.size()));
}

std::string NodeRecord::to_json() const {
  json::object o;
  o["advertise"] = advertise;
  o["capacity"] = capacity;
  o["load"] = load;
  return dynmgr::to_json(o);
}

Result<NodeRecord> NodeRecord::from_json(std::string_view name, std::string_view text) {
  auto v = parse_json(text, "node record of '" + std::string(name) + "'");
  if (!v) return v.error();
  if (!v->is_object()) {
    return make_error(Errc::kInvalid, "node record of '" + std::string(name) + "': not an object");
  }
  const auto& o = v->as_object();
  NodeRecord r;
  r.name = std::string(name);
  auto advertise = get_string(o, "advertise");
  if (!advertise || advertise->empty()) {
    return make_error(Errc::kInvalid,
                      "node record of '" + std::string(name) + "': no advertise address");
  }
  r.advertise = std::string(*advertise);
  if (auto c = get_int(o, "capacity"); c && *c > 0) r.capacity = static_cast<std::uint64_t>(*c);
  if (auto l = get_int(o, "load"); l && *l > 0) r.load = static_cast<std::uint64_t>(*l);
  return r;
}

std::uint64_t rendezvous_score(std::string_view node, std::string_view id) {
  // FNV-1a over "node\0id", then splitmix64's finaliser to spread the bits.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  const auto mix = [&h](std::string_view s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  mix(node);
  h ^= 0;
  h *= 0x100000001b3ULL;
  mix(id);
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

std::vector<std::string> rendezvous_order(std::string_view id, std::vector<std::string> nodes) {
  std::sort(nodes.begin(), nodes.end(), [id](const std::string& a, const std::string& b) {
    const auto sa = rendezvous_score(a, id);
    const auto sb = rendezvous_score(b, id);
    return sa != sb ? sa > sb : a < b;
  });
  return nodes;
}

std::size_t rendezvous_rank(std::string_view id, const std::vector<std::string>& nodes,
                            std::string_view me) {
  if (std::find(nodes.begin(), nodes.end(), me) == nodes.end()) return nodes.size();
  const auto mine = rendezvous_score(me, id);
  std::size_t rank = 0;
  for (const auto& n : nodes) {
    if (n == me) continue;
    const auto s = rendezvous_score(n, id);
    if (s > mine || (s == mine && n < me)) ++rank;
  }
  return rank;
}

Status validate_cluster_name(std::string_view name, std::string_view what) {
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::kInvalid,
                      "invalid " + std::string(what) + " '" + std::string(name) + "': " + why);
  };
  if (name.empty() || name.size() > 64) return bad("must be 1 to 64 characters");
  if (name.front() == '.') return bad("must not start with '.'");
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return bad("only letters, digits, '.', '_' and '-' are allowed");
  }
  return {};
}

}  // namespace dynmgr::cluster
