#include "cluster/node.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "cluster/node_impl.hpp"
#include "dynmgr/child_spec.hpp"
#include "shared/cluster_client.hpp"
#include "shared/json.hpp"
#include "shared/log.hpp"

namespace dynmgr::cluster {

const char* mode_name(Mode m) noexcept {
  switch (m) {
    case Mode::kJoining: return "joining";
    case Mode::kServing: return "serving";
    case Mode::kOutage: return "outage";
    case Mode::kFenced: return "fenced";
  }
  return "joining";
}

Result<std::unique_ptr<Client>> ClientPool::take(Millis timeout) {
  {
    std::lock_guard lock(m_);
    if (!free_.empty()) {
      auto c = std::move(free_.back());
      free_.pop_back();
      c->set_timeout(timeout);
      return c;
    }
  }
  Client::Options o;
  o.instance = instance_;
  o.timeout = timeout;
  auto c = Client::connect(o);
  if (!c) return c.error();
  return std::make_unique<Client>(std::move(*c));
}

void ClientPool::give_back(std::unique_ptr<Client> c) {
  std::lock_guard lock(m_);
  if (free_.size() < 16) free_.push_back(std::move(c));
}

namespace {

std::int64_t read_lease_file(const std::string& path) {
  if (path.empty()) return 0;
  std::ifstream in(path);
  std::int64_t id = 0;
  if (!(in >> id)) return 0;
  return id;
}

void write_lease_file(const std::string& path, std::int64_t id) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << '\n';
    if (!out) return;
  }
  (void)::rename(tmp.c_str(), path.c_str());
}

// The spec as stored, with payload in place of the stored one.
std::string spec_with_payload(const json::object& spec, const std::string& payload_text) {
  json::object o = spec;
  if (auto p = parse_json(payload_text, "payload")) o["payload"] = std::move(*p);
  return to_json(o);
}

}  // namespace

etcd::Client Node::Impl::make_etcd() const {
  return etcd::Client(etcd::Client::Options{opt.etcd, etcd_timeout()});
}

// A tenth of the TTL per request and member: a renewal that hangs must leave
// time to decide and to stop the workers before the lease could expire.
Millis Node::Impl::etcd_timeout() const {
  const auto t = std::chrono::duration_cast<Millis>(opt.ttl) / 10;
  return std::clamp(t, Millis(200), Millis(1000));
}

// The local supervisor, once it is up (or nullptr when the node stops first).
std::unique_ptr<Client> Node::Impl::local_client(Millis timeout) {
  while (true) {
    {
      std::unique_lock lock(m);
      if (stopping) return nullptr;
    }
    Client::Options o;
    o.instance = opt.instance;
    o.timeout = timeout;
    if (auto c = Client::connect(o); c && c->header().manager_state == ManagerState::kUp) {
      return std::make_unique<Client>(std::move(*c));
    }
    std::unique_lock lock(m);
    wake.wait_for(lock, Millis(50), [this] { return stopping; });
  }
}

