// dynmgrctl list: this user's instances, found by their objects in /dev/shm.
// dynmgrctl cleanup NAME: removes the shared objects a dead instance left.
//
// Neither sends a request: an instance's objects are named
// dynmgr.<uid>.<name>.*, its instance lock says whether a supervisor holds it,
// and its registry whether workers still live (waiting to be adopted).
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>

#include "shared/instance_lock.hpp"
#include "shared/process_identity.hpp"
#include "shared/registry.hpp"
#include "shared/shm_objects.hpp"

namespace dynmgr::cli {
namespace {

struct InstanceSummary {
  std::string name;
  std::size_t objects = 0;
  std::string state;  // live, orphaned (workers wait for adoption), stale
  pid_t supervisor = 0;
  std::size_t workers = 0;       // records in the registry
  std::size_t live_workers = 0;  // of them, processes still running
  // Why the registry could not be read (another layout, truncated, ...): an
  // instance run by another version of dynmgr, or a damaged segment.
  std::string registry_error;
};

// Instance names that have at least one object, with how many.
std::map<std::string, std::size_t> instances_in_shm() {
  const std::string prefix = "dynmgr." + std::to_string(::getuid()) + ".";
  std::map<std::string, std::size_t> out;
  for (const auto& obj : list_shm_objects(prefix)) {
    const auto rest = std::string_view(obj).substr(prefix.size());
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    const std::string name(rest.substr(0, dot));
    if (!validate_instance_name(name)) continue;  // not one of ours
    ++out[name];
  }
  return out;
}

InstanceSummary summarize(const std::string& name, std::size_t objects) {
  InstanceSummary s;
  s.name = name;
  s.objects = objects;
  const Names names(name);
  const bool locked = InstanceLock::held(names);
  auto reader = RegistryReader::open(names);
  if (reader) {
    if (reader->supervisor_alive()) s.supervisor = reader->header().supervisor_pid;
    if (auto all = reader->snapshot()) {
      s.workers = all->size();
      for (const auto& r : *all) {
        if (r.pid > 0 && process_alive(r.pid, r.pid_start_time)) ++s.live_workers;
      }
    }
  } else if (reader.error().code != Errc::kNoSupervisor) {
    s.registry_error = reader.error().message;
  }
  s.state = locked ? "live" : s.live_workers > 0 ? "orphaned" : "stale";
  return s;
}

json::object summary_json(const InstanceSummary& s) {
  return json::object{{"name", s.name},
                      {"state", s.state},
                      {"supervisor_pid", s.supervisor},
                      {"workers", s.workers},
                      {"live_workers", s.live_workers},
                      {"objects", s.objects},
                      {"registry_error", s.registry_error}};
}

}  // namespace

void add_list(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("list", "list this user's instances (live, orphaned, stale)");
  cmd->callback([&ctx] {
    std::vector<InstanceSummary> all;
    for (const auto& [name, n] : instances_in_shm()) all.push_back(summarize(name, n));
    if (ctx.json) {
      json::array a;
      for (const auto& s : all) a.push_back(summary_json(s));
      print_json(json::object{{"instances", std::move(a)}});
      return;
    }
    if (all.empty()) {
      std::cout << "no instances\n";
      return;
    }
    std::printf("%-24s %-9s %8s %8s %8s  %s\n", "NAME", "STATE", "PID", "WORKERS", "LIVE", "NOTE");
    for (const auto& s : all) {
      const std::string note = s.registry_error.empty() ? "" : "unreadable: " + s.registry_error;
      std::printf("%-24s %-9s %8s %8zu %8zu  %s\n", s.name.c_str(), s.state.c_str(),
                  s.supervisor > 0 ? std::to_string(s.supervisor).c_str() : "-", s.workers,
                  s.live_workers, note.c_str());
    }
  });
}

void add_cleanup(CLI::App& app, Context& ctx) {
  auto name = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "cleanup", "remove the shared-memory objects of a dead instance (not its state database)");
  cmd->add_option("NAME", *name, "instance name")->required();
  cmd->callback([&ctx, name] {
    const std::string what = "cleanup '" + *name + "'";
    if (auto st = validate_instance_name(*name); !st) {
      ctx.fail("cleanup", st.error());
      return;
    }
    const auto found = instances_in_shm();
    const auto it = found.find(*name);
    if (it == found.end()) {
      ctx.fail(what, Errc::kNotFound, "no objects of instance '" + *name + "' in /dev/shm");
      return;
    }
    const InstanceSummary s = summarize(*name, it->second);
    if (s.state == "live") {
      ctx.fail(what, Errc::kFailed,
               "its supervisor is running" +
                   (s.supervisor > 0 ? " (pid " + std::to_string(s.supervisor) + ")" : "") +
                   ": stop it with dynmgrctl -n " + *name + " stop");
      return;
    }
    if (s.state == "orphaned") {
      ctx.fail(what, Errc::kFailed,
               std::to_string(s.live_workers) +
                   " worker(s) still run and wait to be adopted: start its supervisor again, or "
                   "stop them first");
      return;
    }
    // Hold the instance lock while removing, as a starting supervisor would:
    // no supervisor can start under the name meanwhile. Its file goes last.
    const Names names(*name);
    auto lock = InstanceLock::acquire(names);
    if (!lock) {
      ctx.fail(what, lock.error());
      return;
    }
    std::size_t removed = 0;
    bool had_lock = false;
    for (const auto& obj : list_shm_objects(names.prefix())) {
      if (obj == names.lock()) {
        had_lock = true;
      } else if (::shm_unlink(obj.c_str()) == 0) {
        ++removed;
      }
    }
    lock->release_and_remove();
    if (had_lock) ++removed;
    if (ctx.json) {
      print_json(json::object{{"cleaned", *name}, {"removed", removed}});
    } else {
      std::cout << "cleaned '" << *name << "': removed " << removed << " object(s)\n";
    }
  });
}

}  // namespace dynmgr::cli
