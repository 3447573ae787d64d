// `mlaas stats CONFIG -o specs.json`: pass 1 of the training data layer. Reads every input in
// parallel chunks, computes per-feature statistics and group multiplicities over the selected
// training events, and writes the specs (with the inputs' sizes and mtimes and the config hash).
#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "cli/command.hpp"
#include "cli/output_guard.hpp"
#include "data/dataset.hpp"

namespace {

struct StatsOptions {
  std::string config;
  std::string output = "specs.json";
  std::size_t threads = 0;
  bool json = false;
};

void run(const StatsOptions& o) {
  using namespace mlaas::data;
  auto started = std::chrono::steady_clock::now();
  auto config = DatasetConfig::load(o.config);
  auto inputs = openInputs(config);
  // The specs replace whatever -o names: never the config or a file it reads (checked before any work).
  std::vector<mlaas::cli::ReadFile> reads{{"the config", o.config}};
  for (const auto& record : inputs.records) reads.push_back({"the input", record.path});
  mlaas::cli::refuseOverwritingInputs("-o", o.output, reads);
  auto plan = Plan::build(config, inputs.schema);
  auto specs = computeSpecs(*plan, inputs, {.threads = o.threads});
  specs.requireSelectedEvents(config);
  specs.save(o.output, *plan);
  // NaN or inf as a present value (Jet_pt[0] of an event without jets, x/0) is left out of the
  // statistics, but a network cannot use it: say so here, the first place a user sees the data.
  for (const auto& [name, stats] : specs.features)
    if (stats.nonFinite > 0)
      std::cerr << fmt::format(
          "mlaas: warning: feature '{}': {} NaN or infinite values (left out of its statistics); mlaas train "
          "refuses them: give a default (where(...)) or select them out "
          "(docs/training.md#what-training-refuses-and-why)\n",
          name, stats.nonFinite);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (o.json) {
    std::cout << fmt::format(
        "{{\"specs\": \"{}\", \"files\": {}, \"events\": {}, \"selected\": {}, \"features\": {}, \"groups\": {}, "
        "\"seconds\": {:.6f}, "
        "\"events_per_second\": {:.1f}}}\n",
        o.output, inputs.trees.size(), specs.entries, specs.selected, specs.features.size(), specs.groups.size(),
        seconds, static_cast<double>(specs.entries) / seconds);
    return;
  }
  std::cout << fmt::format(
      "{}: {} events in {} file(s), {} selected for training; {} features, {} groups; {:.3f} s ({:.0f} events/s)\n",
      o.output, specs.entries, inputs.trees.size(), specs.selected, specs.features.size(), specs.groups.size(), seconds,
      static_cast<double>(specs.entries) / seconds);
  for (const auto& group : plan->groups())
    std::cout << fmt::format("  group {}: {} members, padded length {}\n", group.name, group.members.size(),
                             specs.groupLength(group));
}

void setupStats(CLI::App& app) {
  auto options = std::make_shared<StatsOptions>();
  auto* cmd = app.add_subcommand("stats", "Pass 1: statistics of a dataset config's features, written as specs (JSON)");
  cmd->add_option("config", options->config, "Dataset config (YAML, see docs/dataset-config.md)")->required();
  cmd->add_option("-o,--output", options->output, "Specs file to write")->capture_default_str();
  cmd->add_option("--threads", options->threads, "Threads (default: the config's batch.threads, else all cores)");
  cmd->add_flag("--json", options->json, "Print one JSON object");
  cmd->callback([options] { run(*options); });
}

}  // namespace

MLAAS_CLI_COMMAND(stats, setupStats);