void Node::Impl::stop_local_workers(const std::string& why) {
  auto c = clients.take(Millis(3000));
  if (!c) {
    log_error("cluster: cannot stop the workers (" + why + "): " + c.error().message);
    return;
  }
  auto all = (*c)->state();
  clients.give_back(std::move(*c));
  if (!all) {
    log_error("cluster: cannot list the workers to stop (" + why + "): " + all.error().message);
    return;
  }
  log_warn("cluster: " + why + ": stopping " + std::to_string(all->size()) + " workers");
  // A worker must be gone before the lease can expire (TTL after the last
  // renewal): dels side by side, and whatever is still there near the end
  // is killed (its del is under way, so the supervisor does not restart it).
  Clock::time_point deadline;
  {
    std::lock_guard lock(m);
    deadline = std::max(etcd_ok + opt.ttl - Millis(500), Clock::now() + Millis(300));
  }
  std::atomic<std::size_t> next{0};
  std::size_t finished = 0;  // under m
  std::vector<std::thread> threads;
  const std::size_t n = std::min<std::size_t>(8, all->size());
  for (std::size_t t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      if (auto local = clients.take(Millis(3000))) {
        for (std::size_t i = next++; i < all->size(); i = next++) (void)(*local)->del((*all)[i].id);
        clients.give_back(std::move(*local));
      }
      std::lock_guard lock(m);
      ++finished;
      wake.notify_all();
    });
  }
  bool in_time = false;
  {
    std::unique_lock lock(m);
    in_time = wake.wait_until(lock, deadline, [&] { return finished == n; });
  }
  if (!in_time) {
    // Any worker still registered (its del is under way) is killed outright.
    if (auto local = clients.take(Millis(1000))) {
      if (auto left = (*local)->state()) {
        for (const auto& w : *left) {
          if (w.pid > 0) ::kill(w.pid, SIGKILL);
        }
        log_warn("cluster: killed " + std::to_string(left->size()) +
                 " workers that did not stop in time");
      }
      clients.give_back(std::move(*local));
    }
  }
  for (auto& t : threads) t.join();
}
Result<std::int64_t> Node::Impl::claim(etcd::Client& etcd, const std::string& id,
                                       const std::string* spec_text, bool only_new,
                                       bool* spec_existed) {
  std::int64_t lease_now = 0;
  {
    std::lock_guard lock(m);
    if (mode != Mode::kServing || lease == 0) {
      return make_error(Errc::kFailed, "this node holds no lease (etcd is unreachable)");
    }
    lease_now = lease;
  }
  const std::string owner_key = layout.owner_key(id);
  const std::string spec_key = layout.spec_key(id);
  std::vector<etcd::Compare> cmp{etcd::Compare::absent(owner_key)};
  if (only_new) cmp.push_back(etcd::Compare::absent(spec_key));
  if (spec_text == nullptr) {
    // A claim of an existing id: only while its spec is there.
    cmp.push_back(etcd::Compare::created(spec_key, 0, etcd::Compare::Result::kGreater));
  }
  std::vector<etcd::Op> ok{etcd::Op::put(owner_key, opt.node, lease_now)};
  if (spec_text != nullptr) ok.push_back(etcd::Op::put(spec_key, *spec_text));
  auto r = etcd.txn(cmp, ok, {etcd::Op::get(owner_key), etcd::Op::get(spec_key)});
  if (!r) return r.error();
  if (r->succeeded) return r->revision;
  if (spec_existed != nullptr) *spec_existed = !r->ranges[1].empty();
  // An earlier try of this very claim may have been applied (it timed out).
  if (!r->ranges[0].empty()) {
    const auto& kv = r->ranges[0].front();
    if (kv.value == opt.node && kv.lease == lease_now && !only_new) return kv.mod_revision;
  }
  return std::int64_t{0};
}

bool Node::Impl::checkpoint(etcd::Client& etcd, Client& local,
                            const std::vector<std::string>& ids) {
  struct Item {
    std::string id;
    std::int64_t token;
    std::string text;
    std::string payload;
  };
  std::vector<Item> items;
  for (const auto& id : ids) {
    auto w = local.get(id);
    if (!w) continue;
    std::lock_guard lock(m);
    const auto token = mine.find(id);
    const auto spec = specs.find(id);
    if (token == mine.end() || spec == specs.end()) continue;
    const auto last = written.find(id);
    if (last != written.end() && last->second == w->payload) continue;
    items.push_back({id, token->second, spec_with_payload(spec->second, w->payload), w->payload});
  }
  bool all_ok = true;
  const auto write = [&](std::size_t from, std::size_t to) -> Result<bool> {
    std::vector<etcd::Compare> cmp;
    std::vector<etcd::Op> ops;
    for (std::size_t i = from; i < to; ++i) {
      cmp.push_back(etcd::Compare::modified(layout.owner_key(items[i].id), items[i].token));
      ops.push_back(etcd::Op::put(layout.spec_key(items[i].id), items[i].text));
    }
    auto r = etcd.txn(cmp, ops);
    if (!r) return r.error();
    if (r->succeeded) {
      std::lock_guard lock(m);
      for (std::size_t i = from; i < to; ++i) written[items[i].id] = items[i].payload;
    }
    return r->succeeded;
  };
  constexpr std::size_t kBatch = 50;
  for (std::size_t from = 0; from < items.size(); from += kBatch) {
    const std::size_t to = std::min(items.size(), from + kBatch);
    auto r = write(from, to);
    if (!r) {
      log_warn("cluster: checkpoint not written: " + r.error().message);
      return false;
    }
    if (*r) continue;
    // Some fence failed: one at a time, to find which.
    for (std::size_t i = from; i < to; ++i) {
      auto one = write(i, i + 1);
      if (!one || *one) continue;
      all_ok = false;
      log_warn("cluster: checkpoint of '" + items[i].id +
               "' refused by the fence: the id is no longer this node's");
      std::lock_guard lock(m);
      mine.erase(items[i].id);
      ++fenced_checkpoints;
    }
  }
  return all_ok;
}

