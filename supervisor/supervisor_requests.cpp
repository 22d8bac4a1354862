// The supervisor loop: what clients ask (put, put-new, del, get, restart, stop,
// ping) and reports that a queue is dead. Each request is checked here and
// then becomes an event for a worker's life cycle or for the manager's phase.

#include <unistd.h>

#include <set>
#include <string_view>

#include "shared/log.hpp"
#include "supervisor/supervisor_loop.hpp"

namespace dynmgr {
namespace {

namespace lc = lifecycle;
namespace mp = manager_phase;

const char* kind_name(MessageKind k) {
  switch (k) {
    case MessageKind::kPing:
      return "ping";
    case MessageKind::kPut:
      return "put";
    case MessageKind::kDel:
      return "del";
    case MessageKind::kGet:
      return "get";
    case MessageKind::kRestart:
      return "restart";
    case MessageKind::kStop:
      return "stop";
    case MessageKind::kReexec:
      return "reexec";
    case MessageKind::kRestartWorker:
      return "restart";
    case MessageKind::kReload:
      return "reload";
    case MessageKind::kActivate:
      return "activate";
    case MessageKind::kPutMany:
      return "import";
    default:
      return "control";
  }
}

}  // namespace

void Supervisor::Loop::dispatch(const Frame& f) {
  switch (f.kind) {
    case MessageKind::kWake:
      return handle_wake();
    case MessageKind::kPing:
    case MessageKind::kPut:
    case MessageKind::kDel:
    case MessageKind::kGet:
    case MessageKind::kRestart:
    case MessageKind::kStop:
    case MessageKind::kReexec:
    case MessageKind::kRestartWorker:
    case MessageKind::kReload:
    case MessageKind::kActivate:
      return handle_request(f);
    case MessageKind::kPutMany:
      return handle_put_many(f);
    case MessageKind::kWorkerReady:
    case MessageKind::kWorkerUpdate:
    case MessageKind::kWorkerReplaceId:
    case MessageKind::kWorkerHalt:
    case MessageKind::kWorkerCommitReply:
    case MessageKind::kWorkerFailing:
    case MessageKind::kWorkerIdle:
    case MessageKind::kWorkerCommandExited:
      return handle_worker(f);
    case MessageKind::kQueueDead:
      return handle_queue_dead(f);
    default:
      log_warn("dropped a control message of unknown kind " +
               std::to_string(static_cast<int>(f.kind)));
  }
}

void Supervisor::Loop::handle_request(const Frame& f) {
  auto req = protocol::parse_control_request(f);
  if (!req) {
    log_warn("dropped a malformed request: " + req.error().message);
    return;
  }
  const Waiter w{req->reply_to, f.request_id};
  if (req->deadline_mono_ms != 0 && mono_ms() >= req->deadline_mono_ms) {
    // Its client has given up and reported a timeout: carrying it out now
    // would make "a failed command changes nothing" false, and under
    // overload it would spend the loop on work nobody waits for.
    log_warn("dropped a " + std::string(kind_name(f.kind)) + " request whose client gave up " +
             std::to_string(mono_ms() - req->deadline_mono_ms) + " ms ago");
    return;
  }
  switch (f.kind) {
    case MessageKind::kPing: {
      json::object o;
      o["pid"] = ::getpid();
      o["manager"] = std::string(to_string(state_));
      return reply(w, protocol::reply_ok(w.request_id, o));
    }
    case MessageKind::kPut:
      return handle_put(w, *req);
    case MessageKind::kDel: {
      Entry* e = fleet_.find_id(req->id);
      if (e == nullptr) return reply_error(w, Errc::kNotFound, "no such worker '" + req->id + "'");
      lc::Event ev(lc::EventKind::kStopRequested);
      ev.cause = lc::StopCause::kDelete;
      ev.waiter = w;
      return feed(e->rec.slot, e->rec.incarnation, std::move(ev));
    }
    case MessageKind::kGet: {
      Entry* e = fleet_.find_id(req->id);
      if (e == nullptr) return reply_error(w, Errc::kNotFound, "no such worker '" + req->id + "'");
      return reply(w, protocol::reply_ok(w.request_id, protocol::record_to_json(e->rec)));
    }
    case MessageKind::kRestart:
      return feed_manager(mp::Event(mp::EventKind::kRestartRequested, w));
    case MessageKind::kStop:
      return feed_manager(mp::Event(mp::EventKind::kShutdownRequested, w));
    case MessageKind::kReexec:
      return reexec(w);
    case MessageKind::kRestartWorker:
      return handle_restart_worker(w, *req);
    case MessageKind::kReload:
      return handle_reload(w, *req);
    case MessageKind::kActivate:
      return handle_activate(w, *req);
    default:
      return;
  }
}

void Supervisor::Loop::handle_put(const Waiter& w, const protocol::ControlRequest& req) {
  if (phase_.phase == mp::Phase::kStopping || phase_.phase == mp::Phase::kDown) {
    return reply_error(w, Errc::kFailed, "the supervisor is stopping");
  }
  if (auto st = validate_id(req.id); !st)
    return reply_error(w, st.error().code, st.error().message);
  auto spec = ChildSpec::from_json(req.spec);
  if (!spec) return reply_error(w, spec.error().code, spec.error().message);
  if (auto st = m_.check_spec(req.id, *spec); !st)
    return reply_error(w, st.error().code, st.error().message);
  if (auto who = check_run_as(*spec); !who)
    return reply_error(w, who.error().code, who.error().message);
  const std::size_t size = to_json(spec->payload).size();
  if (size > opt_.registry.max_payload) {
    return reply_error(w, Errc::kTooLarge,
                       "payload of " + std::to_string(size) + " bytes exceeds the limit of " +
                           std::to_string(opt_.registry.max_payload) + " bytes");
  }
  if (Entry* e = fleet_.find_id(req.id)) {
    if (req.only_new)
      return reply_error(w, Errc::kExists, "worker '" + req.id + "' already exists");
    FleetEvent put;
    put.type = EventType::kPut;
    put.id = req.id;
    put.detail = "over";
    emit(std::move(put));
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = lc::StopCause::kReplace;
    ev.waiter = w;
    ev.replacement = lc::Replacement{req.id, std::move(*spec)};
    ev.replacement->passive = req.passive;
    return feed(e->rec.slot, e->rec.incarnation, std::move(ev));
  }
  auto r = start_new(req.id, std::move(*spec), /*boot=*/false, /*pool_member=*/false, w, nullptr,
                     {}, req.passive);
  if (!r) reply_error(w, r.error().code, r.error().message);
}

// A caller found the worker passive and is about to send to it (README
// "Passivation"). The reply comes once a process and its mailbox exist; many
// callers at once start one process (the machine starts only from passive).
void Supervisor::Loop::handle_activate(const Waiter& w, const protocol::ControlRequest& req) {
  if (phase_.phase == mp::Phase::kStopping || phase_.phase == mp::Phase::kDown) {
    return reply_error(w, Errc::kFailed, "the supervisor is stopping");
  }
  Entry* e = fleet_.find_id(req.id);
  if (e == nullptr) return reply_error(w, Errc::kNotFound, "no such worker '" + req.id + "'");
  lc::Event ev(lc::EventKind::kActivate);
  ev.waiter = w;
  feed(e->rec.slot, e->rec.incarnation, std::move(ev));
}

// import: each item goes through handle_put exactly as a put of its own
// would, with a waiter that names the batch; reply() hands every answer
// meant for such a waiter to collect(), and the last one sends the batch's
// one reply. A bad item is answered at once and never stops the others.
void Supervisor::Loop::handle_put_many(const Frame& f) {
  auto req = protocol::parse_put_many(f);
  if (!req) {
    log_warn("dropped a malformed import request: " + req.error().message);
    return;
  }
  const std::uint64_t now = mono_ms();
  if (req->deadline_mono_ms != 0 && now >= req->deadline_mono_ms) {
    log_warn("dropped an import request whose client gave up " +
             std::to_string(now - req->deadline_mono_ms) + " ms ago");
    return;
  }
  // Batches whose clients gave up (a worker still starting long after):
  // nobody reads their reply.
  std::erase_if(batches_, [now](const auto& kv) {
    return kv.second.deadline_mono_ms != 0 && now >= kv.second.deadline_mono_ms;
  });
  const Waiter client{req->reply_to, f.request_id};
  if (req->items.empty()) {
    json::object o;
    o["items"] = json::array();
    return reply(client, protocol::reply_ok(client.request_id, o));
  }
  const std::uint64_t batch = ++batch_counter_;
  Batch& b = batches_[batch];
  b.client = client;
  b.deadline_mono_ms = req->deadline_mono_ms;
  b.bodies.resize(req->items.size());
  b.pending = req->items.size();
  std::set<std::string_view> seen;
  for (std::uint32_t i = 0; i < req->items.size(); ++i) {
    const protocol::PutManyItem& item = req->items[i];
    const Waiter w{req->reply_to, f.request_id, batch, i};
    if (!seen.insert(item.id).second) {
      reply_error(w, Errc::kInvalid, "id '" + item.id + "' appears more than once in the batch");
      continue;
    }
    protocol::ControlRequest put;
    put.kind = MessageKind::kPut;
    put.reply_to = req->reply_to;
    put.id = item.id;
    put.spec = item.spec;
    put.only_new = req->only_new;
    put.passive = req->passive;  // registered, not started (README "Passivation")
    handle_put(w, put);
  }
}

void Supervisor::Loop::collect(const Waiter& w, std::string body) {
  auto it = batches_.find(w.batch);
  if (it == batches_.end() || w.item >= it->second.bodies.size()) return;  // given up
  Batch& b = it->second;
  if (!b.bodies[w.item].empty()) return;  // answered already
  b.bodies[w.item] = std::move(body);
  if (--b.pending == 0) answer_batch(w.batch);
}

void Supervisor::Loop::answer_batch(std::uint64_t batch) {
  auto it = batches_.find(batch);
  if (it == batches_.end()) return;
  const Batch b = std::move(it->second);
  batches_.erase(it);
  // The items are whole put replies already: spliced, not parsed again.
  const std::size_t room = opt_.registry.control_msg_size() - kFrameHeaderSize;
  auto assemble = [&b](const std::vector<std::string>& bodies) {
    std::string text = R"({"ok":true,"result":{"items":[)";
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      if (i != 0) text += ',';
      text += bodies[i];
    }
    text += "]}}";
    return text;
  };
  std::string text = assemble(b.bodies);
  if (text.size() > room) {
    // Full records do not fit: the short ones the client budgeted for.
    std::vector<std::string> short_bodies;
    short_bodies.reserve(b.bodies.size());
    for (const auto& body : b.bodies) {
      auto v = parse_json(body, "reply");
      json::object* o = v ? v->if_object() : nullptr;
      if (o == nullptr) {
        short_bodies.push_back(R"({"ok":false,"error":{"code":"failed","message":"lost"}})");
        continue;
      }
      if (json::value* r = o->if_contains("result"); r != nullptr && r->is_object()) {
        json::object rec;
        for (const char* k : {"id", "slot", "status", "pid"}) {
          if (const json::value* f = r->get_object().if_contains(k)) rec[k] = *f;
        }
        *r = std::move(rec);
      }
      if (json::value* e = o->if_contains("error"); e != nullptr && e->is_object()) {
        if (json::value* m = e->get_object().if_contains("message"); m != nullptr && m->is_string()) {
          if (m->get_string().size() > protocol::kPutManyMessageLimit) {
            std::string cut(m->get_string().subview(0, protocol::kPutManyMessageLimit - 3));
            *m = cut + "...";
          }
        }
      }
      short_bodies.push_back(to_json(*o));
    }
    text = assemble(short_bodies);
  }
  if (text.size() > room) {
    log_warn("unable to answer an import of " + std::to_string(b.bodies.size()) +
             " items: its reply of " + std::to_string(text.size()) +
             " bytes exceeds the queue's message size");
    return reply_error(b.client, Errc::kTooLarge,
                       "the batch's reply of " + std::to_string(text.size()) +
                           " bytes exceeds the control queue's message size of " +
                           std::to_string(room) + " bytes: send fewer items at once");
  }
  reply(b.client, Frame{MessageKind::kReply, b.client.request_id, std::move(text)});
}

