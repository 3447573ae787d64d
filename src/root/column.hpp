// The columnar contract between the ROOT reader and everything above it (data, writer, cli):
// one branch over an entry range as contiguous values plus offsets per jagged level.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlaas::root {

/// Element types of columns. `string` columns hold characters with one extra offsets level.
enum class DType : std::uint8_t {
  boolean, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, string,
};

/// Bytes per element (1 for boolean and string characters).
std::size_t dtypeSize(DType type) noexcept;
/// "bool", "int8", ..., "float64", "string".
std::string_view dtypeName(DType type) noexcept;

/// One branch's values over entries [firstEntry, firstEntry + entries).
///
/// Layout, outermost first:
/// - `offsets[k]` is the k-th jagged level: for level 0, offsets[0].size() == entries + 1 and
///   entry i owns elements [offsets[0][i], offsets[0][i+1]) of the next level (or of the values
///   when it is the last level). Scalars have no offset levels.
/// - `innerShape` holds fixed dimensions inside the innermost level (x[3][2]/F gives {3, 2}); each
///   element of the innermost level is product(innerShape) values.
/// - `data` is native-endian, contiguous, `dtypeSize(type)` bytes per value. For strings, the last
///   offsets level indexes characters in `data`.
struct Column {
  std::string name;
  DType type = DType::float64;
  std::uint64_t firstEntry = 0;
  std::uint64_t entries = 0;
  std::vector<std::size_t> innerShape;
  std::vector<std::vector<std::uint64_t>> offsets;
  std::vector<std::byte> data;

  [[nodiscard]] std::size_t innerSize() const noexcept {
    std::size_t n = 1;
    for (auto d : innerShape) n *= d;
    return n;
  }
  [[nodiscard]] std::size_t valueCount() const noexcept { return data.size() / dtypeSize(type); }
  /// The values viewed as T (the caller matches T to type).
  template <class T>
  [[nodiscard]] std::span<const T> values() const noexcept {
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
  template <class T>
  [[nodiscard]] std::span<T> mutableValues() noexcept {
    return {reinterpret_cast<T*>(data.data()), data.size() / sizeof(T)};
  }
};

}  // namespace mlaas::root
