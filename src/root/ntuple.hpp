// RNTuple (ROOT's columnar successor of TTree, format epoch 1) read into the same root::Column
// layout as TTree branches. A first, strict subset: the anchor, the header and footer envelopes
// (checksums verified), the schema extension, cluster groups and page lists; top-level fields of
// fundamental types (bool, [u]int8..64, float, double), std::string, and std::vector / ROOT::RVec
// of those, over every cluster, with split, zigzag and delta encodings and every ROOT codec.
// Every other field is listed with supported == false and a reason; reading it throws unsupported.
//
//   auto file = root::File::open("ntuple.root");
//   for (const auto& path : file->rntuplePaths()) {
//     root::NTuple nt = file->ntuple(path);
//     for (const auto& f : nt.fields()) ...                  // BranchInfo: name, type, jaggedLevels
//     auto cols = nt.read({"pt", "Jet_pt"}, {0, nt.entries()});
//   }
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "root/column.hpp"
#include "root/file.hpp"
#include "root/tree.hpp"

namespace mlaas::root {

class NTuple {
 public:
  [[nodiscard]] const std::string& path() const noexcept;
  [[nodiscard]] std::uint64_t entries() const noexcept;
  /// Every top-level field (title holds its C++ type name, className the structural role).
  [[nodiscard]] const std::vector<BranchInfo>& fields() const noexcept;
  [[nodiscard]] const BranchInfo* field(std::string_view name) const noexcept;
  /// Entry numbers where clusters start, ending with entries().
  [[nodiscard]] std::vector<std::uint64_t> clusterBoundaries() const;
  /// Reads fields over [range.begin, range.end) (clipped). Throws not_found, unsupported, corrupt.
  [[nodiscard]] std::vector<Column> read(const std::vector<std::string>& names, EntryRange range) const;
  /// read() into `columns`, reusing the buffers of the columns already there with the same names
  /// (a chunked reader's steady state: no allocation or page faults for same-sized chunks).
  void readInto(const std::vector<std::string>& names, EntryRange range, std::vector<Column>& columns) const;
  struct PageStats {
    std::uint64_t pages = 0;
    std::uint64_t storedBytes = 0;    ///< on disk (compressed or not)
    std::uint64_t unpackedBytes = 0;  ///< after decompression
    PageStats& operator+=(const PageStats& other) noexcept {
      pages += other.pages;
      storedBytes += other.storedBytes;
      unpackedBytes += other.unpackedBytes;
      return *this;
    }
  };
  /// The bound of read(): fetches and decompresses the pages of the same fields in the clusters
  /// that overlap `range`, without decoding them (benchmarks).
  PageStats decompressOnly(const std::vector<std::string>& names, EntryRange range) const;

  struct Impl;
  explicit NTuple(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace mlaas::root
