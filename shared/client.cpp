#include "dynmgr/client.hpp"

#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "shared/control_sender.hpp"
#include "shared/mailbox_wait.hpp"
#include "shared/names.hpp"
#include "shared/pool.hpp"
#include "shared/process_identity.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"

namespace dynmgr {
namespace {
// How often a waiting call re-reads the registry to notice a crashed worker.
constexpr Millis kCrashPoll{10};
// Poll intervals while the supervisor replaces a dead control queue or mailbox.
constexpr Millis kControlPoll{5};
constexpr Millis kMailboxPoll{2};
// A Client waits for one reply at a time, and a request that ends without its
// reply retires the queue (retire_reply), so no late reply ever shares it with
// the next one: one message is all a reply queue holds. put_many alone keeps
// two requests in flight, and makes its queue two deep.
constexpr std::uint32_t kReplyDepth = 1;
constexpr std::uint32_t kPutManyInFlight = 2;
}  // namespace

struct Client::Impl {
  Names names;
  mutable RegistryReader reader;        // reopened when superseded (ensure_readable)
  std::optional<ProcessIdentity> self;  // read with the first reply queue
  ControlSender control;
  std::optional<Queue> reply;
  std::optional<RunAs> reply_owner;  // whom `reply` was given to (nullopt: ours)
  std::uint64_t next_request = 1;
  std::map<std::uint64_t, Frame> early;  // replies received before their turn
  struct CachedMailbox {
    std::uint64_t incarnation = 0;
    std::uint64_t generation = 0;
    Queue queue;
  };
  std::map<std::uint32_t, CachedMailbox> mailboxes;
  std::optional<std::mt19937_64> rng;  // seeded at the first --any (pick)

  Impl(Names n, RegistryReader r)
      : names(std::move(n)),
        reader(std::move(r)),
        control(names, [this] { return reader.header().control_generation; }) {}

  ~Impl() {
    if (reply) Queue::remove(reply->name());
  }

  // The registry can still be read: its supervisor lives, or it died and left
  // live workers for a successor to adopt (they go on serving calls and casts).
  Status ensure_readable() const {
    if (reader.superseded()) {
      // Replaced under its name: the registry or the words recreated after
      // tampering, or a new supervisor. Read the one there now.
      auto fresh = RegistryReader::open(names);
      if (!fresh) return fresh.error();
      reader = std::move(*fresh);
    }
    if (!reader.supervisor_alive() && !reader.any_worker_alive()) {
      return make_error(Errc::kNoSupervisor,
                        "no supervisor running under '" + names.instance() + "'");
    }
    return {};
  }

  // Between a supervisor's death and its successor's adoption: waits for the
  // successor until the deadline (kNoSupervisor then, never a hang).
  Status await_supervisor(Deadline deadline) const {
    const auto began = MonoClock::now();
    for (;;) {
      if (auto st = ensure_readable(); !st) return st;
      if (reader.supervisor_alive()) return {};
      if (deadline.expired()) {
        const auto waited = std::chrono::duration_cast<Millis>(MonoClock::now() - began).count();
        return make_error(Errc::kNoSupervisor, "no supervisor running under '" + names.instance() +
                                                   "' (waited " + std::to_string(waited) +
                                                   " ms for one to take over)");
      }
      std::this_thread::sleep_for(std::min<Millis>(
          kCrashPoll, std::chrono::duration_cast<Millis>(deadline.remaining(kCrashPoll))));
    }
  }

  Status ensure_reply(std::uint32_t depth = kReplyDepth) {
    if (reply && !reply->dead() && reply->depth() >= depth) return {};
    retire_reply();
    if (!self) self = ProcessIdentity::self();
    const auto h = reader.header();
    // Unique per process, not per Client: two Clients in one process (one per
    // thread) must never create — and so replace — each other's reply queue.
    static std::atomic<std::uint32_t> serial{0};
    // One slot (kReplyDepth) of the largest frame a reply can be: Boost commits
    // every slot at creation (fallocate), and a one-shot dynmgrctl pays for each.
    auto q = Queue::create(names.reply(self->pid, self->start_time, serial.fetch_add(1)), depth,
                           h.control_msg_size);
    if (!q) return q.error();
    reply.emplace(std::move(*q));
    return {};
  }

  // Removes the reply queue: a request sent that ended without its reply (timed
  // out, the worker crashed, the supervisor left) may still be answered, late,
  // and that answer must not take the one slot the next request's reply needs.
  // The next request makes a new queue under a new serial; a late reply then
  // finds no queue and is dropped by its sender.
  void retire_reply() noexcept {
    early.clear();
    if (reply) Queue::remove(reply->name());
    reply.reset();
    reply_owner.reset();
  }

