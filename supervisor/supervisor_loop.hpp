#pragma once
// The supervisor's event loop (private to supervisor/). Its inputs are the
// control queue (client requests, worker reports, the ChildWatcher's wake-ups
// for signals and exits) and its timers. Each input becomes an event for one
// worker's life cycle (supervisor/worker_lifecycle.hpp) or for the manager's
// phase (supervisor/manager_phase.hpp); the pure machines decide, and the loop
// only carries out their actions. No function here waits: sends go through
// the Outbox, waits are the control queue's receive with the next deadline.
//
//   supervisor.cpp           start, run, stop; timers; feeding the machines
//   supervisor_adopt.cpp     taking over a registry and its live workers
//   supervisor_containment.cpp  cgroup leaves: choosing the mode, ending a leaf
//   supervisor_store.cpp     the state database: writing, restoring, its health
//   supervisor_requests.cpp  client requests (put, del, get, restart, stop, ping)
//   supervisor_workers.cpp   worker reports, exits, and the actions on workers
//
// Threading: one thread (the loop); the ChildWatcher runs its own.

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dynmgr/manager.hpp"
#include "shared/event_ring.hpp"
#include "shared/instance_lock.hpp"
#include "shared/names.hpp"
#include "shared/protocol.hpp"
#include "shared/queue.hpp"
#include "shared/registry.hpp"
#include "shared/service_notify.hpp"
#include "supervisor/child_watcher.hpp"
#include "supervisor/fleet.hpp"
#include "supervisor/manager_calls.hpp"
#include "supervisor/manager_phase.hpp"
#include "supervisor/metrics_server.hpp"
#include "supervisor/outbox.hpp"
#include "supervisor/overrun_watch.hpp"
#include "supervisor/shm_watch.hpp"
#include "supervisor/supervisor.hpp"
#include "supervisor/timer_queue.hpp"
#include "supervisor/worker_lifecycle.hpp"
#include "supervisor/worker_template.hpp"

namespace dynmgr {

class Supervisor::Loop {
 public:
  Loop(Manager& m, SupervisorOptions o);
  int run();

 private:
  using Waiter = lifecycle::Waiter;

  // supervisor.cpp: start and stop, timers, the machines
  Status start();
  Status create_control(std::uint64_t generation);
  void open_events(bool adopting);
  void recreate_control(const std::string& why = "is dead");
  void publish_dropped();
  // supervisor_shm.cpp: objects removed or truncated from outside (README
  // "Tampered shared memory"): found on a timer, recreated, logged
  void check_shared_objects();
  void recreate_registry(const std::string& why);
  void recreate_words(const std::string& why);
  void recreate_mailbox(Entry& e, const std::string& why);
  void recreate_events(const std::string& why);
  void relock(const std::string& why);
  // supervisor_run_as.cpp: workers that run as another user (README "User and group")
  Result<Queue> create_mailbox(const Entry& e, std::uint64_t generation);
  std::vector<std::uint32_t> restart_unable_to_reopen(const std::string& what);
  // supervisor_adopt.cpp: taking over a crashed (or re-executed) supervisor's registry
  Status adopt_control();
  void adopt_fleet(pid_t predecessor);
  void reexec(std::optional<Waiter> waiter);
  void answer_reexec();
  void remove_own_reply_queues();
  void cleanup_objects();
  void finish();
  void run_timers();
  void feed(std::uint32_t slot, std::uint64_t incarnation, lifecycle::Event ev);
  void scan_memory();
  void run_inbox();
  void step_worker(std::uint32_t slot, std::uint64_t incarnation, const lifecycle::Event& ev);
  void after_workers_changed();
  bool boot_settled() const;
  void feed_manager(manager_phase::Event ev);
  lifecycle::Context context(const Entry& e) const;
  void reply(const Waiter& w, const Frame& f);
  void reply_error(const Waiter& w, Errc code, const std::string& message);
  // A put's answer: the worker's whole record; an import item's, its short
  // form (protocol.hpp, kPutMany), which is all its batch has room for.
  void reply_record(const Waiter& w, const SlotRecord& rec);

