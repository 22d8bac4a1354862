// libFuzzer target: RegistryReader (shared/registry.cpp) over a segment whose
// bytes and size the fuzzer controls, read as every reader reads it: open
// (header and size checks), header, the liveness checks, snapshot (full and
// brief), read by slot, find by id, stats, and the `state --json` / `get`
// encodings of each record.
//
// Setup, once: a real writer creates a small registry (4 slots, 256-byte
// payloads) and writes records; its bytes are the seed (make_seeds writes them
// to fuzz/corpus/registry_reader/). Each run: the segment becomes the input
// (bytes and size), then two patches keep a reader going past open: the
// supervisor's pid is 0 (dead, so a slot that stays "mid-update" is given up
// on at once instead of after the live-writer patience of 1 s), and slot 0's
// worker is this process (pid + start time), so open's "any worker alive"
// holds. Properties: no crash, no out-of-bounds read, no hang.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz/segment.hpp"
#include "shared/names.hpp"
#include "shared/process_identity.hpp"
#include "shared/protocol.hpp"
#include "shared/registry.hpp"
#include "shared/worker_info.hpp"

namespace {

using namespace dynmgr;

constexpr pid_t kMarkPid = 0x5EED0001;
constexpr std::uint64_t kMarkStart = 0x5EED00000000AB01ULL;
constexpr pid_t kMarkSupervisor = 0x5EED0002;
constexpr std::uint64_t kMarkSupervisorStart = 0x5EED00000000AB02ULL;

SlotRecord record(std::uint32_t slot, const std::string& id, pid_t pid, std::uint64_t start) {
  SlotRecord r;
  r.slot = slot;
  r.id = id;
  r.status = WorkerStatus::kRunning;
  r.pid = pid;
  r.pid_start_time = start;
  r.payload = R"({"n":1,"tags":["a","b"]})";
  r.value = "42";
  r.options = R"({"exec":["/bin/cat"],"env":{"K":"V"}})";
  r.timeout_ms = 1000;
  r.lull = 1.1;
  return r;
}

struct Setup {
  Names names{"fuzz-registry-" + std::to_string(::getpid())};
  std::string path = Names::shm_path(names.registry());
  std::string fresh;  // the writer's segment, real pid patched in
  std::vector<std::size_t> pid_at, start_at, sup_pid_at, sup_start_at;
  ProcessIdentity self = ProcessIdentity::self();

  Setup() {
    RegistryConfig c;
    c.capacity = 4;
    c.max_payload = 256;
    auto w = RegistryWriter::create(names, c);
    if (!w) std::abort();
    static const std::string* unlink_at_exit = new std::string(names.registry());
    std::atexit([] { ::shm_unlink(unlink_at_exit->c_str()); });
    auto s0 = w->allocate();
    auto s1 = w->allocate();
    if (!s0 || !s1 || *s0 != 0) std::abort();
    if (!w->write(record(*s0, "w0", kMarkPid, kMarkStart))) std::abort();
    SlotRecord r1 = record(*s1, "second worker", 0, 0);
    r1.status = WorkerStatus::kFailed;
    r1.payload.assign(200, 'x');  // out of line
    r1.payload = "\"" + r1.payload + "\"";
    if (!w->write(r1)) std::abort();
    ExitRecord x;
    x.at_ms = 1;
    x.exit.kind = ExitInfo::Kind::kSignaled;
    x.exit.code = 9;
    x.exit.reason = "killed by SIGKILL";
    (void)w->record_exit(*s1, x);
    w->set_supervisor(kMarkSupervisor, kMarkSupervisorStart);
    fresh = read_segment(path);
    pid_at = fuzz::find_value(fresh, kMarkPid);
    start_at = fuzz::find_value(fresh, kMarkStart);
    sup_pid_at = fuzz::find_value(fresh, kMarkSupervisor);
    sup_start_at = fuzz::find_value(fresh, kMarkSupervisorStart);
    if (pid_at.size() != 1 || start_at.size() != 1 || sup_pid_at.size() != 1 ||
        sup_start_at.size() != 1) {
      std::abort();  // the layout changed: the markers must be found exactly once
    }
    patch_liveness(fresh);
  }

  void patch_liveness(std::string& seg) const {
    fuzz::patch(seg, pid_at[0], self.pid);
    fuzz::patch(seg, start_at[0], self.start_time);
    fuzz::patch<pid_t>(seg, sup_pid_at[0], 0);
    fuzz::patch<std::uint64_t>(seg, sup_start_at[0], 0);
  }

  static Setup& instance() {
    static Setup s;
    return s;
  }

  static std::string read_segment(const std::string& path) { return fuzz::read_segment(path); }
};

void use(const SlotRecord& r) {
  (void)to_json(protocol::record_to_json(r));
  (void)worker_fields(r);
  (void)display_status(r);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const Setup& s = Setup::instance();
  // The harness itself must still work (after a layout change, say): the
  // writer's own segment, patched, opens and shows both records.
  fuzz::write_segment(s.path, s.fresh);
  auto reader = RegistryReader::open(s.names);
  auto all = reader ? reader->snapshot() : Result<std::vector<SlotRecord>>(reader.error());
  if (!all || all->size() != 2) {
    std::fprintf(stderr, "fuzz_registry_reader: the fresh segment does not read back: %s\n",
                 all ? "wrong record count" : all.error().message.c_str());
    std::abort();
  }
  // `make_seeds`-style: DYNMGR_FUZZ_WRITE_SEED=FILE writes the fresh segment.
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
  std::string seg(reinterpret_cast<const char*>(data), size);
  s.patch_liveness(seg);
  fuzz::write_segment(s.path, seg);

  auto reader = RegistryReader::open(s.names);
  if (!reader) return 0;
  const RegistryHeaderInfo h = reader->header();
  (void)reader->supervisor_alive();
  (void)reader->any_worker_alive();
  (void)reader->superseded();
  const std::uint32_t slots = std::min<std::uint32_t>(h.capacity, 64) + 2;  // and past the end
  for (std::uint32_t i = 0; i < slots; ++i) {
    if (auto r = reader->read(i)) use(*r);
    (void)reader->stats(i);
    (void)reader->mailbox_depth(i);
  }
  for (auto detail : {RegistryReader::Detail::kBrief, RegistryReader::Detail::kFull}) {
    auto all = reader->snapshot(detail);
    if (!all) continue;
    for (const auto& r : *all) {
      use(r);
      (void)reader->find(r.id);
    }
  }
  for (const char* id : {"w0", "second worker", "", "absent"}) {
    if (auto r = reader->find(id)) use(*r);
  }
  return 0;
}
