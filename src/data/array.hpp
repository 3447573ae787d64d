// Arrays: the values of one branch or expression over a chunk of events, as doubles.
//
// The dataset layer converts every root::Column it needs into an Array once per chunk; the
// expression engine, the statistics and the transforms all work on Arrays, so each of them has
// one code path whatever the branch's on-disk type. An Array is either event-level (one value per
// event) or object-level (a list per event: `offsets` has entries+1 items, offsets[0] == 0, and
// event i owns values [offsets[i], offsets[i+1])).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "root/column.hpp"

namespace mlaas::data {

using Offsets = std::vector<std::uint64_t>;

struct Array {
  std::vector<double> values;
  /// Null for event-level arrays. Shared (not copied) between arrays of the same list, so that
  /// element-wise operations can recognise "same list" by pointer first.
  std::shared_ptr<const Offsets> offsets;

  [[nodiscard]] bool isJagged() const noexcept { return offsets != nullptr; }
  /// Events covered: offsets->size()-1 for jagged arrays, values.size() otherwise.
  [[nodiscard]] std::size_t entries() const noexcept {
    return offsets ? offsets->size() - 1 : values.size();
  }
  [[nodiscard]] std::size_t count(std::size_t event) const noexcept {
    return static_cast<std::size_t>((*offsets)[event + 1] - (*offsets)[event]);
  }
};

/// One chunk of events: named arrays with the same number of events.
struct Chunk {
  std::size_t entries = 0;
  std::map<std::string, Array, std::less<>> arrays;

  [[nodiscard]] const Array* find(std::string_view name) const {
    auto it = arrays.find(name);
    return it == arrays.end() ? nullptr : &it->second;
  }
};

/// Converts a Column to an Array: scalars become event-level; one jagged level becomes
/// object-level (offsets rebased to 0); a fixed-size array x[k] becomes a list of k per event.
/// Strings, nested lists and jagged arrays of fixed-size arrays are unsupported (named in the error).
/// `sharedOffsets`, when given and equal to the column's offsets, is reused so that branches with
/// the same counter share one offsets object.
[[nodiscard]] core::Result<Array> toArray(const root::Column& column,
                                          const std::shared_ptr<const Offsets>& sharedOffsets = nullptr);
/// The same for entries [first, first + count) of the column only (offsets rebased to 0). `reuse`
/// gives its values' capacity to the result, so slice after slice converts without allocating.
/// `sharedStored`, when given, is the column's offsets that made `sharedOffsets` as stored (the
/// count + 1 from entry `first` on, not rebased): a member whose stored offsets are the same bytes
/// is recognised with one memcmp instead of rebasing and comparing each offset.
[[nodiscard]] core::Result<Array> toArray(const root::Column& column, std::size_t first, std::size_t count,
                                          const std::shared_ptr<const Offsets>& sharedOffsets, Array reuse = {},
                                          const std::uint64_t* sharedStored = nullptr);

}  // namespace mlaas::data
