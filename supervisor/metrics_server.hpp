#pragma once
// `--metrics-listen HOST:PORT`: the instance's Prometheus metrics served over
// HTTP (Boost.Beast) at /metrics, from a thread of the supervisor process that
// reads the registry like any reader (shared/metrics.hpp): a scrape never
// waits for the event loop, and a slow or stuck scraper never stalls it.
//
// GET and HEAD of /metrics: 200 with the text exposition format; any other
// path: 404; any other method: 405. One connection at a time is enough for a
// scraper; each request must arrive within 5 s and is at most 8 KiB.

#include <cstdint>
#include <memory>
#include <string>

#include "shared/error.hpp"
#include "shared/names.hpp"

namespace dynmgr {

struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};
// "PORT", "HOST:PORT" or "[IPv6]:PORT" (an IP address, not a name: nothing is
// resolved). kInvalid naming what is wrong.
Result<ListenAddress> parse_listen_address(const std::string& text);

class MetricsServer {
 public:
  // Listens (the socket is close-on-exec, so a `reexec` can listen again) and
  // starts serving. kSystem when the address cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> start(const ListenAddress& address,
                                                      const Names& names);
  ~MetricsServer();  // stops serving and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::uint16_t port() const noexcept;  // the bound port (useful with port 0)

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynmgr
