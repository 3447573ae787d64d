// `mlaas bench read FILE...`: read throughput (uncompressed MB/s, entries/s) and, in the same run,
// the decompress-only time of the same baskets (TTrees) or pages (RNTuples): the bound a reader
// cannot beat on one thread.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>

#include "cli/command.hpp"
#include "root/ntuple.hpp"
#include "root/tree.hpp"

namespace {

struct BenchReadOptions {
  std::vector<std::string> files;
  std::string tree;
  std::string branches;
  std::size_t threads = 1;
  int repeat = 3;
  bool json = false;
};

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s + ",") {
    if (ch == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  return out;
}

void run(const BenchReadOptions& o) {
  // Each file's TTree (--tree, or its first) or, when --tree names one or the file has no TTree,
  // its RNTuple (read on the calling thread: NTuple reads are not shared).
  struct Input {
    std::shared_ptr<mlaas::root::File> file;
    std::optional<mlaas::root::Tree> tree;
    std::optional<mlaas::root::NTuple> ntuple;
    std::vector<std::string> branches;
    std::uint64_t entries() const { return tree ? tree->entries() : ntuple->entries(); }
  };
  std::vector<Input> inputs;
  for (const auto& path : o.files) {
    auto file = mlaas::root::File::open(path);
    Input in{file, {}, {}, splitList(o.branches)};
    std::string treePath = o.tree;
    if (treePath.empty()) {
      const auto trees = file->treePaths();
      const auto ntuples = file->rntuplePaths();
      if (trees.empty() && ntuples.empty())
        throw mlaas::core::Exception(mlaas::core::Errc::not_found, path + ": no TTree or RNTuple in the file");
      treePath = trees.empty() ? ntuples.front() : trees.front();
    }
    if (file->isRNTuple(treePath))
      in.ntuple = file->ntuple(treePath);
    else
      in.tree = file->tree(treePath);
    if (in.branches.empty())
      for (const auto& b : in.tree ? in.tree->branches() : in.ntuple->fields())
        if (b.supported) in.branches.push_back(b.name);
    inputs.push_back(std::move(in));
  }
  // threads == 1 runs inline in the caller; N > 1 uses N-1 workers plus the caller.
  mlaas::core::ThreadPool pool(o.threads - 1);
  mlaas::root::ReadOptions ro;
  ro.pool = &pool;
  double best = 1e300, bestDecompress = 1e300;
  std::uint64_t entries = 0, uncompressed = 0, compressed = 0, baskets = 0;
  std::size_t threadsUsed = 1;  // a read too small to share runs on the calling thread alone
  for (int r = 0; r < o.repeat; ++r) {
    mlaas::root::ReadStats stats;
    entries = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& in : inputs) {
      if (in.tree)
        (void)in.tree->read(in.branches, {0, in.entries()}, ro, &stats);
      else
        (void)in.ntuple->read(in.branches, {0, in.entries()});
      entries += in.entries();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto t1 = std::chrono::steady_clock::now();
    mlaas::root::ReadStats dstats;
    mlaas::root::NTuple::PageStats pages;
    for (const auto& in : inputs) {
      if (in.tree) {
        in.tree->decompressOnly(in.branches, {0, in.entries()}, ro, &dstats);
      } else {
        pages += in.ntuple->decompressOnly(in.branches, {0, in.entries()});
      }
    }
    const double dseconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    best = std::min(best, seconds);
    bestDecompress = std::min(bestDecompress, dseconds);
    uncompressed = stats.uncompressedBytes + pages.unpackedBytes;
    compressed = stats.compressedBytes + pages.storedBytes;
    baskets = stats.baskets + pages.pages;  // an RNTuple's pages count as its baskets
    threadsUsed = std::max<std::size_t>(1, stats.threads);
  }
  const double mbps = static_cast<double>(uncompressed) / 1e6 / best;
  const double eps = static_cast<double>(entries) / best;
  // With no basket read (no entries, or no branch) both times are only overhead: their ratio
  // means nothing, so it is left out (null in JSON).
  const bool measured = baskets > 0 && uncompressed > 0;
  const double ratio = bestDecompress / best;
  const std::string ratioJson = measured ? fmt::format("{:.3f}", ratio) : "null";
  if (o.json) {
    std::cout << fmt::format(
        "{{\"files\": {}, \"entries\": {}, \"branches\": {}, \"baskets\": {}, \"compressed_bytes\": {}, "
        "\"uncompressed_bytes\": {}, \"seconds\": {:.6f}, \"decompress_seconds\": {:.6f}, \"threads\": {}, "
        "\"threads_used\": {}, \"mb_per_s\": {:.1f}, \"entries_per_s\": {:.0f}, \"read_vs_decompress_bound\": "
        "{}}}\n",
        inputs.size(), entries, inputs.empty() ? 0 : inputs[0].branches.size(), baskets, compressed, uncompressed, best,
        bestDecompress, o.threads, threadsUsed, mbps, eps, ratioJson);
  } else {
    std::cout << fmt::format(
        "{} entries, {} baskets, {} compressed -> {} uncompressed bytes, {} thread(s) ({} used), best of {}\n"
        "read:            {:.4f} s  {:.1f} MB/s  {:.3g} entries/s\n"
        "decompress only: {:.4f} s  {:.1f} MB/s\n",
        entries, baskets, compressed, uncompressed, o.threads, threadsUsed, o.repeat, best, mbps, eps, bestDecompress,
        static_cast<double>(uncompressed) / 1e6 / bestDecompress);
    if (measured)
      std::cout << fmt::format("read throughput / decompress-only bound: {:.1f}%\n", 100 * ratio);
    else
      std::cout << "read throughput / decompress-only bound: none (no basket to read)\n";
  }
}

void setupBenchRead(CLI::App& app) {
  // `bench` may be shared with other areas' benchmarks: reuse it when it exists.
  CLI::App* bench = nullptr;
  try {
    bench = app.get_subcommand("bench");
  } catch (const CLI::OptionNotFound&) {
    bench = app.add_subcommand("bench", "Measure throughput");
    bench->require_subcommand(1);
  }
  auto opts = std::make_shared<BenchReadOptions>();
  auto* cmd = bench->add_subcommand("read", "Read ROOT files and compare with the decompress-only bound");
  cmd->add_option("files", opts->files, "ROOT files")->required();
  cmd->add_option("--tree", opts->tree, "TTree or RNTuple path (default: the first tree, else the first RNTuple)");
  cmd->add_option("--branches", opts->branches, "comma-separated branches (default: all supported)");
  cmd->add_option("--threads", opts->threads, "decompression threads (default 1)")->check(mlaas::cli::atLeast(1));
  cmd->add_option("--repeat", opts->repeat, "repetitions; the best is reported (default 3)")
      ->check(mlaas::cli::atLeast(1));
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace

MLAAS_CLI_COMMAND(bench_read, setupBenchRead);
