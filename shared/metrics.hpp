#pragma once
// Prometheus metrics of an instance, rendered in the text exposition format
// (version 0.0.4) from shared memory alone: the registry's header, its slots
// and their counters, and the supervisor's /proc entries. Rendering never
// sends the supervisor a request, so a scrape never waits for its loop.
// `dynmgrctl metrics` prints it; `--metrics-listen` serves it over HTTP.

#include <string>

#include "shared/registry.hpp"

namespace dynmgr {

// Every metric family of the instance (README "Metrics" lists them).
std::string render_metrics(const RegistryReader& registry, const std::string& instance);

// "text/plain; version=0.0.4; charset=utf-8"
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace dynmgr
