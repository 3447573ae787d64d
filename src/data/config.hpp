// Dataset configs: what to read, which features, how to lay them out (docs/dataset-config.md).
//
// DatasetConfig::load parses the YAML and checks everything that does not need a file: structure,
// types, ranges, contradictions and expression syntax. Names of branches are resolved later, by
// Plan::build (data/plan.hpp), against the tree's schema. Every error throws core::Exception with
// "<config>:<line>:<column>: <key.path>: <what is wrong>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlaas::data {

/// Where a value sits in the config file (1-based line and column) and its key path.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  ///< e.g. "features.groups.jets.length"
};
/// "config.yaml:12:5: features.groups.jets.length"
std::string toString(const Location& at);
/// Throws core::Exception(invalid_argument) with "<location>: <message>".
[[noreturn]] void throwConfigError(const Location& at, const std::string& message);
/// What makes two inputs one file: the canonical path (absolute, links and '..' resolved; a glob's
/// pattern part as written), a URL as written.
std::string inputIdentity(const std::string& path);

enum class Normalization : std::uint8_t { none, minmax, standard, robust };
enum class Representation : std::uint8_t { vector, groups, image };
enum class LengthMode : std::uint8_t { fixed, max, quantile };

std::string_view toString(Normalization value) noexcept;
std::string_view toString(Representation value) noexcept;

struct InputFile {
  std::string path;             ///< resolved against `base` unless a URL (passed through untouched)
  std::optional<double> label;  ///< per-file label
  Location at;
};

struct Pattern {  ///< a branch name or glob (*, ?, [..]) and where it was written
  std::string text;
  Location at;
};

struct GroupConfig {
  std::string name;
  std::vector<Pattern> branches;
  LengthMode lengthMode = LengthMode::max;
  std::size_t length = 0;  ///< for fixed
  double quantile = 1.0;   ///< for quantile: the shortest length covering this fraction of events
  double pad = 0;          ///< padding value (NaN allowed)
  std::string sortBy;      ///< empty: stored order; else objects sorted by this member, descending
  bool sortDescending = true;
  Location at, sortAt;
};

struct VariableConfig {
  std::string name;
  std::string expression;
  Location at;
};

struct ImageChannel {
  std::string group;
  std::string x, y, value;  ///< members of the group: the axes and the summed value ("" = count)
  Location at;
};

struct ImageConfig {
  std::size_t xBins = 0, yBins = 0;
  double xMin = 0, xMax = 0, yMin = 0, yMax = 0;
  std::vector<ImageChannel> channels;
};

struct SplitConfig {
  double train = 1, validation = 0, test = 0;
  /// Hash the identifier branches (when the tree has them all), else (file name, entry).
  bool byIdentifiers = true;
  std::uint64_t seed = 0;  ///< salt of the split hash, independent of the shuffle seed
};

struct ShuffleConfig {
  bool enabled = true;
  std::uint64_t seed = 1;
  bool files = true;           ///< shuffle file order each epoch
  std::size_t interleave = 4;  ///< chunks read round-robin from this many files at a time
  std::size_t buffer = 10000;  ///< events in the shuffle buffer (0 or 1: no event shuffling)
};

struct BatchConfig {
  std::size_t size = 256;
  std::size_t chunkEntries = 20000;  ///< entries read per work unit
  std::size_t threads = 0;           ///< pipeline workers; 0 = hardware threads
  std::size_t prefetch = 4;          ///< chunks in flight / batches queued ahead of the consumer
  bool dropLast = false;
};

struct DatasetConfig {
  Location source;  ///< the config file itself (file name only), for messages
  std::filesystem::path base;
  std::string tree;
  Location treeAt;
  std::vector<InputFile> files;
  std::string labelBranch, labelExpression;  ///< at most one; or per-file labels; or none
  Location labelAt;
  std::string weight;  ///< an expression (usually a branch name); empty: weight 1
  Location weightAt;
  std::vector<Pattern> features;  ///< flat features (branch or variable names / globs)
  std::vector<std::string> identifiers{"run", "event", "luminosityBlock"};
  std::vector<GroupConfig> groups;
  std::vector<VariableConfig> variables;
  std::string selection;
  Location selectionAt;
  Normalization normalization = Normalization::standard;
  std::map<std::string, std::pair<Normalization, Location>> normalizationPerFeature;
  Representation representation = Representation::vector;
  ImageConfig image;
  Location imageAt;
  SplitConfig split;
  ShuffleConfig shuffle;
  BatchConfig batch;

  /// Reads and checks a config file. Relative file paths resolve against `base:` (itself relative
  /// to the config's folder; default: the config's folder).
  static DatasetConfig load(const std::filesystem::path& path);
  /// The same from text; `name` is used in messages and `folder` for relative paths.
  static DatasetConfig parse(const std::string& yaml, const std::string& name, const std::filesystem::path& folder);

  /// A hash of everything statistics depend on (inputs, tree, features, groups, variables,
  /// selection, labels, weights): specs made under another hash are refused.
  /// Input files count by canonical path, so the hash does not depend on how the config's or the
  /// inputs' paths are spelled (relative, absolute, from another folder).
  [[nodiscard]] std::string statsHash() const;
  /// True when `hash` is statsHash() or the hash older specs recorded (paths as spelled).
  [[nodiscard]] bool statsHashMatches(const std::string& hash) const;
};

}  // namespace mlaas::data
