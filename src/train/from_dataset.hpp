// Reads a dataset config through the data layer (stats pass, then the batch pipeline) into
// TensorSets for training, keeping what model.json needs to preprocess raw events later.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "train/tensor_set.hpp"

namespace mlaas::train {

struct InputFileRecord {
  std::string path;
  std::uint64_t size = 0;     ///< bytes (0 for URLs)
  std::uint64_t entries = 0;
  std::string xxh3;           ///< XXH3-128 of the file's bytes, hex (empty for URLs)
};

struct LoadedDataset {
  TensorSet train;
  TensorSet validation;       ///< the config's validation split; empty if it has none
  std::string representation; ///< "vector", "groups", "image"
  std::string configText;     ///< the dataset part of the config (model/training blanked)
  std::string specsJson;      ///< data::Specs of the training split, as `mlaas stats` writes them
  std::vector<InputFileRecord> files;
  std::uint64_t entriesRead = 0;
  double statsSeconds = 0;    ///< pass 1
  double loadSeconds = 0;     ///< pass 2 for both splits (read, select, transform, copy)
};

/// The config text with the top-level `model:` and `training:` sections replaced by empty lines,
/// so that the data layer (which rejects unknown keys) reads the rest with its line numbers.
std::string datasetPart(std::string_view yamlText);

struct LoadOptions {
  std::size_t threads = 0;    ///< pipeline threads; 0 = the config's batch.threads
  std::uint64_t limit = 0;    ///< at most this many events per split (0 = all)
  bool checksums = true;      ///< hash every local input file for the provenance
};

/// Loads both splits. Throws core::Exception (the data layer's messages: file, key, line) on bad
/// configs and files.
LoadedDataset loadDataset(const std::filesystem::path& configPath, const LoadOptions& options = {});

/// XXH3-128 of a local file, hex; throws core::Exception when it cannot be read.
std::string fileChecksum(const std::filesystem::path& path);

}  // namespace mlaas::train
