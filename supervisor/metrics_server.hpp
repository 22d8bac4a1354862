#pragma once
// `--metrics-listen HOST:PORT`: the instance's Prometheus metrics at /metrics
// and the web dashboard (README "Web dashboard") over HTTP (Boost.Beast), from
// one thread of the supervisor process that reads the registry and the event
// ring like any reader (shared/metrics.hpp, shared/event_ring.hpp): a request
// never waits for the event loop, and a slow or stuck client never stalls it.
//
// Endpoints: GET/HEAD /metrics (the text exposition format); GET / (the page,
// with /app.js and /app.css, all compiled in); GET /api/state (`dynmgrctl
// state --json`), /api/mailboxes, /api/history (the last hour, sampled every
// 10 s), /api/config; GET /events (Server-Sent Events from the event ring);
// POST /api/workers/ID/restart and /api/workers/ID/del (only with a token).
// Any other path: 404; a known path with another method: 405.
//
// Connections are served concurrently (Asio, one thread), at most
// kMaxConnections at once (503 beyond). Each request must arrive within 5 s
// and its header is at most 8 KiB, its body 1 KiB. An event stream whose
// client does not take a write within 30 s is dropped; one that falls behind
// the ring gets a `missed` event. Actions run on a second thread with their own
// dynmgr::Client, so the server thread never waits for the supervisor's loop.

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

inline constexpr int kMaxConnections = 32;

class MetricsServer {
 public:
  // Listens (the socket is close-on-exec, so a `reexec` can listen again) and
  // starts serving. web_token: the token that enables the dashboard's actions
  // (--web-token-file); empty: read-only (the actions answer 403).
  // kSystem when the address cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> start(const ListenAddress& address,
                                                      const Names& names,
                                                      std::string web_token = {});
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
