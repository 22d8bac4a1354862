#include "supervisor/metrics_server.hpp"

#include <fcntl.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "dynmgr/client.hpp"
#include "shared/clock.hpp"
#include "shared/event_ring.hpp"
#include "shared/log.hpp"
#include "shared/metrics.hpp"
#include "shared/names.hpp"
#include "shared/registry.hpp"
#include "shared/state_json.hpp"
#include "shared/version.hpp"
#include "shared/worker_info.hpp"
#include "supervisor/web_assets.hpp"
#include "supervisor/web_history.hpp"
#include "supervisor/web_token.hpp"

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

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kHeartbeat = std::chrono::seconds(15);
constexpr auto kRingWaitStep = std::chrono::milliseconds(250);
constexpr std::size_t kMaxPendingActions = 16;
// Long enough for a del (terminate, SIGTERM, SIGKILL timeouts) at their defaults and more.
constexpr Millis kActionTimeout{30'000};

// Everything the page may load comes from this server; nothing inline, nothing
// from elsewhere, no frames, no forms.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

void secure_headers(Response& res) {
  res.set(http::field::server, "dynmgr");
  res.set("Content-Security-Policy", kCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
}

const char* content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

// %XX decoding of one path segment; nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    unsigned v = 0;
    const auto [end, err] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (err != std::errc{} || end != s.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

// The value of `key` in a query string "a=1&b=2" as a number, if present and valid.
std::optional<std::uint64_t> query_number(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > key.size() && pair.starts_with(key) && pair[key.size()] == '=') {
      const std::string_view v = pair.substr(key.size() + 1);
      std::uint64_t n = 0;
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (err == std::errc{} && end == v.data() + v.size()) return n;
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string error_body(std::string_view error, std::string_view message) {
  json::object o;
  o["ok"] = false;
  o["error"] = error;
  o["message"] = message;
  return to_json(o) + "\n";
}

http::status status_of(Errc code) {
  switch (code) {
    case Errc::kNotFound:
      return http::status::not_found;
    case Errc::kInvalid:
      return http::status::bad_request;
    case Errc::kTimeout:
      return http::status::gateway_timeout;
    case Errc::kNoSupervisor:
      return http::status::service_unavailable;
    case Errc::kFailed:
      return http::status::conflict;
    default:
      return http::status::internal_server_error;
  }
}

// One SSE frame per event: `id: SEQ` then `data: JSON`; an overrun reader's
// kMissed record is an `event: missed` (its seq: the last one lost).
void append_sse(std::string& out, const FleetEvent& e) {
  if (e.type == EventType::kMissed) out += "event: missed\n";
  out += "id: " + std::to_string(e.seq) + "\ndata: " + event_json(e) + "\n\n";
}

}  // namespace

// The action thread: restart and del through a dynmgr::Client of its own, one
// at a time, so that the server thread never waits for the supervisor's loop.
// Shared with the thread: when the server stops while a request is in flight,
// the thread is left to finish it (bounded by kActionTimeout) and posts nothing.
struct ActionRunner {
  struct Job {
    std::string verb;  // "restart" or "del"
    std::string id;
    std::uint64_t ticket;  // the waiting session, in Impl::waiting (server thread)
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool stop = false;
  bool busy = false;
  net::io_context* ioc = nullptr;  // valid while !stop
  // Runs on the server thread with the ticket, the HTTP status and the JSON body.
  std::function<void(std::uint64_t, http::status, std::string)> done;
  std::string instance;

  static void run(const std::shared_ptr<ActionRunner>& self) {
    std::optional<Client> client;
    for (;;) {
      Job job;
      {
        std::unique_lock lock(self->mu);
        self->cv.wait(lock, [&] { return self->stop || !self->jobs.empty(); });
        if (self->stop) return;
        job = std::move(self->jobs.front());
        self->jobs.pop_front();
        self->busy = true;
      }
      auto [status, body] = self->perform(client, job);
      std::lock_guard lock(self->mu);
      self->busy = false;
      if (self->stop) return;
      net::post(*self->ioc,
                [self, ticket = job.ticket, status = status, body = std::move(body)]() mutable {
                  self->done(ticket, status, std::move(body));
                });
    }
  }

  std::pair<http::status, std::string> perform(std::optional<Client>& client, const Job& job) {
    if (!client) {
      Client::Options o;
      o.instance = instance;
      o.timeout = kActionTimeout;
      auto c = Client::connect(o);
      if (!c)
        return {status_of(c.error().code),
                error_body(errc_name(c.error().code), c.error().message)};
      client.emplace(std::move(*c));
    }
    json::object o;
    o["ok"] = true;
    o["action"] = job.verb;
    o["id"] = job.id;
    if (job.verb == "del") {
      auto st = client->del(job.id);
      if (!st)
        return {status_of(st.error().code),
                error_body(errc_name(st.error().code), st.error().message)};
    } else {
      auto w = client->restart_worker(job.id);
      if (!w)
        return {status_of(w.error().code),
                error_body(errc_name(w.error().code), w.error().message)};
      o["worker"] = worker_to_json(*w);
    }
    return {http::status::ok, to_json(o) + "\n"};
  }
};

struct MetricsServer::Impl {
  struct HttpSession;
  // Declared before the io_context: the sessions its handlers own on
  // destruction give their connection back here.
  int connections = 0;

  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  std::string instance;
  std::string token;  // empty: read-only
  std::optional<RegistryReader> registry;
  std::optional<Client> reader;  // /api/state, read-only (never a round trip)
  Names names{"default"};

  // The event ring: a second thread waits on its futex and wakes this one.
  std::optional<EventReader> ring;
  std::thread ring_thread;
  std::atomic<bool> stopping{false};

  WebHistory history;
  net::steady_timer history_timer{ioc};
  std::uint64_t history_cursor = 0;
  std::uint64_t exits_seen = 0;
  std::uint64_t restarts_seen = 0;

  std::shared_ptr<ActionRunner> actions;
  std::thread action_thread;
  // Sessions waiting for an action's outcome, by ticket (this thread only:
  // the action thread never holds a session).
  std::map<std::uint64_t, std::shared_ptr<HttpSession>> waiting;
  std::uint64_t last_ticket = 0;

  struct SseSession;
  std::list<std::shared_ptr<SseSession>> streams;

  // A connection's place under kMaxConnections, given back when it goes.
  struct Slot {
    Impl* impl;
    explicit Slot(Impl* i) : impl(i) { ++impl->connections; }
    ~Slot() { --impl->connections; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
  };

  struct SseSession : std::enable_shared_from_this<SseSession> {
    Impl& s;
    Slot slot;
    tcp::socket socket;
    std::uint64_t cursor;
    std::string out;
    bool writing = false;
    bool closed = false;
    net::steady_timer heartbeat;
    net::steady_timer write_deadline;
    std::array<char, 512> sink{};

    SseSession(Impl& impl, tcp::socket sock, std::uint64_t from)
        : s(impl),
          slot(&impl),
          socket(std::move(sock)),
          cursor(from),
          heartbeat(impl.ioc),
          write_deadline(impl.ioc) {}

    void start(std::string head) {
      out = std::move(head);
      write();
      watch_close();
      arm_heartbeat();
    }
    // The client sends nothing more; a read that ends means it is gone.
    void watch_close() {
      socket.async_read_some(net::buffer(sink), [self = shared_from_this()](
                                                    boost::system::error_code ec, std::size_t) {
        if (ec) return self->close();
        self->watch_close();
      });
    }
    void arm_heartbeat() {
      heartbeat.expires_after(kHeartbeat);
      heartbeat.async_wait([w = weak_from_this()](boost::system::error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->closed) return;
        if (!self->writing) {
          self->out = ": keep-alive\n\n";
          self->write();
        }
        self->arm_heartbeat();
      });
    }
    // Sends what the ring holds past the cursor, unless a write is under way
    // (its completion calls pump again): one write at a time, and a client
    // that reads slowly only falls behind in the ring, never in our memory.
    void pump() {
      if (writing || closed) return;
      const auto events = s.ring->read(cursor, 256);
      if (events.empty()) return;
      out.clear();
      for (const auto& e : events) append_sse(out, e);
      write();
    }
    void write() {
      writing = true;
      write_deadline.expires_after(kWriteTimeout);
      write_deadline.async_wait([w = weak_from_this()](boost::system::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->close();  // stuck: drop it
      });
      net::async_write(socket, net::buffer(out),
                       [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                         self->writing = false;
                         self->write_deadline.cancel();
                         if (ec) return self->close();
                         self->pump();
                       });
    }
    void close() {
      if (closed) return;
      closed = true;
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      heartbeat.cancel();
      write_deadline.cancel();
      s.streams.remove(shared_from_this());
    }
  };

  struct HttpSession : std::enable_shared_from_this<HttpSession> {
    Impl& s;
    Slot slot;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    Response response;

    HttpSession(Impl& impl, tcp::socket sock) : s(impl), slot(&impl), stream(std::move(sock)) {
      parser.header_limit(8 * 1024);
      parser.body_limit(1024);
    }
    void start() {
      stream.expires_after(kRequestTimeout);
      http::async_read(stream, buffer, parser,
                       [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                         if (ec) return;  // closed, timed out or malformed: just drop it
                         self->s.route(self);
                       });
    }
    void send() {
      const bool head = parser.get().method() == http::verb::head;
      response.version(parser.get().version());
      response.keep_alive(false);
      secure_headers(response);
      response.prepare_payload();
      if (head) response.body().clear();
      stream.expires_after(kWriteTimeout);
      http::async_write(stream, response,
                        [self = shared_from_this()](boost::system::error_code, std::size_t) {
                          boost::system::error_code ignored;
                          self->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                        });
    }
    void reply(http::status status, const char* type, std::string body) {
      response.result(status);
      response.set(http::field::content_type, type);
      response.set(http::field::cache_control, "no-store");
      response.body() = std::move(body);
      send();
    }
  };

  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        if (connections >= kMaxConnections) {
          refuse(std::move(socket));
        } else {
          std::make_shared<HttpSession>(*this, std::move(socket))->start();
        }
      }
      accept();
    });
  }

  // Over the cap: a short 503 without reading the request.
  static void refuse(tcp::socket socket) {
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    static const std::string k503 =
        "HTTP/1.1 503 Service Unavailable\r\nServer: dynmgr\r\nContent-Type: text/plain\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: 33\r\n\r\n"
        "too many connections; try again\r\n";
    net::async_write(*sock, net::buffer(k503), [sock](boost::system::error_code, std::size_t) {
      boost::system::error_code ignored;
      sock->shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  RegistryReader* reg() {
    // A registry the supervisor recreated (README "Tampered shared memory"):
    // read the new one, not the unlinked copy.
    if (registry && registry->superseded()) registry.reset();
    if (!registry) {
      auto r = RegistryReader::open(names);
      if (r) registry.emplace(std::move(*r));
    }
    return registry ? &*registry : nullptr;
  }

  void route(const std::shared_ptr<HttpSession>& h) {
    const auto& req = h->parser.get();
    const std::string_view target = req.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
    const auto only = [&](const char* allow) {
      h->response.set(http::field::allow, allow);
      h->reply(http::status::method_not_allowed, "text/plain",
               std::string("method not allowed: use ") + allow + "\n");
    };

    if (path.starts_with("/api/workers/")) return action(h, path.substr(13));
    if (!get) {
      // Every other path is read-only.
      if (path == "/metrics" || path == "/" || path == "/events" || path.starts_with("/api/") ||
          path == "/app.js" || path == "/app.css") {
        return only("GET, HEAD");
      }
      h->reply(http::status::not_found, "text/plain", "not found\n");
      return;
    }
    if (path == "/metrics") {
      auto* r = reg();
      return h->reply(http::status::ok, kMetricsContentType,
                      r ? render_metrics(*r, instance) : std::string());
    }
    if (path == "/" || path == "/index.html" || path == "/app.js" || path == "/app.css") {
      const std::string_view name = path == "/" ? "index.html" : path.substr(1);
      for (const auto& f : web::kEmbeddedFiles) {
        if (name == f.name) {
          return h->reply(http::status::ok, content_type_of(name), std::string(f.data, f.size));
        }
      }
    }
    if (path == "/api/state") return api_state(h);
    if (path == "/api/mailboxes") return api_mailboxes(h);
    if (path == "/api/history") {
      return h->reply(http::status::ok, "application/json", to_json(history.to_json()) + "\n");
    }
    if (path == "/api/config") {
      json::object o;
      o["instance"] = instance;
      o["version"] = kVersion;
      o["actions"] = !token.empty();
      o["history_interval_ms"] = kHistoryIntervalMs;
      o["events"] = ring.has_value();
      return h->reply(http::status::ok, "application/json", to_json(o) + "\n");
    }
    if (path == "/events") return events(h, query);
    h->reply(http::status::not_found, "text/plain",
             "not found: metrics are at /metrics, the dashboard at /\n");
  }

  // `dynmgrctl state --json`, through the same Client reads and the same writer.
  void api_state(const std::shared_ptr<HttpSession>& h) {
    if (!reader) {
      Client::Options o;
      o.instance = instance;
      auto c = Client::connect(o);
      if (!c) {
        return h->reply(http::status::service_unavailable, "application/json",
                        error_body(errc_name(c.error().code), c.error().message));
      }
      reader.emplace(std::move(*c));
    }
    // Beast wants the body whole, but it is built as text a worker at a
    // time: no vector of records nor JSON tree beside it.
    std::string body;
    StateJsonWriter writer(reader->header(), reader->instance(), body);
    auto st = reader->for_each_worker([&writer](const WorkerInfo& r) {
      writer.add(r);
      return true;
    });
    if (!st) {
      return h->reply(status_of(st.error().code), "application/json",
                      error_body(errc_name(st.error().code), st.error().message));
    }
    writer.finish();
    body += '\n';
    h->reply(http::status::ok, "application/json", std::move(body));
  }

  // {"workers":[{"id","slot","mailbox_depth"}]}: what `state` does not carry
  // and the dashboard's table shows (the worker's own sampled counter).
  void api_mailboxes(const std::shared_ptr<HttpSession>& h) {
    json::array arr;
    if (auto* r = reg()) {
      if (auto snap = r->snapshot()) {
        arr.reserve(snap->size());
        for (const auto& w : *snap) {
          json::object o;
          o["id"] = w.id;
          o["slot"] = w.slot;
          o["mailbox_depth"] = r->stats(w.slot).mailbox_depth;
          arr.push_back(std::move(o));
        }
      }
    }
    json::object o;
    o["workers"] = std::move(arr);
    h->reply(http::status::ok, "application/json", to_json(o) + "\n");
  }

  void events(const std::shared_ptr<HttpSession>& h, std::string_view query) {
    if (!ring) {
      return h->reply(http::status::service_unavailable, "text/plain",
                      "this supervisor has no event ring\n");
    }
    const auto& req = h->parser.get();
    std::uint64_t from = ring->next_seq();
    const auto last = req.find("Last-Event-ID");
    if (last != req.end()) {
      std::uint64_t n = 0;
      const std::string_view v = last->value();
      const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (err == std::errc{} && end == v.data() + v.size()) {
        // Beyond the newest: the ring is not the one the client read (a new
        // supervisor started over); everything it holds is new to it.
        from = n + 1 <= ring->next_seq() ? n + 1 : ring->oldest_seq();
      }
    } else if (auto since = query_number(query, "since")) {
      from = std::max<std::uint64_t>(*since, 1);
    } else if (auto tail = query_number(query, "tail")) {
      const std::uint64_t next = ring->next_seq();
      from = std::max(ring->oldest_seq(), next > *tail ? next - *tail : 1);
    }
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: dynmgr\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        "Content-Security-Policy: " +
        std::string(kCsp) + "\r\nConnection: close\r\n\r\n: dynmgr events of '" + instance +
        "'\nretry: 2000\n\n";
    h->stream.expires_never();
    auto sse = std::make_shared<SseSession>(*this, h->stream.release_socket(), from);
    streams.push_back(sse);
    sse->start(std::move(head));
  }

  void action(const std::shared_ptr<HttpSession>& h, std::string_view rest) {
    const auto& req = h->parser.get();
    const auto slash = rest.rfind('/');
    const std::string_view verb = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    auto id =
        slash == std::string_view::npos ? std::nullopt : percent_decode(rest.substr(0, slash));
    if ((verb != "restart" && verb != "del") || !id || id->empty()) {
      return h->reply(http::status::not_found, "application/json",
                      error_body("not_found",
                                 "actions are POST /api/workers/ID/restart and "
                                 "POST /api/workers/ID/del"));
    }
    if (req.method() != http::verb::post) {
      h->response.set(http::field::allow, "POST");
      return h->reply(http::status::method_not_allowed, "application/json",
                      error_body("method", "use POST"));
    }
    if (token.empty()) {
      return h->reply(http::status::forbidden, "application/json",
                      error_body("forbidden",
                                 "read-only: start the supervisor with --web-token-file to "
                                 "enable actions"));
    }
    // The token only ever comes in the Authorization header: a cross-site
    // form or image cannot set it, and no cookie is ever accepted.
    const auto auth = req.find(http::field::authorization);
    const std::string_view value =
        auth == req.end() ? std::string_view() : std::string_view(auth->value());
    constexpr std::string_view kBearer = "Bearer ";
    if (!value.starts_with(kBearer) || !token_equals(value.substr(kBearer.size()), token)) {
      h->response.set(http::field::www_authenticate, "Bearer realm=\"dynmgr\"");
      return h->reply(
          http::status::unauthorized, "application/json",
          error_body("unauthorized", "a valid 'Authorization: Bearer TOKEN' is required"));
    }
    {
      std::lock_guard lock(actions->mu);
      if (actions->jobs.size() >= kMaxPendingActions) {
        return h->reply(http::status::service_unavailable, "application/json",
                        error_body("busy", "too many actions pending; try again"));
      }
      const std::uint64_t ticket = ++last_ticket;
      waiting.emplace(ticket, h);
      actions->jobs.push_back(ActionRunner::Job{std::string(verb), std::move(*id), ticket});
    }
    actions->cv.notify_one();
  }

  // Called (on this thread) whenever the ring has grown.
  void on_events() {
    if (!ring) return;
    for (;;) {
      const auto events = ring->read(history_cursor, 1024);
      if (events.empty()) break;
      for (const auto& e : events) {
        if (e.type == EventType::kExited) ++exits_seen;
        if (e.type == EventType::kRestarting) ++restarts_seen;
      }
    }
    const auto copy = streams;  // a session may close (and leave the list) meanwhile
    for (const auto& s : copy) s->pump();
  }

  void sample() {
    on_events();
    HistorySample s;
    s.time_ms = wall_ms();
    if (auto* r = reg()) {
      if (auto snap = r->snapshot()) {
        for (const auto& w : *snap) ++s.by_status[std::string(display_status(w))];
      }
    }
    s.exits = exits_seen;
    s.restarts = restarts_seen;
    exits_seen = restarts_seen = 0;
    history.add(std::move(s));
    history_timer.expires_after(std::chrono::milliseconds(kHistoryIntervalMs));
    history_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) sample();
    });
  }

  void watch_ring() {
    std::uint64_t seen = ring->next_seq();
    while (!stopping.load()) {
      ring->wait(seen, kRingWaitStep);
      const std::uint64_t next = ring->next_seq();
      if (next != seen) {
        seen = next;
        net::post(ioc, [this] { on_events(); });
      }
    }
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  {
    // An action in flight is left to its thread (it posts nothing once stop is
    // set): stopping the supervisor never waits for one.
    std::lock_guard lock(impl_->actions->mu);
    impl_->actions->stop = true;
    impl_->actions->ioc = nullptr;
    if (impl_->actions->busy) impl_->action_thread.detach();
  }
  impl_->actions->cv.notify_one();
  if (impl_->action_thread.joinable()) impl_->action_thread.join();
  impl_->stopping = true;
  if (impl_->ring_thread.joinable()) impl_->ring_thread.join();
  net::post(impl_->ioc, [i = impl_.get()] {
    boost::system::error_code ec;
    i->acceptor.close(ec);
  });
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->streams.clear();
  impl_->waiting.clear();
}

std::uint16_t MetricsServer::port() const noexcept {
  boost::system::error_code ec;
  const auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& address,
                                                            const Names& names,
                                                            std::string web_token) {
  auto impl = std::make_unique<Impl>();
  impl->instance = names.instance();
  impl->names = names;
  impl->token = std::move(web_token);
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
  if (auto r = EventReader::open(names)) {
    impl->ring.emplace(std::move(*r));
    impl->history_cursor = impl->ring->next_seq();
  } else {
    log_warn("web dashboard: no event stream: " + r.error().message);
  }
  impl->actions = std::make_shared<ActionRunner>();
  impl->actions->ioc = &impl->ioc;
  impl->actions->instance = names.instance();
  impl->actions->done = [raw = impl.get()](std::uint64_t ticket, http::status st,
                                           std::string body) {
    const auto it = raw->waiting.find(ticket);
    if (it == raw->waiting.end()) return;
    auto h = std::move(it->second);
    raw->waiting.erase(it);
    h->reply(st, "application/json", std::move(body));
  };
  impl->action_thread = std::thread([a = impl->actions] { ActionRunner::run(a); });
  impl->accept();
  Impl* raw = impl.get();
  net::post(impl->ioc, [raw] { raw->sample(); });
  if (impl->ring) impl->ring_thread = std::thread([raw] { raw->watch_ring(); });
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
