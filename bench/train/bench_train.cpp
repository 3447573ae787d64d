// bench_train [EVENTS] [EPOCHS] [THREADS]: the reference configuration of docs/training.md on a
// sample from `mlaas generate` (root::generateFile). Prints, as ratios:
//   - per epoch: batch loading (gathering shuffled events into tensors) / the whole step time;
//   - the data layer's one-time pass (stats + batches from ROOT) / one epoch of compute;
//   - training events/s against the data layer's delivery rate;
//   - the validation AUC reached (against 1.0, the perfect classifier).
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "root/generate.hpp"
#include "train/config.hpp"
#include "train/from_dataset.hpp"
#include "train/trainer.hpp"

namespace fs = std::filesystem;
using namespace mlaas;

namespace {
const char* kReference = R"(inputs:
  tree: Events
  files: [sample.root]
  label: {branch: label}
features:
  flat: [MET_pt, MET_phi]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_phi, Jet_mass, Jet_btagDeepB], length: 6}
    muons: {branches: [Muon_pt, Muon_eta, Muon_phi], length: 2}
representation: vector
split: {train: 0.8, validation: 0.2, by: entry}
batch: {size: 1024, threads: THREADS}
model:
  kind: mlp
  task: binary
  hidden: [128, 64, 64]
  classes: [background, signal]
training:
  epochs: EPOCHS
  batch_size: 256
  learning_rate: 0.002
  schedule: cosine
  seed: 1
  threads: THREADS
)";

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}
}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 5;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const auto dir = fs::temp_directory_path() / fmt::format("mlaas-bench-train-{}", ::getpid());
  fs::create_directories(dir);
  root::GenerateOptions generate;
  generate.events = events;
  generate.seed = 1;
  generate.threads = static_cast<std::size_t>(threads);
  root::generateFile((dir / "sample.root").string(), generate);
  {
    std::ofstream out(dir / "reference.yaml");
    out << replaceAll(replaceAll(kReference, "EPOCHS", std::to_string(epochs)), "THREADS", std::to_string(threads));
  }

  const auto config = train::loadTrainConfig(dir / "reference.yaml");
  const auto data =
      train::loadDataset(dir / "reference.yaml", {.threads = static_cast<std::size_t>(threads), .checksums = false});
  const double dataSeconds = data.statsSeconds + data.loadSeconds;
  train::Trainer trainer(config, data.train.inputs, 1);
  fmt::print("bench_train: {} events ({} train, {} validation), {} inputs per event, {} parameters, {} threads\n",
             events, data.train.events, data.validation.events, data.train.inputs[0].valuesPerEvent(),
             trainer.parameterCount(), threads);
  const auto& history = trainer.fit(data.train, data.validation);
  double compute = 0;
  double load = 0;
  for (const auto& e : history.epochs) {
    fmt::print(
        "  epoch {}: {:8.0f} ev/s  loading {:.4f} s / step time {:.3f} s = {:5.2f}%  val_loss {:.4f}  AUC {:.4f}\n",
        e.epoch, e.eventsPerSecond, e.loadSeconds, e.loadSeconds + e.computeSeconds,
        100.0 * e.loadSeconds / (e.loadSeconds + e.computeSeconds), e.validationLoss, e.validationAuc);
    compute += e.computeSeconds;
    load += e.loadSeconds;
  }
  const double perEpoch = (compute + load) / static_cast<double>(history.epochs.size());
  const double trainRate = static_cast<double>(data.train.events) / perEpoch;
  const double dataRate = static_cast<double>(data.train.events + data.validation.events) / data.loadSeconds;
  fmt::print("loading / step time over all epochs: {:.2f}%\n", 100.0 * load / (load + compute));
  fmt::print("data layer one-time pass (stats {:.2f} s + batches {:.2f} s) / one epoch {:.2f} s = {:.2f}\n",
             data.statsSeconds, data.loadSeconds, perEpoch, dataSeconds / perEpoch);
  fmt::print("training {:.0f} ev/s vs data layer delivery {:.0f} ev/s = {:.3f}\n", trainRate, dataRate,
             trainRate / dataRate);
  fmt::print("validation AUC of the reference configuration (best epoch {}): {:.4f} (perfect: 1)\n", history.bestEpoch,
             history.roc.empty() ? 0.0 : history.roc[0].auc);
  fs::remove_all(dir);
  return 0;
}
