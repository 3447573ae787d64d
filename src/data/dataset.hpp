// Pass 1 (statistics -> Specs) and pass 2 (an iterable dataset of batches) over ROOT trees.
//
//   auto config = data::DatasetConfig::load("dataset.yaml");
//   auto inputs = data::openInputs(config);                    // globs expanded, trees opened
//   auto plan = data::Plan::build(config, inputs.schema);      // names and types checked
//   data::Specs specs = data::computeSpecs(*plan, inputs, {});  // pass 1, parallel over chunks
//   auto transform = std::make_shared<const data::Transform>(plan, specs);
//   data::Dataset dataset(plan, transform, inputs, {.split = data::Split::train});
//   for (std::size_t epoch = 0; epoch < 10; ++epoch) {
//     dataset.start(epoch);                                     // reshuffled per epoch, seeded
//     while (const data::Batch* batch = dataset.next().value()) train(*batch);
//   }
//
// The Dataset runs a background pipeline: `threads` workers each take the next chunk (a range of
// entries of one file), read and decompress it, evaluate variables and the selection, keep the
// events of the requested split and shard, and transform them; one assembler thread takes
// finished chunks IN ORDER (so results do not depend on thread timing), passes events through a
// seeded shuffle buffer and fills batches into a bounded queue. At most `prefetch` chunks are in
// flight ahead of the assembler and `prefetch` batches wait for the consumer; batch buffers are
// recycled. An error in any thread is delivered by next(); the destructor and start() stop and
// join every thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "data/plan.hpp"
#include "data/specs.hpp"
#include "data/transform.hpp"
#include "root/column.hpp"

namespace mlaas::data {

/// One input's tree as the pipeline sees it. Implementations must allow concurrent read() calls.
class TreeSource {
 public:
  virtual ~TreeSource() = default;
  TreeSource() = default;
  TreeSource(const TreeSource&) = delete;
  TreeSource& operator=(const TreeSource&) = delete;

  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  [[nodiscard]] virtual std::uint64_t entries() const noexcept = 0;
  [[nodiscard]] virtual TreeSchema schema() const = 0;
  /// Entry numbers where clusters start, ending with entries() (chunks end on them when possible).
  [[nodiscard]] virtual std::vector<std::uint64_t> clusterBoundaries() const = 0;
  /// Reads branches over [begin, end). Throws core::Exception naming the file and branch.
  [[nodiscard]] virtual std::vector<root::Column> read(const std::vector<std::string>& branches, std::uint64_t begin,
                                                       std::uint64_t end) const = 0;
  /// read() into `columns`, lending the buffers of the columns already there (their capacity), so
  /// a worker reads chunk after chunk without allocating and page-faulting fresh buffers. The
  /// default calls read().
  virtual void readInto(const std::vector<std::string>& branches, std::uint64_t begin, std::uint64_t end,
                        std::vector<root::Column>& columns) const {
    columns = read(branches, begin, end);
  }
};
using TreeSourcePtr = std::shared_ptr<const TreeSource>;

/// A tree held in memory (tests, and events given to a server): columns covering every entry.
[[nodiscard]] TreeSourcePtr memoryTree(std::string name, TreeSchema schema, std::vector<root::Column> columns);
/// The tree at `treePath` of a ROOT file (native reader). Throws core::Exception on bad files.
[[nodiscard]] TreeSourcePtr openTree(const std::string& pathOrUrl, const std::string& treePath);

struct Inputs {
  std::vector<TreeSourcePtr> trees;
  std::vector<std::optional<double>> labels;  ///< per file
  std::vector<InputRecord> records;           ///< path, size, mtime, entries per file
  TreeSchema schema;                          ///< of the first file
};
/// Expands globs (sorted; a pattern matching nothing is an error naming its config line), opens
/// every tree and records sizes and mtimes.
[[nodiscard]] Inputs openInputs(const DatasetConfig& config);
/// The same over trees already open (tests, inference).
[[nodiscard]] Inputs makeInputs(std::vector<TreeSourcePtr> trees, std::vector<std::optional<double>> labels);

struct StatsOptions {
  std::size_t threads = 0;  ///< 0: the config's batch.threads, or hardware threads
};
/// Pass 1: statistics of every feature and group multiplicities over the selected events of the
/// training split, merged over chunks and files in a fixed order. Throws on read errors.
[[nodiscard]] Specs computeSpecs(const Plan& plan, const Inputs& inputs, const StatsOptions& options = {});

struct DatasetOptions {
  Split split = Split::train;
  std::size_t shard = 0;   ///< this worker's index ...
  std::size_t shards = 1;  ///< ... of this many (data-parallel training): disjoint chunks each
  std::uint64_t limit = 0;  ///< stop after this many events per epoch (0: all)
  std::optional<bool> shuffle;  ///< override the config's shuffle.enabled
  std::size_t threads = 0;      ///< override the config's batch.threads (0: keep)
};

struct DatasetCounters {
  std::uint64_t entriesRead = 0;  ///< entries read this epoch
  std::uint64_t selected = 0;     ///< events that passed selection, split and shard
  std::uint64_t rows = 0;         ///< events delivered in batches
  double readSeconds = 0;         ///< time in TreeSource::read summed over workers
};

class Dataset {
 public:
  Dataset(std::shared_ptr<const Plan> plan, std::shared_ptr<const Transform> transform, Inputs inputs,
          DatasetOptions options = {});
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  /// (Re)starts reading for an epoch: file order and the shuffle buffer are seeded with
  /// (shuffle.seed, epoch), so the same seed and epoch give the same order.
  void start(std::size_t epoch);
  /// The next batch (valid until the next call), or nullptr at the end of the epoch, or the first
  /// error any pipeline thread met. Starts epoch 0 if start() was not called.
  [[nodiscard]] core::Result<const Batch*> next();
  [[nodiscard]] const Transform& transform() const noexcept;
  [[nodiscard]] DatasetCounters counters() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Inputs of at most this many entries are processed in the calling thread when the thread count
/// is automatic: starting threads and queues would cost more than the work itself.
inline constexpr std::uint64_t kInlineEntries = 16384;
/// The threads a pass uses: `requested` if not 0, else config.batch.threads if not 0, else the
/// hardware threads; automatic counts become 1 for inputs of at most kInlineEntries entries.
[[nodiscard]] std::size_t passThreads(std::size_t requested, const DatasetConfig& config, std::uint64_t entries);
/// The total entries of the inputs.
[[nodiscard]] std::uint64_t totalEntries(const Inputs& inputs) noexcept;

/// Reads `branches` over every input in chunks of `chunkEntries` with `threads` threads, doing
/// nothing else: the raw-read time that the pipeline's cost is compared with. Returns seconds.
[[nodiscard]] double readOnlySeconds(const Inputs& inputs, const std::vector<std::string>& branches,
                                     std::size_t chunkEntries, std::size_t threads);

}  // namespace mlaas::data
