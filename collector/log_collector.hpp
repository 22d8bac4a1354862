#pragma once
// The log collector: one process per log directory that owns the read ends of
// every worker's stdout and stderr pipes (README "Worker logs").
//
// It is the application's own binary started by a supervisor in collector role
// (`APP --dynmgr-log-collector LOG_DIR`, in its own session) with two
// descriptors: 3, the flock'ed LOG_DIR/.collector.lock (one collector per
// directory), and 4, a listening SOCK_SEQPACKET unix socket bound to
// LOG_DIR/.collector.sock. A supervisor connects and, for each worker it is
// about to spawn, sends one message "R <max_bytes> <keep> <id>" carrying the
// read ends of that worker's two pipes (SCM_RIGHTS). The worker gets the write
// ends as its fds 1 and 2.
//
// Because the read ends live here and not in the supervisor, a supervisor that
// dies or re-executes costs no line and blocks no worker: the pipes stay open,
// and the next supervisor connects to the same collector. A SIGKILLed worker
// loses nothing it wrote either: what is in its pipe is read up to EOF.
//
// Every line is written whole, with a UTC timestamp and its stream (the format
// is shared/log_files.hpp); files rotate by size between lines. A write that
// fails (full disk, EFBIG, EIO) is cut back to the last whole line, its lines
// are dropped and counted, a warning is logged at most every 10 s, and a `log`
// record in the file says how many were lost once writing works again. The
// reader never waits on the disk beyond one write(2).
//
// It exits when no worker pipe and no supervisor connection is left (a clean
// stop, or every orphan gone after a supervisor crash), or on SIGTERM after
// reading what is already in the pipes.

namespace dynmgr {

// argv: APP --dynmgr-log-collector LOG_DIR. Returns the exit code.
int run_log_collector(int argc, char** argv);

}  // namespace dynmgr