  // Sends to the control queue; when the queue is dead, waits for the supervisor
  // to publish a new generation and retries there (kNoSupervisor once it is gone).
  Status send_control(const Frame& f, Deadline deadline) {
    return control.send(f, deadline, kControlPoll, [this] { return ensure_readable(); });
  }

  // Waits for the reply to request_id; other replies (stale, from an earlier
  // timed-out request) are discarded. `still_valid` is polled between slices.
  // A request sent that ends here without its reply retires the queue.
  // (An error *reply* is a reply: the queue's slot is free again and stays.)
  template <class Check>
  Result<json::value> await_reply(std::uint64_t request_id, Deadline deadline, Check still_valid) {
    bool answered = false;
    auto r = receive_reply(request_id, deadline, still_valid, answered);
    if (!answered) retire_reply();
    return r;
  }

  template <class Check>
  Result<json::value> receive_reply(std::uint64_t request_id, Deadline deadline,
                                    Check still_valid, bool& answered) {
    if (auto it = early.find(request_id); it != early.end()) {
      Frame f = std::move(it->second);
      early.erase(it);
      answered = true;
      return protocol::parse_reply(f);
    }
    for (;;) {
      auto f = reply->receive(Deadline::earliest(deadline, Deadline::after(kCrashPoll)));
      if (f) {
        if (f->kind == MessageKind::kReply && f->request_id == request_id) {
          answered = true;
          return protocol::parse_reply(*f);
        }
        // A later request's, still in flight (put_many): kept for its turn.
        if (f->kind == MessageKind::kReply && f->request_id > request_id &&
            f->request_id < next_request) {
          early.emplace(f->request_id, std::move(*f));
        }
        continue;
      }
      if (f.error().code == Errc::kDeadQueue) {
        return make_error(Errc::kFailed, "reply queue died while waiting; the outcome is unknown");
      }
      if (auto st = still_valid(); !st) return st.error();
      if (deadline.expired()) return make_error(Errc::kTimeout, "no reply within the deadline");
    }
  }

  Result<json::value> control_request(protocol::ControlRequest req, Millis timeout) {
    return round_trip(
        [&req](std::uint64_t id, const std::string& reply_to, std::uint64_t deadline_mono_ms) {
          req.reply_to = reply_to;
          req.deadline_mono_ms = deadline_mono_ms;
          return protocol::make_control_request(id, req);
        },
        timeout);
  }

  // One request to the supervisor and its reply. make(request id, reply
  // queue, deadline in CLOCK_MONOTONIC ms) builds the frame.
  template <class Make>
  Result<json::value> round_trip(Make make, Millis timeout) {
    auto sent = send_request(make, timeout);
    if (!sent) return sent.error();
    return await_sent(*sent);
  }

  // round_trip's halves, for more than one request in flight (put_many).
  struct Sent {
    std::uint64_t id = 0;
    Deadline deadline = Deadline::never();
  };
  template <class Make>
  Result<Sent> send_request(Make make, Millis timeout, std::uint32_t depth = kReplyDepth) {
    const Deadline deadline = Deadline::after(timeout);
    if (auto st = await_supervisor(deadline); !st) return st.error();
    if (auto st = ensure_reply(depth); !st) return st.error();
    const std::uint64_t id = next_request++;
    // The very deadline we give up at (rounded down), not one taken after the
    // waits above: a request the supervisor takes after we reported a timeout
    // must be dropped, never carried out ("a timed-out command changes nothing").
    const std::uint64_t deadline_mono_ms = std::max<std::uint64_t>(
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<Millis>(deadline.at().time_since_epoch()).count()),
        1);
    if (auto st = send_control(make(id, reply->name(), deadline_mono_ms), deadline); !st) {
      if (st.error().code == Errc::kTimeout) {
        // Nothing was sent: the supervisor takes requests more slowly than
        // they come. Fail now rather than add to its backlog.
        return make_error(Errc::kTimeout, "supervisor busy: its control queue stayed full for " +
                                              std::to_string(timeout.count()) + " ms");
      }
      return st.error();
    }
    return Sent{id, deadline};
  }