void Node::Impl::lease_loop() {
  auto etcd = make_etcd();
  const auto ttl = std::chrono::duration_cast<Millis>(opt.ttl);
  const Millis renew_every = ttl / 4;
  const Millis decide_after = ttl * 2 / 5;
  Clock::time_point next_renew{};
  Clock::time_point next_try{};
  Clock::time_point next_peers{};
  Clock::time_point next_register{};
  std::int64_t stale_lease = 0;  // a lease given up while cut off: revoked once etcd is back
  if (!local_client(Millis(1000))) return;
  // The other nodes, read here too: the reconcile thread may be slow (an etcd
  // election), and the verdict when etcd cannot be reached asks them.
  const auto read_peers = [&] {
    const auto prefix = layout.nodes_prefix();
    auto r = etcd.range(prefix, {etcd::prefix_end(prefix)});
    if (!r) return;
    std::map<std::string, std::string> found;
    for (const auto& kv : r->kvs) {
      auto name = Layout::name_after(kv.key, prefix);
      if (!name) continue;
      if (auto rec = NodeRecord::from_json(*name, kv.value)) found[*name] = rec->advertise;
    }
    std::lock_guard lock(m);
    advertise = std::move(found);
  };
  while (true) {
    const auto now = Clock::now();
    std::int64_t held = 0;
    Mode mode_now;
    {
      std::unique_lock lock(m);
      if (stopping) return;
      held = lease;
      mode_now = mode;
    }
    if (held == 0 && now >= next_try) {
      next_try = now + Millis(200);
      if (stale_lease != 0 && etcd.revoke(stale_lease)) stale_lease = 0;
      std::int64_t id = read_lease_file(opt.lease_file);
      bool etcd_answered = false;
      if (id != 0) {
        auto t = etcd.keepalive(id);
        etcd_answered = static_cast<bool>(t);
        if (!t || *t <= 0) id = 0;
        if (id != 0) log_info("cluster: kept the lease of the previous supervisor");
      }
      if (id == 0) {
        auto g = etcd.grant(opt.ttl.count());
        etcd_answered = etcd_answered || static_cast<bool>(g);
        if (g) {
          id = *g;
          write_lease_file(opt.lease_file, id);
        } else if (mode_now == Mode::kJoining) {
          log_debug("cluster: no lease yet: " + g.error().message);
        }
      }
      if (id != 0) {
        NodeRecord rec{opt.node, opt.advertise.text(), opt.capacity, 0};
        if (auto p = etcd.put(layout.node_key(opt.node), rec.to_json(), id); p) {
          {
            std::lock_guard lock(m);
            lease = id;
            etcd_ok = now;
            mode = Mode::kServing;
          }
          held = id;
          next_renew = now + renew_every;
          next_register = now + Millis(5000);
          read_peers();
          log_info("cluster: node '" + opt.node + "' of cluster '" + opt.cluster +
                   "' registered, lease " + std::to_string(id) + " (TTL " +
                   std::to_string(opt.ttl.count()) + " s), gateway at " + opt.advertise.text());
          wake.notify_all();
        }
      }
    } else if (held != 0 && now >= next_renew) {
      auto t = etcd.keepalive(held);
      if (t && *t > 0) {
        bool back = false;
        {
          std::lock_guard lock(m);
          etcd_ok = now;
          back = mode != Mode::kServing;
          mode = Mode::kServing;
        }
        if (back) log_info("cluster: etcd is reachable again; serving");
        next_renew = now + renew_every;
        read_peers();
        if (now >= next_register) {
          std::uint64_t load = 0;
          {
            std::lock_guard lock(m);
            load = mine.size();
          }
          NodeRecord rec{opt.node, opt.advertise.text(), opt.capacity, load};
          (void)etcd.put(layout.node_key(opt.node), rec.to_json(), held);
          next_register = now + Millis(5000);
        }
      } else if (t) {
        // Expired: other nodes may own our ids already.
        {
          std::lock_guard lock(m);
          mode = Mode::kFenced;
          lease = 0;
          mine.clear();
        }
        stop_local_workers("the lease expired");
        if (!opt.lease_file.empty()) ::unlink(opt.lease_file.c_str());
        continue;
      } else {
        next_renew = now + Millis(200);
      }
    }
    // Not renewed for a while: cut off, or etcd down for everyone?
    Clock::time_point ok_at;
    {
      std::lock_guard lock(m);
      ok_at = etcd_ok;
      mode_now = mode;
      held = lease;
    }
    if (held != 0 && (mode_now == Mode::kServing || mode_now == Mode::kOutage) &&
        now - ok_at > decide_after && now >= next_peers) {
      next_peers = now + Millis(500);
      std::map<std::string, std::string> peers;
      {
        std::lock_guard lock(m);
        peers = advertise;
      }
      int answered = 0;
      int reach = 0;
      for (const auto& [name, address] : peers) {
        if (name == opt.node) continue;
        auto e = parse_http_endpoint(address);
        if (!e) continue;
        GatewayClient g(*e, opt.token, etcd_timeout() * 2);
        auto r = g.post("health", json::object{{"probe", true}});
        if (!r || !r->is_object()) {
          log_warn("cluster: node '" + name + "' did not say whether it reaches etcd: " +
                   (r ? std::string("not an object") : r.error().message));
          continue;
        }
        ++answered;
        if (auto b = get_bool(r->as_object(), "etcd"); b && *b) ++reach;
      }
      if (reach > 0) {
        // Another node reaches etcd: so may this one, now (etcd just came
        // back). One more renewal before concluding it is cut off.
        const auto again = Clock::now();
        if (auto t = etcd.keepalive(held); t && *t > 0) {
          {
            std::lock_guard lock(m);
            etcd_ok = again;
            mode = Mode::kServing;
          }
          log_info("cluster: etcd is reachable again; serving");
          next_renew = again + renew_every;
          continue;
        }
      }
      if (reach > 0 || answered == 0) {
        {
          std::lock_guard lock(m);
          mode = Mode::kFenced;
          stale_lease = lease;
          lease = 0;
          mine.clear();
        }
        stop_local_workers(reach > 0 ? "cut off from etcd while other nodes reach it"
                                     : "cut off from etcd and from every other node (" +
                                           std::to_string(peers.size()) + " known)");
        continue;
      }
      if (mode_now != Mode::kOutage) {
        std::lock_guard lock(m);
        mode = Mode::kOutage;
        log_warn("cluster: etcd is unreachable from every node (" + std::to_string(answered) +
                 " answered): serving the current ids, refusing ownership changes");
      }
    }
    std::unique_lock lock(m);
    wake.wait_for(lock, Millis(50), [this] { return stopping; });
  }
}

