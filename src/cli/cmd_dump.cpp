// `mlaas dump FILE`: branch and RNTuple field values as JSON (the layout of JSROOT's expected/ and
// expected-rntuple/ files) or CSV.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>

#include "cli/command.hpp"
#include "root/dump.hpp"
#include "root/ntuple.hpp"
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

// One tree or RNTuple: its fields as BranchInfo and a way to read them. Trees dump in the layout of
// JSROOT's expected/ ("branches" with title/class/leaf), RNTuples in that of expected-rntuple/
// ("fields" with their C++ type), so each can be compared with what JSROOT read.
struct Source {
  std::string path;
  bool ntuple = false;
  std::uint64_t entries = 0;
  const std::vector<mlaas::root::BranchInfo>* fields = nullptr;
  std::function<const mlaas::root::BranchInfo*(const std::string&)> find;
  std::function<std::vector<mlaas::root::Column>(const std::vector<std::string>&, mlaas::root::EntryRange)> read;
};

void flushIfLarge(std::string& out) {
  if (out.size() > (1 << 20)) {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  }
}

void dumpSource(const DumpOptions& o, const Source& src, bool first, bool several, std::string& out) {
  const auto wanted = splitList(o.branches);
  const auto range = parseEntries(o.entries, src.entries);
  const char* what = src.ntuple ? "RNTuple" : "tree";
  std::vector<const mlaas::root::BranchInfo*> selected;
  if (wanted.empty()) {
    for (const auto& b : *src.fields) selected.push_back(&b);
  } else {
    for (const auto& name : wanted) {
      const auto* b = src.find(name);
      if (!b) throw mlaas::core::Exception(mlaas::core::Errc::not_found,
                                           fmt::format("{}: {} \"{}\" has no {} \"{}\"", o.file, what, src.path,
                                                       src.ntuple ? "field" : "branch", name));
      selected.push_back(b);
    }
  }
  std::vector<std::string> readable;
  for (const auto* b : selected)
    if (b->supported) readable.push_back(b->name);
  const auto columns = src.read(readable, range);
  auto columnOf = [&](const std::string& name) -> const mlaas::root::Column* {
    for (std::size_t k = 0; k < readable.size(); ++k)
      if (readable[k] == name) return &columns[k];
    return nullptr;
  };
  if (o.format == "json") {
    if (!first) out += ",";
    out += "\n  ";
    mlaas::root::appendJsonString(src.path, out);
    out += fmt::format(": {{\"entries\": {}, \"{}\": {{", src.entries, src.ntuple ? "fields" : "branches");
    bool firstBranch = true;
    for (const auto* b : selected) {
      out += firstBranch ? "\n    " : ",\n    ";
      firstBranch = false;
      mlaas::root::appendJsonString(b->name, out);
      if (src.ntuple) {
        out += ": {\"type\": ";
        mlaas::root::appendJsonString(b->title, out);
      } else {
        out += ": {\"title\": ";
        mlaas::root::appendJsonString(b->title, out);
        out += ", \"class\": ";
        mlaas::root::appendJsonString(b->className, out);
        out += ", \"leaf\": ";
        mlaas::root::appendJsonString(b->leafClass, out);
      }
      if (const auto* c = columnOf(b->name)) {
        out += ", \"values\": [";
        for (std::uint64_t e = 0; e < c->entries; ++e) {
          if (e) out += ", ";
          mlaas::root::appendEntryJson(*c, e, out);
          flushIfLarge(out);
        }
        out += "]}";
      } else {
        out += ", \"error\": ";
        mlaas::root::appendJsonString(b->unsupportedReason, out);
        out += "}";
      }
      flushIfLarge(out);
    }
    out += "}}";
  } else {
    if (!first) out += "\n";
    if (several) out += fmt::format("# {} {}\n", what, src.path);
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
      flushIfLarge(out);
    }
    for (const auto* b : selected)
      if (!b->supported)
        std::cerr << "mlaas: note: " << src.path << ": " << (src.ntuple ? "field " : "branch ") << b->name << ": "
                  << b->unsupportedReason << "\n";
  }
}

void run(const DumpOptions& o) {
  const auto file = mlaas::root::File::open(o.file);
  std::vector<std::string> trees, ntuples;
  const auto allNtuples = file->rntuplePaths();
  if (o.tree.empty()) {
    trees = file->treePaths();
    ntuples = allNtuples;
  } else if (std::find(allNtuples.begin(), allNtuples.end(), o.tree) != allNtuples.end()) {
    ntuples = {o.tree};
  } else {
    trees = {o.tree};
  }
  // --branches without --tree: only the trees/RNTuples that have any of them (a file may hold a
  // small metadata tree beside its data RNTuple). If none has any, keep all for the error message.
  const auto wanted = splitList(o.branches);
  if (o.tree.empty() && !wanted.empty()) {
    auto hasAny = [&](auto&& find) {
      return std::any_of(wanted.begin(), wanted.end(), [&](const std::string& n) { return find(n) != nullptr; });
    };
    std::vector<std::string> withTrees, withNtuples;
    for (const auto& path : trees)
      if (hasAny([tree = file->tree(path)](const std::string& n) { return tree.branch(n); })) withTrees.push_back(path);
    for (const auto& path : ntuples)
      if (hasAny([nt = file->ntuple(path)](const std::string& n) { return nt.field(n); })) withNtuples.push_back(path);
    if (!withTrees.empty() || !withNtuples.empty()) {
      trees = std::move(withTrees);
      ntuples = std::move(withNtuples);
    }
  }
  const bool several = trees.size() + ntuples.size() > 1;
  std::string out;
  const bool json = o.format == "json";
  if (json) out += "{";
  bool first = true;
  for (const auto& path : trees) {
    const auto tree = file->tree(path);
    Source src{path, false, tree.entries(), &tree.branches(),
               [&](const std::string& n) { return tree.branch(n); },
               [&](const std::vector<std::string>& names, mlaas::root::EntryRange r) { return tree.read(names, r); }};
    dumpSource(o, src, first, several, out);
    first = false;
  }
  for (const auto& path : ntuples) {
    const auto nt = file->ntuple(path);
    Source src{path, true, nt.entries(), &nt.fields(),
               [&](const std::string& n) { return nt.field(n); },
               [&](const std::vector<std::string>& names, mlaas::root::EntryRange r) { return nt.read(names, r); }};
    dumpSource(o, src, first, several, out);
    first = false;
  }
  if (json) out += "\n}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

void setupDump(CLI::App& app) {
  auto opts = std::make_shared<DumpOptions>();
  auto* cmd = app.add_subcommand("dump", "Print branch values of a ROOT file as JSON or CSV");
  cmd->add_option("file", opts->file, "ROOT file (path or URL)")->required();
  cmd->add_option("--tree", opts->tree, "tree or RNTuple path (default: every tree and RNTuple)");
  cmd->add_option("--branches", opts->branches, "comma-separated branch or field names (default: all)");
  cmd->add_option("--entries", opts->entries, "entry range START:STOP (default: all)");
  cmd->add_option("--format", opts->format, "json or csv")->check(CLI::IsMember({"json", "csv"}));
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

MLAAS_CLI_COMMAND(dump, setupDump);
