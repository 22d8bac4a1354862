// dynmgrctl state: every worker, read straight from the registry.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/context.hpp"
#include "cli/output.hpp"

namespace dynmgr::cli {

namespace {

// What `state --json` holds before it writes: big enough that a small fleet
// (about a hundred workers of short payloads) goes out in one write, so that
// a torn slot among them leaves stdout empty; small enough that memory stays
// flat for millions.
constexpr std::size_t kChunk = 64 * 1024;

// `state --json`, streamed (README "state"): each worker is read, encoded
// and written before the next is read, so memory does not grow with the
// fleet. An error midway leaves what was written without its closing "]}":
// invalid JSON, never a shorter fleet that parses.
void stream_json(Context& ctx, const Client& c) {
  std::string buf;
  buf.reserve(kChunk + 4096);
  int write_errno = 0;
  const auto drain = [&buf, &write_errno] {
    errno = 0;
    if (write_errno == 0 && std::fwrite(buf.data(), 1, buf.size(), stdout) != buf.size()) {
      write_errno = errno != 0 ? errno : EIO;
    }
    buf.clear();
    return write_errno == 0;
  };
  StateJsonWriter writer(c.header(), c.instance(), buf);
  auto st = c.for_each_worker([&](const WorkerInfo& r) {
    writer.add(r);
    return buf.size() < kChunk || drain();
  });
  if (!st) {
    // What buf holds is dropped: the cut document gets no more workers, and
    // never its closing "]}".
    ctx.fail("state", st.error());
    return;
  }
  writer.finish();
  buf += '\n';
  drain();
  errno = 0;
  if (std::fflush(stdout) != 0 && write_errno == 0) write_errno = errno != 0 ? errno : EIO;
  if (write_errno != 0) {
    // SIGPIPE is ignored (main.cpp): a closed pipe is EPIPE here.
    ctx.fail("state", Errc::kFailed,
             std::string("unable to write stdout: ") + std::strerror(write_errno));
  }
}

}  // namespace

void add_state(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("state", "show the manager and every worker");
  cmd->callback([&ctx] {
    if (ctx.in_cluster()) {
      cluster_state(ctx);
      return;
    }
    Client* c = ctx.connect("state");
    if (c == nullptr) return;
    if (ctx.json) {
      stream_json(ctx, *c);
      return;
    }
    auto all = c->state();
    if (!all) {
      ctx.fail("state", all.error());
      return;
    }
    print_table(c->header(), c->instance(), *all, terminal_width());
  });
}

}  // namespace dynmgr::cli
