#include "shared/protocol.hpp"

#include <boost/json/parse.hpp>

namespace dynmgr::protocol {
namespace {

Result<json::object> body_object(const Frame& f) {
  auto v = parse_json(f.body, "message body");
  if (!v) return v.error();
  if (!v->is_object()) return make_error(Errc::kInvalid, "message body is not an object");
  return std::move(v->get_object());
}

Frame make(MessageKind kind, std::uint64_t request_id, const json::object& o) {
  return Frame{kind, request_id, to_json(o)};
}

json::value parse_or_string(const std::string& text, const json::storage_ptr& sp = {}) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, sp);
  if (ec) return json::value(json::string(text, sp));  // never fails a display: show the raw text
  return v;
}

}  // namespace

Frame reply_ok(std::uint64_t request_id, const json::value& result) {
  json::object o;
  o["ok"] = true;
  o["result"] = result;
  return make(MessageKind::kReply, request_id, o);
}

Frame reply_error(std::uint64_t request_id, const Error& error) {
  json::object o;
  o["ok"] = false;
  json::object e;
  e["code"] = std::string(errc_name(error.code));
  e["message"] = error.message;
  o["error"] = std::move(e);
  return make(MessageKind::kReply, request_id, o);
}

Errc errc_from_name(std::string_view name) {
  for (int i = static_cast<int>(Errc::kFailed); i <= static_cast<int>(Errc::kSystem); ++i) {
    if (errc_name(static_cast<Errc>(i)) == name) return static_cast<Errc>(i);
  }
  return Errc::kFailed;
}

Result<json::value> parse_reply(const Frame& frame) {
  if (frame.kind != MessageKind::kReply) return make_error(Errc::kFailed, "unexpected message kind");
  auto o = body_object(frame);
  if (!o) return o.error();
  if (get_bool(*o, "ok").value_or(false)) {
    const json::value* r = get_field(*o, "result");
    return r != nullptr ? *r : json::value(nullptr);
  }
  const json::value* e = get_field(*o, "error");
  if (e == nullptr || !e->is_object()) return make_error(Errc::kFailed, "malformed error reply");
  const auto& eo = e->get_object();
  return make_error(errc_from_name(get_string(eo, "code").value_or("failed")),
                    std::string(get_string(eo, "message").value_or("unknown error")));
}

Frame make_control_request(std::uint64_t request_id, const ControlRequest& req) {
  json::object o;
  o["reply_to"] = req.reply_to;
  if (!req.id.empty()) o["id"] = req.id;
  if (req.kind == MessageKind::kPut) {
    o["spec"] = req.spec;
    o["only_new"] = req.only_new;
  }
  if (req.deadline_mono_ms != 0) o["deadline"] = req.deadline_mono_ms;
  return make(req.kind, request_id, o);
}

Result<ControlRequest> parse_control_request(const Frame& frame) {
  auto o = body_object(frame);
  if (!o) return o.error();
  ControlRequest r;
  r.kind = frame.kind;
  r.reply_to = std::string(get_string(*o, "reply_to").value_or(""));
  r.id = std::string(get_string(*o, "id").value_or(""));
  if (const json::value* s = get_field(*o, "spec")) r.spec = *s;
  r.only_new = get_bool(*o, "only_new").value_or(false);
  if (auto d = get_int(*o, "deadline"); d && *d > 0) r.deadline_mono_ms = static_cast<std::uint64_t>(*d);
  return r;
}

Frame make_worker_message(const WorkerMessage& m) {
  json::object o;
  o["slot"] = m.slot;
  o["incarnation"] = m.incarnation;
  o["pid"] = m.pid;
  if (m.value) o["value"] = *m.value;
  if (m.payload) o["payload"] = *m.payload;
  if (m.timeout_ms) o["timeout"] = *m.timeout_ms;
  if (!m.new_id.empty()) o["id"] = m.new_id;
  if (!m.reason.empty()) o["reason"] = m.reason;
  if (!m.reply_to.empty()) {
    o["reply_to"] = m.reply_to;
    o["request_id"] = m.reply_request_id;
    o["reply"] = m.reply;
  }
  return make(m.kind, 0, o);
}

