// dynmgrctl import FILE|- [--new] [--passive]: put the ids of a JSON-lines
// file in batches (Client::put_many: one supervisor request per batch).
//
// The input is read a chunk of lines at a time, never whole: a million-line
// file costs the memory of one chunk, plus the ids seen so far (a duplicate
// id is an error wherever it appears). A bad line is reported with its number
// and the rest goes on; the exit code is 1 if any line failed.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <unordered_map>

#include "cli/context.hpp"
#include "shared/child_spec.hpp"
#include "shared/json.hpp"

namespace dynmgr::cli {
namespace {

// Lines handed to put_many at once; it cuts them into frames itself.
constexpr std::size_t kChunkLines = 1000;

struct ImportArgs {
  std::string file;
  bool only_new = false;
  bool passive = false;
};

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

class Importer {
 public:
  Importer(Context& ctx, Client& client, const ImportArgs& args)
      : ctx_(ctx), client_(client), args_(args) {}

  // Reads every line of `in`; returns false if the import stopped early
  // (the supervisor is gone or does not answer in time: exit_code_ says).
  bool run(std::istream& in) {
    std::string line;
    while (std::getline(in, line)) {
      ++line_no_;
      if (blank(line)) continue;
      ++lines_;
      take(line);
      if (items_.size() >= kChunkLines && !flush()) return false;
    }
    if (in.bad()) {
      print_error(ctx_.json, exit_code(Errc::kInvalid),
                  "import: unable to read " + args_.file + " after line " +
                      std::to_string(line_no_) + ": " + std::strerror(errno));
      exit_code_ = exit_code(Errc::kInvalid);
      ++failed_;
      return false;
    }
    return flush();
  }

  std::uint64_t lines() const { return lines_; }
  std::uint64_t imported() const { return imported_; }
  std::uint64_t failed() const { return failed_; }
  int exit_code_if_stopped() const { return exit_code_; }

 private:
  void line_error(std::uint64_t line_no, const std::string& why) {
    ++failed_;
    print_error(ctx_.json, 1, "import: line " + std::to_string(line_no) + ": " + why);
  }

  // One line: an object with a string "id"; the rest is its spec.
  void take(const std::string& line) {
    auto v = parse_json(line, "line");
    if (!v) return line_error(line_no_, v.error().message);
    json::object* o = v->if_object();
    if (o == nullptr) return line_error(line_no_, "not a JSON object");
    const json::value* idv = o->if_contains("id");
    if (idv == nullptr || !idv->is_string()) return line_error(line_no_, "no string \"id\"");
    std::string id(idv->get_string());
    if (auto st = validate_id(id); !st) return line_error(line_no_, st.error().message);
    if (auto [at, fresh] = seen_.emplace(id, line_no_); !fresh) {
      return line_error(
          line_no_, "'" + id + "': the id appears earlier, on line " + std::to_string(at->second));
    }
    o->erase("id");
    auto spec = ChildSpec::from_json(*v);
    if (!spec) return line_error(line_no_, "'" + id + "': " + spec.error().message);
    if (auto st = spec->validate(); !st)
      return line_error(line_no_, "'" + id + "': " + st.error().message);
    items_.push_back({std::move(id), std::move(*spec)});
    item_lines_.push_back(line_no_);
  }

  bool flush() {
    if (items_.empty()) return true;
    Client::PutManyOptions options;
    options.only_new = args_.only_new;
    options.passive = args_.passive;
    const auto results = client_.put_many(items_, options);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i]) {
        ++imported_;
        continue;
      }
      const Error& e = results[i].error();
      line_error(item_lines_[i], "'" + items_[i].id + "': " + e.message);
      if (e.code == Errc::kNoSupervisor || e.code == Errc::kTimeout) exit_code_ = exit_code(e.code);
    }
    items_.clear();
    item_lines_.clear();
    // The rest would fail the same way, one request deadline at a time.
    return exit_code_ == 0;
  }

  Context& ctx_;
  Client& client_;
  const ImportArgs& args_;
  std::uint64_t line_no_ = 0;
  std::uint64_t lines_ = 0;  // not blank
  std::uint64_t imported_ = 0;
  std::uint64_t failed_ = 0;
  int exit_code_ = 0;
  std::unordered_map<std::string, std::uint64_t> seen_;  // id -> its line
  std::vector<Client::PutItem> items_;
  std::vector<std::uint64_t> item_lines_;
};

void run_import(Context& ctx, const ImportArgs& args) {
  const std::string what = "import " + args.file;
  std::ifstream file;
  if (args.file != "-") {
    file.open(args.file);
    if (!file) {
      ctx.fail(what, Errc::kInvalid, std::string("unable to read it: ") + std::strerror(errno));
      return;
    }
  }
  Client* c = ctx.connect(what);
  if (c == nullptr) return;
  Importer importer(ctx, *c, args);
  const bool finished = importer.run(args.file == "-" ? std::cin : file);
  const std::string summary =
      "imported " + std::to_string(importer.imported()) + " of " +
      std::to_string(importer.lines()) + " ids; " + std::to_string(importer.failed()) + " line" +
      (importer.failed() == 1 ? "" : "s") + " failed" +
      (finished ? "" : "; stopped early, the lines after the last one reported were not read");
  if (ctx.json) {
    json::object o;
    o["imported"] = importer.imported();
    o["lines"] = importer.lines();
    o["failed"] = importer.failed();
    o["complete"] = finished;
    std::cout << to_json(o) << '\n';
  } else {
    std::cout << summary << '\n';
  }
  if (!finished) {
    ctx.exit_code = importer.exit_code_if_stopped();
  } else if (importer.failed() != 0) {
    ctx.exit_code = 1;
  }
}

}  // namespace

void add_import(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ImportArgs>();
  auto* cmd = app.add_subcommand(
      "import", "put the ids of a JSON-lines file in batches, one supervisor request per batch");
  cmd->add_option("FILE", args->file,
                  "one JSON object per line: {\"id\": ID, <spec fields as in put>}; - reads stdin")
      ->required();
  cmd->add_flag("--new", args->only_new,
                "put-new semantics: an id that exists is that line's error, and is left alone");
  cmd->add_flag("--passive", args->passive,
                "register the ids without starting them: passive until their first call or "
                "cast (or perform)");
  cmd->footer(
      "Blank lines are skipped. A bad line is reported as 'line N: <why>' on stderr and the "
      "others go on; the summary goes to stdout. Exit code 1 if any line failed.");
  cmd->callback([&ctx, args] { run_import(ctx, *args); });
}

}  // namespace dynmgr::cli