  Result<json::value> await_sent(const Sent& sent) {
    const Deadline deadline = sent.deadline;
    // A supervisor that dies with the request queued leaves it to its
    // successor, which answers it if it adopts in time.
    auto r = await_reply(sent.id, deadline, [this]() -> Status {
      if (auto st = ensure_readable(); !st) {
        return make_error(Errc::kNoSupervisor, "the supervisor exited before replying");
      }
      return {};
    });
    if (!r && r.error().code == Errc::kTimeout && !reader.supervisor_alive()) {
      return make_error(Errc::kNoSupervisor,
                        "no supervisor running under '" + names.instance() +
                            "' (it exited before replying and none took over)");
    }
    return r;
  }

  Result<Queue*> mailbox_for(const SlotRecord& r) {
    auto it = mailboxes.find(r.slot);
    if (it != mailboxes.end() && it->second.incarnation == r.incarnation &&
        it->second.generation == r.mailbox_generation && !it->second.queue.dead()) {
      return &it->second.queue;
    }
    if (it != mailboxes.end()) mailboxes.erase(it);
    auto q = Queue::open(names.mailbox(r.slot, r.mailbox_generation));
    if (!q) return q.error();
    auto [pos, _] = mailboxes.emplace(
        r.slot, CachedMailbox{r.incarnation, r.mailbox_generation, std::move(*q)});
    return &pos->second.queue;
  }

  static Millis left(Deadline deadline) {
    return std::max(Millis(1), std::chrono::duration_cast<Millis>(deadline.remaining(Millis(INT32_MAX))));
  }

  // Can the worker's mailbox go away under a sender for passivation?
  static bool may_passivate(const SlotRecord& r) {
    return r.passivate_after_ms != 0 || r.status == WorkerStatus::kPassivating ||
           r.status == WorkerStatus::kPassive;
  }

  // Waits until the slot no longer shows mailbox `seen` as the live one: the
  // supervisor has taken out what was in it, or the worker is gone. The
  // record then (nullopt: the slot is free).
  Result<std::optional<SlotRecord>> await_mailbox_let_go(const SlotRecord& seen,
                                                         Deadline deadline) {
    for (;;) {
      auto now = reader.read(seen.slot);
      if (!now) {
        if (now.error().code != Errc::kTorn) return std::optional<SlotRecord>();
      } else if (now->incarnation != seen.incarnation ||
                 now->mailbox_generation != seen.mailbox_generation ||
                 now->status == WorkerStatus::kPassive) {
        return std::optional<SlotRecord>(std::move(*now));
      }
      if (auto st = await_supervisor(deadline); !st) return st.error();
      if (deadline.expired()) {
        return make_error(Errc::kTimeout, "worker '" + seen.id + "' stayed passivating");
      }
      std::this_thread::sleep_for(kMailboxPoll);
    }
  }

  // The mailbox we sent into was unlinked for passivation as we sent (README
  // "Passivation"). Once the supervisor has taken out what was there before,
  // whatever is still in it came after, and nobody else will read it: it is
  // taken out here and sent again, in order, to the worker's next mailbox (a
  // passive worker is started for it). Other callers' messages too: each
  // message is taken out by exactly one process.
  Result<SlotRecord> forward_orphan(Queue& orphan, const SlotRecord& seen, std::string_view id,
                                    Deadline deadline) {
    auto after = await_mailbox_let_go(seen, deadline);
    if (!after) return after.error();
    std::vector<Frame> left;
    for (std::uint32_t i = 0; i < 65536; ++i) {
      auto f = orphan.try_receive();
      if (!f || !*f) break;
      if ((*f)->kind == MessageKind::kCall || (*f)->kind == MessageKind::kCast) {
        left.push_back(std::move(**f));
      }
    }
    Result<SlotRecord> last = seen;
    for (const Frame& f : left) {
      last = send_mailbox(id, f, deadline);
      if (!last) return last.error();
    }
    if (auto now = reader.find(id)) return now;
    return last;
  }

  // Asks the supervisor to start a passive worker; returns once it has a
  // process and a mailbox (or its record says why not).
  Status activate(std::string_view id, Deadline deadline) {
    protocol::ControlRequest req;
    req.kind = MessageKind::kActivate;
    req.id = std::string(id);
    auto r = control_request(req, left(deadline));
    if (!r) return r.error();
    return {};
  }