  // supervisor_store.cpp: the state database (nothing here when it is off)
  void open_store();
  void close_store();
  void reconcile_store();
  void restore_stored(std::map<std::string, ChildSpec>& specs,
                      std::map<std::string, StoredWorker>& rows);
  void persist(const Entry& e);
  void persist_restored(const Entry& e, const StoredWorker& was);
  void persist_update(const Entry& e);
  void persist_restarts(const Entry& e);
  void persist_removal(const Entry& e);
  void persist_passive(const Entry& e);
  void persist_exit(const Entry& e, const ExitRecord& x);
  void restore_exits(std::uint32_t slot, const std::string& id);
  Deadline store_deadline() const;
  void service_store();
  void publish_persistence(bool force);

  // supervisor_requests.cpp: what clients ask
  void dispatch(const Frame& f);
  void handle_request(const Frame& f);
  void handle_put(const Waiter& w, const protocol::ControlRequest& req);
  void handle_restart_worker(const Waiter& w, const protocol::ControlRequest& req);
  void handle_reload(const Waiter& w, const protocol::ControlRequest& req);
  void handle_put_many(const Frame& f);
  // An item's answer (a whole put reply's body) into its batch; the batch's
  // one reply goes out with the last one.
  void collect(const Waiter& w, std::string body);
  void answer_batch(std::uint64_t batch);
  void handle_queue_dead(const Frame& f);

  // supervisor_workers.cpp: what workers report, and the actions on them
  void handle_worker(const Frame& f);
  Status apply_update(Entry& e, const protocol::WorkerMessage& m);
  void handle_wake();
  bool drain_control();
  void reap(pid_t pid);
  // supervisor_containment.cpp: cgroup leaves (README "Containment")
  Status choose_containment();
  std::string worker_containment() const;
  void end_leaf(std::optional<std::uint32_t> slot, pid_t pid);
  void retry_leaves();
  void sweep_leaves(bool adopting);
  void remove_leaves();
  bool carry_out(std::uint32_t slot, lifecycle::Action& a);
  void send_terminate(Entry& e, const std::string& reason);
  void release_mailbox(Entry& e, std::uint64_t restart_after_ms);
  void handle_activate(const Waiter& w, const protocol::ControlRequest& req);
  void spawn(Entry& e);
  // A worker process: forked by the template, or posix_spawn + exec.
  // `restart`: a start after an exit, which takes the template's spare.
  Result<SpawnedProcess> start_worker_process(const std::vector<std::string>& argv,
                                              const std::vector<std::string>& env,
                                              const SpawnFds& fds, bool restart);
  void keep_spare();
  void publish(Entry& e);
  // Sleeping passive ids (supervisor/fleet.hpp): whether an entry may sleep
  // (passive, nothing pending), the Entry a sleeping slot wakes as, and the
  // sweep that puts the candidates to sleep (each loop turn, inbox empty).
  bool can_sleep(const Entry& e, std::uint64_t now_ms) const;
  std::optional<Entry> wake(std::uint32_t slot);
  void put_to_sleep();
  void apply_spec(Entry& e, ChildSpec spec);
  void remove(std::uint32_t slot);
  Result<std::uint32_t> start_new(const std::string& id, ChildSpec spec, bool boot,
                                  bool pool_member, std::optional<Waiter> waiter,
                                  const StoredWorker* restored = nullptr,
                                  std::string_view how = {}, bool passive = false);
  void start_replacement(lifecycle::Replacement r);
  void carry_out_manager(manager_phase::Action& a);
  void set_state(ManagerState s);
  // The event ring (`dynmgrctl watch`): publish one event (nothing if it is off).
  void emit(FleetEvent e);
  // An applied transition's exit-history entry, and its events for step_worker
  // to publish (supervisor_workers.cpp).
  std::vector<FleetEvent> note_transition(Entry& e, const lifecycle::WorkerState& before,
                                          const lifecycle::Event& ev,
                                          const lifecycle::Transition& t);
  // systemd (README "systemd"): READY/STOPPING/STATUS for a state change, and
  // any message; a failure is logged, never fatal. No-ops outside systemd.
  void notify_state(ManagerState s);
  void notify_service(const std::string& message);
  std::string status_line() const;
  void boot_children();
  void stop_all(lifecycle::StopCause cause);

  struct PendingEvent {
    std::uint32_t slot;
    std::uint64_t incarnation;
    lifecycle::Event event;
  };

