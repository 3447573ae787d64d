// Events in memory as the network sees them: named float32 inputs (event-major, row-major) with
// optional uint8 masks, labels and weights. This is the training core's own interface: the dataset
// layer's batches are copied into it (train/from_dataset.hpp), tests build it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace mlaas::train {

/// How the network treats an input (the representation it came from).
enum class InputKind {
  vector,  ///< per event {features}; mask per feature (1 = present); masked values are zeroed
  group,   ///< per event {objects, features}; mask per object (padding = 0)
  image,   ///< per event {channels, height, width}; no mask
};

struct InputSpec {
  std::string name;                  ///< ONNX input name: "features", the group name, "image"
  InputKind kind = InputKind::vector;
  std::vector<std::int64_t> shape;   ///< per-event shape (without the batch dimension)
  bool masked = false;               ///< vector and group inputs may carry a mask
  /// Optional: documentation in model.json, and the names in error messages. vector: one per
  /// feature; group: one per member (the last dimension); image: unused.
  std::vector<std::string> featureNames;
  std::string maskInput;             ///< ONNX name of the mask; empty = name + "_mask"

  [[nodiscard]] std::string maskName() const { return maskInput.empty() ? name + "_mask" : maskInput; }
  [[nodiscard]] std::int64_t valuesPerEvent() const noexcept;
  /// vector: features; group: objects; image: 0.
  [[nodiscard]] std::int64_t maskPerEvent() const noexcept;
  /// Throws core::Exception when the shape does not fit the kind.
  void validate() const;
};

/// The input specs fix the network's input layer; labels are one float per event for binary
/// (0/1) and multiclass (the class index), labelWidth floats per event for regression.
struct TensorSet {
  std::vector<InputSpec> inputs;
  std::vector<std::vector<float>> values;        ///< per input: events * valuesPerEvent
  std::vector<std::vector<std::uint8_t>> masks;  ///< per input: events * maskPerEvent, or empty if unmasked
  std::vector<float> labels;                     ///< events * labelWidth
  std::int64_t labelWidth = 1;
  /// events, or empty (all 1). Finite; negative weights (NLO samples) are weights like the others.
  std::vector<float> weights;
  std::int64_t events = 0;

  /// Empty set with the same inputs and label width.
  [[nodiscard]] TensorSet emptyLike() const;
  /// Appends events [begin, end) of other (same layout).
  void appendRange(const TensorSet& other, std::int64_t begin, std::int64_t end);
  /// Appends the listed events of other, in that order.
  void appendEvents(const TensorSet& other, std::span<const std::int64_t> indices);
  /// Throws core::Exception when sizes disagree (names the input). Values are checkFinite's.
  void validate() const;
};

/// One set to check with checkFinite.
struct FiniteCheck {
  std::string split;  ///< "training", "validation"
  const TensorSet* set = nullptr;
  /// Where event e of the set comes from ("sample.root entry 17"); empty = not said.
  std::function<std::string(std::int64_t event)> locate;
};

/// What the labels and weights are called in checkFinite's message (the config keys, when known).
struct FiniteNames {
  std::string label = "the label";
  std::string weight = "the event weight";
  std::string source;  ///< prefix of the message, e.g. the config file; empty = none
};

/// Throws core::Exception(invalid_argument) when a value the network would use is NaN or
/// infinite: a feature where its mask says present (padding, mask 0, is never used whatever it
/// holds), a label, or an event weight. The message names each such feature with how many values
/// in how many events of which split, one such event, and how to fix it: NaN passed on as a
/// present value makes the network's outputs, the loss and every metric NaN.
void checkFinite(std::span<const FiniteCheck> sets, const FiniteNames& names = {});

/// Splits into (train, validation): a seeded shuffle of events, the last `fraction` of which
/// become the validation set.
struct SplitSets {
  TensorSet train;
  TensorSet validation;
};
SplitSets splitTrainValidation(const TensorSet& all, double fraction, std::uint64_t seed);

/// The permutation of [0, n) used for a given seed (std::mt19937_64, Fisher-Yates): the same on
/// every platform, unlike std::shuffle.
std::vector<std::int64_t> seededPermutation(std::int64_t n, std::uint64_t seed);

}  // namespace mlaas::train
