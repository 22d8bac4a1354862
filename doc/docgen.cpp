// dynmgr-docgen — writes the manual pages (dynmgrctl.1, dynmgrd.8) and the
// bash completion of dynmgrctl from one source: the CLI11 definitions the
// binaries parse (cli/command_line.cpp, app/supervisor_flags.cpp,
// app/dynmgrd_flags.cpp) for every verb and flag, and doc/manual.txt for the
// prose. Run at build time (doc/CMakeLists.txt); nothing it writes is edited
// by hand.
//
//   dynmgr-docgen PROSE_FILE OUT_DIR
//     OUT_DIR/man/man1/dynmgrctl.1
//     OUT_DIR/man/man8/dynmgrd.8
//     OUT_DIR/bash-completion/completions/dynmgrctl
//
// The prose file: "@page NAME SECTION SUMMARY" starts a page, "@section TITLE"
// a section, "@options" and "@verbs" place the generated lists. Inside a
// section: a blank line ends a paragraph; "- TERM :: TEXT" is a tagged
// paragraph; "* TEXT" a bullet; a line indented by two spaces is shown as is
// (examples); `code` is set in bold. Lines starting with '#' are comments.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "app/dynmgrd_flags.hpp"
#include "app/supervisor_flags.hpp"
#include "cli/context.hpp"
#include "shared/version.hpp"

namespace {

// Roff-safe text: backslashes escaped, a leading '.' or '\'' neutralised,
// `code` spans in bold with real minus signs.
std::string roff_text(const std::string& in) {
  std::string out;
  bool code = false;
  for (char c : in) {
    if (c == '`') {
      out += code ? "\\fR" : "\\fB";
      code = !code;
    } else if (c == '\\') {
      out += "\\e";
    } else if (c == '-' && code) {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (code) out += "\\fR";
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

// An option name or other literal: every '-' a minus sign.
std::string roff_literal(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '-') {
      out += "\\-";
    } else if (c == '\\') {
      out += "\\e";
    } else {
      out += c;
    }
  }
  return out;
}

bool is_flag(const CLI::Option* o) { return o->get_expected_max() == 0; }

// CLI11's type name carries its validators ("UINT:UINT in [1 - 100]"): the
// type is the metavariable, the range goes into the text.
std::string type_of(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  return t.substr(0, t.find(':'));
}
std::string range_of(const CLI::Option* o) {
  const std::string t = o->get_type_name();
  const auto open = t.find(" in [");
  if (open == std::string::npos || t.back() != ']') return "";
  return t.substr(open + 5, t.size() - open - 6);
}
bool is_listed(const CLI::Option* o) { return !o->get_group().empty(); }

std::vector<std::string> names_of(const CLI::Option* o) {
  std::vector<std::string> out;
  for (const auto& s : o->get_snames()) out.push_back("-" + s);
  for (const auto& l : o->get_lnames()) out.push_back("--" + l);
  return out;
}

// "-n, --name NAME" in roff.
std::string option_tag(const CLI::Option* o) {
  std::string tag;
  for (const auto& n : names_of(o)) {
    if (!tag.empty()) tag += ", ";
    tag += "\\fB" + roff_literal(n) + "\\fR";
  }
  if (!is_flag(o)) tag += " \\fI" + roff_literal(type_of(o)) + "\\fR";
  if (o->get_items_expected_max() > 1) tag += " ...";
  return tag;
}

std::string option_text(const CLI::Option* o) {
  std::string text = o->get_description();
  if (const std::string r = range_of(o); !r.empty()) {
    const auto dash = r.find(" - ");
    text += dash == std::string::npos
                ? " (" + r + ")"
                : " (" + r.substr(0, dash) + " to " + r.substr(dash + 3) + ")";
  }
  if (!o->get_default_str().empty()) text += " (default " + o->get_default_str() + ")";
  if (o->get_items_expected_max() > 1 && text.find("repeatable") == std::string::npos) {
    text += " (repeatable)";
  }
  return roff_text(text);
}

void write_options(std::ostream& out, const CLI::App& app) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() || !is_listed(o)) continue;
    out << ".TP\n" << option_tag(o) << '\n' << option_text(o) << '\n';
  }
  // A footer about an option cut off before CLI11 parses (--exec) is one more.
  if (app.get_footer().rfind("--", 0) == 0) out << ".PP\n" << roff_text(app.get_footer()) << '\n';
}