  // Sends to a worker's mailbox; on a dead mailbox asks the supervisor to
  // recreate it and retries on the new generation. A passive worker is
  // activated first; a mailbox released for passivation as we sent is
  // forwarded from (README "Passivation").
  Result<SlotRecord> send_mailbox(std::string_view id, const Frame& f, Deadline deadline) {
    for (;;) {
      auto r = reader.find(id);
      if (!r) {
        if (auto st = ensure_readable(); !st) return st.error();
        return r.error();
      }
      if (r->status == WorkerStatus::kPassive) {
        if (auto st = activate(id, deadline); !st) return st.error();
        continue;  // the record shows the new process (or why there is none)
      }
      if (r->status == WorkerStatus::kFailed || r->status == WorkerStatus::kExited ||
          r->status == WorkerStatus::kHalted || r->status == WorkerStatus::kStopping) {
        return make_error(
            Errc::kFailed,
            "worker '" + std::string(id) + "' is " + std::string(to_string(r->status)) +
                (r->last_exit.kind != ExitInfo::Kind::kNone ? " (" + r->last_exit.describe() + ")"
                                                            : std::string()));
      }
      auto q = mailbox_for(*r);
      if (!q && q.error().code == Errc::kNotFound && may_passivate(*r)) {
        // Released for passivation since we read the record: it changes next.
        auto after = await_mailbox_let_go(*r, deadline);
        if (!after) return after.error();
        continue;
      }
      Status st = q ? (*q)->send(f, deadline) : Status(q.error());
      if (st) {
        if (may_passivate(*r) && !Queue::linked((*q)->name())) {
          return forward_orphan(**q, *r, id, deadline);
        }
        return r;
      }
      if (st.error().code == Errc::kTimeout) {
        return make_error(Errc::kTimeout, "mailbox of '" + std::string(id) + "' stayed full");
      }
      if (st.error().code != Errc::kDeadQueue) return st.error();
      // Report and wait for a new generation.
      (void)send_control(protocol::make_queue_dead({"mailbox", r->slot, r->mailbox_generation}),
                         deadline);
      auto replaced = await_mailbox_replaced(reader, r->slot, r->incarnation, r->mailbox_generation,
                                             deadline, kMailboxPoll,
                                             [this] { return await_supervisor(Deadline::now()); });
      if (!replaced) {
        if (replaced.error().code == Errc::kTimeout) {
          return make_error(Errc::kTimeout, "mailbox of '" + std::string(id) + "' stayed dead");
        }
        return replaced.error();
      }
    }
  }

  // A worker running as another user opens our reply queue after its drop:
  // the queue (mode 0600) is given to its uid and gid before the call is sent.
  // Only root can, and only a root supervisor starts such workers; the queue
  // stays usable to us (root). A worker that opened it keeps its handle when
  // it is given to the next one. (README "User and group".)
  Status give_reply_to_worker(std::string_view id) {
    auto r = reader.find(id);
    if (!r || !r->run_as || r->run_as == reply_owner || ::geteuid() != 0) return {};
    if (r->run_as->uid == ::geteuid()) return {};  // group only: still root
    if (auto st = Queue::give_to(reply->name(), r->run_as->uid, r->run_as->gid); !st) return st;
    reply_owner = r->run_as;
    return {};
  }

  Result<json::value> call_slot_id(std::string_view id, const json::value& msg, Millis timeout) {
    if (auto st = validate_id(id); !st) return st.error();
    if (auto st = ensure_reply(); !st) return st.error();
    if (auto st = give_reply_to_worker(id); !st) return st.error();
    const std::uint64_t rid = next_request++;
    const Deadline deadline = Deadline::after(timeout);
    auto sent = send_mailbox(id, protocol::make_call(rid, reply->name(), msg), deadline);
    if (!sent) return sent.error();
    const SlotRecord at_send = *sent;
    // A starting process may take the call as well as a running one.
    pid_t serving =
        (at_send.status == WorkerStatus::kRunning || at_send.status == WorkerStatus::kStarting ||
         at_send.status == WorkerStatus::kPassivating)
            ? at_send.pid
            : 0;
    std::uint64_t passivations = at_send.passivations;
    return await_reply(rid, deadline, [&]() -> Status {
      auto now = reader.read(at_send.slot);
      if (!now || now->incarnation != at_send.incarnation) {
        if (auto st = ensure_readable(); !st) return st;
        return make_error(Errc::kNotFound,
                          "worker '" + std::string(id) + "' was removed before replying");
      }
      if (now->passivations != passivations) {
        // Passivated since: a clean stop after everything it took was
        // answered; what it had not taken went on to the next process.
        passivations = now->passivations;
        serving = 0;
      }
      if (serving == 0 && now->status == WorkerStatus::kRunning) serving = now->pid;
      // A worker that was not running when the call was sent (starting, or
      // restarting after a crash) has not taken the message: it waits in the
      // mailbox for the next incarnation. Only the death of a process that may
      // have taken it (or an end without a restart) fails the call.
      // Any incarnation that exited after the send may have taken the call: the
      // restart counter rises on every restarted exit (failed/exited cover the
      // rest), even when that process died before we saw it running.
      const bool gone =
          now->status == WorkerStatus::kFailed || now->status == WorkerStatus::kExited ||
          now->status == WorkerStatus::kHalted || now->restarts > at_send.restarts ||
          (serving != 0 && (now->pid != serving || now->status == WorkerStatus::kRestarting));
      if (gone) {
        return make_error(Errc::kCrashed, "worker '" + std::string(id) +
                                              "' crashed while handling the call (" +
                                              now->last_exit.describe() + ")");
      }
      // With no supervisor the registry stands still: the worker's own life
      // is what tells whether the answer can still come.
      if (!reader.supervisor_alive() && !process_alive(now->pid, now->pid_start_time)) {
        return make_error(Errc::kNoSupervisor, "the supervisor exited during the call");
      }
      return {};
    });
  }

