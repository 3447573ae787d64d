// `mlaas generate`: a synthetic NanoAOD-like labelled sample (signal Z' vs QCD background) for
// demos, tests and benchmarks; see docs/cli.md#writing-root-files-generate.
#include <fmt/format.h>

#include <iostream>
#include <optional>
#include <thread>

#include "cli/command.hpp"
#include "core/result.hpp"
#include "core/thread_pool.hpp"
#include "root/compress.hpp"
#include "root/generate.hpp"

namespace {

/// root::FileWriter's largest basket (writer.cpp), refused here as a bad option value.
constexpr long long kMaxBasketBytes = 1LL << 30;

struct GenerateArgs {
  std::uint64_t events = 0;
  std::string out;
  std::uint64_t seed = 1;
  int compression = 505;
  std::string tree = "Events";
  double signalFraction = 0.5;
  std::size_t threads = mlaas::core::ThreadPool::hardwareThreads();
  std::size_t basketBytes = 1 << 20;
  std::uint64_t clusterEntries = 0;
};

void setupGenerate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand(
      "generate", "Write a synthetic NanoAOD-like labelled sample (Z' signal vs QCD background) as a ROOT file");
  cmd->add_option("--events,-n", args->events, "Number of events")->required()->check(mlaas::cli::atLeast(1));
  cmd->add_option("--out,-o", args->out, "Output ROOT file (written atomically)")->required();
  cmd->add_option("--seed", args->seed, "Random seed: the same seed gives the same file")->capture_default_str();
  cmd->add_option(
         "--compression", args->compression,
         "ROOT compression setting, algorithm*100+level: 0 none, 101 zlib, 207 lzma, 301 legacy deflate, 404 lz4, "
         "505 zstd")
      ->capture_default_str();
  cmd->add_option("--tree", args->tree, "Tree name")->capture_default_str();
  cmd->add_option("--signal-fraction", args->signalFraction, "Fraction of signal events (label 1)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads for generation and compression")->capture_default_str();
  cmd->add_option("--basket-bytes", args->basketBytes, "Largest uncompressed basket, in bytes")
      ->check(mlaas::cli::atLeast(1, kMaxBasketBytes))
      ->capture_default_str();
  cmd->add_option("--cluster-entries", args->clusterEntries, "Entries per cluster (0: about 32 MB of data)")
      ->capture_default_str();
  cmd->callback([args] {
    mlaas::root::GenerateOptions options;
    options.events = args->events;
    options.seed = args->seed;
    options.treeName = args->tree;
    options.signalFraction = args->signalFraction;
    // The caller thread works too, so N threads means N-1 pool workers.
    options.threads = args->threads > 0 ? args->threads - 1 : 0;
    options.write.compression = args->compression;
    options.write.basketBytes = args->basketBytes;
    options.write.clusterEntries = args->clusterEntries;
    // A setting the writer cannot use is a bad option value: a usage error, before any work.
    std::optional<mlaas::root::CompressionSetting> setting;
    try {
      setting = mlaas::root::CompressionSetting::fromRoot(args->compression);
    } catch (const mlaas::core::Exception& e) {
      mlaas::cli::usageError(fmt::format("--compression: {}", e.what()));
    }
    const auto stats = mlaas::root::generateFile(args->out, options);
    std::cout << fmt::format("wrote {}: tree {}, {} events ({} signal), {:.1f} MB, {}, {:.2f} s ({:.0f} events/s)\n",
                             args->out, args->tree, stats.events, stats.signalEvents, stats.fileBytes / 1e6,
                             setting->describe(), stats.seconds, stats.events / std::max(stats.seconds, 1e-9));
  });
}

}  // namespace

MLAAS_CLI_COMMAND(generate, setupGenerate);
