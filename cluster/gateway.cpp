// The node's gateway (README "Cluster"): HTTP/1.1 + JSON over Boost.Beast,
// a thread per connection (at most kMaxGatewayConnections), every request
// carrying the cluster's token. It serves what clients and other nodes ask
// of the ids this node owns, and forwards the rest, once, to their owner.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>

#include "cluster/node_impl.hpp"
#include "dynmgr/child_spec.hpp"
#include "shared/cluster_client.hpp"
#include "shared/json.hpp"
#include "shared/log.hpp"
#include "shared/worker_info.hpp"

namespace dynmgr::cluster {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

constexpr int kMaxGatewayConnections = 64;
constexpr std::size_t kMaxBody = 32u * 1024 * 1024;

// Constant-time comparison of the bearer token.
bool token_matches(std::string_view header, const std::string& token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.substr(0, kBearer.size()) != kBearer) return false;
  header.remove_prefix(kBearer.size());
  unsigned char diff = header.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i] ^ (i < header.size() ? header[i] : 0));
  }
  return diff == 0;
}

struct Answer {
  unsigned status = 200;
  std::string body;
};

Answer ok(json::value result) {
  json::object o;
  o["result"] = std::move(result);
  return {200, to_json(o)};
}

Answer fail(const Error& e) { return {http_status_of(e.code), error_body(e)}; }

}  // namespace

// One request's work, with the connection's own clients.
class GatewayRequest {
 public:
  GatewayRequest(Node::Impl& s, etcd::Client& etcd) : s_(s), etcd_(etcd) {}

  Answer handle(std::string_view verb, const json::object& body) {
    if (verb == "health") return health(body);
    if (verb == "state") return state();
    const bool forwarded = get_bool(body, "forwarded").value_or(false);
    auto id_text = get_string(body, "id");
    if (!id_text) return fail(make_error(Errc::kInvalid, std::string(verb) + ": no id"));
    const std::string id(*id_text);
    if (auto st = validate_id(id); !st) return fail(st.error());
    if (verb == "put") return put(id, body, forwarded);
    if (verb == "del") return del(id, body, forwarded);
    if (verb == "get" || verb == "call" || verb == "cast") return use(verb, id, body, forwarded);
    return fail(make_error(Errc::kInvalid, "unknown verb '" + std::string(verb) + "'"));
  }

 private:
  Answer health(const json::object& body) {
    json::object o;
    o["node"] = s_.opt.node;
    {
      std::lock_guard lock(s_.m);
      o["mode"] = mode_name(s_.mode);
      o["owned"] = s_.mine.size();
      o["fenced_checkpoints"] = s_.fenced_checkpoints;
      o["known_nodes"] = s_.advertise.size();
    }
    if (get_bool(body, "probe").value_or(false)) {
      // Whether this node reaches etcd now (asked by a node that does not).
      auto r = etcd_.range(s_.layout.node_key(s_.opt.node));
      o["etcd"] = static_cast<bool>(r);
    }
    return ok(std::move(o));
  }

  Answer state() {
    auto c = s_.clients.take(Millis(5000));
    if (!c) return fail(c.error());
    json::array out;
    auto st = (*c)->for_each_worker([&](const WorkerInfo& w) {
      json::object o = worker_to_json(w);
      o["node"] = s_.opt.node;
      out.push_back(std::move(o));
      return true;
    });
    s_.clients.give_back(std::move(*c));
    if (!st) return fail(st.error());
    return ok(std::move(out));
  }

  // The owner as etcd says now (empty: none), with its key's revision.
  Result<std::pair<std::string, std::int64_t>> owner_of(const std::string& id) {
    auto r = etcd_.range(s_.layout.owner_key(id));
    if (!r) return r.error();
    if (r->kvs.empty()) return std::pair<std::string, std::int64_t>{};
    return std::pair{r->kvs.front().value, r->kvs.front().mod_revision};
  }