  Status check_message_size(const json::value& msg) const {
    if (auto st = check_finite(msg, "message"); !st) return st;
    const std::size_t size = to_json(msg).size();
    const std::uint32_t limit = reader.header().max_payload;
    if (size > limit) {
      return make_error(Errc::kTooLarge, "message of " + std::to_string(size) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(limit) + " bytes");
    }
    return {};
  }

  Result<SlotRecord> put(std::string_view id, const ChildSpec& spec, bool only_new,
                         Millis timeout, bool passive = false) {
    if (auto st = validate_id(id); !st) return st.error();
    if (auto st = spec.validate(); !st) return st.error();
    const std::size_t size = to_json(spec.payload).size();
    const std::uint32_t limit = reader.header().max_payload;
    if (size > limit) {
      return make_error(Errc::kTooLarge, "payload of " + std::to_string(size) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(limit) + " bytes");
    }
    protocol::ControlRequest req;
    req.kind = MessageKind::kPut;
    req.id = std::string(id);
    req.spec = spec.to_json();
    req.only_new = only_new;
    req.passive = passive;
    return ready_record(control_request(req, timeout), id);
  }

  std::vector<Result<SlotRecord>> put_many(const std::vector<Client::PutItem>& items,
                                           Client::PutManyOptions options, Millis timeout);

  // A put's or a restart's reply: the worker's record once it was ready.
  Result<SlotRecord> ready_record(Result<json::value> r, std::string_view id) {
    if (!r) return r.error();
    // The reply is the worker's record when it became ready. The registry
    // has the same or newer; but a worker may already have moved on (halted,
    // replaced its id), and the put still succeeded: then the reply is it.
    const auto* o = r->if_object();
    if (o == nullptr) return make_error(Errc::kInvalid, "the reply is not a worker record");
    auto replied = protocol::record_from_json(*o);
    if (!replied) return replied.error();
    auto rec = reader.read(replied->slot);
    if (rec && rec->id == id) return rec;
    return replied;
  }

  Result<std::string> pick(const json::value& msg) {
    const auto h = reader.header();
    auto all = reader.snapshot();
    if (!all) return all.error();
    if (!rng) rng.emplace(std::random_device{}());
    auto slot =
        pick_worker(static_cast<PoolStrategy>(h.pool_strategy), *all, to_json(msg), (*rng)());
    if (!slot) return slot.error();
    for (const auto& r : *all) {
      if (r.slot == *slot) return r.id;
    }
    return make_error(Errc::kNoFreeWorker, "no free worker in the pool");
  }
};

