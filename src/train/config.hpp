// The `model:` and `training:` sections of a training config: which network, which task, and how
// the loop runs. Parsed from YAML (the same file as the dataset config); every bad key or value
// throws core::Exception naming the file, the key path and the line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mlaas::train {

enum class ModelKind { mlp, deepsets, cnn };
enum class Task { binary, multiclass, regression };
/// The class of a classifier's label: binary labels split at 0.5, multiclass labels are the index.
inline std::int64_t classOf(float label, Task task) noexcept {
  return task == Task::binary ? (label > 0.5F ? 1 : 0) : static_cast<std::int64_t>(label);
}
enum class Activation { relu, tanh, sigmoid, elu };
enum class Pooling { sum, mean, max };
enum class OptimizerKind { adam, sgd };
enum class Schedule { constant, step, cosine };

std::string_view name(ModelKind kind) noexcept;
std::string_view name(Task task) noexcept;
std::string_view name(Activation activation) noexcept;
std::string_view name(Pooling pooling) noexcept;
std::string_view name(OptimizerKind optimizer) noexcept;
std::string_view name(Schedule schedule) noexcept;

/// The network. Every kind ends in an MLP "head" (hidden sizes, activation, dropout) whose input
/// is the concatenation of the event-level features (masked, plus their masks) and, for
/// deepsets, the pooled per-object outputs or, for cnn, the flattened convolution outputs.
struct ModelConfig {
  ModelKind kind = ModelKind::mlp;
  Task task = Task::binary;
  /// Width of the output: 1 for binary, the number of classes for multiclass, the number of
  /// targets for regression. 0 = take it from the data (classes / label width).
  std::int64_t outputs = 0;
  std::vector<std::int64_t> hidden = {64, 64};
  Activation activation = Activation::relu;
  double dropout = 0.0;
  // deepsets: the per-object network and how objects are pooled.
  std::vector<std::int64_t> objectHidden = {32, 32};
  Pooling pooling = Pooling::sum;
  // cnn: one 'same'-padded convolution per entry (kernel x kernel), each followed by the
  // activation and a 2x2 max pool.
  std::vector<std::int64_t> channels = {8, 16};
  std::int64_t kernel = 3;
  /// Loss weight per class (binary: {negative, positive}); empty = all 1.
  std::vector<double> classWeights;
  /// Multiply each event's loss by its weight from the data.
  bool eventWeights = true;
  /// Names of the classes (binary: of the positive class, or {negative, positive}); model.json
  /// and the server's labels. Multiclass with outputs 0 takes its width from here.
  std::vector<std::string> classNames;
};

struct TrainingConfig {
  OptimizerKind optimizer = OptimizerKind::adam;
  double learningRate = 1e-3;
  double momentum = 0.9;  ///< sgd only
  double weightDecay = 0.0;
  Schedule schedule = Schedule::constant;
  int stepEpochs = 10;    ///< step: multiply the rate by gamma every stepEpochs epochs
  double gamma = 0.5;
  double minLearningRate = 0.0;  ///< cosine: the rate reached at the last epoch
  int epochs = 10;
  std::int64_t batchSize = 256;
  int patience = 0;       ///< early stopping: epochs without improvement of validation loss; 0 = off
  double minDelta = 0.0;  ///< an improvement must beat the best loss by more than this
  double validationFraction = 0.2;
  std::uint64_t seed = 1;
  int threads = 0;        ///< torch intra-op threads; 0 = leave libtorch's default
};

struct TrainConfig {
  ModelConfig model;
  TrainingConfig training;
};

/// Learning rate at the start of epoch (0-based) for the schedule.
double learningRateAt(const TrainingConfig& training, int epoch) noexcept;

/// Parses the `model:` and optional `training:` sections of a YAML document; sourceName is used in
/// messages (a file name). Other top-level keys (the dataset config) are ignored. Unknown keys
/// inside the two sections are errors (they are typos more often than not).
TrainConfig parseTrainConfig(std::string_view yamlText, const std::string& sourceName);
TrainConfig loadTrainConfig(const std::filesystem::path& path);

}  // namespace mlaas::train
