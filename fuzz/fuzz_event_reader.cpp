// libFuzzer target: EventReader (shared/event_ring.cpp), what `dynmgrctl watch`
// and the web dashboard read, over a ring whose bytes and size the fuzzer
// controls: open (header and size checks), the sequence numbers, read from
// several cursors, the JSON and text forms of each event, wait, closed.
//
// Setup, once: a real writer creates a 16-record ring and publishes events of
// every kind; its bytes are the seed. Each run: the ring becomes the input.
// Properties: no crash, no out-of-bounds read, no hang, and read never returns
// more than it is asked for.

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/segment.hpp"
#include "shared/event_ring.hpp"
#include "shared/names.hpp"

namespace {

using namespace dynmgr;

struct Setup {
  Names names{"fuzz-events-" + std::to_string(::getpid())};
  std::string path = Names::shm_path(names.events());
  std::string fresh;

  Setup() {
    auto w = EventWriter::create(names, 16);
    if (!w) std::abort();
    static const std::string* unlink_at_exit = new std::string(names.events());
    std::atexit([] { ::shm_unlink(unlink_at_exit->c_str()); });
    for (std::uint32_t t = 1; t <= static_cast<std::uint32_t>(EventType::kAdopted); ++t) {
      FleetEvent e;
      e.type = static_cast<EventType>(t);
      e.id = "worker-" + std::to_string(t);
      e.pid = 1000 + static_cast<pid_t>(t);
      e.exit.kind = ExitInfo::Kind::kSignaled;
      e.exit.code = 9;
      e.exit.reason = "killed by SIGKILL";
      e.uptime_ms = 1200;
      e.delay_ms = 100;
      e.restarts = t;
      e.state = ManagerState::kUp;
      e.detail = "detail " + std::to_string(t);
      (void)w->publish(e);
    }
    fresh = fuzz::read_segment(path);
  }

  static Setup& instance() {
    static Setup s;
    return s;
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const Setup& s = Setup::instance();
  // The harness itself must still work (after a layout change, say): the
  // writer's own ring reads back every event it published.
  fuzz::write_segment(s.path, s.fresh);
  auto reader = EventReader::open(s.names);
  std::uint64_t cursor = 0;
  const std::size_t n = reader ? reader->read(cursor).size() : 0;
  if (n != static_cast<std::size_t>(EventType::kAdopted)) {
    std::fprintf(stderr, "fuzz_event_reader: the fresh ring does not read back (%zu events%s%s)\n",
                 n, reader ? "" : ": ", reader ? "" : reader.error().message.c_str());
    std::abort();
  }
  if (const char* out = std::getenv("DYNMGR_FUZZ_WRITE_SEED")) {
    FILE* f = std::fopen(out, "wb");
    if (f == nullptr || std::fwrite(s.fresh.data(), 1, s.fresh.size(), f) != s.fresh.size())
      std::abort();
    std::fclose(f);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Setup& s = Setup::instance();
  fuzz::write_segment(s.path, std::string_view(reinterpret_cast<const char*>(data), size));
  auto reader = EventReader::open(s.names);
  if (!reader) return 0;
  const std::uint64_t next = reader->next_seq();
  (void)reader->oldest_seq();
  (void)reader->capacity();
  (void)reader->generation();
  for (std::uint64_t start :
       {std::uint64_t{0}, std::uint64_t{1}, next - 3, next, ~std::uint64_t{0}}) {
    std::uint64_t cursor = start;
    const auto events = reader->read(cursor, 8);
    if (events.size() > 8) std::abort();
    for (const auto& e : events) {
      (void)event_json(e);
      (void)event_text(e);
    }
    reader->wait(cursor, std::chrono::milliseconds(0));
  }
  (void)reader->closed();
  return 0;
}