void Node::Impl::reconcile_loop() {
  auto etcd = make_etcd();
  auto local = local_client(Millis(10'000));
  if (!local) return;
  std::map<std::string, Clock::time_point> unowned_since;
  Clock::time_point next_checkpoint = Clock::now() + opt.checkpoint_interval;
  while (true) {
    {
      std::unique_lock lock(m);
      wake.wait_for(lock, Millis(250), [this] { return stopping; });
      if (stopping) return;
      if (mode != Mode::kServing) continue;
    }
    if (local->header().manager_state != ManagerState::kUp) continue;
    const auto nodes_prefix = layout.nodes_prefix();
    const auto owners_prefix = layout.owners_prefix();
    const auto specs_prefix = layout.specs_prefix();
    auto nodes = etcd.range(nodes_prefix, {etcd::prefix_end(nodes_prefix)});
    if (!nodes) continue;
    auto owners = etcd.range(owners_prefix, {etcd::prefix_end(owners_prefix)});
    if (!owners) continue;
    auto specs_r = etcd.range(specs_prefix, {etcd::prefix_end(specs_prefix)});
    if (!specs_r) continue;
    auto workers = local->state();
    if (!workers) continue;

    View v;
    v.me = opt.node;
    v.now = Clock::now();
    v.rebalance = opt.rebalance;
    std::map<std::string, std::string> advertise_now;
    for (const auto& kv : nodes->kvs) {
      auto name = Layout::name_after(kv.key, nodes_prefix);
      if (!name) continue;
      auto rec = NodeRecord::from_json(*name, kv.value);
      if (!rec) continue;
      v.live.push_back(*name);
      advertise_now[*name] = rec->advertise;
    }
    std::map<std::string, std::int64_t> owner_rev;
    for (const auto& kv : owners->kvs) {
      if (auto id = Layout::name_after(kv.key, owners_prefix)) {
        v.owners[*id] = kv.value;
        owner_rev[*id] = kv.mod_revision;
      }
    }
    std::map<std::string, json::object> specs_now;
    for (const auto& kv : specs_r->kvs) {
      auto id = Layout::name_after(kv.key, specs_prefix);
      if (!id) continue;
      auto p = parse_json(kv.value, "spec");
      if (!p || !p->is_object()) continue;
      v.specs.insert(*id);
      specs_now[*id] = std::move(p->as_object());
    }
    for (const auto& w : *workers) v.local.insert(w.id);
    std::set<std::string> busy_now;
    {
      std::lock_guard lock(m);
      if (mode != Mode::kServing) continue;
      // Our own keys (a predecessor's lease we kept, or a claim we made) are
      // ours; a claim another owner shows, or one gone since we read the
      // owners after it was made, is not.
      for (const auto& [id, owner] : v.owners) {
        if (owner == opt.node && mine.count(id) == 0 && busy.count(id) == 0) {
          mine[id] = owner_rev[id];
        }
      }
      for (auto it = mine.begin(); it != mine.end();) {
        const auto o = v.owners.find(it->first);
        const bool other = o != v.owners.end() && o->second != opt.node;
        const bool gone = o == v.owners.end() && it->second <= owners->revision;
        if ((other || gone) && busy.count(it->first) == 0) {
          log_info("cluster: '" + it->first + "' is no longer this node's");
          written.erase(it->first);
          it = mine.erase(it);
        } else {
          ++it;
        }
      }
      for (const auto& [id, _] : mine) v.mine.insert(id);
      busy_now = busy;
      advertise = advertise_now;
      owners_cache = v.owners;
      for (auto& [id, s] : specs_now) specs[id] = s;
      for (auto it = specs.begin(); it != specs.end();) {
        it = specs_now.count(it->first) == 0 && mine.count(it->first) == 0 ? specs.erase(it)
                                                                            : std::next(it);
      }
    }
    for (const auto& id : v.specs) {
      if (v.owners.count(id) == 0) unowned_since.emplace(id, v.now);
      else unowned_since.erase(id);
    }
    for (auto it = unowned_since.begin(); it != unowned_since.end();) {
      it = v.specs.count(it->first) == 0 ? unowned_since.erase(it) : std::next(it);
    }
    v.unowned_since = unowned_since;
    // Ids a gateway thread is putting or deleting right now are its own.
    for (const auto& id : busy_now) {
      v.local.erase(id);
      v.mine.erase(id);
      v.specs.erase(id);
    }
    Plan p = plan(v);

    std::vector<std::string> start = p.start;
    for (const auto& id : p.claim) {
      auto token = claim(etcd, id, nullptr, false, nullptr);
      if (!token || *token == 0) continue;
      {
        std::lock_guard lock(m);
        mine[id] = *token;
        const auto s = specs.find(id);
        if (s != specs.end()) {
          if (const auto* pl = s->second.if_contains("payload")) written[id] = to_json(*pl);
        }
      }
      log_info("cluster: claimed '" + id + "'");
      if (v.local.count(id) == 0) start.push_back(id);
    }
    if (!start.empty()) {
      std::vector<Client::PutItem> items;
      for (const auto& id : start) {
        json::object spec;
        {
          std::lock_guard lock(m);
          const auto s = specs.find(id);
          if (s == specs.end()) continue;
          spec = s->second;
        }
        auto parsed = ChildSpec::from_json(spec);
        if (!parsed) {
          log_error("cluster: the stored spec of '" + id + "' is refused: " +
                    parsed.error().message);
          continue;
        }
        items.push_back({id, std::move(*parsed)});
      }
      auto results = local->put_many(items);
      for (std::size_t i = 0; i < results.size(); ++i) {
        if (!results[i]) {
          log_warn("cluster: starting '" + items[i].id + "': " + results[i].error().message);
        }
      }
    }
    for (const auto& id : p.stop) {
      log_info("cluster: stopping '" + id + "': owned elsewhere or deleted");
      (void)local->del(id);
    }
    for (const auto& id : p.hand_over) {
      (void)checkpoint(etcd, *local, {id});
      std::int64_t token = 0;
      {
        std::lock_guard lock(m);
        const auto t = mine.find(id);
        if (t == mine.end()) continue;
        token = t->second;
      }
      auto r = etcd.txn({etcd::Compare::modified(layout.owner_key(id), token)},
                        {etcd::Op::del(layout.owner_key(id))});
      if (!r || !r->succeeded) continue;
      {
        std::lock_guard lock(m);
        mine.erase(id);
        written.erase(id);
      }
      (void)local->del(id);
      log_info("cluster: handed '" + id + "' over to a better placed node");
    }
    if (Clock::now() >= next_checkpoint) {
      next_checkpoint = Clock::now() + opt.checkpoint_interval;
      std::vector<std::string> ids;
      {
        std::lock_guard lock(m);
        for (const auto& [id, _] : mine) {
          if (busy.count(id) == 0) ids.push_back(id);
        }
      }
      (void)checkpoint(etcd, *local, ids);
    }
  }
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { stop(false); }

void Node::stop(bool release) {
  if (!impl_) return;
  Impl& s = *impl_;
  std::int64_t lease = 0;
  {
    std::lock_guard lock(s.m);
    if (s.stopping) return;
    s.stopping = true;
    lease = s.lease;
  }
  s.wake.notify_all();
  if (s.listen_fd >= 0) ::shutdown(s.listen_fd, SHUT_RDWR);
  {
    std::lock_guard lock(s.conn_m);
    for (const int fd : s.conn_fds) ::shutdown(fd, SHUT_RDWR);
  }
  if (s.accept_thread.joinable()) s.accept_thread.join();
  if (s.lease_thread.joinable()) s.lease_thread.join();
  if (s.reconcile_thread.joinable()) s.reconcile_thread.join();
  for (int i = 0; i < 500 && s.connections.load() > 0; ++i) {
    std::unique_lock lock(s.m);
    s.wake.wait_for(lock, Millis(10));
  }
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  s.listen_fd = -1;
  if (release && lease != 0) {
    auto etcd = s.make_etcd();
    if (auto st = etcd.revoke(lease); st) {
      log_info("cluster: lease revoked: the other nodes take the ids over");
      if (!s.opt.lease_file.empty()) ::unlink(s.opt.lease_file.c_str());
    } else {
      log_warn("cluster: lease not revoked (" + st.error().message +
               "): the ids move when it expires");
    }
  }
}

}  // namespace dynmgr::cluster
