#include "shared/protocol.hpp"

#include <algorithm>

#include "shared/enum_names.hpp"

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

namespace {
// {"ok":true,"result":X} -> X; {"ok":false,"error":{...}} -> the Error.
Result<json::value> reply_result(const json::object& o) {
  if (get_bool(o, "ok").value_or(false)) {
    const json::value* r = get_field(o, "result");
    return r != nullptr ? *r : json::value(nullptr);
  }
  const json::value* e = get_field(o, "error");
  if (e == nullptr || !e->is_object()) return make_error(Errc::kFailed, "malformed error reply");
  const auto& eo = e->get_object();
  return make_error(errc_from_name(get_string(eo, "code").value_or("failed")),
                    std::string(get_string(eo, "message").value_or("unknown error")));
}
}  // namespace

Result<json::value> parse_reply(const Frame& frame) {
  if (frame.kind != MessageKind::kReply) return make_error(Errc::kFailed, "unexpected message kind");
  auto o = body_object(frame);
  if (!o) return o.error();
  return reply_result(*o);
}

Frame make_control_request(std::uint64_t request_id, const ControlRequest& req) {
  json::object o;
  o["reply_to"] = req.reply_to;
  if (!req.id.empty()) o["id"] = req.id;
  if (req.kind == MessageKind::kPut) {
    o["spec"] = req.spec;
    o["only_new"] = req.only_new;
    if (req.passive) o["passive"] = true;
  }
  if (!req.file.empty()) o["file"] = req.file;
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
  r.passive = get_bool(*o, "passive").value_or(false);
  r.file = std::string(get_string(*o, "file").value_or(""));
  if (auto d = get_int(*o, "deadline"); d && *d > 0) r.deadline_mono_ms = static_cast<std::uint64_t>(*d);
  return r;
}

Frame make_put_many(std::uint64_t request_id, const PutManyRequest& req) {
  json::object o;
  o["reply_to"] = req.reply_to;
  json::array items;
  items.reserve(req.items.size());
  for (const auto& item : req.items) {
    json::object i;
    i["id"] = item.id;
    i["spec"] = item.spec;
    items.emplace_back(std::move(i));
  }
  o["items"] = std::move(items);
  o["only_new"] = req.only_new;
  o["passive"] = req.passive;
  if (req.deadline_mono_ms != 0) o["deadline"] = req.deadline_mono_ms;
  return make(MessageKind::kPutMany, request_id, o);
}

Result<PutManyRequest> parse_put_many(const Frame& frame) {
  auto o = body_object(frame);
  if (!o) return o.error();
  PutManyRequest r;
  r.reply_to = std::string(get_string(*o, "reply_to").value_or(""));
  const json::value* items = get_field(*o, "items");
  if (items == nullptr || !items->is_array()) {
    return make_error(Errc::kInvalid, "put-many request without an \"items\" array");
  }
  r.items.reserve(items->get_array().size());
  for (const auto& v : items->get_array()) {
    PutManyItem item;
    if (const auto* io = v.if_object()) {
      item.id = std::string(get_string(*io, "id").value_or(""));
      if (const json::value* s = get_field(*io, "spec")) item.spec = *s;
    }
    r.items.push_back(std::move(item));
  }
  r.only_new = get_bool(*o, "only_new").value_or(false);
  r.passive = get_bool(*o, "passive").value_or(false);
  if (auto d = get_int(*o, "deadline"); d && *d > 0) r.deadline_mono_ms = static_cast<std::uint64_t>(*d);
  return r;
}

Result<std::vector<Result<json::value>>> parse_put_many_result(const json::value& result,
                                                               std::size_t expected) {
  const auto* o = result.if_object();
  const json::value* items = o != nullptr ? get_field(*o, "items") : nullptr;
  if (items == nullptr || !items->is_array()) {
    return make_error(Errc::kInvalid, "the reply has no \"items\" array");
  }
  const auto& a = items->get_array();
  if (a.size() != expected) {
    return make_error(Errc::kInvalid, "the reply has " + std::to_string(a.size()) +
                                          " items for " + std::to_string(expected) + " sent");
  }
  std::vector<Result<json::value>> out;
  out.reserve(a.size());
  for (const auto& v : a) {
    if (const auto* io = v.if_object()) {
      out.push_back(reply_result(*io));
    } else {
      out.push_back(make_error(Errc::kFailed, "malformed item in the reply"));
    }
  }
  return out;
}

Frame make_worker_message(const WorkerMessage& m) {
  json::object o;
  o["slot"] = m.slot;
  o["incarnation"] = m.incarnation;
  o["pid"] = m.pid;
  if (m.value) o["value"] = *m.value;
  if (m.payload) o["payload"] = *m.payload;
  if (m.timeout_ms) o["timeout"] = *m.timeout_ms;
  if (m.next_perform_ms) o["next_perform"] = *m.next_perform_ms;
  if (!m.new_id.empty()) o["id"] = m.new_id;
  if (!m.reason.empty()) o["reason"] = m.reason;
  if (m.exit) {
    json::object x;
    x["kind"] = static_cast<std::int64_t>(m.exit->kind);
    x["code"] = m.exit->code;
    x["reason"] = m.exit->reason;
    o["exit"] = std::move(x);
    o["uptime"] = m.uptime_ms;
    o["seq"] = m.seq;
  }
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
  if (const auto t = get_int(*o, "next_perform"); t && *t >= 0 && *t <= INT32_MAX) {
    m.next_perform_ms = static_cast<std::uint32_t>(*t);
  }
  m.new_id = std::string(get_string(*o, "id").value_or(""));
  m.reply_to = std::string(get_string(*o, "reply_to").value_or(""));
  if (const auto r = get_int(*o, "request_id")) m.reply_request_id = static_cast<std::uint64_t>(*r);
  if (const json::value* v = get_field(*o, "reply")) m.reply = *v;
  m.reason = std::string(get_string(*o, "reason").value_or(""));
  if (const json::value* v = get_field(*o, "exit"); v != nullptr && v->is_object()) {
    const auto& x = v->get_object();
    const auto kind = get_int(x, "kind");
    const auto code = get_int(x, "code");
    if (!kind || !code || *kind < 0 || *kind > enums::max_value<ExitInfo::Kind>() ||
        *code < INT32_MIN || *code > INT32_MAX) {
      return make_error(Errc::kInvalid, "worker message with a malformed exit");
    }
    ExitInfo e;
    e.kind = static_cast<ExitInfo::Kind>(*kind);
    e.code = static_cast<int>(*code);
    e.reason = std::string(get_string(x, "reason").value_or(""));
    m.exit = std::move(e);
    m.uptime_ms =
        static_cast<std::uint64_t>(std::max<std::int64_t>(get_int(*o, "uptime").value_or(0), 0));
    m.seq = static_cast<std::uint64_t>(std::max<std::int64_t>(get_int(*o, "seq").value_or(0), 0));
  }
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

json::object record_to_json(const SlotRecord& r, json::storage_ptr sp) {
  return worker_to_json(r, std::move(sp));
}

json::object short_record_json(const SlotRecord& r) {
  json::object o;
  o.reserve(4);
  o.emplace("id", r.id);
  o.emplace("slot", r.slot);
  o.emplace("status", display_status(r));
  o.emplace("pid", r.pid);
  return o;
}

Result<SlotRecord> record_from_json(const json::object& o) {
  auto w = worker_from_json(o);
  if (!w) return w.error();
  SlotRecord r;
  static_cast<WorkerInfo&>(r) = std::move(*w);
  return r;
}

}  // namespace dynmgr::protocol
