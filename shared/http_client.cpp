#include "shared/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>

namespace dynmgr {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<HttpEndpoint> parse_http_endpoint(std::string_view url) {
  while (!url.empty() && (url.front() == ' ' || url.front() == '\t')) url.remove_prefix(1);
  while (!url.empty() && (url.back() == ' ' || url.back() == '\t')) url.remove_suffix(1);
  const std::string shown(url);
  std::string_view s = url;
  if (s.substr(0, 8) == "https://") {
    return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': https is not supported");
  }
  if (s.substr(0, 7) == "http://") s.remove_prefix(7);
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.find('/') != std::string_view::npos) {
    return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': a path is not allowed");
  }
  HttpEndpoint e;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': expected [IPv6]:PORT");
    }
    e.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': expected HOST:PORT");
    }
    e.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  if (e.host.empty()) {
    return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': no host");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
    return make_error(Errc::kInvalid, "invalid endpoint '" + shown + "': bad port");
  }
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

Result<std::vector<HttpEndpoint>> parse_http_endpoints(std::string_view urls) {
  std::vector<HttpEndpoint> out;
  while (true) {
    const auto comma = urls.find(',');
    auto e = parse_http_endpoint(urls.substr(0, comma));
    if (!e) return e.error();
    out.push_back(std::move(*e));
    if (comma == std::string_view::npos) break;
    urls.remove_prefix(comma + 1);
  }
  return out;
}

struct HttpClient::Conn {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;
};

HttpClient::HttpClient(HttpEndpoint endpoint, Millis timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout), conn_(std::make_unique<Conn>()) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpResponse> HttpClient::request(std::string_view method, std::string_view target,
                                         std::string_view body, std::string_view authorization) {
  Conn& c = *conn_;
  const std::string where = endpoint_.text();
  http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
  req.set(http::field::host, endpoint_.host);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  if (!authorization.empty()) req.set(http::field::authorization, "Bearer " + std::string(authorization));
  req.body() = std::string(body);
  req.prepare_payload();

  // A kept connection the peer closed fails at the write or the read with
  // nothing carried out only if it failed before anything came back; a
  // request is tried once more on a fresh connection only when the kept one
  // was found closed before the answer started.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = c.open;
    beast::error_code failure;
    bool timed_out = false;
    bool answered = false;
    http::response<http::string_body> res;
    c.ioc.restart();
    c.stream.expires_after(timeout_);
    const auto on_read = [&](beast::error_code ec, std::size_t) {
      if (ec) failure = ec;
      else answered = true;
    };
    const auto on_write = [&](beast::error_code ec, std::size_t) {
      if (ec) {
        failure = ec;
        return;
      }
      http::async_read(c.stream, c.buffer, res, on_read);
    };
    if (!c.open) {
      c.buffer.clear();
      tcp::resolver resolver(c.ioc);
      beast::error_code rec;
      auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), rec);
      if (rec) {
        return make_error(Errc::kSystem, "cannot resolve " + where + ": " + rec.message());
      }
      c.stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
        if (ec) {
          failure = ec;
          return;
        }
        c.open = true;
        http::async_write(c.stream, req, on_write);
      });
    } else {
      http::async_write(c.stream, req, on_write);
    }
    c.ioc.run();
    if (answered) {
      if (!res.keep_alive()) {
        beast::error_code ignored;
        c.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        c.stream.close();
        c.open = false;
      }
      return HttpResponse{res.result_int(), std::move(res.body())};
    }
    timed_out = failure == beast::error::timeout;
    c.stream.close();
    c.open = false;
    c.buffer.clear();
    if (timed_out) {
      return make_error(Errc::kTimeout, "no answer from " + where + " within " +
                                            std::to_string(timeout_.count()) + " ms");
    }
    const bool stale = reused && (failure == http::error::end_of_stream ||
                                  failure == net::error::connection_reset ||
                                  failure == net::error::broken_pipe || failure == net::error::eof);
    if (!stale) {
      return make_error(Errc::kSystem, "cannot reach " + where + ": " + failure.message());
    }
  }
  return make_error(Errc::kSystem, "cannot reach " + where + ": the connection closed");
}

}  // namespace dynmgr
