// dynmgrctl reload [FILE]: apply a changed children file (dynmgrd's --children
// without FILE): new ids started, removed ones deleted, changed ones put over,
// the rest untouched. Returns once the changes are under way.
#include "cli/context.hpp"
#include "cli/output.hpp"

#include <iostream>
#include <memory>

namespace dynmgr::cli {
namespace {

// "added: a, b" for a non-empty array of ids.
void print_ids(const char* label, const json::value* ids) {
  if (ids == nullptr || !ids->is_array() || ids->get_array().empty()) return;
  std::cout << label << ":";
  const char* sep = " ";
  for (const auto& id : ids->get_array()) {
    std::cout << sep << (id.is_string() ? std::string(id.get_string()) : to_json(id));
    sep = ", ";
  }
  std::cout << '\n';
}

std::size_t count(const json::value* ids) {
  return ids != nullptr && ids->is_array() ? ids->get_array().size() : 0;
}

}  // namespace

void add_reload(CLI::App& app, Context& ctx) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "reload", "apply a changed children file: start new ids, delete removed ones, put over changed ones");
  cmd->add_option("FILE", *file,
                  "children file to apply (default: the one dynmgrd was started with, --children)");
  cmd->callback([&ctx, file] {
    const std::string what = file->empty() ? "reload" : "reload " + *file;
    Client* c = ctx.connect(what);
    if (c == nullptr) return;
    auto r = c->reload(*file);
    if (!r) {
      ctx.fail(what, r.error());
      return;
    }
    if (ctx.json) {
      print_json(*r);
      return;
    }
    const json::object* o = r->if_object();
    const json::value* added = o ? o->if_contains("added") : nullptr;
    const json::value* replaced = o ? o->if_contains("replaced") : nullptr;
    const json::value* removed = o ? o->if_contains("removed") : nullptr;
    const json::value* unchanged = o ? o->if_contains("unchanged") : nullptr;
    std::cout << "reloaded: " << count(added) << " added, " << count(replaced) << " replaced, "
              << count(removed) << " removed, " << count(unchanged) << " unchanged\n";
    print_ids("added", added);
    print_ids("replaced", replaced);
    print_ids("removed", removed);
  });
}

}  // namespace dynmgr::cli