  // unreachable: set when the node could not be reached (nothing was done).
  Answer forward(const std::string& node, std::string_view verb, json::object body,
                 bool* unreachable = nullptr) {
    std::string address;
    {
      std::lock_guard lock(s_.m);
      const auto a = s_.advertise.find(node);
      if (a != s_.advertise.end()) address = a->second;
    }
    if (address.empty()) {
      auto r = etcd_.range(s_.layout.node_key(node));
      if (r && !r->kvs.empty()) {
        if (auto rec = NodeRecord::from_json(node, r->kvs.front().value)) address = rec->advertise;
      }
    }
    if (address.empty()) {
      return fail(make_error(Errc::kFailed, "'" + node + "' owns it but is not registered"));
    }
    auto e = parse_http_endpoint(address);
    if (!e) return fail(e.error());
    body["forwarded"] = true;
    Millis wait(10'000);
    if (auto t = get_int(body, "timeout_ms"); t && *t > 0) wait += Millis(*t);
    GatewayClient g(*e, s_.opt.token, wait);
    auto r = g.post(verb, body);
    if (!r) {
      if (unreachable != nullptr) *unreachable = r.error().code == Errc::kSystem;
      return fail(r.error());
    }
    return ok(std::move(*r));
  }

  bool is_mine(const std::string& id, std::int64_t* token = nullptr) {
    std::lock_guard lock(s_.m);
    const auto t = s_.mine.find(id);
    if (t == s_.mine.end()) return false;
    if (token != nullptr) *token = t->second;
    return true;
  }

  Error refused() const {
    return make_error(Errc::kFailed,
                      "etcd is unreachable from node '" + s_.opt.node +
                          "': ownership changes are refused until it is back");
  }

  // Marks id as this thread's while it puts or deletes it.
  class Busy {
   public:
    Busy(Node::Impl& s, std::string id) : s_(s), id_(std::move(id)) {
      std::unique_lock lock(s_.m);
      s_.wake.wait_for(lock, Millis(5000), [&] { return s_.busy.count(id_) == 0; });
      s_.busy.insert(id_);
    }
    ~Busy() {
      {
        std::lock_guard lock(s_.m);
        s_.busy.erase(id_);
      }
      s_.wake.notify_all();
    }

   private:
    Node::Impl& s_;
    std::string id_;
  };

  Answer put(const std::string& id, const json::object& body, bool forwarded) {
    const bool only_new = get_bool(body, "new").value_or(false);
    const bool passive = get_bool(body, "passive").value_or(false);
    const json::value* spec_json = get_field(body, "spec");
    auto spec = ChildSpec::from_json(spec_json != nullptr ? *spec_json : json::value(json::object{}));
    if (!spec) return fail(spec.error());
    const json::object stored = spec->to_json();
    const std::string text = to_json(stored);
    if (!s_.serving()) return fail(refused());
    Busy busy(s_, id);
    for (int round = 0; round < 3; ++round) {
      std::int64_t token = 0;
      if (is_mine(id, &token)) {
        if (only_new) return fail(make_error(Errc::kExists, "'" + id + "' exists"));
        auto r = etcd_.txn({etcd::Compare::modified(s_.layout.owner_key(id), token)},
                           {etcd::Op::put(s_.layout.spec_key(id), text)});
        if (!r) return fail(r.error());
        if (!r->succeeded) {
          std::lock_guard lock(s_.m);
          s_.mine.erase(id);
          continue;  // no longer ours: route again
        }
        return start_here(id, *spec, stored, passive);
      }
      auto owner = owner_of(id);
      if (!owner) return fail(owner.error());
      if (!owner->first.empty() && owner->first != s_.opt.node) {
        // An owner: the id exists, cluster-wide.
        if (only_new) return fail(make_error(Errc::kExists, "'" + id + "' exists"));
        if (forwarded) {
          return fail(make_error(Errc::kFailed, "'" + id + "' moved to '" + owner->first + "'"));
        }
        return forward(owner->first, "put", body);
      }
      if (owner->first == s_.opt.node) {
        // Our key from a lease this node took over: ours.
        std::lock_guard lock(s_.m);
        s_.mine[id] = owner->second;
        continue;
      }
      // Unowned: the preferred live node takes it.
      if (!forwarded) {
        std::vector<std::string> live;
        {
          std::lock_guard lock(s_.m);
          for (const auto& [n, _] : s_.advertise) live.push_back(n);
        }
        auto order = rendezvous_order(id, live);
        if (!order.empty() && order.front() != s_.opt.node) {
          bool unreachable = false;
          Answer a = forward(order.front(), "put", body, &unreachable);
          // A preferred node that cannot be reached leaves it to this one.
          if (!unreachable) return a;
        }
      }
      bool spec_existed = false;
      auto claimed = s_.claim(etcd_, id, &text, only_new, &spec_existed);
      if (!claimed) return fail(claimed.error());
      if (*claimed == 0) {
        if (only_new && spec_existed) return fail(make_error(Errc::kExists, "'" + id + "' exists"));
        continue;  // someone else claimed it first: route again
      }
      {
        std::lock_guard lock(s_.m);
        s_.mine[id] = *claimed;
      }
      return start_here(id, *spec, stored, passive);
    }
    return fail(make_error(Errc::kFailed, "'" + id + "' kept changing owner; try again"));
  }

  Answer start_here(const std::string& id, const ChildSpec& spec, const json::object& stored,
                    bool passive) {
    {
      std::lock_guard lock(s_.m);
      s_.specs[id] = stored;
      s_.written[id] = to_json(spec.payload);
    }
    auto c = s_.clients.take(Millis(30'000));
    if (!c) return fail(c.error());
    auto r = passive ? (*c)->put_passive(id, spec) : (*c)->put(id, spec);
    s_.clients.give_back(std::move(*c));
    if (!r) return fail(r.error());
    json::object o = worker_to_json(*r);
    o["node"] = s_.opt.node;
    return ok(std::move(o));
  }

  Answer del(const std::string& id, const json::object& body, bool forwarded) {
    if (!s_.serving()) return fail(refused());
    Busy busy(s_, id);
    for (int round = 0; round < 3; ++round) {
      std::int64_t token = 0;
      if (is_mine(id, &token)) {
        auto r = etcd_.txn({etcd::Compare::modified(s_.layout.owner_key(id), token)},
                           {etcd::Op::del(s_.layout.spec_key(id)), etcd::Op::del(s_.layout.owner_key(id))});
        if (!r) return fail(r.error());
        {
          std::lock_guard lock(s_.m);
          s_.mine.erase(id);
          s_.written.erase(id);
          if (r->succeeded) s_.specs.erase(id);
        }
        if (!r->succeeded) continue;
        auto c = s_.clients.take(Millis(30'000));
        if (!c) return fail(c.error());
        auto st = (*c)->del(id);
        s_.clients.give_back(std::move(*c));
        if (!st && st.error().code != Errc::kNotFound) return fail(st.error());
        return ok(json::object{{"id", id}, {"node", s_.opt.node}});
      }
      auto owner = owner_of(id);
      if (!owner) return fail(owner.error());
      if (!owner->first.empty() && owner->first != s_.opt.node) {
        if (forwarded) {
          return fail(make_error(Errc::kFailed, "'" + id + "' moved to '" + owner->first + "'"));
        }
        return forward(owner->first, "del", body);
      }
      if (owner->first == s_.opt.node) {
        std::lock_guard lock(s_.m);
        s_.mine[id] = owner->second;
        continue;
      }
      // No owner: the spec alone goes (nothing runs it).
      auto r = etcd_.txn({etcd::Compare::absent(s_.layout.owner_key(id)),
                          etcd::Compare::created(s_.layout.spec_key(id), 0,
                                                 etcd::Compare::Result::kGreater)},
                         {etcd::Op::del(s_.layout.spec_key(id))},
                         {etcd::Op::get(s_.layout.owner_key(id)), etcd::Op::get(s_.layout.spec_key(id))});
      if (!r) return fail(r.error());
      if (r->succeeded) return ok(json::object{{"id", id}, {"node", nullptr}});
      if (r->ranges[1].empty()) return fail(make_error(Errc::kNotFound, "no worker '" + id + "'"));
    }
    return fail(make_error(Errc::kFailed, "'" + id + "' kept changing owner; try again"));
  }

  // get, call, cast: where the id runs.
  Answer use(std::string_view verb, const std::string& id, const json::object& body,
             bool forwarded) {
    const Millis wait(std::max<std::int64_t>(get_int(body, "timeout_ms").value_or(5000), 1));
    const auto give_up = Clock::now() + wait;
    while (true) {
      if (is_mine(id)) return here(verb, id, body, wait);
      // In an outage the owners last read are all there is.
      std::string owner;
      if (s_.serving()) {
        auto o = owner_of(id);
        if (!o) return fail(o.error());
        owner = o->first;
        if (owner == s_.opt.node) {
          std::lock_guard lock(s_.m);
          s_.mine[id] = o->second;
          continue;
        }
      } else {
        {
          std::lock_guard lock(s_.m);
          const auto o = s_.owners_cache.find(id);
          if (o != s_.owners_cache.end()) owner = o->second;
        }
        if (owner.empty() || owner == s_.opt.node) {
          // Not known here (it was put after the owners were last read):
          // whichever node runs it answers.
          if (forwarded) {
            return fail(make_error(Errc::kNotFound, "'" + id + "' is not on node '" + s_.opt.node + "'"));
          }
          return ask_every_node(verb, id, body);
        }
      }
      if (!owner.empty() && owner != s_.opt.node && !forwarded) return forward(owner, verb, body);
      if (!owner.empty() && owner != s_.opt.node) {
        return fail(make_error(Errc::kFailed, "'" + id + "' moved to '" + owner + "'"));
      }
      // No owner: unknown, or between two owners (a failover).
      if (s_.serving()) {
        auto spec = etcd_.range(s_.layout.spec_key(id), {{}, 0, true});
        if (!spec) return fail(spec.error());
        if (spec->kvs.empty()) return fail(make_error(Errc::kNotFound, "no worker '" + id + "'"));
      }
      if (Clock::now() >= give_up) {
        return fail(make_error(Errc::kTimeout, "'" + id + "' has no owner yet (a failover is under way)"));
      }
      std::unique_lock lock(s_.m);
      s_.wake.wait_for(lock, Millis(100), [&] { return s_.stopping; });
      if (s_.stopping) return fail(make_error(Errc::kNoSupervisor, "the node is stopping"));
    }
  }

  // During an outage: each other node in turn; the first that runs id answers.
  Answer ask_every_node(std::string_view verb, const std::string& id, const json::object& body) {
    std::vector<std::string> peers;
    {
      std::lock_guard lock(s_.m);
      for (const auto& [n, _] : s_.advertise) {
        if (n != s_.opt.node) peers.push_back(n);
      }
    }
    for (const auto& n : peers) {
      Answer a = forward(n, verb, body);
      if (a.status == 200) return a;
    }
    return fail(make_error(Errc::kFailed, "no node serves '" + id +
                                              "' (etcd is unreachable: owners cannot be read)"));
  }

  Answer here(std::string_view verb, const std::string& id, const json::object& body, Millis wait) {
    auto c = s_.clients.take(wait);
    if (!c) return fail(c.error());
    Client& local = **c;
    Answer a;
    // Just claimed: the reconcile thread starts it within a moment.
    const auto give_up = Clock::now() + std::min(wait, Millis(3000));
    while (true) {
      const json::value* message = get_field(body, "message");
      const json::value m = message != nullptr ? *message : json::value(nullptr);
      Error err;
      if (verb == "get") {
        auto r = local.get(id);
        if (r) {
          json::object o = worker_to_json(*r);
          o["node"] = s_.opt.node;
          a = ok(std::move(o));
          break;
        }
        err = r.error();
      } else if (verb == "call") {
        auto r = local.call(id, m);
        if (r) {
          if (s_.opt.sync) checkpoint_now(local, id);
          a = ok(std::move(*r));
          break;
        }
        err = r.error();
      } else {
        auto r = local.cast(id, m);
        if (r) {
          a = ok(json::object{{"id", id}, {"node", s_.opt.node}});
          break;
        }
        err = r.error();
      }
      if (err.code != Errc::kNotFound || Clock::now() >= give_up || !is_mine(id)) {
        a = fail(err);
        break;
      }
      std::unique_lock lock(s_.m);
      s_.wake.wait_for(lock, Millis(50), [&] { return s_.stopping; });
    }
    s_.clients.give_back(std::move(*c));
    return a;
  }

  // --durability sync: what a call changed is checkpointed before its reply.
  void checkpoint_now(Client& local, const std::string& id) {
    (void)s_.checkpoint(etcd_, local, {id});
  }

  Node::Impl& s_;
  etcd::Client& etcd_;
};

void Node::Impl::serve_connection(int fd) {
  beast::error_code ec;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.assign(net::ip::tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  auto etcd = make_etcd();
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    const auto& req = parser.get();
    Answer a;
    const std::string_view target = req.target();
    if (!token_matches(req[http::field::authorization], opt.token)) {
      a = fail(make_error(Errc::kInvalid, "the cluster token is missing or wrong"));
      a.status = 401;
    } else if (req.method() != http::verb::post || target.substr(0, 4) != "/v1/") {
      a = fail(make_error(Errc::kInvalid, "expected POST /v1/VERB"));
      a.status = 404;
    } else {
      json::object body;
      bool good = true;
      if (!req.body().empty()) {
        auto v = parse_json(req.body(), "the request");
        if (!v || !v->is_object()) {
          a = fail(v ? make_error(Errc::kInvalid, "the request is not a JSON object") : v.error());
          good = false;
        } else {
          body = std::move(v->as_object());
        }
      }
      if (good) {
        GatewayRequest r(*this, etcd);
        a = r.handle(target.substr(4), body);
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(a.status), req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(a.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) break;
  }
  socket.shutdown(net::ip::tcp::socket::shutdown_both, ec);
  {
    std::lock_guard lock(conn_m);
    conn_fds.erase(socket.native_handle());
  }
  socket.close(ec);
}

void Node::Impl::accept_loop() {
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    {
      std::lock_guard lock(m);
      if (stopping) {
        if (fd >= 0) ::close(fd);
        return;
      }
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::unique_lock lock(m);
        wake.wait_for(lock, Millis(100));
        continue;
      }
      return;
    }
    if (connections.load() >= kMaxGatewayConnections) {
      ::close(fd);
      continue;
    }
    {
      std::lock_guard lock(conn_m);
      conn_fds.insert(fd);
    }
    ++connections;
    std::thread([this, fd] {
      serve_connection(fd);
      --connections;
    }).detach();
  }
}

Result<std::unique_ptr<Node>> Node::start(NodeOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  const auto& a = impl->opt.advertise;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(a.port);
  if (::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return make_error(Errc::kInvalid, "--advertise " + a.text() + ": not an IPv4 address or name");
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    return errno_error("cluster gateway: socket", errno);
  }
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rc = ::bind(fd, found->ai_addr, found->ai_addrlen);
  const int err = errno;
  ::freeaddrinfo(found);
  if (rc != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return make_error(Errc::kSystem, "cluster gateway: cannot listen on " + a.text() + ": " +
                                         std::strerror(rc != 0 ? err : errno));
  }
  impl->listen_fd = fd;
  Impl& s = *impl;
  s.accept_thread = std::thread([&s] { s.accept_loop(); });
  s.lease_thread = std::thread([&s] { s.lease_loop(); });
  s.reconcile_thread = std::thread([&s] { s.reconcile_loop(); });
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

}  // namespace dynmgr::cluster
