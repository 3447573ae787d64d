// The model bundle: a directory with model.onnx, model.json (what a server needs to preprocess raw
// events and label outputs, the metrics and the provenance), metrics.json and metrics.svg.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "train/from_dataset.hpp"
#include "train/trainer.hpp"

namespace mlaas::train {

struct BundleInfo {
  std::string name = "model";          ///< the model's name (the default upload name)
  std::string mlaasVersion = "0";
  std::string configPath;              ///< the training config as given
  std::string datasetConfigText;       ///< the dataset part of the config
  std::string representation;          ///< "vector", "groups", "image" (empty: synthetic tensors)
  std::string specsJson;               ///< data::Specs JSON (empty: none)
  std::vector<InputFileRecord> files;  ///< provenance of the inputs
  std::int64_t trainingEvents = 0;
  std::int64_t validationEvents = 0;
  std::string started;                 ///< RFC 3339 UTC
  std::string finished;
};

struct BundleFiles {
  std::filesystem::path onnx, modelJson, metricsJson, metricsSvg;
};

/// RFC 3339 UTC of now, e.g. "2026-11-27T15:40:00Z".
std::string utcNow();

/// Labels of the outputs: the config's class names, else "signal" (binary), "class k", "target k".
std::vector<std::string> outputLabels(const Trainer& trainer);

/// The model.json document (also the upload metadata's source); see docs/training.md#model-json.
std::string modelJson(const Trainer& trainer, const BundleInfo& info);

/// Writes the four files into dir (created if needed; existing files are replaced).
BundleFiles writeBundle(const std::filesystem::path& dir, const Trainer& trainer, const BundleInfo& info);

}  // namespace mlaas::train
