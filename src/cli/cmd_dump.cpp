// `mlaas dump FILE`: branch values as JSON (the layout of JSROOT's expected/ files) or CSV.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "cli/command.hpp"
#include "root/dump.hpp"
#include "root/tree.hpp"

namespace {

struct DumpOptions {
  std::string file;
  std::string tree;
  std::string branches;
  std::string entries;
  std::string format = "json";
};

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

mlaas::root::EntryRange parseEntries(const std::string& spec, std::uint64_t total) {
  mlaas::root::EntryRange r{0, total};
  if (spec.empty()) return r;
  const auto colon = spec.find(':');
  auto num = [&](const std::string& s, std::uint64_t fallback) -> std::uint64_t {
    if (s.empty()) return fallback;
    try {
      std::size_t used = 0;
      const auto v = std::stoull(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      return v;
    } catch (const std::exception&) {
      throw mlaas::cli::ExitError{2, "error: --entries expects START:STOP with integers, got \"" + spec + "\""};
    }
  };
  if (colon == std::string::npos) {
    r.begin = num(spec, 0);
    r.end = r.begin + 1;
  } else {
    r.begin = num(spec.substr(0, colon), 0);
    r.end = num(spec.substr(colon + 1), total);
  }
  r.end = std::min(r.end, total);
  r.begin = std::min(r.begin, r.end);
  return r;
}

void run(const DumpOptions& o) {
  const auto file = mlaas::root::File::open(o.file);
  std::vector<std::string> trees = o.tree.empty() ? file->treePaths() : std::vector<std::string>{o.tree};
  const auto wanted = splitList(o.branches);
  std::string out;
  const bool json = o.format == "json";
  if (json) out += "{";
  bool firstTree = true;
  for (const auto& path : trees) {
    const auto tree = file->tree(path);
    const auto range = parseEntries(o.entries, tree.entries());
    std::vector<const mlaas::root::BranchInfo*> selected;
    if (wanted.empty()) {
      for (const auto& b : tree.branches()) selected.push_back(&b);
    } else {
      for (const auto& name : wanted) {
        const auto* b = tree.branch(name);
        if (!b) throw mlaas::core::Exception(mlaas::core::Errc::not_found,
                                             fmt::format("{}: tree \"{}\" has no branch \"{}\"", o.file, path, name));
        selected.push_back(b);
      }
    }
    std::vector<std::string> readable;
    for (const auto* b : selected)
      if (b->supported) readable.push_back(b->name);
    const auto columns = tree.read(readable, range);
    auto columnOf = [&](const std::string& name) -> const mlaas::root::Column* {
      for (std::size_t k = 0; k < readable.size(); ++k)
        if (readable[k] == name) return &columns[k];
      return nullptr;
    };
    if (json) {
      if (!firstTree) out += ",";
      firstTree = false;
      out += "\n  ";
      mlaas::root::appendJsonString(path, out);
      out += fmt::format(": {{\"entries\": {}, \"branches\": {{", tree.entries());
      bool firstBranch = true;
      for (const auto* b : selected) {
        out += firstBranch ? "\n    " : ",\n    ";
        firstBranch = false;
        mlaas::root::appendJsonString(b->name, out);
        out += ": {\"title\": ";
        mlaas::root::appendJsonString(b->title, out);
        out += ", \"class\": ";
        mlaas::root::appendJsonString(b->className, out);
        out += ", \"leaf\": ";
        mlaas::root::appendJsonString(b->leafClass, out);
        if (const auto* c = columnOf(b->name)) {
          out += ", \"values\": [";
          for (std::uint64_t e = 0; e < c->entries; ++e) {
            if (e) out += ", ";
            mlaas::root::appendEntryJson(*c, e, out);
          }
          out += "]}";
        } else {
          out += ", \"error\": ";
          mlaas::root::appendJsonString(b->unsupportedReason, out);
          out += "}";
        }
        if (out.size() > (1 << 20)) {
          std::fwrite(out.data(), 1, out.size(), stdout);
          out.clear();
        }
      }
      out += "}}";
    } else {
      if (!firstTree) out += "\n";
      firstTree = false;
      if (trees.size() > 1) out += "# tree " + path + "\n";
      out += "entry";
      for (const auto& name : readable) out += "," + name;
      out += "\n";
      for (std::uint64_t e = 0; e < range.size(); ++e) {
        out += std::to_string(range.begin + e);
        for (const auto& c : columns) {
          out += ',';
          mlaas::root::appendEntryCsv(c, e, out);
        }
        out += '\n';
        if (out.size() > (1 << 20)) {
          std::fwrite(out.data(), 1, out.size(), stdout);
          out.clear();
        }
      }
      for (const auto* b : selected)
        if (!b->supported) std::cerr << "mlaas: note: " << path << ": branch " << b->name << ": " << b->unsupportedReason << "\n";
    }
  }
  if (json) out += "\n}\n";
  if (o.tree.empty())
    for (const auto& n : file->rntuplePaths()) std::cerr << "mlaas: note: " << o.file << ": \"" << n << "\" is an RNTuple: not supported yet\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

void setupDump(CLI::App& app) {
  auto opts = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand("dump", "Print branch values of a ROOT file as JSON or CSV");
  cmd->add_option("file", opts->file, "ROOT file (path or URL)")->required();
  cmd->add_option("--tree", opts->tree, "tree path (default: every tree)");
  cmd->add_option("--branches", opts->branches, "comma-separated branch names (default: all)");
  cmd->add_option("--entries", opts->entries, "entry range START:STOP (default: all)");
  cmd->add_option("--format", opts->format, "json or csv")->check(CLI::IsMember({"json", "csv"}));
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

MLAAS_CLI_COMMAND(dump, setupDump);
