// Queue benchmarks (DESIGN §8: a call round trip ≤ 2 × a raw Boost
// message_queue ping-pong; cast throughput ≥ 200 000 messages/s). Measured side
// by side in one run, each against a forked responder process:
//  * BM_RawBoostPingPong    raw boost::interprocess::message_queue, blocking send/receive
//  * BM_FramedPingPong      dynmgr::Queue (frame + crc32 + dead-queue handling + bell)
//  * BM_RawBoostStream      one-way stream to a draining process (throughput)
//  * BM_FramedStream        the same through dynmgr::Queue
// Messages carry a 64-byte JSON body; queues are 64 deep with 1 KiB slots.

#include "shared/names.hpp"
#include "shared/queue.hpp"

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

namespace {

namespace bip = boost::interprocess;
using dynmgr::Deadline;
using dynmgr::Frame;
using dynmgr::MessageKind;
using dynmgr::Queue;

constexpr std::uint32_t kDepth = 64;
constexpr std::uint32_t kMsgSize = 1024;
const std::string kBody = R"({"id":"worker-1","message":["+","tomato"],"pad":"xxxxxxxxxxxx"})";

std::string qname(const char* what, int n) {
  return dynmgr::Names("bench" + std::to_string(::getpid())).prefix() + what + "." + std::to_string(n);
}

constexpr std::uint64_t kStop = ~0ULL;

// ---------------------------------------------------------------- raw Boost

void raw_responder(const std::string& req_name, const std::string& resp_name, bool reply) {
  bip::message_queue req(bip::open_only, req_name.c_str());
  bip::message_queue resp(bip::open_only, resp_name.c_str());
  char buf[kMsgSize];
  for (;;) {
    bip::message_queue::size_type n = 0;
    unsigned prio = 0;
    req.receive(buf, sizeof buf, n, prio);
    std::uint64_t id = 0;
    std::memcpy(&id, buf, sizeof id);
    if (id == kStop) {
      resp.send(buf, n, 0);  // acknowledge the stop
      return;
    }
    if (reply) resp.send(buf, n, 0);
  }
}

struct RawPair {
  std::string req_name;
  std::string resp_name;
  std::unique_ptr<bip::message_queue> req;
  std::unique_ptr<bip::message_queue> resp;
  pid_t child = -1;

  RawPair(const char* what, bool reply) : req_name(qname(what, 0)), resp_name(qname(what, 1)) {
    bip::message_queue::remove(req_name.c_str());
    bip::message_queue::remove(resp_name.c_str());
    bip::permissions perm;
    perm.set_permissions(0600);
    req = std::make_unique<bip::message_queue>(bip::create_only, req_name.c_str(), kDepth, kMsgSize, perm);
    resp = std::make_unique<bip::message_queue>(bip::create_only, resp_name.c_str(), kDepth, kMsgSize, perm);
    child = ::fork();
    if (child == 0) {
      raw_responder(req_name, resp_name, reply);
      ::_exit(0);
    }
  }
  ~RawPair() {
    std::string msg(8 + kBody.size(), '\0');
    std::memcpy(msg.data(), &kStop, sizeof kStop);
    req->send(msg.data(), msg.size(), 0);
    char buf[kMsgSize];
    bip::message_queue::size_type n = 0;
    unsigned prio = 0;
    // Drain until the stop acknowledgement (streamed replies are not sent).
    for (;;) {
      resp->receive(buf, sizeof buf, n, prio);
      std::uint64_t id = 0;
      std::memcpy(&id, buf, sizeof id);
      if (id == kStop) break;
    }
    ::waitpid(child, nullptr, 0);
    bip::message_queue::remove(req_name.c_str());
    bip::message_queue::remove(resp_name.c_str());
  }
};

void BM_RawBoostPingPong(benchmark::State& state) {
  RawPair p("rawpp", /*reply=*/true);
  std::string msg(8 + kBody.size(), '\0');
  std::memcpy(msg.data() + 8, kBody.data(), kBody.size());
  char buf[kMsgSize];
  std::uint64_t id = 0;
  for (auto _ : state) {
    ++id;
    std::memcpy(msg.data(), &id, sizeof id);
    p.req->send(msg.data(), msg.size(), 0);
    bip::message_queue::size_type n = 0;
    unsigned prio = 0;
    p.resp->receive(buf, sizeof buf, n, prio);
  }
  state.counters["round_trips/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RawBoostPingPong)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_RawBoostStream(benchmark::State& state) {
  RawPair p("rawst", /*reply=*/false);
  std::string msg(8 + kBody.size(), '\0');
  std::memcpy(msg.data() + 8, kBody.data(), kBody.size());
  std::uint64_t id = 0;
  for (auto _ : state) {
    ++id;
    std::memcpy(msg.data(), &id, sizeof id);
    p.req->send(msg.data(), msg.size(), 0);
  }
  state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RawBoostStream)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---------------------------------------------------------------- dynmgr::Queue

void framed_responder(const std::string& req_name, const std::string& resp_name, bool reply) {
  auto req = Queue::open(req_name);
  auto resp = Queue::open(resp_name);
  if (!req || !resp) ::_exit(2);
  for (;;) {
    auto f = req->receive(Deadline::never());
    if (!f) ::_exit(3);
    if (f->request_id == kStop) {
      (void)resp->send(*f, Deadline::never());
      return;
    }
    if (reply) {
      f->kind = MessageKind::kReply;
      if (!resp->send(*f, Deadline::never())) ::_exit(4);
    }
  }
}

struct FramedPair {
  std::string req_name;
  std::string resp_name;
  std::optional<Queue> req;
  std::optional<Queue> resp;
  pid_t child = -1;

  FramedPair(const char* what, bool reply) : req_name(qname(what, 0)), resp_name(qname(what, 1)) {
    auto a = Queue::create(req_name, kDepth, kMsgSize);
    auto b = Queue::create(resp_name, kDepth, kMsgSize);
    if (!a || !b) std::abort();
    req.emplace(std::move(*a));
    resp.emplace(std::move(*b));
    child = ::fork();
    if (child == 0) {
      framed_responder(req_name, resp_name, reply);
      ::_exit(0);
    }
  }
  ~FramedPair() {
    (void)req->send(Frame{MessageKind::kStop, kStop, "{}"}, Deadline::never());
    for (;;) {
      auto f = resp->receive(Deadline::after(std::chrono::seconds(10)));
      if (!f || f->request_id == kStop) break;
    }
    ::waitpid(child, nullptr, 0);
    Queue::remove(req_name);
    Queue::remove(resp_name);
  }
};

void BM_FramedPingPong(benchmark::State& state) {
  FramedPair p("framedpp", /*reply=*/true);
  Frame f{MessageKind::kCall, 0, kBody};
  for (auto _ : state) {
    ++f.request_id;
    if (!p.req->send(f, Deadline::never())) state.SkipWithError("send failed");
    auto r = p.resp->receive(Deadline::never());
    if (!r || r->request_id != f.request_id) state.SkipWithError("bad reply");
  }
  state.counters["round_trips/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FramedPingPong)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_FramedStream(benchmark::State& state) {
  FramedPair p("framedst", /*reply=*/false);
  Frame f{MessageKind::kCast, 0, kBody};
  for (auto _ : state) {
    ++f.request_id;
    if (!p.req->send(f, Deadline::never())) state.SkipWithError("send failed");
  }
  state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FramedStream)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