// The items are cut into requests that fit one control frame each, both
// ways: the request's items, and the reply's items (short records, and
// error messages cut: protocol::put_many_reply_reserve). Two requests are in flight at a time
// (the next one is made and sent while the supervisor puts this one); the
// workers of one request start side by side in the supervisor.
std::vector<Result<SlotRecord>> Client::Impl::put_many(const std::vector<Client::PutItem>& items,
                                                       Client::PutManyOptions options,
                                                       Millis timeout) {
  std::vector<Result<SlotRecord>> out(items.size(),
                                      Result<SlotRecord>(make_error(Errc::kFailed, "not sent")));
  const RegistryHeaderInfo h = reader.header();
  // The frame's header, the body's envelope (reply_to, flags, deadline) and
  // room to spare; ids and specs are counted as encoded.
  constexpr std::size_t kEnvelope = 256;
  // A bound on one request's spawns: they all start before the one reply, and
  // must within the request's deadline (a large --max-payload would let
  // hundreds of items fit a frame).
  constexpr std::size_t kMaxItems = 128;
  const std::size_t room = h.control_msg_size > kFrameHeaderSize + kEnvelope
                               ? h.control_msg_size - kFrameHeaderSize - kEnvelope
                               : 0;
  struct Pending {
    std::size_t index;
    std::size_t request_bytes;
    std::size_t reply_bytes;
  };
  std::vector<Pending> pending;
  std::vector<std::string> specs(items.size());
  std::map<std::string_view, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    if (auto st = validate_id(item.id); !st) {
      out[i] = st.error();
      continue;
    }
    if (auto [at, fresh] = first.emplace(item.id, i); !fresh) {
      out[i] = make_error(Errc::kInvalid, "id '" + item.id + "' appears earlier (item " +
                                              std::to_string(at->second) + ")");
      continue;
    }
    if (auto st = item.spec.validate(); !st) {
      out[i] = st.error();
      continue;
    }
    if (const std::size_t size = to_json(item.spec.payload).size(); size > h.max_payload) {
      out[i] = make_error(Errc::kTooLarge, "payload of " + std::to_string(size) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(h.max_payload) + " bytes");
      continue;
    }
    json::object o;
    o["id"] = item.id;
    o["spec"] = item.spec.to_json();
    const std::size_t request_bytes = to_json(o).size() + 1;
    const std::size_t reply_bytes = protocol::put_many_reply_reserve(item.id);
    if (request_bytes > room || reply_bytes > room) {
      out[i] = make_error(Errc::kTooLarge, "the put of " + std::to_string(request_bytes) +
                                               " bytes exceeds the control queue's message size of " +
                                               std::to_string(h.control_msg_size) + " bytes");
      continue;
    }
    pending.push_back({i, request_bytes, reply_bytes});
  }

  // Cut into requests first; then up to kPutManyInFlight of them in flight,
  // so that the supervisor puts one batch while this process makes the next
  // (an import of a million ids spent half its time with one side idle).
  struct Batch {
    std::size_t begin;
    std::size_t end;
    Sent sent;
  };
  std::vector<Batch> batches;
  for (std::size_t next = 0; next < pending.size();) {
    std::size_t end = next;
    std::size_t request_bytes = 0;
    std::size_t reply_bytes = 0;
    while (end < pending.size() && end - next < kMaxItems &&
           request_bytes + pending[end].request_bytes <= room &&
           reply_bytes + pending[end].reply_bytes <= room) {
      request_bytes += pending[end].request_bytes;
      reply_bytes += pending[end].reply_bytes;
      ++end;
    }
    batches.push_back({next, end, Sent{}});
    next = end;
  }
  auto fail = [&](const Batch& b, const Error& e) {
    for (std::size_t k = b.begin; k < b.end; ++k) out[pending[k].index] = e;
  };
  std::optional<Error> stopped;  // the supervisor is gone or overwhelmed: send no more
  auto stops = [&stopped](const Error& e) {
    if (e.code == Errc::kNoSupervisor || e.code == Errc::kTimeout) stopped = e;
  };
  std::deque<Batch*> flight;
  std::size_t to_send = 0;
  while (to_send < batches.size() || !flight.empty()) {
    while (to_send < batches.size() && flight.size() < kPutManyInFlight) {
      Batch& b = batches[to_send++];
      if (stopped) {
        fail(b, make_error(stopped->code,
                           "not sent after an earlier batch failed: " + stopped->message));
        continue;
      }
      protocol::PutManyRequest req;
      req.only_new = options.only_new;
      req.passive = options.passive;
      req.items.reserve(b.end - b.begin);
      for (std::size_t k = b.begin; k < b.end; ++k) {
        const auto& item = items[pending[k].index];
        req.items.push_back({item.id, item.spec.to_json()});
      }
      auto sent = send_request(
          [&req](std::uint64_t id, const std::string& reply_to, std::uint64_t deadline_mono_ms) {
            req.reply_to = reply_to;
            req.deadline_mono_ms = deadline_mono_ms;
            return protocol::make_put_many(id, req);
          },
          timeout, kPutManyInFlight);
      if (!sent) {
        fail(b, sent.error());
        stops(sent.error());
        continue;
      }
      b.sent = *sent;
      flight.push_back(&b);
    }
    if (flight.empty()) continue;
    Batch& b = *flight.front();
    flight.pop_front();
    auto r = await_sent(b.sent);
    auto results = r ? protocol::parse_put_many_result(*r, b.end - b.begin)
                     : Result<std::vector<Result<json::value>>>(r.error());
    if (!results) {
      fail(b, results.error());
      stops(results.error());
      if (!reply) {
        // Its queue was retired unanswered (await_reply): the replies of the
        // requests sent after it can no longer arrive. Their items may
        // still have started, as this one's may.
        for (Batch* later : flight) {
          fail(*later,
               make_error(results.error().code,
                          "no answer after an earlier batch failed: " + results.error().message));
        }
        flight.clear();
      }
      continue;
    }
    for (std::size_t k = b.begin; k < b.end; ++k) {
      const std::size_t i = pending[k].index;
      out[i] = ready_record(std::move((*results)[k - b.begin]), items[i].id);
    }
  }
  return out;
}

