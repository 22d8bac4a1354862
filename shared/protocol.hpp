#pragma once
// Message bodies exchanged over the queues (JSON inside a Frame). One function
// per message builds it; parse helpers turn a body into a checked struct, so no
// other code reads protocol JSON by hand.
//
//   client -> supervisor   kPing kPut kDel kGet kRestart kStop kActivate  {"reply_to", ...}
//                          kPutMany {"reply_to","items":[{"id","spec"}...],"only_new",
//                                    "passive","deadline"}
//   worker -> supervisor   kWorkerReady/Update/ReplaceId/Halt/CommitReply/Idle/
//                          CommandExited, {"slot","incarnation","pid", ...}
//   anyone -> supervisor   kQueueDead {"queue":"mailbox","slot","generation"}
//   client -> worker       kCall {"reply_to","message"}  kCast {"message"}
//   supervisor -> worker   kTerminate {"reason"}
//   any -> client          kReply {"ok":true,"result":X} | {"ok":false,"error":{"code","message"}}

#include "shared/error.hpp"
#include "shared/frame.hpp"
#include "shared/json.hpp"
#include "shared/registry.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynmgr::protocol {

// ---- replies
Frame reply_ok(std::uint64_t request_id, const json::value& result);
Frame reply_error(std::uint64_t request_id, const Error& error);
// Result of a kReply frame: the "result" value, or the Error it carries.
Result<json::value> parse_reply(const Frame& frame);
Errc errc_from_name(std::string_view name);

// ---- client -> supervisor
struct ControlRequest {
  MessageKind kind = MessageKind::kPing;
  std::string reply_to;
  std::string id;          // put/put_new/del/get
  json::value spec;        // put: ChildSpec JSON
  bool only_new = false;   // put_new
  bool passive = false;    // put --passive: registered, not started
  std::string file;        // reload: the children file (absolute), "" = the manager's own
  // CLOCK_MONOTONIC ms (system-wide) after which the client has given up; 0 =
  // none. The supervisor drops a request it takes off the queue after this:
  // a command that failed with "timed out" must change nothing later.
  std::uint64_t deadline_mono_ms = 0;
};
Frame make_control_request(std::uint64_t request_id, const ControlRequest& req);
Result<ControlRequest> parse_control_request(const Frame& frame);

// kPutMany: puts in one request (dynmgrctl import, Client::put_many). The
// supervisor starts each item as a kPut of that id and spec (with the batch's
// only_new) would, and answers once for the batch, when every item has its
// outcome:
//   {"ok":true,"result":{"items":[<item>...]}}, one <item> per request item, in
//   order, each shaped as a whole put reply: {"ok":true,"result":RECORD} or
//   {"ok":false,"error":{"code","message"}}.
// RECORD is short_record_json's {"id","slot","status","pid"} (a
// record_from_json-able subset: the client reads the rest from the registry)
// and, when the items would not fit in one control-sized frame, error messages
// are cut to kPutManyMessageLimit bytes. The client cuts its batches so that even this
// short reply fits: put_many_reply_reserve() bytes per item.
struct PutManyItem {
  std::string id;
  json::value spec;  // ChildSpec JSON (the put request's "spec")
};
struct PutManyRequest {
  std::string reply_to;
  std::vector<PutManyItem> items;
  bool only_new = false;  // put-new semantics per item
  bool passive = false;   // register without starting (README "Passivation")
  std::uint64_t deadline_mono_ms = 0;  // as ControlRequest's
};
inline constexpr std::size_t kPutManyMessageLimit = 120;
// The most a shortened item of the reply takes, with its separator.
inline std::size_t put_many_reply_reserve(std::string_view id) { return 200 + id.size(); }
Frame make_put_many(std::uint64_t request_id, const PutManyRequest& req);
// Items without a string "id" or an object "spec" are kept with an empty id
// (or a null spec): the supervisor answers them with the error validate_id or
// ChildSpec::from_json gives, so the reply stays aligned with the request.
Result<PutManyRequest> parse_put_many(const Frame& frame);
// The reply's result (see above): one Result per item, in order; kInvalid when
// it is not that shape or has another number of items than `expected`.
Result<std::vector<Result<json::value>>> parse_put_many_result(const json::value& result,
                                                               std::size_t expected);

// ---- worker -> supervisor
struct WorkerMessage {
  MessageKind kind = MessageKind::kWorkerUpdate;
  std::uint32_t slot = 0;
  std::uint64_t incarnation = 0;
  pid_t pid = 0;
  std::optional<json::value> value;     // update: new value
  std::optional<json::value> payload;   // update/replace_id/commit_reply: new payload
  std::optional<std::uint32_t> timeout_ms;  // update: new perform interval
  // idle: ms until the worker's next perform is due (absent: none is)
  std::optional<std::uint32_t> next_perform_ms;
  std::string new_id;                   // replace_id
  std::string reply_to;                 // commit_reply
  std::uint64_t reply_request_id = 0;   // commit_reply
  json::value reply;                    // commit_reply
  std::string reason;                   // failing
  // command_exited: how the command ended ("exit": {"kind","code","reason"}),
  // how long it ran, and the number the supervisor's verdict echoes (the
  // slot's verdict word's number + 1: see WorkerWords::command_verdict).
  std::optional<ExitInfo> exit;
  std::uint64_t uptime_ms = 0;
  std::uint64_t seq = 0;
};
Frame make_worker_message(const WorkerMessage& msg);
Result<WorkerMessage> parse_worker_message(const Frame& frame);

struct QueueDead {
  std::string queue;  // "mailbox" or "control"
  std::uint32_t slot = 0;
  std::uint64_t generation = 0;
};
Frame make_queue_dead(const QueueDead& qd);
Result<QueueDead> parse_queue_dead(const Frame& frame);

// ---- mailbox
struct MailboxMessage {
  MessageKind kind = MessageKind::kCast;
  std::string reply_to;  // call
  json::value message;   // call/cast
  std::string reason;    // terminate
};
Frame make_call(std::uint64_t request_id, const std::string& reply_to, const json::value& msg);
Frame make_cast(const json::value& msg);
Frame make_terminate(const std::string& reason);
Result<MailboxMessage> parse_mailbox_message(const Frame& frame);

// ---- registry records as JSON (the `state --json` worker shape, derived from
// WorkerInfo's description: see worker_info.hpp)
json::object record_to_json(const SlotRecord& r, json::storage_ptr sp = {});
// {"id","slot","status","pid"}: an import item's record (kPutMany).
json::object short_record_json(const SlotRecord& r);
// The inverse, for a record received in a reply (pid start time, incarnation
// and mailbox generation are not in it and stay 0).
Result<SlotRecord> record_from_json(const json::object& o);

}  // namespace dynmgr::protocol
