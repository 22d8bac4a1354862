#include "supervisor/metrics_server.hpp"

#include <fcntl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>
#include <thread>

#include "shared/log.hpp"
#include "shared/metrics.hpp"
#include "shared/registry.hpp"

namespace dynmgr {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<ListenAddress> parse_listen_address(const std::string& text) {
  ListenAddress a;
  std::string port = text;
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::kInvalid, "invalid --metrics-listen '" + text + "': " + why);
  };
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("expected [IPv6]:PORT");
    }
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  (void)net::ip::make_address(a.host, ec);
  if (ec) return bad("'" + a.host + "' is not an IP address");
  unsigned value = 0;
  const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || err != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return bad("the port must be 0..65535");
  }
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

struct MetricsServer::Impl {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::string instance;
  std::optional<RegistryReader> registry;
  Names names{"default"};

  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) serve(std::move(socket));
      accept();
    });
  }

  void serve(tcp::socket socket) {
    struct Session {
      beast::tcp_stream stream;
      beast::flat_buffer buffer;
      http::request_parser<http::empty_body> parser;
      http::response<http::string_body> response;
      explicit Session(tcp::socket s) : stream(std::move(s)) { parser.header_limit(8 * 1024); }
    };
    auto s = std::make_shared<Session>(std::move(socket));
    s->stream.expires_after(std::chrono::seconds(5));
    http::async_read(
        s->stream, s->buffer, s->parser, [this, s](boost::system::error_code ec, std::size_t) {
          if (ec) return;  // closed, timed out or malformed: just drop it
          respond(s->parser.get(), s->response);
          s->stream.expires_after(std::chrono::seconds(5));
          http::async_write(s->stream, s->response, [s](boost::system::error_code, std::size_t) {
            boost::system::error_code ignored;
            s->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
          });
        });
  }

  void respond(const http::request<http::empty_body>& req, http::response<http::string_body>& res) {
    res.version(req.version());
    res.keep_alive(false);
    res.set(http::field::server, "dynmgr");
    const bool head = req.method() == http::verb::head;
    if (req.method() != http::verb::get && !head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain");
      res.body() = "method not allowed: use GET\n";
    } else if (req.target() != "/metrics") {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found: metrics are at /metrics\n";
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type, kMetricsContentType);
      if (!registry) {
        auto r = RegistryReader::open(names);
        if (r) registry.emplace(std::move(*r));
      }
      res.body() = registry ? render_metrics(*registry, instance) : std::string();
    }
    res.prepare_payload();
    if (head) res.body().clear();
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  net::post(impl_->ioc, [i = impl_.get()] {
    boost::system::error_code ec;
    i->acceptor.close(ec);
  });
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t MetricsServer::port() const noexcept {
  boost::system::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& address,
                                                            const Names& names) {
  auto impl = std::make_unique<Impl>();
  impl->instance = names.instance();
  impl->names = names;
  const std::string where = address.host + ":" + std::to_string(address.port);
  boost::system::error_code ec;
  const tcp::endpoint ep(net::ip::make_address(address.host, ec), address.port);
  if (ec) return make_error(Errc::kInvalid, "invalid --metrics-listen address " + address.host);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    // Not inherited by a `reexec`'d image (nor by workers: posix_spawn closes
    // everything above stderr anyway).
    ::fcntl(impl->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
    impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::kSystem, "unable to listen on " + where + ": " + ec.message());
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    try {
      raw->ioc.run();
    } catch (const std::exception& e) {
      log_error(std::string("metrics server stopped: ") + e.what());
    }
  });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

}  // namespace dynmgr
