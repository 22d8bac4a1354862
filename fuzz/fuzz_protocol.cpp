// libFuzzer target: the protocol parsers (shared/protocol.cpp) and what their
// receivers do next with the result: the supervisor's ChildSpec::from_json and
// validate_id on a request (a put-many request's items too), the client's
// record_from_json on a reply (a put-many reply's items too).
//
// Input: byte 0 picks the frame's kind, bytes 1-8 its request id, the rest is
// the JSON body (decode_frame has checked the frame by then; fuzz_frame covers it).
// Properties: nothing crashes; a parsed control or mailbox request, built again
// with its make_* function and parsed, gives the same fields (JSON values as
// fuzz/json_same.hpp compares them).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "dynmgr/child_spec.hpp"
#include "fuzz/json_same.hpp"
#include "shared/protocol.hpp"

namespace {

using namespace dynmgr;

constexpr MessageKind kKinds[] = {
    MessageKind::kPing, MessageKind::kPut, MessageKind::kDel, MessageKind::kGet,
    MessageKind::kRestart, MessageKind::kStop, MessageKind::kReexec, MessageKind::kRestartWorker,
    MessageKind::kWorkerReady, MessageKind::kWorkerUpdate, MessageKind::kWorkerReplaceId,
    MessageKind::kWorkerHalt, MessageKind::kWorkerCommitReply, MessageKind::kQueueDead,
    MessageKind::kWorkerFailing, MessageKind::kCall, MessageKind::kCast, MessageKind::kTerminate,
    MessageKind::kReply, MessageKind::kWake,
    // Appended (the seeds index this list): issue 14's passivation.
    MessageKind::kActivate, MessageKind::kWorkerIdle,
    MessageKind::kPutMany,  // appended after them: the seeds' byte 0 of the kinds before stays
                            // theirs
    MessageKind::kWorkerCommandExited,  // appended: an exec worker's command restarted in place
};

void control(const Frame& f) {
  auto r = protocol::parse_control_request(f);
  if (!r) return;
  (void)validate_id(r->id);
  if (auto spec = ChildSpec::from_json(r->spec)) {
    // A spec the supervisor accepts is one it can store and send back.
    auto again = ChildSpec::from_json(spec->to_json());
    if (!again) std::abort();
  }
  auto back = protocol::parse_control_request(protocol::make_control_request(f.request_id, *r));
  if (!back || back->kind != r->kind || back->reply_to != r->reply_to || back->id != r->id ||
      back->deadline_mono_ms != r->deadline_mono_ms) {
    std::abort();
  }
  if (r->kind == MessageKind::kPut &&
      (!fuzz::same(back->spec, r->spec) || back->only_new != r->only_new)) {
    std::abort();
  }
}

// kPutMany: what the supervisor does with each item before handle_put (the
// id and the spec), and the request built again gives the same items.
void put_many(const Frame& f) {
  auto r = protocol::parse_put_many(f);
  if (!r) return;
  for (const auto& item : r->items) {
    (void)validate_id(item.id);
    (void)ChildSpec::from_json(item.spec);
  }
  auto back = protocol::parse_put_many(protocol::make_put_many(f.request_id, *r));
  if (!back || back->reply_to != r->reply_to || back->only_new != r->only_new ||
      back->passive != r->passive || back->deadline_mono_ms != r->deadline_mono_ms ||
      back->items.size() != r->items.size()) {
    std::abort();
  }
  for (std::size_t i = 0; i < r->items.size(); ++i) {
    if (back->items[i].id != r->items[i].id || !fuzz::same(back->items[i].spec, r->items[i].spec)) {
      std::abort();
    }
  }
}

void worker(const Frame& f) {
  auto m = protocol::parse_worker_message(f);
  if (!m) return;
  if (!m->new_id.empty()) (void)validate_id(m->new_id);
  (void)protocol::make_worker_message(*m);
}

void mailbox(const Frame& f) {
  auto m = protocol::parse_mailbox_message(f);
  if (!m) return;
  Frame again;
  switch (m->kind) {
    case MessageKind::kCall:
      again = protocol::make_call(f.request_id, m->reply_to, m->message);
      break;
    case MessageKind::kCast:
      again = protocol::make_cast(m->message);
      break;
    case MessageKind::kTerminate:
      again = protocol::make_terminate(m->reason);
      break;
    default:
      return;
  }
  auto back = protocol::parse_mailbox_message(again);
  if (!back) std::abort();
  if (m->kind != MessageKind::kTerminate && !fuzz::same(back->message, m->message)) std::abort();
  if (m->kind == MessageKind::kCall && back->reply_to != m->reply_to) std::abort();
  if (m->kind == MessageKind::kTerminate && back->reason != m->reason) std::abort();
}

void reply(const Frame& f) {
  auto r = protocol::parse_reply(f);
  if (!r) {
    (void)protocol::reply_error(f.request_id, r.error());
    return;
  }
  if (r->is_object()) {
    if (auto rec = protocol::record_from_json(r->get_object())) {
      (void)protocol::record_to_json(*rec);
    }
    // A put-many reply: its items as the client reads them.
    if (const auto* items = r->get_object().if_contains("items"); items && items->is_array()) {
      auto each = protocol::parse_put_many_result(*r, items->get_array().size());
      if (!each) std::abort();  // the count matches: only the shape may fail, and it is right
      for (const auto& item : *each) {
        if (item && item->is_object()) (void)protocol::record_from_json(item->get_object());
      }
    }
  }
  (void)protocol::reply_ok(f.request_id, *r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 9) return 0;
  Frame f;
  f.kind = kKinds[data[0] % std::size(kKinds)];
  std::memcpy(&f.request_id, data + 1, 8);
  f.body.assign(reinterpret_cast<const char*>(data) + 9, size - 9);
  control(f);
  put_many(f);
  worker(f);
  (void)protocol::parse_queue_dead(f);
  mailbox(f);
  reply(f);
  return 0;
}
