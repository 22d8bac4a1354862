// Restart latency: SIGKILL -> replacement ready, dynmgr vs a bare supervisor.
//
// Baseline (same run, same machine): a minimal supervisor loop that
// posix_spawns `ready_child`, which writes one byte to a pipe when it is up;
// we SIGKILL it, reap it, respawn it and wait for the byte.
// dynmgr: a `probe` supervisor with one worker (timeout 0, restart intensity
// out of the way, backoff reset by --healthy-uptime 0); we SIGKILL the worker
// and read the registry slot until a new pid is `running` (i.e. the new
// worker has attached its registry, mailbox and control queue and reported
// ready), sleeping on the event ring between reads: like the floor's read of
// its pipe, the measurer takes no CPU from what it measures (on two cores a
// spinning measurer takes one of them from the supervisor and the worker).
// Passivation (README "Passivation"): a call to a passive id, as the caller
// sees it (activate request, spawn, init, the call's round trip), against the
// restart above from the same run (target: <= 2x).
//
// GAP (ms, default 0) pauses after each restart, untimed, on both sides: 0 is
// a crash loop (the next kill comes as soon as the replacement runs, while
// the supervisor still makes the template's next spare, README "Worker
// start"); 20 is a crash now and then, where the spare is ready.
//
//   restart_bench [KILLS] [GAP]   (default 300 0)
#include <fcntl.h>
#include <spawn.h>

#include <iostream>

#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"
#include "shared/event_ring.hpp"
#include "shared/names.hpp"
#include "shared/registry.hpp"

namespace {

// The measured interval of a restart = kill + reap + spawn + ready: the
// floor is the same four steps around a bare process.
std::vector<double> bare_round_trips(int kills, int gap_ms) {
  std::vector<double> out;
  for (const auto& b : bench::bare_starts(kills, gap_ms))
    out.push_back(b.spawn_ready_ms + b.kill_reap_ms);
  return out;
}

std::vector<double> dynmgr_restarts(int kills, int gap_ms) {
  const std::string name = "benchrestart" + std::to_string(::getpid());
  if (!bench::start_probe(name, {"--healthy-uptime", "0"})) std::exit(1);
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) std::abort();
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.max_restarts = 1'000'000;
  spec.within_ms = 1;
  auto rec = client->put("w", spec);
  if (!rec) {
    std::cerr << rec.error().message << "\n";
    std::exit(1);
  }
  // Poll the registry slot directly (Client::get also checks the supervisor
  // through /proc on every call, which would steal CPU from what we measure).
  auto reader = dynmgr::RegistryReader::open(dynmgr::Names(name));
  auto events = dynmgr::EventReader::open(dynmgr::Names(name));
  if (!reader || !events) std::abort();
  const std::uint32_t slot = rec->slot;
  std::vector<double> out;
  pid_t pid = rec->pid;
  for (int i = 0; i < kills; ++i) {
    std::uint64_t cursor = events->next_seq();
    const std::uint64_t t0 = bench::now_ns();
    ::kill(pid, SIGKILL);
    for (;;) {
      auto r = reader->read(slot);
      if (r && r->pid != pid && r->pid > 0 && r->status == dynmgr::WorkerStatus::kRunning) {
        pid = r->pid;
        break;
      }
      // Every change of the slot comes with an event: wake at the next one.
      events->wait(cursor, std::chrono::milliseconds(20));
      cursor = events->next_seq();
    }
    out.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  (void)client->stop();
  return out;
}

// Each round: wait until the worker is passive again (it passivates 20 ms
// after its last call), then time one call from the caller's side.
std::vector<double> passive_calls(int calls) {
  const std::string name = "benchpassive" + std::to_string(::getpid());
  if (!bench::start_probe(name, {})) std::exit(1);
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) std::abort();
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.passivate_after_ms = 20;
  auto rec = client->put_passive("p", spec);
  if (!rec) {
    std::cerr << rec.error().message << "\n";
    std::exit(1);
  }
  auto reader = dynmgr::RegistryReader::open(dynmgr::Names(name));
  auto events = dynmgr::EventReader::open(dynmgr::Names(name));
  if (!reader || !events) std::abort();
  const dynmgr::json::value msg = "pid";
  std::vector<double> out;
  for (int i = 0; i < calls; ++i) {
    for (std::uint64_t cursor = events->next_seq();; cursor = events->next_seq()) {
      auto r = reader->read(rec->slot);
      if (r && r->status == dynmgr::WorkerStatus::kPassive) break;
      events->wait(cursor, std::chrono::milliseconds(100));
    }
    const std::uint64_t t0 = bench::now_ns();
    auto r = client->call("p", msg);
    if (!r) {
      std::cerr << "call: " << r.error().message << "\n";
      std::exit(1);
    }
    out.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  (void)client->stop();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int kills = argc > 1 ? std::atoi(argv[1]) : 300;
  const int gap_ms = argc > 2 ? std::atoi(argv[2]) : 0;
  std::printf("pause after each restart: %d ms\n", gap_ms);
  // Interleave the two a few times so drift affects both alike.
  std::vector<double> bare, dyn, passive;
  for (int round = 0; round < 3; ++round) {
    auto b = bare_round_trips(kills / 3, gap_ms);
    bare.insert(bare.end(), b.begin(), b.end());
    auto d = dynmgr_restarts(kills / 3, gap_ms);
    dyn.insert(dyn.end(), d.begin(), d.end());
    auto p = passive_calls(kills / 6);
    passive.insert(passive.end(), p.begin(), p.end());
  }
  const auto sb = bench::summarize(bare);
  const auto sd = bench::summarize(dyn);
  const auto sp = bench::summarize(passive);
  bench::print("bare spawn+ready+kill+reap (baseline)", sb);
  bench::print("dynmgr: SIGKILL -> replacement running", sd);
  bench::print("dynmgr: call to a passive id (answered)", sp);
  std::printf("ratio (median) dynmgr / bare: %.2fx   (target <= 1.5x)\n", sd.median_ms / sb.median_ms);
  std::printf("ratio (median) passive call / restart: %.2fx   (target <= 2x)\n",
              sp.median_ms / sd.median_ms);
  return 0;
}
