// `mlaas batches CONFIG --specs specs.json`: pass 2 of the training data layer. Streams the
// batches a training loop would get (one epoch of one split and shard) and optionally writes them
// as NumPy files, or times them against reading the same branches alone (--bench).
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "cli/output_guard.hpp"
#include "data/dataset.hpp"
#include "data/npy.hpp"
#include "core/result.hpp"
#include "core/thread_pool.hpp"

namespace {

struct BatchesOptions {
  std::string config;
  std::string specs;
  std::string split = "train";
  std::uint64_t limit = 0;
  std::string out;
  bool bench = false;
  bool json = false;
  std::size_t epoch = 0;
  std::size_t shard = 0;
  std::size_t shards = 1;
  std::size_t threads = 0;
};

void run(const BatchesOptions& o) {
  using namespace mlaas::data;
  auto split = parseSplit(o.split);
  if (!split) mlaas::cli::usageError(fmt::format("--split must be train, validation or test, not '{}'", o.split));
  if (o.shard >= o.shards)
    mlaas::cli::usageError(fmt::format("--shard {} is not below --shards {} (shards are numbered 0 to {})", o.shard,
                                       o.shards, o.shards - 1));
  auto config = DatasetConfig::load(o.config);
  auto inputs = openInputs(config);
  auto specs = Specs::load(o.specs);
  specs.checkMatches(config, inputs.records, o.specs);
  auto plan = Plan::build(config, inputs.schema);
  auto transform = std::make_shared<const Transform>(plan, specs);
  DatasetOptions options{
      .split = *split, .shard = o.shard, .shards = o.shards, .limit = o.limit, .shuffle = {}, .threads = o.threads};
  Dataset dataset(plan, transform, inputs, options);

  std::vector<std::unique_ptr<NpyWriter>> tensorFiles, maskFiles;
  std::unique_ptr<NpyWriter> labelFile, weightFile, eventFile;
  if (!o.out.empty()) {
    auto path = [&](const std::string& name) { return std::filesystem::path(o.out) / (name + ".npy"); };
    // The .npy files replace what --out holds under their names: never the config, specs or inputs.
    std::vector<mlaas::cli::ReadFile> reads{{"the config", o.config}, {"the specs", o.specs}};
    for (const auto& record : inputs.records) reads.push_back({"the input", record.path});
    std::vector<std::string> names{"labels", "weights", "events"};
    for (const auto& spec : transform->tensorSpecs()) names.push_back(spec.name);
    for (const auto& spec : transform->maskSpecs()) names.push_back(spec.name);
    for (const auto& name : names) mlaas::cli::refuseOverwritingInputs("--out", path(name).string(), reads);
    std::error_code error;
    if (std::filesystem::exists(o.out, error) && !std::filesystem::is_directory(o.out, error))
      throw mlaas::core::Exception(mlaas::core::Errc::invalid_argument,
                                   fmt::format("--out {}: exists and is not a folder", o.out));
    std::filesystem::create_directories(o.out, error);
    if (error)
      throw mlaas::core::Exception(mlaas::core::Errc::io,
                                   fmt::format("--out {}: cannot create the folder: {}", o.out, error.message()));
    for (const auto& spec : transform->tensorSpecs())
      tensorFiles.push_back(std::make_unique<NpyWriter>(path(spec.name), "<f4", spec.shape));
    for (const auto& spec : transform->maskSpecs())
      maskFiles.push_back(std::make_unique<NpyWriter>(path(spec.name), "|u1", spec.shape));
    labelFile = std::make_unique<NpyWriter>(path("labels"), "<f4", std::vector<std::size_t>{});
    weightFile = std::make_unique<NpyWriter>(path("weights"), "<f4", std::vector<std::size_t>{});
    eventFile = std::make_unique<NpyWriter>(path("events"), "<u8", std::vector<std::size_t>{2});
  }

  auto started = std::chrono::steady_clock::now();
  dataset.start(o.epoch);
  std::uint64_t rows = 0, batches = 0;
  std::vector<std::uint64_t> refs;
  while (const Batch* batch = dataset.next().value()) {
    rows += batch->rows;
    ++batches;
    if (o.out.empty()) continue;
    for (std::size_t i = 0; i < tensorFiles.size(); ++i) tensorFiles[i]->append(batch->tensors[i].data(), batch->rows);
    for (std::size_t i = 0; i < maskFiles.size(); ++i) maskFiles[i]->append(batch->masks[i].data(), batch->rows);
    labelFile->append(batch->labels.data(), batch->rows);
    weightFile->append(batch->weights.data(), batch->rows);
    refs.clear();
    for (std::size_t r = 0; r < batch->rows; ++r) {
      refs.push_back(batch->events[r].file);
      refs.push_back(batch->events[r].entry);
    }
    eventFile->append(refs.data(), batch->rows);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (auto& file : tensorFiles) file->finish();
  for (auto& file : maskFiles) file->finish();
  if (labelFile) {
    labelFile->finish();
    weightFile->finish();
    eventFile->finish();
  }
  const auto counters = dataset.counters();
  double readSeconds = 0;
  if (o.bench) {
    const std::size_t threads = passThreads(o.threads, config, totalEntries(inputs));  // as the pipeline decides
    readSeconds = readOnlySeconds(inputs, plan->branches(), config.batch.chunkEntries, threads);
  }
  const double eventsPerSecond = static_cast<double>(counters.entriesRead) / seconds;
  if (o.json) {
    std::string shapes;
    for (const auto& spec : transform->tensorSpecs()) {
      std::string dims;
      for (auto d : spec.shape) dims += fmt::format("{}{}", dims.empty() ? "" : ", ", d);
      shapes += fmt::format("{}\"{}\": [{}]", shapes.empty() ? "" : ", ", spec.name, dims);
    }
    std::string out = fmt::format(
        "{{\"split\": \"{}\", \"events\": {}, \"rows\": {}, \"batches\": {}, \"seconds\": {:.6f}, "
        "\"events_per_second\": {:.1f}, \"tensors\": {{{}}}",
        o.split, counters.entriesRead, rows, batches, seconds, eventsPerSecond, shapes);
    if (o.bench)
      out += fmt::format(", \"read_seconds\": {:.6f}, \"overhead\": {:.4f}, \"speedup_vs_mlaas4hep\": {:.0f}",
                         readSeconds, seconds / readSeconds - 1, eventsPerSecond / 1000.0);
    std::cout << out << "}\n";
    return;
  }
  std::cout << fmt::format("{} split: {} rows in {} batches from {} events read; {:.3f} s ({:.0f} events/s)\n", o.split,
                           rows, batches, counters.entriesRead, seconds, eventsPerSecond);
  for (const auto& spec : transform->tensorSpecs()) {
    std::string dims;
    for (auto d : spec.shape) dims += fmt::format(" x {}", d);
    std::cout << fmt::format("  {}: N{}\n", spec.name, dims);
  }
  if (o.bench)
    std::cout << fmt::format(
        "  reading the same branches alone: {:.3f} s; transform + batching add {:.1f}%; {:.0f}x MLaaS4HEP's ~1 kHz\n",
        readSeconds, 100 * (seconds / readSeconds - 1), eventsPerSecond / 1000.0);
  if (!o.out.empty()) std::cout << fmt::format("  wrote .npy files to {}\n", o.out);
}

void setupBatches(CLI::App& app) {
  auto options = std::make_shared<BatchesOptions>();
  auto* cmd = app.add_subcommand("batches", "Pass 2: stream one epoch of training batches (optionally to .npy files)");
  cmd->add_option("config", options->config, "Dataset config (YAML)")->required();
  cmd->add_option("--specs", options->specs, "Specs from 'mlaas stats' (refused if stale)")->required();
  cmd->add_option("--split", options->split, "train, validation or test")->capture_default_str();
  cmd->add_option("--limit", options->limit, "Stop after this many events (0: all)");
  cmd->add_option("--out", options->out,
                  "Folder for .npy files (features/mask or per-group tensors, labels, weights, events)");
  cmd->add_option("--epoch", options->epoch, "Epoch number (seeds the shuffle)");
  cmd->add_option("--shard", options->shard, "This worker's shard index");
  cmd->add_option("--shards", options->shards, "Number of shards (data-parallel workers)")
      ->check(mlaas::cli::atLeast(1));
  cmd->add_option("--threads", options->threads,
                  "Pipeline threads (default: the config's batch.threads, else all cores)");
  cmd->add_flag("--bench", options->bench, "Also time reading the same branches alone and report the overhead");
  cmd->add_flag("--json", options->json, "Print one JSON object");
  cmd->callback([options] { run(*options); });
}

}  // namespace

MLAAS_CLI_COMMAND(batches, setupBatches);
