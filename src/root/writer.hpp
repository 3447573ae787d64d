// Writing ROOT files: TTrees of numeric branches (scalars, fixed arrays, counted jagged arrays
// `x[n]/F` with their counter branch, std::vector<T>), filled from batches of root::Column, with
// configurable baskets, clusters and compression (ROOT's numbers: 101, 207, 404, 505, 0 ...).
//
// A file is written under a temporary name in the target's folder and renamed over the target only
// when close() succeeds (after fsync), so an error or a crash never leaves a file that looks valid.
// JSROOT, ROOT and uproot read what this writes; files past 2 GB use ROOT's 64-bit layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "root/column.hpp"

namespace mlaas::core {
class ThreadPool;
}

namespace mlaas::root {

enum class BranchKind : std::uint8_t {
  scalar,      ///< one value per entry: `x/F`
  fixedArray,  ///< innerShape values per entry: `x[3][2]/F`
  counted,     ///< a counter branch's count of elements per entry: `x[nJet]/F` (+ `nJet/I`)
  vector,      ///< std::vector<T> per entry (a TBranchElement)
};

/// One branch of a tree to write.
struct BranchSpec {
  std::string name;
  DType type = DType::float64;
  BranchKind kind = BranchKind::scalar;
  /// fixedArray: the dimensions; counted: fixed dimensions of each element (usually empty).
  std::vector<std::size_t> innerShape;
  /// counted: the int32 counter branch, written automatically from the column's offsets; several
  /// counted branches may share one counter (their offsets must then agree).
  std::string counter;
  /// Empty: ROOT's leaf list, e.g. "Jet_pt[nJet]/F".
  std::string title;

  static BranchSpec scalar(std::string name, DType type);
  static BranchSpec array(std::string name, DType type, std::vector<std::size_t> shape);
  static BranchSpec counted(std::string name, DType type, std::string counter);
  static BranchSpec vector(std::string name, DType type);
  /// What a column implies: scalar, fixed array (innerShape), or std::vector (one offsets level).
  static BranchSpec fromColumn(const Column& column);
};

struct WriteOptions {
  /// ROOT's algorithm*100 + level: 0 none, 101 zlib-1, 207 LZMA-7, 301 legacy, 404 LZ4-4, 505 zstd-5.
  int compression = 101;
  /// Upper bound of a basket's uncompressed bytes (a basket holds whole entries, at least one).
  std::size_t basketBytes = 1 << 20;
  /// Entries per cluster (all branches flush together); 0 derives it from clusterBytes.
  std::uint64_t clusterEntries = 0;
  /// With clusterEntries == 0: about this many uncompressed bytes per cluster.
  std::size_t clusterBytes = 32 << 20;
  /// Baskets are compressed on this pool when set; the caller owns it (nullptr: in the caller).
  core::ThreadPool* pool = nullptr;
  /// Zero UUIDs and fixed timestamps, so the same input gives the same bytes.
  bool reproducible = false;
};

class FileWriter;

/// Fills one tree; created by FileWriter::addTree and owned by it.
class TreeWriter {
 public:
  ~TreeWriter();
  TreeWriter(const TreeWriter&) = delete;
  TreeWriter& operator=(const TreeWriter&) = delete;

  /// Appends one batch: one column per declared branch (matched by name, any order; counter
  /// branches are derived, not given), each with the same number of entries and the declared
  /// type and shape. Throws core::Exception(invalid_argument) naming the column on a mismatch, and
  /// core::Exception(io) when the file cannot be written; a throw leaves the tree unchanged.
  void append(std::span<const Column> columns);

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] std::uint64_t entries() const noexcept;
  /// The branches as written, counters included, in file order.
  [[nodiscard]] std::vector<BranchSpec> branches() const;

 private:
  friend class FileWriter;
  struct Impl;
  explicit TreeWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class FileWriter {
 public:
  /// Creates the temporary file next to `path`. Throws core::Exception: invalid_argument for a bad
  /// compression setting or option, io (naming the path) when the folder is not writable.
  explicit FileWriter(std::string path, WriteOptions options = {});
  /// Without a successful close(): removes the temporary file; the target is never touched.
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  /// Declares a tree; its branches are written in this order, each counter before its first user.
  /// Throws core::Exception(invalid_argument) for duplicate or empty names and unsupported types.
  TreeWriter& addTree(std::string name, std::vector<BranchSpec> branches, std::string title = {});

  /// Flushes every tree, writes the metadata, fsyncs and renames over the target path. Throws
  /// core::Exception(io) on failure, after removing the temporary file.
  void close();

  [[nodiscard]] const std::string& path() const noexcept;
  /// Bytes written so far (the file's size once closed).
  [[nodiscard]] std::uint64_t bytesWritten() const noexcept;

 private:
  friend class TreeWriter;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Writes a friend tree for a source tree: the same entries in the same order, carrying the
/// source's identifiers (run, luminosityBlock, event ...) beside new branches (a score, or one per
/// class), so that `source->AddFriend(...)` and column-wise joins line up. Batches must arrive in
/// entry order; finish() checks that exactly `sourceEntries` were written.
class FriendTreeWriter {
 public:
  /// `identifiers` and `outputs` are the branches to write (usually BranchSpec::fromColumn of the
  /// source's identifier columns, and scoreBranches(...)).
  FriendTreeWriter(FileWriter& file, std::string treeName, std::uint64_t sourceEntries,
                   std::vector<BranchSpec> identifiers, std::vector<BranchSpec> outputs);

  /// One batch: identifier columns as read from the source (their firstEntry must continue the
  /// previous batch) and output columns with the same number of entries.
  void append(std::span<const Column> identifiers, std::span<const Column> outputs);
  /// Throws core::Exception(invalid_argument) unless every source entry was written.
  void finish();

  [[nodiscard]] std::uint64_t entries() const noexcept { return next_; }

  /// "score" (float32) for one output, else "score_<class>" per class name.
  static std::vector<BranchSpec> scoreBranches(std::span<const std::string> classNames);

 private:
  TreeWriter* tree_;
  std::uint64_t sourceEntries_;
  std::uint64_t next_ = 0;
};

}  // namespace mlaas::root