Result<WorkerMessage> parse_worker_message(const Frame& frame) {
  auto o = body_object(frame);
  if (!o) return o.error();
  WorkerMessage m;
  m.kind = frame.kind;
  const auto slot = get_int(*o, "slot");
  const auto inc = get_int(*o, "incarnation");
  const auto pid = get_int(*o, "pid");
  if (!slot || !inc || !pid || *slot < 0 || *slot > UINT32_MAX) {
    return make_error(Errc::kInvalid, "worker message without slot/incarnation/pid");
  }
  m.slot = static_cast<std::uint32_t>(*slot);
  m.incarnation = static_cast<std::uint64_t>(*inc);
  m.pid = static_cast<pid_t>(*pid);
  if (const json::value* v = get_field(*o, "value")) m.value = *v;
  if (const json::value* v = get_field(*o, "payload")) m.payload = *v;
  if (const auto t = get_int(*o, "timeout"); t && *t >= 0 && *t <= INT32_MAX) {
    m.timeout_ms = static_cast<std::uint32_t>(*t);
  }
  m.new_id = std::string(get_string(*o, "id").value_or(""));
  m.reply_to = std::string(get_string(*o, "reply_to").value_or(""));
  if (const auto r = get_int(*o, "request_id")) m.reply_request_id = static_cast<std::uint64_t>(*r);
  if (const json::value* v = get_field(*o, "reply")) m.reply = *v;
  m.reason = std::string(get_string(*o, "reason").value_or(""));
  return m;
}

Frame make_queue_dead(const QueueDead& qd) {
  json::object o;
  o["queue"] = qd.queue;
  o["slot"] = qd.slot;
  o["generation"] = qd.generation;
  return make(MessageKind::kQueueDead, 0, o);
}

Result<QueueDead> parse_queue_dead(const Frame& frame) {
  auto o = body_object(frame);
  if (!o) return o.error();
  QueueDead qd;
  qd.queue = std::string(get_string(*o, "queue").value_or(""));
  qd.slot = static_cast<std::uint32_t>(get_int(*o, "slot").value_or(0));
  qd.generation = static_cast<std::uint64_t>(get_int(*o, "generation").value_or(0));
  return qd;
}

Frame make_call(std::uint64_t request_id, const std::string& reply_to, const json::value& msg) {
  json::object o;
  o["reply_to"] = reply_to;
  o["message"] = msg;
  return make(MessageKind::kCall, request_id, o);
}

Frame make_cast(const json::value& msg) {
  json::object o;
  o["message"] = msg;
  return make(MessageKind::kCast, 0, o);
}

Frame make_terminate(const std::string& reason) {
  json::object o;
  o["reason"] = reason;
  return make(MessageKind::kTerminate, 0, o);
}

Result<MailboxMessage> parse_mailbox_message(const Frame& frame) {
  auto o = body_object(frame);
  if (!o) return o.error();
  MailboxMessage m;
  m.kind = frame.kind;
  m.reply_to = std::string(get_string(*o, "reply_to").value_or(""));
  if (const json::value* v = get_field(*o, "message")) m.message = *v;
  m.reason = std::string(get_string(*o, "reason").value_or(""));
  return m;
}

std::string display_status(const SlotRecord& r) {
  if (r.status == WorkerStatus::kRunning && r.busy_since_ms != 0) return "busy";
  return std::string(to_string(r.status));
}