namespace {
// A registry record as the public API shows it: without the registry's own words.
Result<WorkerInfo> public_info(Result<SlotRecord> r) {
  if (!r) return r.error();
  return static_cast<WorkerInfo&&>(std::move(*r));
}
}  // namespace

Client::Client(std::unique_ptr<Impl> impl, Millis timeout)
    : impl_(std::move(impl)), timeout_(timeout) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::connect() { return connect(Options{}); }

Result<Client> Client::connect(Options options) {
  std::string instance = options.instance.empty() ? default_instance_name() : options.instance;
  if (auto st = validate_instance_name(instance); !st) return st.error();
  Names names(instance);
  auto reader = RegistryReader::open(names);
  if (!reader) return reader.error();
  return Client(std::make_unique<Impl>(std::move(names), std::move(*reader)), options.timeout);
}

const std::string& Client::instance() const noexcept { return impl_->names.instance(); }

Status Client::ping() {
  protocol::ControlRequest req;
  req.kind = MessageKind::kPing;
  auto r = impl_->control_request(req, timeout_);
  if (!r) return r.error();
  return {};
}

Result<WorkerInfo> Client::put(std::string_view id, const ChildSpec& spec) {
  return public_info(impl_->put(id, spec, false, timeout_));
}

Result<WorkerInfo> Client::put_new(std::string_view id, const ChildSpec& spec) {
  return public_info(impl_->put(id, spec, true, timeout_));
}

Result<WorkerInfo> Client::put_passive(std::string_view id, const ChildSpec& spec, bool only_new) {
  return public_info(impl_->put(id, spec, only_new, timeout_, /*passive=*/true));
}

std::vector<Result<WorkerInfo>> Client::put_many(const std::vector<PutItem>& items,
                                                 PutManyOptions options) {
  auto records = impl_->put_many(items, options, timeout_);
  std::vector<Result<WorkerInfo>> out;
  out.reserve(records.size());
  for (auto& r : records) out.push_back(public_info(std::move(r)));
  return out;
}

Status Client::del(std::string_view id) {
  if (auto st = validate_id(id); !st) return st.error();
  protocol::ControlRequest req;
  req.kind = MessageKind::kDel;
  req.id = std::string(id);
  auto r = impl_->control_request(req, timeout_);
  if (!r) {
    // A stop under way goes on without the caller: say so, not just "timed out".
    const auto w =
        r.error().code == Errc::kTimeout ? impl_->reader.find(id) : Result<SlotRecord>(r.error());
    if (w && w->status == WorkerStatus::kStopping) {
      return make_error(Errc::kTimeout,
                        "still stopping after " + std::to_string(timeout_.count()) +
                            " ms; it is removed once it exits (SIGTERM after --terminate-timeout, "
                            "SIGKILL after --kill-timeout)");
    }
    return r.error();
  }
  return {};
}

Result<json::value> Client::reexec() {
  protocol::ControlRequest req;
  req.kind = MessageKind::kReexec;
  return impl_->control_request(req, timeout_);
}

Result<json::value> Client::reload(std::string_view file) {
  protocol::ControlRequest req;
  req.kind = MessageKind::kReload;
  if (!file.empty()) {
    // The supervisor reads it, from its own working directory (/ as a daemon).
    std::error_code ec;
    auto abs = std::filesystem::absolute(std::filesystem::path(file), ec);
    if (ec) return make_error(Errc::kInvalid, "unable to resolve " + std::string(file) + ": " + ec.message());
    req.file = abs.lexically_normal().string();
  }
  return impl_->control_request(req, timeout_);
}