std::vector<const CLI::App*> verbs_of(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}

std::string positionals_of(const CLI::App& verb) {
  std::string out;
  for (const CLI::Option* o : verb.get_options()) {
    if (!o->get_positional()) continue;
    const std::string name = "\\fI" + roff_literal(o->get_name(true)) + "\\fR";
    out += o->get_required() ? " " + name : " [" + name + "]";
  }
  return out;
}

void write_verbs(std::ostream& out, const CLI::App& app) {
  for (const CLI::App* verb : verbs_of(app)) {
    bool has_options = false;
    for (const CLI::Option* o : verb->get_options()) {
      if (!o->get_positional() && is_listed(o) && o != verb->get_help_ptr()) has_options = true;
    }
    out << ".SS \"" << roff_literal(verb->get_name()) << positionals_of(*verb)
        << (has_options ? " [options]" : "") << "\"\n"
        << roff_text(verb->get_description()) << ".\n";
    for (const CLI::Option* o : verb->get_options()) {
      if (o->get_positional() || !is_listed(o) || o == verb->get_help_ptr()) continue;
      out << ".TP\n" << option_tag(o) << '\n' << option_text(o) << '\n';
    }
    if (!verb->get_footer().empty()) out << ".PP\n" << roff_text(verb->get_footer()) << '\n';
  }
}

// ----------------------------------------------------------- the prose file

struct Page {
  std::string name, section, summary;
  std::vector<std::string> lines;  // everything after the @page line
};

std::map<std::string, Page> read_prose(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("unable to read " + path);
  std::map<std::string, Page> pages;
  Page* current = nullptr;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    if (line.rfind("@page ", 0) == 0) {
      std::istringstream words(line.substr(6));
      Page p;
      words >> p.name >> p.section;
      std::getline(words >> std::ws, p.summary);
      current = &(pages[p.name] = p);
      continue;
    }
    if (current == nullptr) {
      if (!line.empty()) throw std::runtime_error(path + ": text before the first @page");
      continue;
    }
    current->lines.push_back(line);
  }
  return pages;
}

// One page: header, NAME, SYNOPSIS, then the prose with the generated lists
// where it asks for them.
void write_page(std::ostream& out, const Page& page, const std::string& synopsis,
                const CLI::App& app) {
  out << ".\\\" Generated by dynmgr-docgen from doc/manual.txt and the CLI11 definitions; do not "
         "edit.\n"
      << ".TH " << page.name << ' ' << page.section << " \"\" \"dynmgr " << dynmgr::kVersion
      << "\" \"dynmgr manual\"\n"
      << ".SH NAME\n"
      << roff_literal(page.name) << " \\- " << roff_text(page.summary) << '\n'
      << ".SH SYNOPSIS\n"
      << synopsis << '\n';
  bool in_example = false;
  bool paragraph_open = false;
  for (const std::string& line : page.lines) {
    const bool example = line.rfind("  ", 0) == 0;
    if (in_example && !example) {
      out << ".fi\n.RE\n";
      in_example = false;
    }
    if (line.rfind("@section ", 0) == 0) {
      out << ".SH " << line.substr(9) << '\n';
      paragraph_open = false;
    } else if (line == "@options") {
      write_options(out, app);
      paragraph_open = false;
    } else if (line == "@verbs") {
      write_verbs(out, app);
      paragraph_open = false;
    } else if (line.empty()) {
      paragraph_open = false;
    } else if (example) {
      if (!in_example) out << ".PP\n.RS 4\n.nf\n";
      in_example = true;
      out << roff_literal(line.substr(2)) << '\n';
    } else if (line.rfind("- ", 0) == 0 && line.find(" :: ") != std::string::npos) {
      const auto sep = line.find(" :: ");
      out << ".TP\n\\fB" << roff_literal(line.substr(2, sep - 2)) << "\\fR\n"
          << roff_text(line.substr(sep + 4)) << '\n';
      paragraph_open = true;
    } else if (line.rfind("* ", 0) == 0) {
      out << ".IP \\(bu 2\n" << roff_text(line.substr(2)) << '\n';
      paragraph_open = true;
    } else {
      if (!paragraph_open) out << ".PP\n";
      paragraph_open = true;
      out << roff_text(line) << '\n';
    }
  }
  if (in_example) out << ".fi\n.RE\n";
}