json::object record_to_json(const SlotRecord& r, json::storage_ptr sp) {
  // Reserved up front and filled with emplace: `state --json` builds 10 000 of
  // these, and rehashing plus operator[] lookups were a third of its time.
  json::object o(sp);
  o.reserve(19);
  o.emplace("id", json::string(r.id, sp));
  o.emplace("pid", r.pid);
  o.emplace("status", json::string(display_status(r), sp));
  o.emplace("restarts", r.restarts);
  o.emplace("payload", parse_or_string(r.payload, sp));
  o.emplace("value", parse_or_string(r.value, sp));
  o.emplace("timeout_ms", r.timeout_ms);
  o.emplace("lull", r.lull);
  o.emplace("restart", json::string(to_string(r.restart), sp));
  o.emplace("instant_perform", r.instant_perform);
  o.emplace("max_restarts", r.max_restarts);
  o.emplace("within_ms", r.restart_window_ms);
  o.emplace("pool", r.pool_member);
  o.emplace("started_ms", r.started_ms);
  o.emplace("busy_since_ms", r.busy_since_ms);
  o.emplace("last_perform_ms", r.heartbeat_ms);
  o.emplace("slot", r.slot);
  if (r.last_exit.kind == ExitInfo::Kind::kNone) {
    o.emplace("last_exit", nullptr);
  } else {
    json::object e(sp);
    switch (r.last_exit.kind) {
      case ExitInfo::Kind::kExited: e.emplace("kind", "exited"); e.emplace("code", r.last_exit.code); break;
      case ExitInfo::Kind::kSignaled: e.emplace("kind", "signaled"); e.emplace("signal", r.last_exit.code); break;
      case ExitInfo::Kind::kSpawnFailed: e.emplace("kind", "spawn_failed"); e.emplace("errno", r.last_exit.code); break;
      case ExitInfo::Kind::kNone: break;
    }
    e.emplace("reason", json::string(r.last_exit.reason, sp));
    o.emplace("last_exit", std::move(e));
  }
  return o;
}

Result<SlotRecord> record_from_json(const json::object& o) {
  SlotRecord r;
  const auto id = get_string(o, "id");
  const auto slot = get_int(o, "slot");
  const auto status = get_string(o, "status");
  if (!id || !slot || !status) return make_error(Errc::kInvalid, "not a worker record");
  r.id = std::string(*id);
  r.slot = static_cast<std::uint32_t>(*slot);
  r.status = WorkerStatus::kFree;
  for (std::uint32_t k = 0; k <= static_cast<std::uint32_t>(WorkerStatus::kExited); ++k) {
    if (to_string(static_cast<WorkerStatus>(k)) == *status) r.status = static_cast<WorkerStatus>(k);
  }
  if (*status == "busy") r.status = WorkerStatus::kRunning;  // display_status()
  r.pid = static_cast<pid_t>(get_int(o, "pid").value_or(0));
  r.restarts = static_cast<std::uint32_t>(get_int(o, "restarts").value_or(0));
  if (const auto* v = get_field(o, "payload")) r.payload = to_json(*v);
  if (const auto* v = get_field(o, "value")) r.value = to_json(*v);
  r.timeout_ms = static_cast<std::uint32_t>(get_int(o, "timeout_ms").value_or(0));
  r.lull = get_number(o, "lull").value_or(r.lull);
  if (const auto t = get_string(o, "restart")) {
    if (auto parsed = parse_restart_type(*t)) r.restart = *parsed;
  }
  r.instant_perform = get_bool(o, "instant_perform").value_or(false);
  r.max_restarts = static_cast<std::uint32_t>(get_int(o, "max_restarts").value_or(0));
  r.restart_window_ms = static_cast<std::uint32_t>(get_int(o, "within_ms").value_or(0));
  r.pool_member = get_bool(o, "pool").value_or(false);
  r.started_ms = static_cast<std::uint64_t>(get_int(o, "started_ms").value_or(0));
  r.busy_since_ms = static_cast<std::uint64_t>(get_int(o, "busy_since_ms").value_or(0));
  r.heartbeat_ms = static_cast<std::uint64_t>(get_int(o, "last_perform_ms").value_or(0));
  if (const auto* e = get_field(o, "last_exit"); e != nullptr && e->is_object()) {
    const auto& eo = e->get_object();
    const auto kind = get_string(eo, "kind").value_or("");
    if (kind == "exited") {
      r.last_exit.kind = ExitInfo::Kind::kExited;
      r.last_exit.code = static_cast<int>(get_int(eo, "code").value_or(0));
    } else if (kind == "signaled") {
      r.last_exit.kind = ExitInfo::Kind::kSignaled;
      r.last_exit.code = static_cast<int>(get_int(eo, "signal").value_or(0));
    } else if (kind == "spawn_failed") {
      r.last_exit.kind = ExitInfo::Kind::kSpawnFailed;
      r.last_exit.code = static_cast<int>(get_int(eo, "errno").value_or(0));
    }
    r.last_exit.reason = std::string(get_string(eo, "reason").value_or(""));
  }
  return r;
}

}  // namespace dynmgr::protocol
