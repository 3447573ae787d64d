// The training loop on libtorch (kept inside trainer.cpp): builds the network for a config and
// the inputs, fits it with early stopping and checkpoints, predicts, and hands out its weights as
// plain arrays for the ONNX export.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "train/config.hpp"
#include "train/metrics.hpp"
#include "train/network.hpp"
#include "train/tensor_set.hpp"

namespace mlaas::train {

struct FitOptions {
  /// Where checkpoint.pt/checkpoint.json are written after every epoch; empty = none.
  std::filesystem::path checkpointDir;
  /// Continue from the checkpoint in checkpointDir when there is one.
  bool resume = false;
  /// Progress bar on stderr (events/s, loss, ETA).
  bool progress = false;
  /// Stop after this epoch number (1-based) even if more are configured; 0 = no limit. Simulates
  /// an interrupted run (tests of resume) without changing the schedule.
  int stopAfterEpoch = 0;
  /// Called after each epoch with its metrics.
  std::function<void(const EpochMetrics&)> onEpoch;
  /// Labels of the ROC curves (class names); default "signal" / "class k".
  std::vector<std::string> classNames;
};

/// The width of the network's output for a task and a training set (see ModelConfig::outputs);
/// throws core::Exception when labels do not fit the task.
std::int64_t resolveOutputs(const ModelConfig& model, const TensorSet& train);

class Trainer {
 public:
  /// Builds the network (weights seeded by config.training.seed). Throws core::Exception when the
  /// inputs do not suit the model kind (e.g. a cnn without an image input).
  Trainer(TrainConfig config, std::vector<InputSpec> inputs, std::int64_t outputs);
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains; returns the full history (including epochs before a resume). At the end the
  /// weights of the epoch with the best validation loss are restored.
  const TrainHistory& fit(const TensorSet& train, const TensorSet& validation, const FitOptions& options = {});

  /// Network outputs after the output activation (sigmoid / softmax / none): events x outputs.
  [[nodiscard]] std::vector<float> predict(const TensorSet& events) const;

  [[nodiscard]] const TrainConfig& config() const noexcept;
  [[nodiscard]] const std::vector<InputSpec>& inputs() const noexcept;
  [[nodiscard]] std::int64_t outputs() const noexcept;
  [[nodiscard]] std::int64_t parameterCount() const;
  [[nodiscard]] const TrainHistory& history() const noexcept;
  [[nodiscard]] NetworkWeights weights() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaas::train
