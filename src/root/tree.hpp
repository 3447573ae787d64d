// The columnar TTree API: the contract the dataset layer, the CLI and benchmarks code against.
//
//   auto file = root::File::open("events.root");           // throws core::Exception on bad files
//   root::Tree tree = file->tree("events");                  // also "dir/sub/tree"
//   for (const auto& b : tree.branches()) ...                 // name, DType, jagged levels, shape or reason
//   core::ThreadPool pool(2);
//   auto cols = tree.read({"Muon_pt", "nMuon"}, {0, 1000}, {.pool = &pool});
//   tree.forEachChunk({"Muon_pt"}, 100000, [](root::EntryRange r, std::vector<root::Column>& cols) { ... });
//
// Reading plans every basket the entry range needs (plan()), fetches them with coalesced byte
// ranges from the io::Source in one call, then decompresses and decodes each basket as an
// independent task on the caller's ThreadPool (nothing starts threads on its own). Values come out
// native-endian in root::Column (see column.hpp for the layout). Damaged data throws
// core::Exception(corrupt) naming the file, tree, branch, basket and offset; branches we cannot
// interpret are listed with supported == false and a reason naming their class, and reading them
// throws core::Exception(unsupported) with that reason.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/thread_pool.hpp"
#include "io/source.hpp"
#include "root/column.hpp"
#include "root/file.hpp"

namespace mlaas::root {

/// What a branch is and how we read it.
struct BranchInfo {
  std::string name;       ///< full branch name, as in the file ("Jet_pt", "P3.Px")
  std::string title;      ///< "Jet_pt[nJet]/F"
  std::string className;  ///< TBranchElement's class ("vector<float>", "Event"); "" for plain branches
  std::string leafClass;  ///< first leaf's class ("TLeafF", "TLeafElement", ...)
  std::string typeName;   ///< our interpretation in words ("float32", "float32[nJet]", "vector<vector<int32>>")
  bool supported = false;
  std::string unsupportedReason;  ///< "unsupported: map<int,vector<short> >" when !supported
  DType type = DType::float64;
  int jaggedLevels = 0;                ///< offsets levels in the Column (strings add one)
  std::vector<std::size_t> innerShape; ///< fixed dimensions inside the innermost level
  std::string counterBranch;           ///< x[n]/F: the branch holding n
  std::uint64_t entries = 0;
  std::uint64_t compressedBytes = 0;    ///< fZipBytes (all baskets)
  std::uint64_t uncompressedBytes = 0;  ///< fTotBytes
  std::size_t baskets = 0;
};

struct EntryRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  [[nodiscard]] std::uint64_t size() const noexcept { return end > begin ? end - begin : 0; }
  friend bool operator==(const EntryRange&, const EntryRange&) = default;
};

struct ReadOptions {
  core::ThreadPool* pool = nullptr;          ///< decompress/decode baskets here; null = calling thread
  std::uint64_t coalesceGap = 64 * 1024;     ///< merge basket byte ranges closer than this
  std::uint64_t maxRequestBytes = 16 << 20;  ///< ... into requests of at most this size
  /// With a pool, a read is shared only when the work the workers would take off the calling
  /// thread (estimated per basket: a fixed cost plus its output bytes at a swap-copy's or LZ4's
  /// speed) exceeds this many nanoseconds plus 100 per basket (what sharing costs: waking a worker,
  /// cache lines moving between cores); otherwise it runs on the calling thread. A read of 256
  /// branches or more is shared by runs of branches instead (no per-basket term: each thread reads
  /// its own branches into its own columns) when its estimated work off the caller exceeds this
  /// alone. 0: always share.
  std::uint64_t parallelMinNanos = 15'000;
};

struct ReadStats {
  std::uint64_t baskets = 0;
  std::uint64_t requests = 0;           ///< coalesced byte ranges fetched
  std::uint64_t compressedBytes = 0;    ///< basket bytes fetched
  std::uint64_t uncompressedBytes = 0;  ///< basket payload bytes after decompression
  double decompressSeconds = 0;         ///< summed over tasks (CPU time, not wall time)
  /// Baskets a previous read kept because it used them only in part (counted in `baskets` too): a
  /// chunk that cuts a basket leaves it for the read of its rest (the next chunk, or a read of the
  /// range before it running beside it), decompressed, or as fetched when it is
  /// stored and the source fetches (not a mapped local file). Their bytes are not fetched again.
  std::uint64_t basketsReused = 0;
  /// The most threads a read shared its baskets with (1 when it ran on the calling thread: no
  /// pool, or too small to share, see ReadOptions::parallelMinNanos).
  std::size_t threads = 0;
  /// Of a shared read's jobs (baskets, slices, fetch pieces; runs of branches of a wide read), how
  /// many the pool's workers ran rather than the calling thread. 0 for a shared read means no
  /// worker joined it in time (the caller, having done its own part, takes the rest from the end
  /// of the workers' parts): on a machine whose other cores are busy, a worker woken for a read of
  /// ~100 us is often not scheduled before the read is over.
  std::uint64_t jobsOnWorkers = 0;
};

/// One basket an entry range needs.
struct PlannedBasket {
  std::size_t branch = 0;       ///< index into Tree::branches()
  std::size_t basket = 0;       ///< basket number within the branch
  EntryRange entries;           ///< the basket's entries (not clipped to the range)
  io::ByteRange bytes;          ///< where it is in the file (size 0 when embedded in the tree)
};

