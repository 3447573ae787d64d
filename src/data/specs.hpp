// Specs: the statistics pass 1 writes (`mlaas stats`) and pass 2 and inference read.
//
// A specs file records what it was computed from: a hash of the config's statistics-relevant
// parts and every input's path, size, modification time and entries. checkMatches() refuses specs
// made for another config or for files that have changed since, so stale specs are an error,
// never silently reused (MLaaS4HEP's global-specs.json hazard).
//
// The JSON also carries MLaaS4HEP's keys (fkeys, jkeys, jdim, minv, maxv, nans, events) so that
// its tools can read our specs; a file with only those keys loads as `compat` specs (min/max and
// lengths only; checked against the inputs' entry counts).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/plan.hpp"
#include "data/stats.hpp"

namespace mlaas::data {

struct InputRecord {
  std::string path;
  std::uint64_t size = 0;   ///< bytes (0 for URLs: not checked)
  std::int64_t mtimeNs = 0;  ///< modification time in ns since the epoch (0 for URLs)
  std::uint64_t entries = 0;
  friend bool operator==(const InputRecord&, const InputRecord&) = default;
};
/// Size and mtime of a local file (zeros for URLs).
InputRecord describeInput(const std::string& path, std::uint64_t entries);

struct GroupStats {
  std::string list;
  /// multiplicity[k] = selected training events with k objects.
  std::vector<std::uint64_t> multiplicity;
  void add(std::size_t objects);
  void merge(const GroupStats& other);
};

struct Specs {
  std::string configHash;
  std::string tree;
  std::vector<InputRecord> inputs;
  std::uint64_t entries = 0;   ///< entries read
  std::uint64_t selected = 0;  ///< events that passed the selection and are in the training split
  std::map<std::string, FeatureStats> features;
  std::map<std::string, GroupStats> groups;
  TreeSchema schema;  ///< the branches the plan reads, so inference can rebuild the plan without files
  /// Loaded from MLaaS4HEP keys only: min/max per feature and jdim per jagged branch.
  bool compat = false;
  std::map<std::string, std::size_t> compatLengths;

  /// The padded length of a group: fixed, the maximum seen, or the smallest length covering the
  /// quantile of events (at least 1).
  [[nodiscard]] std::size_t groupLength(const GroupPlan& group) const;

  [[nodiscard]] std::string toJson(const Plan& plan) const;
  static Specs fromJson(const std::string& text, const std::string& name);
  void save(const std::filesystem::path& path, const Plan& plan) const;
  static Specs load(const std::filesystem::path& path);

  /// Throws core::Exception(conflict) naming what differs: the config hash, a file added, removed,
  /// resized or modified, or (compat specs) an entry count.
  void checkMatches(const DatasetConfig& config, const std::vector<InputRecord>& current,
                    const std::string& specsName) const;
  /// Throws core::Exception(invalid_argument) when no event was selected for training (empty
  /// inputs, a selection nothing passes, a training fraction of 0): statistics of nothing would
  /// make every normalisation the identity. The message names the selection and the split.
  void requireSelectedEvents(const DatasetConfig& config) const;
};

}  // namespace mlaas::data
