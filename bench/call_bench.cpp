// Call round trip and cast throughput (DESIGN.md §8), in one run:
//  * raw: a Boost message_queue ping-pong between two processes (32-byte messages)
//  * dynmgr: Client::call to a probe worker (["echo", n]), small message
//  * casts: Client::cast to one worker, then one call to make sure every cast
//    was consumed; throughput = casts / elapsed. CAST picks the message:
//      noop   "noop": the worker handles it alone, the supervisor never hears of it
//      add    ["add", 1]: the worker commits a new payload for each one, so every
//             cast is also a payload update the supervisor applies (and stores)
//
//   call_bench [CALLS] [CASTS] [CAST]   (defaults 20000, 200000, noop)
#include "bench/bench_util.hpp"
#include "dynmgr/client.hpp"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <iostream>

namespace bip = boost::interprocess;

namespace {

std::vector<double> raw_ping_pong(int n) {
  const std::string a = "dynmgr_bench_ping_" + std::to_string(::getpid());
  const std::string b = "dynmgr_bench_pong_" + std::to_string(::getpid());
  bip::message_queue::remove(a.c_str());
  bip::message_queue::remove(b.c_str());
  bip::message_queue ping(bip::create_only, a.c_str(), 16, 256);
  bip::message_queue pong(bip::create_only, b.c_str(), 16, 256);
  const pid_t child = ::fork();
  if (child == 0) {
    char buf[256];
    bip::message_queue::size_type got = 0;
    unsigned prio = 0;
    for (int i = 0; i < n + 100; ++i) {
      ping.receive(buf, sizeof buf, got, prio);
      pong.send(buf, got, 0);
    }
    ::_exit(0);
  }
  char msg[32] = "ping-pong-ping-pong-ping-pong-p";
  char buf[256];
  bip::message_queue::size_type got = 0;
  unsigned prio = 0;
  std::vector<double> out;
  for (int i = 0; i < n + 100; ++i) {
    const std::uint64_t t0 = bench::now_ns();
    ping.send(msg, sizeof msg, 0);
    pong.receive(buf, sizeof buf, got, prio);
    if (i >= 100) out.push_back(static_cast<double>(bench::now_ns() - t0) / 1e6);
  }
  int st = 0;
  ::waitpid(child, &st, 0);
  bip::message_queue::remove(a.c_str());
  bip::message_queue::remove(b.c_str());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bench::setup_output();
  const int calls = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int casts = argc > 2 ? std::atoi(argv[2]) : 200000;
  const std::string cast_mode = argc > 3 ? argv[3] : "noop";
  if (cast_mode != "noop" && cast_mode != "add") {
    std::cerr << "call_bench: CAST must be noop or add, not '" << cast_mode << "'\n";
    return 2;
  }
  const bool add = cast_mode == "add";
  const std::string name = "benchcall" + std::to_string(::getpid());
  if (!bench::start_probe(name, {"--mailbox-depth", "256"})) return 1;
  auto client = dynmgr::Client::connect(dynmgr::Client::Options{name, dynmgr::Millis(10000)});
  if (!client) return 1;
  dynmgr::ChildSpec spec;
  spec.timeout_ms = 0;
  spec.payload = 0;  // a number: the adds count up from it
  if (!client->put("echo", spec)) return 1;

  std::vector<double> raw, dyn;
  for (int round = 0; round < 2; ++round) {
    auto r = raw_ping_pong(calls / 2);
    raw.insert(raw.end(), r.begin(), r.end());
    for (int i = 0; i < calls / 2 + 100; ++i) {
      const dynmgr::json::value msg = dynmgr::json::array{"echo", i};
      const std::uint64_t t0 = bench::now_ns();
      auto rep = client->call("echo", msg);
      const std::uint64_t t1 = bench::now_ns();
      if (!rep) {
        std::cerr << "call failed: " << rep.error().message << "\n";
        return 1;
      }
      if (i >= 100) dyn.push_back(static_cast<double>(t1 - t0) / 1e6);
    }
  }
  const auto sr = bench::summarize(raw);
  const auto sd = bench::summarize(dyn);
  bench::print("raw message_queue ping-pong (baseline)", sr);
  bench::print("dynmgr Client::call round trip", sd);
  std::printf("ratio (median) call / raw: %.2fx   (target <= 2x)\n", sd.median_ms / sr.median_ms);

  const dynmgr::json::value message =
      add ? dynmgr::json::value(dynmgr::json::array{"add", 1}) : dynmgr::json::value("noop");
  const std::uint64_t t0 = bench::now_ns();
  for (int i = 0; i < casts; ++i) {
    if (auto st = client->cast("echo", message); !st) {
      std::cerr << "cast failed: " << st.error().message << "\n";
      return 1;
    }
  }
  const auto payload = client->call("echo", dynmgr::json::value("get"));  // every cast consumed
  const double secs = static_cast<double>(bench::now_ns() - t0) / 1e9;
  // The payload counts the adds: a cast lost, or one whose payload was not
  // committed, would flatter the figure.
  if (add && (!payload || *payload != dynmgr::json::value(static_cast<std::int64_t>(casts)))) {
    std::cerr << "payload after " << casts << " adds: "
              << (payload ? dynmgr::to_json(*payload) : payload.error().message) << "\n";
    (void)client->stop();
    return 1;
  }
  std::printf("%-48s %d casts in %.3f s = %.0f casts/s   (target >= 200000/s)\n",
              add ? "dynmgr add cast throughput (a commit per cast)"
                  : "dynmgr cast throughput into one worker",
              casts, secs, casts / secs);
  (void)client->stop();
  return 0;
}
