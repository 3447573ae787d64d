// Training metrics: per-epoch records, ROC curves and AUC, and their JSON and SVG forms.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "train/config.hpp"

namespace mlaas::train {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

struct EpochMetrics {
  int epoch = 0;  ///< 1-based
  double learningRate = 0;
  double trainLoss = kNoValue;
  double validationLoss = kNoValue;
  double trainAccuracy = kNoValue;       ///< classification only
  double validationAccuracy = kNoValue;  ///< classification only
  double validationAuc = kNoValue;       ///< binary: AUC; multiclass: mean one-vs-rest AUC
  double seconds = 0;         ///< the whole epoch, validation included
  double loadSeconds = 0;     ///< building batches from the event store
  double computeSeconds = 0;  ///< forward, backward and optimizer steps
  double eventsPerSecond = 0; ///< training events / (load + compute)
};

struct RocCurve {
  std::string label;  ///< "signal", or the class for one-vs-rest
  std::vector<double> falsePositiveRate;
  std::vector<double> truePositiveRate;
  double auc = kNoValue;
};

struct TrainHistory {
  std::vector<EpochMetrics> epochs;
  int bestEpoch = 0;  ///< 1-based; 0 before the first epoch
  double bestValidationLoss = std::numeric_limits<double>::infinity();
  int epochsWithoutImprovement = 0;
  bool stoppedEarly = false;
  /// Validation ROC curves of the final (best) weights: one for binary, one per class otherwise.
  std::vector<RocCurve> roc;
};

/// Weighted ROC curve of scores for positives vs negatives (weights may be empty = 1; negative
/// weights, as NLO samples have, count as such). Ties in score form one point; at most maxPoints
/// points are kept (evenly in rank), ends included. Undefined (no points, AUC NaN) when a score is
/// NaN or a weight is not finite; infinite scores are ordered like any other.
RocCurve rocCurve(std::span<const float> scores, std::span<const std::uint8_t> positive,
                  std::span<const float> weights, std::size_t maxPoints = 201);
/// Exact weighted AUC (the probability that a positive scores above a negative, ties half). NaN
/// when it is undefined: a NaN score, a weight that is not finite, or a class whose weights do not
/// sum to more than 0 (no positives or no negatives).
double rocAuc(std::span<const float> scores, std::span<const std::uint8_t> positive, std::span<const float> weights);

/// The history as JSON (NaN written as null), with the final ROC curves.
std::string historyJson(const TrainHistory& history, const TrainConfig& config);
/// An SVG with the train and validation loss per epoch and, when present, the ROC curves.
std::string historySvg(const TrainHistory& history, const std::string& title);

}  // namespace mlaas::train