// ----------------------------------------------------------- bash completion

std::string words_of(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& w : v) out += (out.empty() ? "" : " ") + w;
  return out;
}

// "a|b|c (default a)" -> {a, b, c}: the values an option's help lists.
std::vector<std::string> listed_values(const std::string& description) {
  static const std::regex kValues("^([a-z][a-z0-9-]*(\\|[a-z][a-z0-9-]*)+)(\\s|$)");
  std::smatch m;
  std::vector<std::string> out;
  if (!std::regex_search(description, m, kValues)) return out;
  std::string all = m[1];
  for (std::size_t start = 0;;) {
    const auto bar = all.find('|', start);
    out.push_back(all.substr(start, bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

struct OptionWords {
  std::vector<std::string> all;               // every name
  std::vector<std::string> with_value;        // names that take the next word
  std::map<std::string, std::string> values;  // name -> "a b c"
  std::vector<std::string> directories;       // names whose value is a directory
};

OptionWords option_words(const CLI::App& app) {
  OptionWords w;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() || !is_listed(o)) continue;
    const auto values = listed_values(o->get_description());
    for (const auto& n : names_of(o)) {
      w.all.push_back(n);
      if (!is_flag(o)) w.with_value.push_back(n);
      if (!values.empty()) w.values[n] = words_of(values);
      if (!is_flag(o) && o->get_description().find("directory") != std::string::npos) {
        w.directories.push_back(n);
      }
    }
  }
  // --exec is cut off before CLI11 parses (it takes the rest of the line):
  // its footer is what says a verb has it.
  if (app.get_footer().rfind("--exec", 0) == 0) w.all.push_back("--exec");
  return w;
}

void write_completion(std::ostream& out, const CLI::App& app) {
  const OptionWords global = option_words(app);
  std::vector<std::string> verbs;
  for (const CLI::App* v : verbs_of(app)) verbs.push_back(v->get_name());
  std::vector<std::string> with_value = global.with_value;
  std::map<std::string, std::string> values = global.values;
  std::vector<std::string> directories = global.directories;
  out << "# bash completion for dynmgrctl -*- shell-script -*-\n"
         "# Generated by dynmgr-docgen from dynmgrctl's CLI11 definition "
         "(cli/command_line.cpp, cli/verbs/); do not edit.\n"
         "# dynmgr "
      << dynmgr::kVersion
      << "\n\n"
         "# Instance names: the registries of this user in /dev/shm.\n"
         "_dynmgrctl_instances() {\n"
         "  local f uid\n"
         "  uid=$(id -u)\n"
         "  for f in /dev/shm/dynmgr.\"$uid\".*.registry; do\n"
         "    [[ -e $f ]] || continue\n"
         "    f=${f#/dev/shm/dynmgr.\"$uid\".}\n"
         "    printf '%s\\n' \"${f%.registry}\"\n"
         "  done\n"
         "}\n\n"
         "_dynmgrctl() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=\"\" verb=\"\" w i\n"
         "  (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
         "  COMPREPLY=()\n"
         "  # The verb is the first word that is neither an option nor an option's value;\n"
         "  # after --exec the rest of the line is a command.\n"
         "  for (( i = 1; i < COMP_CWORD; i++ )); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    if [[ $w == --exec ]]; then\n"
         "      if (( i == COMP_CWORD - 1 )); then\n"
         "        COMPREPLY=( $(compgen -c -- \"$cur\") )\n"
         "      else\n"
         "        COMPREPLY=( $(compgen -f -- \"$cur\") )\n"
         "      fi\n"
         "      return 0\n"
         "    fi\n"
         "    case $w in\n";
  // Every option that takes a value, globally or in a verb, skips the next word.
  for (const CLI::App* v : verbs_of(app)) {
    const OptionWords vw = option_words(*v);
    with_value.insert(with_value.end(), vw.with_value.begin(), vw.with_value.end());
    values.insert(vw.values.begin(), vw.values.end());
    directories.insert(directories.end(), vw.directories.begin(), vw.directories.end());
  }
  std::sort(directories.begin(), directories.end());
  directories.erase(std::unique(directories.begin(), directories.end()), directories.end());
  std::sort(with_value.begin(), with_value.end());
  with_value.erase(std::unique(with_value.begin(), with_value.end()), with_value.end());
  std::string alternatives;
  for (const auto& n : with_value) alternatives += (alternatives.empty() ? "" : "|") + n;
  out << "      " << alternatives << ") (( i++ )) ;;\n"
      << "      -*) ;;\n"
         "      *) [[ -z $verb ]] && verb=$w ;;\n"
         "    esac\n"
         "  done\n"
         "  case $prev in\n"
         "    -n|--name) COMPREPLY=( $(compgen -W \"$(_dynmgrctl_instances)\" -- \"$cur\") ); "
         "return 0 ;;\n";
  for (const auto& d : directories) {
    out << "    " << d << ") COMPREPLY=( $(compgen -d -- \"$cur\") ); return 0 ;;\n";
  }
  for (const auto& [name, list] : values) {
    out << "    " << name << ") COMPREPLY=( $(compgen -W \"" << list
        << "\" -- \"$cur\") ); return 0 ;;\n";
  }
  out << "    " << alternatives << ") return 0 ;;\n"
      << "  esac\n"
         "  local global=\""
      << words_of(global.all)
      << "\"\n"
         "  if [[ -z $verb ]]; then\n"
         "    if [[ $cur == -* ]]; then\n"
         "      COMPREPLY=( $(compgen -W \"$global\" -- \"$cur\") )\n"
         "    else\n"
         "      COMPREPLY=( $(compgen -W \""
      << words_of(verbs)
      << "\" -- \"$cur\") )\n"
         "    fi\n"
         "    return 0\n"
         "  fi\n"
         "  [[ $cur == -* ]] || return 0\n"
         "  local flags=\"\"\n"
         "  case $verb in\n";
  for (const CLI::App* v : verbs_of(app)) {
    // The global flags are offered anyway (-h/--help is in both).
    std::vector<std::string> own;
    for (const auto& n : option_words(*v).all) {
      if (std::find(global.all.begin(), global.all.end(), n) == global.all.end()) own.push_back(n);
    }
    out << "    " << v->get_name() << ") flags=\"" << words_of(own) << "\" ;;\n";
  }
  out << "  esac\n"
         "  COMPREPLY=( $(compgen -W \"$flags $global\" -- \"$cur\") )\n"
         "}\n"
         "complete -F _dynmgrctl dynmgrctl\n";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("unable to write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: dynmgr-docgen PROSE_FILE OUT_DIR\n";
    return 2;
  }
  try {
    const auto pages = read_prose(argv[1]);
    const std::filesystem::path dir = argv[2];

    // dynmgrctl, exactly as its main builds it.
    dynmgr::cli::Context ctx;
    std::vector<std::string> exec_argv;
    CLI::App ctl;
    dynmgr::cli::add_command_line(ctl, ctx, exec_argv);
    // dynmgrd, as run_manager and its main build it.
    dynmgr::SupervisorFlags flags;
    dynmgr::ExecManager::Config config;
    CLI::App daemon;
    dynmgr::add_supervisor_flags(daemon, flags, "dynmgrd");
    dynmgr::add_dynmgrd_flags(daemon, config);

    for (const char* name : {"dynmgrctl", "dynmgrd"}) {
      if (pages.count(name) == 0) throw std::runtime_error(std::string("no @page ") + name);
    }
    std::ostringstream ctl_page;
    write_page(ctl_page, pages.at("dynmgrctl"),
               ".B dynmgrctl\n[\\fIglobal options\\fR] \\fIVERB\\fR [\\fIverb options\\fR] "
               "[\\fIARGUMENTS\\fR]",
               ctl);
    write_file(dir / "man/man1/dynmgrctl.1", ctl_page.str());
    std::ostringstream daemon_page;
    write_page(daemon_page, pages.at("dynmgrd"),
               ".B dynmgrd\n[\\fIoptions\\fR] [\\fB\\-\\-exec\\fR \\fICMD\\fR "
               "[\\fIARGS\\fR...]]",
               daemon);
    write_file(dir / "man/man8/dynmgrd.8", daemon_page.str());
    std::ostringstream completion;
    write_completion(completion, ctl);
    write_file(dir / "bash-completion/completions/dynmgrctl", completion.str());
  } catch (const std::exception& e) {
    std::cerr << "dynmgr-docgen: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