Status Client::restart() {
  protocol::ControlRequest req;
  req.kind = MessageKind::kRestart;
  auto r = impl_->control_request(req, timeout_);
  if (!r) return r.error();
  return {};
}

Result<WorkerInfo> Client::restart_worker(std::string_view id) {
  if (auto st = validate_id(id); !st) return st.error();
  protocol::ControlRequest req;
  req.kind = MessageKind::kRestartWorker;
  req.id = std::string(id);
  return public_info(impl_->ready_record(impl_->control_request(req, timeout_), id));
}

Status Client::stop() {
  protocol::ControlRequest req;
  req.kind = MessageKind::kStop;
  // Between a supervisor's death and its successor nothing is stopped: say so.
  const bool running = impl_->reader.supervisor_alive();
  auto r = impl_->control_request(req, timeout_);
  if (!r) {
    // The supervisor may exit right after replying; its absence is success here.
    if (r.error().code == Errc::kNoSupervisor && running) return {};
    return r.error();
  }
  return {};
}

Result<WorkerInfo> Client::get(std::string_view id) const {
  if (auto st = validate_id(id); !st) return st.error();
  if (auto st = impl_->ensure_readable(); !st) return st.error();
  return public_info(impl_->reader.find(id));
}

Result<std::vector<WorkerInfo>> Client::state() const {
  if (auto st = impl_->ensure_readable(); !st) return st.error();
  std::vector<WorkerInfo> out;
  out.reserve(impl_->reader.header().used);
  auto st = impl_->reader.for_each(RegistryReader::Detail::kFull, [&out](SlotRecord& r) {
    out.push_back(static_cast<WorkerInfo&&>(std::move(r)));
    return true;
  });
  if (!st) return st.error();
  return out;
}

Status Client::for_each_worker(const std::function<bool(const WorkerInfo&)>& fn) const {
  if (auto st = impl_->ensure_readable(); !st) return st.error();
  return impl_->reader.for_each(RegistryReader::Detail::kFull,
                                [&fn](SlotRecord& r) { return fn(r); });
}

InstanceInfo Client::header() const {
  const RegistryHeaderInfo h = impl_->reader.header();
  InstanceInfo i;
  i.manager_state = h.manager_state;
  i.supervisor_pid = h.supervisor_pid;
  i.capacity = h.capacity;
  i.max_payload = h.max_payload;
  i.mailbox_depth = h.mailbox_depth;
  i.workers = h.used;
  i.pool_strategy = static_cast<PoolStrategy>(h.pool_strategy);
  i.created_ms = h.created_ms;
  i.dropped_frames = h.dropped_frames;
  i.supervisor_alive = impl_->reader.supervisor_alive();
  i.adopted = h.adopted;
  i.containment = std::string(to_string(h.containment));
  i.orphan_grace_ms = h.orphan_grace_ms;
  i.supervisor_started_ms = h.supervisor_started_ms;
  i.persistence.enabled = h.persistence.state != Persistence::kOff;
  i.persistence.ok = h.persistence.state != Persistence::kFailing;
  i.persistence.dir = h.persistence.dir;
  i.persistence.error = h.persistence.error;
  i.persistence.pending = h.persistence.pending;
  i.persistence.last_commit_ms = h.persistence.last_commit_ms;
  return i;
}

Result<json::value> Client::call(std::string_view id, const json::value& message) {
  if (auto st = impl_->check_message_size(message); !st) return st.error();
  return impl_->call_slot_id(id, message, timeout_);
}

Status Client::cast(std::string_view id, const json::value& message) {
  if (auto st = validate_id(id); !st) return st.error();
  if (auto st = impl_->check_message_size(message); !st) return st.error();
  auto r = impl_->send_mailbox(id, protocol::make_cast(message), Deadline::after(timeout_));
  if (!r) return r.error();
  return {};
}

Result<json::value> Client::call_any(const json::value& message) {
  if (auto st = impl_->check_message_size(message); !st) return st.error();
  auto id = impl_->pick(message);
  if (!id) return id.error();
  return impl_->call_slot_id(*id, message, timeout_);
}

Status Client::cast_any(const json::value& message) {
  if (auto st = impl_->check_message_size(message); !st) return st.error();
  auto id = impl_->pick(message);
  if (!id) return id.error();
  auto r = impl_->send_mailbox(*id, protocol::make_cast(message), Deadline::after(timeout_));
  if (!r) return r.error();
  return {};
}

}  // namespace dynmgr