// restart ID: a put over the id with its own spec and last committed payload,
// marked as a restart so the machine keeps its count and last exit.
void Supervisor::Loop::handle_restart_worker(const Waiter& w, const protocol::ControlRequest& req) {
  if (phase_.phase == mp::Phase::kStopping || phase_.phase == mp::Phase::kDown) {
    return reply_error(w, Errc::kFailed, "the supervisor is stopping");
  }
  if (auto st = validate_id(req.id); !st)
    return reply_error(w, st.error().code, st.error().message);
  Entry* e = fleet_.find_id(req.id);
  if (e == nullptr) return reply_error(w, Errc::kNotFound, "no such worker '" + req.id + "'");
  FleetEvent put;
  put.type = EventType::kPut;
  put.id = req.id;
  put.detail = "restart";
  emit(std::move(put));
  lc::Event ev(lc::EventKind::kStopRequested);
  ev.cause = lc::StopCause::kReplace;
  ev.waiter = w;
  ev.replacement = lc::Replacement{req.id, e->spec, /*restart=*/true};
  feed(e->rec.slot, e->rec.incarnation, std::move(ev));
}

// reload [FILE]: the manager's children now, against those last applied. Every
// spec is checked before anything changes, so a bad file changes nothing;
// then a child that is gone is deleted, a new one started, a changed one put
// over (stopped, then started with its new spec and payload), and one whose
// entry did not change is left alone, whatever its payload has become. Ids put
// by hand and pool members are never touched unless the new children name
// them. The reply lists the ids of each kind and comes once the changes are
// under way, not done.
void Supervisor::Loop::handle_reload(const Waiter& w, const protocol::ControlRequest& req) {
  if (phase_.phase != mp::Phase::kUp) {
    return reply_error(w, Errc::kFailed,
                       "the manager is " + std::string(to_string(state_)) + ", not up: try again when it is");
  }
  auto loaded = m_.reload_children(req.file);
  if (!loaded) return reply_error(w, loaded.error().code, loaded.error().message);
  std::map<std::string, ChildSpec>& next = *loaded;
  const std::optional<PoolSpec> pool = m_.pool();
  std::size_t starts = 0;
  for (auto& [id, spec] : next) {
    if (auto st = validate_id(id); !st) return reply_error(w, st.error().code, st.error().message);
    if (pool && id.rfind(pool->id_prefix, 0) == 0) {
      return reply_error(w, Errc::kInvalid, "'" + id + "' is named like a member of the pool ('" +
                                                pool->id_prefix + "N')");
    }
    if (auto st = m_.check_spec(id, spec); !st)
      return reply_error(w, st.error().code, "'" + id + "': " + st.error().message);
    if (auto who = check_run_as(spec); !who)
      return reply_error(w, who.error().code, "'" + id + "': " + who.error().message);
    const std::size_t size = to_json(spec.payload).size();
    if (size > opt_.registry.max_payload) {
      return reply_error(w, Errc::kTooLarge,
                         "'" + id + "': payload of " + std::to_string(size) +
                             " bytes exceeds the limit of " + std::to_string(opt_.registry.max_payload) +
                             " bytes");
    }
    if (!fleet_.slot_of(id)) ++starts;
  }
  if (fleet_.size() + starts > opt_.registry.capacity) {
    return reply_error(w, Errc::kFull,
                       "reload would start " + std::to_string(starts) + " worker(s) and only " +
                           std::to_string(opt_.registry.capacity - fleet_.size()) +
                           " slot(s) are free (--max-workers " +
                           std::to_string(opt_.registry.capacity) + ")");
  }

  json::array added, replaced, removed, unchanged;
  for (const auto& [id, old] : children_) {
    if (next.count(id) != 0) continue;
    Entry* e = fleet_.find_id(id);
    if (e == nullptr) continue;  // already deleted by hand
    removed.emplace_back(id);
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = lc::StopCause::kDelete;
    feed(e->rec.slot, e->rec.incarnation, std::move(ev));
  }
  for (auto& [id, spec] : next) {
    Entry* e = fleet_.find_id(id);
    if (e == nullptr) {
      auto r = start_new(id, spec, /*boot=*/false, /*pool_member=*/false, std::nullopt, nullptr,
                         "reload");
      if (!r) {
        // Checked above; a failure here is the system's (no shared memory).
        log_error("unable to start '" + id + "' for reload: " + r.error().message);
        continue;
      }
      added.emplace_back(id);
      continue;
    }
    // Changed: against the entry last applied, or for an id the children did
    // not name before, against the worker's own spec (its payload aside).
    const auto prev = children_.find(id);
    bool same;
    if (prev != children_.end()) {
      same = prev->second.to_json() == spec.to_json();
    } else {
      ChildSpec mine = e->spec;
      mine.payload = spec.payload;
      same = mine.to_json() == spec.to_json();
    }
    if (same) {
      unchanged.emplace_back(id);
      continue;
    }
    replaced.emplace_back(id);
    FleetEvent put;
    put.type = EventType::kPut;
    put.id = id;
    put.detail = "reload";
    emit(std::move(put));
    lc::Event ev(lc::EventKind::kStopRequested);
    ev.cause = lc::StopCause::kReplace;
    ev.replacement = lc::Replacement{id, spec};
    feed(e->rec.slot, e->rec.incarnation, std::move(ev));
  }
  log_info("reload" + (req.file.empty() ? std::string() : " of " + req.file) + ": " +
           std::to_string(added.size()) + " added, " + std::to_string(replaced.size()) +
           " replaced, " + std::to_string(removed.size()) + " removed, " +
           std::to_string(unchanged.size()) + " unchanged");
  children_ = std::move(next);
  json::object o;
  o["added"] = std::move(added);
  o["replaced"] = std::move(replaced);
  o["removed"] = std::move(removed);
  o["unchanged"] = std::move(unchanged);
  reply(w, protocol::reply_ok(w.request_id, o));
}

