#pragma once
// The supervisor's side of the worker logs (README "Worker logs"): finds the
// log collector of its log directory, or starts one, and hands it the read
// ends of each new worker's stdout and stderr pipes. The worker gets the write
// ends. No line ever passes through the supervisor: it only creates pipes.
//
// Finding: connect to LOG_DIR/.collector.sock. Starting: take the flock on
// LOG_DIR/.collector.lock (held by a live collector, so free means none runs),
// bind and listen on the socket, connect to it, then spawn the application's
// binary in collector role with the lock and the listening socket (see
// collector/log_collector.hpp). The connection is queued before the collector
// even runs, so nothing waits for it to start.
//
// Failures (a log dir that cannot be created, a collector that cannot be
// started) never stop a worker: it is spawned with the supervisor's own stdout
// and stderr, as with --no-logs, and the failure is logged; the next try is at
// least 10 s later.
//
// Owned by the loop thread.

#include <cstdint>
#include <optional>
#include <string>

#include "shared/error.hpp"

namespace dynmgr {

struct LogConfig {
  std::string dir;                        // empty: no worker logs
  std::uint64_t max_bytes = 10ull << 20;  // rotate the current file beyond this
  unsigned keep = 5;                      // rotated files kept
};

// A worker's stdout and stderr write ends (closed by the destructor, after
// the spawn has given them to the worker).
class WorkerStdio {
 public:
  WorkerStdio(int out, int err) : out_(out), err_(err) {}
  WorkerStdio(WorkerStdio&& o) noexcept : out_(o.out_), err_(o.err_) { o.out_ = o.err_ = -1; }
  WorkerStdio& operator=(WorkerStdio&&) = delete;
  ~WorkerStdio();
  int out() const { return out_; }
  int err() const { return err_; }

 private:
  int out_;
  int err_;
};

class LogLink {
 public:
  LogLink(LogConfig config, std::string executable);
  ~LogLink();
  LogLink(const LogLink&) = delete;
  LogLink& operator=(const LogLink&) = delete;

  bool enabled() const { return !config_.dir.empty(); }
  const LogConfig& config() const { return config_; }
  // The pipes for a worker about to be spawned under id; nullopt: it inherits
  // the supervisor's stdio (logs off, or the collector unreachable: logged).
  std::optional<WorkerStdio> open_for(const std::string& id);

 private:
  Status connect();
  Status start_collector();
  Status send(const std::string& id, int out_read, int err_read);
  void disconnect();

  LogConfig config_;
  std::string executable_;
  int sock_ = -1;
  std::uint64_t retry_after_mono_ = 0;
};

}  // namespace dynmgr
