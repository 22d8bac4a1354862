#pragma once
// The node's shared state (cluster/node.hpp), between its lease thread, its
// reconcile thread and its gateway's connection threads. Everything under
// `m`; no thread holds it across a request to etcd, a gateway or the local
// supervisor.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/node.hpp"
#include "cluster/plan.hpp"
#include "dynmgr/client.hpp"
#include "dynmgr/json.hpp"
#include "shared/cluster_layout.hpp"
#include "shared/etcd.hpp"

namespace dynmgr::cluster {

enum class Mode {
  kJoining,  // no lease yet: nothing owned
  kServing,  // lease held, etcd reachable
  kOutage,   // etcd unreachable for every node that answers: serve, change nothing
  kFenced,   // cut off from etcd while others reach it: workers stopped
};
const char* mode_name(Mode m) noexcept;

// Local clients for the gateway's threads, reused (each owns a reply queue).
class ClientPool {
 public:
  explicit ClientPool(std::string instance) : instance_(std::move(instance)) {}
  Result<std::unique_ptr<Client>> take(Millis timeout);
  void give_back(std::unique_ptr<Client> c);

 private:
  std::string instance_;
  std::mutex m_;
  std::vector<std::unique_ptr<Client>> free_;
};

struct Node::Impl {
  explicit Impl(NodeOptions o) : opt(std::move(o)), layout(opt.cluster), clients(opt.instance) {}

  const NodeOptions opt;
  const Layout layout;
  ClientPool clients;

  std::mutex m;
  std::condition_variable wake;
  bool stopping = false;
  Mode mode = Mode::kJoining;
  std::int64_t lease = 0;
  Clock::time_point etcd_ok{};                  // the send time of the last renewal that worked
  std::map<std::string, std::int64_t> mine;     // id -> fencing token (owner key's mod revision)
  std::map<std::string, json::object> specs;    // spec as stored, by id (the last one seen)
  std::map<std::string, std::string> written;   // id -> payload text last checkpointed
  std::map<std::string, std::string> advertise; // live node -> HOST:PORT
  std::map<std::string, std::string> owners_cache;  // id -> owner, as last read
  std::set<std::string> busy;                   // ids a gateway thread is putting or deleting
  std::uint64_t fenced_checkpoints = 0;         // checkpoints the fence refused

  std::thread lease_thread;
  std::thread reconcile_thread;

  // The gateway (cluster/gateway.cpp).
  int listen_fd = -1;
  std::thread accept_thread;
  std::atomic<int> connections{0};
  std::mutex conn_m;
  std::set<int> conn_fds;  // open connections, shut down at stop

  etcd::Client make_etcd() const;
  Millis etcd_timeout() const;
  std::unique_ptr<Client> local_client(Millis timeout);

  // Threads.
  void lease_loop();
  void reconcile_loop();
  void accept_loop();
  void serve_connection(int fd);

  // Stops every local worker (dels, side by side). why: for the log.
  void stop_local_workers(const std::string& why);
  // Writes id's payload under its fence; false when the fence refused it (the
  // id is then no longer ours).
  bool checkpoint(etcd::Client& etcd, Client& local, const std::vector<std::string>& ids);
  // A claim of id for this node (create-if-absent under the lease); the token
  // or 0 when another node has it.
  Result<std::int64_t> claim(etcd::Client& etcd, const std::string& id,
                             const std::string* spec_text, bool only_new, bool* spec_existed);
  bool serving() {
    std::lock_guard lock(m);
    return mode == Mode::kServing;
  }
};

}  // namespace dynmgr::cluster
