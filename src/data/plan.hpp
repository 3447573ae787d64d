// A Plan is a DatasetConfig resolved against a tree's branches: globs expanded, expressions
// compiled and type-checked, groups tied to one list each, the branches to read listed. It is
// immutable and shared by every pipeline thread.
//
// Per chunk: prepare() turns the reader's Columns into Arrays and evaluates the new variables;
// select(), labels(), weights() and splitKeys() then give one value per event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "data/array.hpp"
#include "data/config.hpp"
#include "data/expr.hpp"
#include "root/column.hpp"

namespace mlaas::data {

/// What the reader says about one branch of the tree.
struct BranchInfo {
  std::string name;
  root::DType type = root::DType::float64;
  /// Empty for one value per event; otherwise the list it belongs to (the counter branch, e.g.
  /// "nJet", or the branch's own name for std::vector branches without a counter).
  std::string list;
  /// Empty when readable as a feature; otherwise why not (e.g. "nested lists").
  std::string unsupported;
};
using TreeSchema = std::vector<BranchInfo>;

struct GroupPlan {
  std::string name;
  std::string list;                  ///< the list every member belongs to
  std::vector<std::string> members;  ///< features per object, in config order (globs expanded)
  LengthMode lengthMode = LengthMode::max;
  std::size_t fixedLength = 0;
  double quantile = 1;
  double pad = 0;
  std::string sortBy;  ///< empty: stored order
  bool sortDescending = true;
};

class Plan {
 public:
  /// Throws core::Exception naming the config key and its line/column for unknown branches,
  /// type errors in expressions, members of different lists, and the like.
  static std::shared_ptr<const Plan> build(const DatasetConfig& config, const TreeSchema& schema);

  [[nodiscard]] const DatasetConfig& config() const noexcept { return config_; }
  [[nodiscard]] const TreeSchema& schema() const noexcept { return schema_; }
  /// Event-level features (branches or variables), in config order.
  [[nodiscard]] const std::vector<std::string>& flatFeatures() const noexcept { return flat_; }
  [[nodiscard]] const std::vector<GroupPlan>& groups() const noexcept { return groups_; }
  /// Every branch prepare() needs, sorted.
  [[nodiscard]] const std::vector<std::string>& branches() const noexcept { return branches_; }
  /// The schema entries of branches(), in schema order (what a specs file records).
  [[nodiscard]] const TreeSchema& readSchema() const noexcept { return readSchema_; }
  /// The identifier branches used for the split (empty: split by file and entry).
  [[nodiscard]] const std::vector<std::string>& splitIdentifiers() const noexcept { return splitIds_; }
  [[nodiscard]] Normalization normalization(const std::string& feature) const;
  [[nodiscard]] bool hasSelection() const noexcept { return selection_.has_value(); }

  /// Columns of branches() (any order; extra columns ignored) -> arrays plus variables.
  [[nodiscard]] core::Result<Chunk> prepare(std::span<const root::Column> columns) const;
  /// Entries [first, first + count) of the columns only: the pipeline prepares a chunk in slices
  /// small enough to stay in cache. `reuse` (the previous slice's chunk) lends its buffers.
  [[nodiscard]] core::Result<Chunk> prepare(std::span<const root::Column> columns, std::size_t first, std::size_t count,
                                            Chunk reuse = {}) const;
  /// 1 for selected events (all 1 without a selection; NaN counts as not selected).
  [[nodiscard]] core::Result<std::vector<std::uint8_t>> select(const Chunk& chunk) const;
  /// Per event: the file's label, the label branch/expression, or 0.
  [[nodiscard]] core::Result<std::vector<float>> labels(const Chunk& chunk, std::optional<double> fileLabel) const;
  /// Per event: the weight expression, or 1.
  [[nodiscard]] core::Result<std::vector<float>> weights(const Chunk& chunk) const;
  /// Per event: the 64-bit key the split hashes (identifiers' raw bits, or file and entry).
  [[nodiscard]] std::vector<std::uint64_t> splitKeys(std::span<const root::Column> columns, std::uint64_t fileKey,
                                                     std::uint64_t firstEntry, std::size_t entries) const;
  /// The same for `entries` events starting at index `columnFirst` of the columns (entry
  /// firstEntry of the file).
  [[nodiscard]] std::vector<std::uint64_t> splitKeys(std::span<const root::Column> columns, std::uint64_t fileKey,
                                                     std::uint64_t firstEntry, std::size_t entries,
                                                     std::size_t columnFirst) const;

 private:
  Plan() = default;
  DatasetConfig config_;
  TreeSchema schema_;
  std::vector<std::string> flat_;
  std::vector<GroupPlan> groups_;
  std::vector<std::string> branches_;
  TreeSchema readSchema_;
  std::vector<std::string> splitIds_;
  std::map<std::string, std::string> listOf_;  ///< branch -> unified list name (jagged branches)
  std::vector<std::pair<std::string, Expression>> variables_;
  std::optional<Expression> selection_, label_, weight_;
};

/// Split of an event from its key: 0 train, 1 validation, 2 test.
enum class Split : std::uint8_t { train = 0, validation = 1, test = 2 };
[[nodiscard]] Split splitOf(std::uint64_t key, const SplitConfig& split) noexcept;
[[nodiscard]] std::optional<Split> parseSplit(std::string_view name) noexcept;
[[nodiscard]] std::string_view toString(Split split) noexcept;
/// SplitMix64 finaliser: a well-mixed 64-bit hash step used by splits and shuffles.
[[nodiscard]] std::uint64_t mix64(std::uint64_t x) noexcept;

}  // namespace mlaas::data