struct ReadPlan {
  EntryRange entries;
  std::vector<std::size_t> branches;    ///< the requested branches, in order (indices into Tree::branches())
  std::vector<PlannedBasket> baskets;
  std::vector<io::ByteRange> requests;  ///< the coalesced ranges actually fetched
};

class Tree {
 public:
  [[nodiscard]] const std::string& path() const noexcept;
  [[nodiscard]] const std::string& title() const noexcept;
  [[nodiscard]] std::uint64_t entries() const noexcept;
  /// Every branch that holds data (sub-branches of split objects flattened, parents omitted).
  [[nodiscard]] const std::vector<BranchInfo>& branches() const noexcept;
  [[nodiscard]] const BranchInfo* branch(std::string_view name) const noexcept;
  /// Entry numbers where clusters start, ending with entries(): {0, c1, c2, ..., entries()}.
  [[nodiscard]] std::vector<std::uint64_t> clusterBoundaries() const;
  [[nodiscard]] const File& file() const noexcept;

  /// The baskets and coalesced byte ranges that reading `names` over `range` touches.
  [[nodiscard]] ReadPlan plan(const std::vector<std::string>& names, EntryRange range,
                              const ReadOptions& options = {}) const;
  /// Reads branches over [range.begin, range.end) (clipped to entries()). Throws not_found for an
  /// unknown branch, unsupported for one we cannot interpret, corrupt for damaged baskets.
  [[nodiscard]] std::vector<Column> read(const std::vector<std::string>& names, EntryRange range,
                                         const ReadOptions& options = {}, ReadStats* stats = nullptr) const;
  [[nodiscard]] Column read(const std::string& name, EntryRange range, const ReadOptions& options = {}) const;
  /// read() into `columns`: afterwards it holds one column per name, exactly as read() returns
  /// them, but each column already present at that index lends its data and offsets buffers
  /// (their capacity), so reading chunk after chunk allocates only when a chunk is larger than
  /// any before. A moved-from or missing column is allocated fresh. Throws like read(); after a
  /// throw the columns' contents are unspecified (but valid).
  void readInto(const std::vector<std::string>& names, EntryRange range, std::vector<Column>& columns,
                const ReadOptions& options = {}, ReadStats* stats = nullptr) const;
  /// The chunks forEachChunk reads: consecutive ranges of about `targetEntries` entries, each
  /// ending on a cluster boundary when possible (a cluster larger than the target is cut).
  [[nodiscard]] std::vector<EntryRange> chunks(std::uint64_t targetEntries) const;
  /// Calls fn for consecutive chunks of about `targetEntries` entries, each ending on a cluster
  /// boundary when possible; memory is bounded by one chunk (plus, where a chunk cuts a basket,
  /// that basket: the tree keeps at most three such baskets per branch, so the next chunk neither
  /// fetches nor decompresses it again; every read does this, not only forEachChunk). Before
  /// reading a chunk it asks the source to prefetch the next chunk's coalesced ranges, less the
  /// baskets this chunk cuts (io::Source::prefetch), so on remote sources the next round trip
  /// overlaps this chunk's decoding and fn.
  ///
  /// Buffer contract: fn receives the same vector every time, and the next chunk is read into it
  /// with readInto, reusing the capacity of whatever columns fn left there. So fn must copy (or
  /// move out) what it wants to keep beyond the call: a column left in the vector is overwritten
  /// by the next chunk, a column moved out is replaced by a freshly allocated one, and fn may also
  /// swap in a column of its own whose buffers are then reused. Chain::forEachChunk does the same.
  void forEachChunk(const std::vector<std::string>& names, std::uint64_t targetEntries,
                    const std::function<void(EntryRange, std::vector<Column>&)>& fn,
                    const ReadOptions& options = {}) const;
  /// Fetches and decompresses the baskets of the plan without decoding: the decompression bound
  /// used by `mlaas bench read`. Returns uncompressed bytes; adds seconds to stats.
  std::uint64_t decompressOnly(const std::vector<std::string>& names, EntryRange range, const ReadOptions& options,
                               ReadStats* stats) const;

  struct Impl;
  explicit Tree(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

/// Several files' trees read as one sequence (like TChain): global entry numbers, file boundaries.
class Chain {
 public:
  /// Opens every file and the tree at treePath in each. Throws naming the file that fails.
  Chain(const std::vector<std::string>& paths, const std::string& treePath);
  [[nodiscard]] std::uint64_t entries() const noexcept { return offsets_.back(); }
  /// offsets()[i] is the global entry number of file i's first entry; the last is entries().
  [[nodiscard]] const std::vector<std::uint64_t>& offsets() const noexcept { return offsets_; }
  [[nodiscard]] const std::vector<Tree>& trees() const noexcept { return trees_; }
  /// Reads a global entry range, concatenating across files.
  [[nodiscard]] std::vector<Column> read(const std::vector<std::string>& names, EntryRange range,
                                         const ReadOptions& options = {}) const;
  void forEachChunk(const std::vector<std::string>& names, std::uint64_t targetEntries,
                    const std::function<void(EntryRange, std::vector<Column>&)>& fn,
                    const ReadOptions& options = {}) const;

 private:
  std::vector<std::shared_ptr<const File>> files_;
  std::vector<Tree> trees_;
  std::vector<std::uint64_t> offsets_{0};
};

/// Appends `piece` (the same branch, following entries) to `into`.
void appendColumn(Column& into, const Column& piece);

}  // namespace mlaas::root
