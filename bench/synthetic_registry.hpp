#pragma once
// A registry of `workers` slots made in-process, for the benchmarks that time
// its readers (metrics, /api/state, top) without starting that many processes.

#include <cstdint>
#include <cstdio>
#include <optional>

#include "shared/registry.hpp"

namespace bench {

// Creates the segment under names (payloads up to 256 bytes); prints why and
// returns nothing when it cannot.
inline std::optional<dynmgr::RegistryWriter> create_registry(const dynmgr::Names& names,
                                                             std::uint32_t workers) {
  dynmgr::RegistryConfig cfg;
  cfg.capacity = workers;
  cfg.max_payload = 256;
  auto w = dynmgr::RegistryWriter::create(names, cfg);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return std::nullopt;
  }
  return std::move(*w);
}

}  // namespace bench
