#pragma once
// A small blocking HTTP/1.1 client over Boost.Beast, for the cluster mode
// (README "Cluster"): the etcd v3 JSON gateway (shared/etcd.hpp) and the
// nodes' gateways (shared/cluster_client.hpp). Plain HTTP on a trusted network
// (loopback or a private one); no TLS.
//
// One connection, kept alive between requests and opened again when the peer
// closed it. Every request has a deadline covering connect, write and read.
// Not thread-safe: one per thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/error.hpp"
#include "dynmgr/types.hpp"

namespace dynmgr {

struct HttpEndpoint {
  std::string host;  // an IP address or a name (resolved at connect)
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};
// "http://HOST:PORT", "HOST:PORT" ("[v6]:PORT"); a trailing "/" is allowed.
// kInvalid naming what is wrong (https, a path, no port, a bad port).
Result<HttpEndpoint> parse_http_endpoint(std::string_view url);
// A comma-separated list of them (at least one).
Result<std::vector<HttpEndpoint>> parse_http_endpoints(std::string_view urls);

struct HttpResponse {
  unsigned status = 0;
  std::string body;
};

class HttpClient {
 public:
  HttpClient(HttpEndpoint endpoint, Millis timeout);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // method: "GET", "POST", ... ; authorization: a bearer token, or empty.
  // Any answer is a response (4xx and 5xx too); errors: kTimeout (no answer in
  // time), kSystem (could not connect, the connection broke; the message names
  // the endpoint). A request that failed after it was sent may have been
  // carried out: the caller knows whether it can be repeated.
  Result<HttpResponse> request(std::string_view method, std::string_view target,
                               std::string_view body = {}, std::string_view authorization = {});

  const HttpEndpoint& endpoint() const noexcept { return endpoint_; }
  void set_timeout(Millis timeout) noexcept { timeout_ = timeout; }

 private:
  struct Conn;
  HttpEndpoint endpoint_;
  Millis timeout_;
  std::unique_ptr<Conn> conn_;
};

}  // namespace dynmgr