  ManagerCalls m_;         // every callback into the manager, exceptions caught
  SupervisorOptions opt_;  // constant after start()
  const Names names_;
  std::atomic<std::uint64_t> control_generation_{0};
  ChildWatcher watcher_;
  Outbox outbox_;
  std::optional<InstanceLock> lock_;
  std::optional<RegistryWriter> reg_;
  std::optional<Queue> control_;
  std::optional<EventWriter> events_;
  std::unique_ptr<MetricsServer> metrics_;  // --metrics-listen
  std::uint64_t dropped_seen_ = 0;
  Fleet fleet_;
  // Slots of the workers started as boot children (a superset: each is
  // checked): what `starting` -> `up` waits for. Restored passive ids are not
  // in it, so a boot with a million of them does not walk them per event.
  std::set<std::uint32_t> boot_slots_;
  // Slots published passive or woken since the last sweep: put_to_sleep()
  // looks at these only.
  std::vector<std::uint32_t> drowsy_;
  // Slept since the last unmap of their registry pages, and since when.
  std::vector<std::uint32_t> unmap_due_;
  std::uint64_t unmap_since_ = 0;
  TimerQueue timers_;
  OverrunWatch overruns_;
  std::uint64_t mailbox_counter_ = 0;
  // adopt_control found the predecessor's control queue unusable and made a
  // new one: adopt_fleet restarts the workers that cannot open it.
  bool control_replaced_at_adoption_ = false;
  // The children last applied (boot, manager restart, `reload`), each as its
  // check_spec() completed it: `reload` changes only what differs from these.
  std::map<std::string, ChildSpec> children_;
  // The shared-object check (supervisor_shm.cpp).
  std::optional<ShmWatch> shm_watch_;
  std::uint64_t mailbox_bytes_ = 0;  // a whole mailbox's segment (0: none seen yet)
  std::uint64_t events_bytes_ = 0;   // the event ring's object when created or attached
  std::uint64_t bus_faults_seen_ = 0;
  std::deque<PendingEvent> inbox_;  // worker events raised while carrying out actions
  bool feeding_ = false;
  manager_phase::State phase_;
  std::deque<manager_phase::Event> manager_inbox_;
  bool feeding_manager_ = false;
  ManagerState state_ = ManagerState::kUnknown;  // what the registry shows
  std::vector<Waiter> stop_waiters_;             // answered after cleanup
  // put-many batches still waiting for some item's outcome (ready, failure),
  // by the number their items' waiters carry. One whose client has given up
  // is dropped at the next batch's arrival; late answers to it are ignored.
  struct Batch {
    Waiter client;
    std::uint64_t deadline_mono_ms = 0;
    std::vector<std::string> bodies;  // per item: its put reply's body ("" while pending)
    std::size_t pending = 0;
  };
  std::map<std::uint64_t, Batch> batches_;
  std::uint64_t batch_counter_ = 0;
  bool finished_ = false;
  const ServiceNotifier notifier_ = ServiceNotifier::from_environment();

  std::optional<LogLink> logs_;  // worker logs; set in start()

  // The worker template (README "Worker start"): started at the first spawn;
  // dropped when it fails, and not tried again after kTemplateTries failures.
  std::optional<WorkerTemplate> template_;
  std::uint32_t template_failures_ = 0;
  static constexpr std::uint32_t kTemplateTries = 3;

  // Containment (supervisor_containment.cpp), set in start().
  Containment containment_ = Containment::kNone;
  // The instance's cgroup directory: ours in cgroup mode, or a predecessor's
  // found at start (its workers' leaves are still ended at their reap).
  std::string leaf_root_;
  std::vector<std::string> dying_leaves_;  // killed, not yet empty: retried on a timer
  std::uint32_t leaf_retries_ = 0;

  // The state database (supervisor_store.cpp).
  std::optional<StateStore> store_;
  int state_lock_fd_ = -1;            // flock on <state dir>/lock while store_ is open
  std::vector<StoredWorker> stored_;  // what it held at start: restored at the first boot
  bool restore_due_ = false;
  PersistenceInfo persistence_;          // as last published in the registry header
  std::string open_error_;               // why the database could not be opened
  std::uint64_t error_logged_mono_ = 0;  // failures are logged at most once a minute
  std::string error_logged_;
};

}  // namespace dynmgr
