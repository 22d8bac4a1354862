// libFuzzer target: the protocol parsers (shared/protocol.cpp) and what their
// receivers do next with the result: the supervisor's ChildSpec::from_json and
// validate_id on a request, the client's record_from_json on a reply.
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
    MessageKind::kPing,
    MessageKind::kPut,
    MessageKind::kDel,
    MessageKind::kGet,
    MessageKind::kRestart,
    MessageKind::kStop,
    MessageKind::kReexec,
    MessageKind::kRestartWorker,
    MessageKind::kWorkerReady,
    MessageKind::kWorkerUpdate,
    MessageKind::kWorkerReplaceId,
    MessageKind::kWorkerHalt,
    MessageKind::kWorkerCommitReply,
    MessageKind::kQueueDead,
    MessageKind::kWorkerFailing,
    MessageKind::kCall,
    MessageKind::kCast,
    MessageKind::kTerminate,
    MessageKind::kReply,
    MessageKind::kWake,
    // Appended (the seeds index this list): issue 14's passivation.
    MessageKind::kActivate,
    MessageKind::kWorkerIdle,
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
  worker(f);
  (void)protocol::parse_queue_dead(f);
  mailbox(f);
  reply(f);
  return 0;
}
