// `mlaas dump FILE`: branch and RNTuple field values as JSON (the layout of JSROOT's expected/ and
// expected-rntuple/ files) or CSV.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>

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

/// --entries as written: START:STOP (either may be empty: from the first, to the last entry) or
/// N (entry N alone); checked once, before the file is opened.
struct EntrySpec {
  std::uint64_t begin = 0;
  std::optional<std::uint64_t> end;  ///< nullopt: to the last entry

  /// The range within a tree of `total` entries: a STOP past the end stops at the end, like a slice.
  [[nodiscard]] mlaas::root::EntryRange within(std::uint64_t total) const {
    const std::uint64_t stop = std::min(end.value_or(total), total);
    return {std::min(begin, stop), stop};
  }
};

EntrySpec parseEntries(const std::string& spec) {
  if (spec.empty()) return {};
  auto bad = [&](const std::string& why) -> mlaas::cli::ExitError {
    return mlaas::cli::ExitError{mlaas::cli::kUsageExitCode,
                                 fmt::format("error: --entries '{}': {} (expected START:STOP, START:, :STOP or N, "
                                             "with entry numbers from 0)",
                                             spec, why)};
  };
  // Digits only: std::stoull would take "-1" (as 2^64-1), "+3" and " 3".
  auto number = [&](const std::string& text) -> std::uint64_t {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      throw bad(fmt::format("'{}' is not an entry number", text));
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) throw bad(fmt::format("'{}' is too large", text));
    return value;
  };
  EntrySpec r;
  const auto colon = spec.find(':');
  if (colon == std::string::npos) {
    r.begin = number(spec);
    if (r.begin == std::numeric_limits<std::uint64_t>::max()) throw bad("too large");
    r.end = r.begin + 1;
    return r;
  }
  const auto start = spec.substr(0, colon), stop = spec.substr(colon + 1);
  if (!start.empty()) r.begin = number(start);
  if (!stop.empty()) r.end = number(stop);
  if (r.end && r.begin > *r.end) throw bad(fmt::format("START {} is after STOP {}", r.begin, *r.end));
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

/// Dumps `wanted` of one source (every branch or field when empty).
void dumpSource(const DumpOptions& o, const Source& src, const std::vector<std::string>& wanted,
                const EntrySpec& entries, bool first, bool several, std::string& out) {
  const auto range = entries.within(src.entries);
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
  const auto entries = parseEntries(o.entries);
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
  // Per source, the names it is dumped with: all of --branches with --tree (a missing one is an
  // error naming the tree); without --tree only the trees/RNTuples that have any of them, each with
  // the names it has (a file may hold a small metadata tree beside its data RNTuple), and a name
  // that no tree or RNTuple has is an error saying so.
  const auto wanted = splitList(o.branches);
  std::map<std::string, std::vector<std::string>> treeNames, ntupleNames;
  for (const auto& path : trees) treeNames[path] = wanted;
  for (const auto& path : ntuples) ntupleNames[path] = wanted;
  if (o.tree.empty() && !wanted.empty()) {
    std::set<std::string> found;
    auto keepHaving = [&](std::vector<std::string>& paths, std::map<std::string, std::vector<std::string>>& names,
                          auto&& open) {
      std::vector<std::string> kept;
      for (const auto& path : paths) {
        const auto has = open(path);  // the tree or RNTuple's metadata read once
        auto& here = names[path];
        here.clear();
        for (const auto& name : wanted)
          if (has(name)) {
            here.push_back(name);
            found.insert(name);
          }
        if (!here.empty()) kept.push_back(path);
      }
      paths = std::move(kept);
    };
    keepHaving(trees, treeNames, [&](const std::string& path) {
      return [tree = file->tree(path)](const std::string& n) { return tree.branch(n) != nullptr; };
    });
    keepHaving(ntuples, ntupleNames, [&](const std::string& path) {
      return [nt = file->ntuple(path)](const std::string& n) { return nt.field(n) != nullptr; };
    });
    for (const auto& name : wanted)
      if (!found.count(name))
        throw mlaas::core::Exception(
            mlaas::core::Errc::not_found,
            fmt::format("{}: no tree or RNTuple has a branch or field \"{}\" (mlaas inspect lists them)", o.file,
                        name));
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
    dumpSource(o, src, treeNames[path], entries, first, several, out);
    first = false;
  }
  for (const auto& path : ntuples) {
    const auto nt = file->ntuple(path);
    Source src{path, true, nt.entries(), &nt.fields(),
               [&](const std::string& n) { return nt.field(n); },
               [&](const std::vector<std::string>& names, mlaas::root::EntryRange r) { return nt.read(names, r); }};
    dumpSource(o, src, ntupleNames[path], entries, first, several, out);
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
  cmd->add_option("--entries", opts->entries,
                  "entry range START:STOP, START: or :STOP (STOP excluded; past the end stops at the end), or N for "
                  "entry N alone (default: all)");
  cmd->add_option("--format", opts->format, "json or csv")->check(CLI::IsMember({"json", "csv"}));
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

MLAAS_CLI_COMMAND(dump, setupDump);