void Supervisor::Loop::handle_queue_dead(const Frame& f) {
  auto qd = protocol::parse_queue_dead(f);
  if (!qd || qd->queue != "mailbox") return;
  Entry* e = fleet_.find(qd->slot);
  if (e == nullptr || e->rec.mailbox_generation != qd->generation) return;  // already replaced
  if (!e->mailbox_live) return;  // passive: released on purpose, made again at its start
  // Confirm before replacing: messages still in a live mailbox must not be lost
  // on the word of a confused peer. A dead queue cannot be read safely, so
  // whatever it held is lost with it.
  const std::string old_name = names_.mailbox(qd->slot, qd->generation);
  if (auto q = Queue::open(old_name); q && q->depth() == opt_.registry.mailbox_depth &&
                                      q->max_msg_size() == opt_.registry.mailbox_msg_size() &&
                                      q->probe()) {
    return;
  }
  const std::uint64_t next = ++mailbox_counter_;
  auto created = create_mailbox(*e, next);
  if (!created) {
    log_error("unable to recreate the mailbox of '" + e->id + "': " + created.error().message);
    return;
  }
  e->rec.mailbox_generation = next;
  log_warn("mailbox of worker '" + e->id + "' was dead; recreated as generation " +
           std::to_string(next));
  publish(*e);
  // Wake whoever still waits on the old one (the worker, idle until its next
  // event otherwise): it finds the queue dead and the new generation published.
  outbox_.forget(old_name);
  Queue::ring(old_name);
  Queue::remove(old_name);
}

}  // namespace dynmgr
