// `mlaas inspect FILE`: trees (also in subdirectories), entries, clusters, compression, and per
// branch its type, our interpretation and its compressed/uncompressed bytes; RNTuples with entries,
// clusters and per field its C++ type and our interpretation.
#include <fmt/format.h>

#include <iostream>

#include "cli/command.hpp"
#include "core/result.hpp"
#include "root/compress.hpp"
#include "root/compression.hpp"
#include "root/dump.hpp"
#include "root/ntuple.hpp"
#include "root/tree.hpp"

namespace {

struct InspectOptions {
  std::string file;
  bool json = false;
};

// The file's setting as the reader and writer parse it (root::CompressionSetting), with ROOT's number.
std::string compressionName(int setting) {
  try {
    const auto parsed = mlaas::root::CompressionSetting::fromRoot(setting);
    return parsed.enabled() ? fmt::format("{} ({})", parsed.describe(), setting) : "none";
  } catch (const mlaas::core::Exception&) {
    return fmt::format("unknown ({})", setting);
  }
}

void run(const InspectOptions& o) {
  const auto file = mlaas::root::File::open(o.file);
  std::string out;
  if (o.json) {
    out += "{\"file\": ";
    mlaas::root::appendJsonString(file->name(), out);
    out += fmt::format(", \"size\": {}, \"version\": {}, \"compression\": {}, \"trees\": [", file->size(),
                       file->version(), file->compression());
  } else {
    out += fmt::format("{}: {} bytes, ROOT file version {}, compression {}\n", file->name(), file->size(),
                       file->version(), compressionName(file->compression()));
  }
  bool firstTree = true;
  for (const auto& path : file->treePaths()) {
    const auto tree = file->tree(path);
    const auto clusters = tree.clusterBoundaries();
    std::uint64_t zip = 0, tot = 0;
    for (const auto& b : tree.branches()) {
      zip += b.compressedBytes;
      tot += b.uncompressedBytes;
    }
    if (o.json) {
      out += firstTree ? "" : ", ";
      firstTree = false;
      out += "{\"path\": ";
      mlaas::root::appendJsonString(path, out);
      out += fmt::format(
          ", \"entries\": {}, \"clusters\": {}, \"compressed_bytes\": {}, \"uncompressed_bytes\": {}, \"branches\": [",
          tree.entries(), clusters.size() - 1, zip, tot);
      bool firstBranch = true;
      for (const auto& b : tree.branches()) {
        out += firstBranch ? "" : ", ";
        firstBranch = false;
        out += "{\"name\": ";
        mlaas::root::appendJsonString(b.name, out);
        out += ", \"title\": ";
        mlaas::root::appendJsonString(b.title, out);
        out += ", \"class\": ";
        mlaas::root::appendJsonString(b.className, out);
        out += ", \"leaf\": ";
        mlaas::root::appendJsonString(b.leafClass, out);
        out += ", \"interpretation\": ";
        mlaas::root::appendJsonString(b.supported ? b.typeName : b.unsupportedReason, out);
        out += fmt::format(", \"supported\": {}, \"dtype\": \"{}\", \"jagged_levels\": {}, \"baskets\": {}, "
                           "\"compressed_bytes\": {}, \"uncompressed_bytes\": {}}}",
                           b.supported ? "true" : "false", b.supported ? mlaas::root::dtypeName(b.type) : "",
                           b.jaggedLevels, b.baskets, b.compressedBytes, b.uncompressedBytes);
      }
      out += "]}";
    } else {
      out += fmt::format(
          "\nTTree \"{}\" \"{}\": {} entries, {} clusters, {} branches, {} bytes compressed, {} uncompressed\n", path,
          tree.title(), tree.entries(), clusters.size() - 1, tree.branches().size(), zip, tot);
      out += fmt::format("  {:<32} {:<14} {:<28} {:<28} {:>10} {:>12}\n", "branch", "leaf", "class/title",
                         "interpretation", "compressed", "uncompressed");
      for (const auto& b : tree.branches()) {
        out += fmt::format("  {:<32} {:<14} {:<28} {:<28} {:>10} {:>12}\n", b.name, b.leafClass,
                           b.className.empty() ? b.title : b.className,
                           b.supported ? b.typeName : b.unsupportedReason, b.compressedBytes, b.uncompressedBytes);
      }
    }
  }
  // RNTuples: the same columns as trees; per field its C++ type (title) and our interpretation.
  const auto ntuples = file->rntuplePaths();
  if (o.json) out += "], \"rntuples\": [";
  for (std::size_t k = 0; k < ntuples.size(); ++k) {
    const auto nt = file->ntuple(ntuples[k]);
    const auto clusters = nt.clusterBoundaries();
    const std::size_t clusterCount = clusters.empty() ? 0 : clusters.size() - 1;
    if (o.json) {
      if (k) out += ", ";
      out += "{\"path\": ";
      mlaas::root::appendJsonString(ntuples[k], out);
      out += fmt::format(", \"entries\": {}, \"clusters\": {}, \"fields\": [", nt.entries(), clusterCount);
      bool firstField = true;
      for (const auto& f : nt.fields()) {
        out += firstField ? "" : ", ";
        firstField = false;
        out += "{\"name\": ";
        mlaas::root::appendJsonString(f.name, out);
        out += ", \"type\": ";
        mlaas::root::appendJsonString(f.title, out);
        out += ", \"interpretation\": ";
        mlaas::root::appendJsonString(f.supported ? f.typeName : f.unsupportedReason, out);
        out += fmt::format(", \"supported\": {}, \"dtype\": \"{}\", \"jagged_levels\": {}}}",
                           f.supported ? "true" : "false", f.supported ? mlaas::root::dtypeName(f.type) : "",
                           f.jaggedLevels);
      }
      out += "]}";
    } else {
      out += fmt::format("\nRNTuple \"{}\": {} entries, {} clusters, {} fields\n", ntuples[k], nt.entries(),
                         clusterCount, nt.fields().size());
      out += fmt::format("  {:<32} {:<40} {:<28}\n", "field", "type", "interpretation");
      for (const auto& f : nt.fields())
        out += fmt::format("  {:<32} {:<40} {:<28}\n", f.name, f.title, f.supported ? f.typeName : f.unsupportedReason);
    }
  }
  if (o.json) out += "]}\n";
  std::cout << out;
}

void setupInspect(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show the trees and branches of a ROOT file");
  cmd->add_option("file", opts->file, "ROOT file (path or URL)")->required();
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

MLAAS_CLI_COMMAND(inspect, setupInspect);
