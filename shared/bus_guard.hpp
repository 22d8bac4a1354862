#pragma once
// A SIGBUS from a shared object someone truncated must not kill the process
// that maps it (README "Tampered shared memory").
//
// Touching a page of a MAP_SHARED mapping past the end of its file raises
// SIGBUS with si_code BUS_ADRERR. install_bus_guard() catches exactly that:
// the handler maps a private zero page over the faulting page and returns, so
// the access is retried and reads zeros (a write lands in private memory and
// is lost). It counts the faults; the owner of the object notices the
// truncation on its own check (or when the count moves) and recreates the
// object. Any other SIGBUS (an alignment trap, a hardware memory error) keeps
// its default action: the process dies, as it would without the guard.
//
// For the supervisor, whose death would take every worker's supervision with
// it. Not installed in workers: their manager code may map files of its own,
// and a worker that faults on a truncated queue is restarted like any crash.
//
// Threading: process-wide (a signal disposition); installing twice is harmless.

#include <cstdint>

namespace dynmgr {

void install_bus_guard();
// Faults absorbed since the process started.
std::uint64_t bus_faults() noexcept;

}  // namespace dynmgr
