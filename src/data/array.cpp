#include "data/array.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

#include "root/dtype_visit.hpp"

namespace mlaas::data {
namespace {

template <class T>
void appendAsDouble(const std::byte* data, std::size_t first, std::size_t count, std::vector<double>& out) {
  const std::byte* begin = data + first * sizeof(T);
  if (reinterpret_cast<std::uintptr_t>(begin) % alignof(T) == 0) {
    // The reader's buffers are aligned: convert straight into new elements, no zero-fill first.
    const auto* typed = reinterpret_cast<const T*>(begin);
    out.insert(out.end(), typed, typed + count);
    return;
  }
  const std::size_t base = out.size();
  out.resize(base + count);
  for (std::size_t i = 0; i < count; ++i) {
    T value;
    std::memcpy(&value, begin + i * sizeof(T), sizeof(T));  // no alignment assumption
    out[base + i] = static_cast<double>(value);
  }
}

core::Result<void> convertValues(const root::Column& column, std::size_t first, std::size_t count,
                                 std::vector<double>& out) {
  if ((first + count) * root::dtypeSize(column.type) > column.data.size())
    return core::fail(core::Errc::corrupt, fmt::format("branch '{}': offsets point past its {} bytes of values",
                                                       column.name, column.data.size()));
  const std::byte* data = column.data.data();
  using root::DType;
  if (column.type == DType::boolean) {
    // One byte per flag, any non-zero byte true.
    appendAsDouble<std::uint8_t>(data, first, count, out);
    for (std::size_t i = out.size() - count; i < out.size(); ++i) out[i] = out[i] != 0 ? 1.0 : 0.0;
  } else if (!root::visitNumeric(column.type,
                                 [&](auto type) { appendAsDouble<decltype(type)>(data, first, count, out); })) {
    return core::fail(core::Errc::unsupported, fmt::format("branch '{}': strings cannot be features", column.name));
  }
  return {};
}

}  // namespace

core::Result<Array> toArray(const root::Column& column, const std::shared_ptr<const Offsets>& sharedOffsets) {
  return toArray(column, 0, static_cast<std::size_t>(column.entries), sharedOffsets);
}

core::Result<Array> toArray(const root::Column& column, std::size_t first, std::size_t count,
                            const std::shared_ptr<const Offsets>& sharedOffsets, Array reuse,
                            const std::uint64_t* sharedStored) {
  Array array;
  array.values = std::move(reuse.values);
  array.values.clear();
  const std::size_t inner = column.innerSize();
  const auto entries = static_cast<std::size_t>(column.entries);
  if (column.type == root::DType::string)
    return core::fail(core::Errc::unsupported, fmt::format("branch '{}': strings cannot be features", column.name));
  if (first > entries || count > entries - first)
    return core::fail(core::Errc::invalid_argument, fmt::format("branch '{}': entries {}..{} outside its {} entries",
                                                                column.name, first, first + count, entries));
  if (column.offsets.empty()) {
    if (inner == 1) {
      array.values.reserve(count);
      MLAAS_TRY(convertValues(column, first, count, array.values));
      return array;
    }
    // A fixed-size array x[k] per event: a list of k objects per event.
    auto offsets = std::make_shared<Offsets>(count + 1);
    for (std::size_t e = 0; e <= count; ++e) (*offsets)[e] = e * inner;
    array.values.reserve(count * inner);
    MLAAS_TRY(convertValues(column, first * inner, count * inner, array.values));
    array.offsets = std::move(offsets);
    return array;
  }
  if (column.offsets.size() > 1)
    return core::fail(core::Errc::unsupported,
                      fmt::format("branch '{}': nested lists ({} jagged levels) cannot be features yet", column.name,
                                  column.offsets.size()));
  if (inner != 1)
    return core::fail(core::Errc::unsupported,
                      fmt::format("branch '{}': lists of fixed-size arrays cannot be features yet", column.name));
  const auto& source = column.offsets[0];
  if (source.size() != entries + 1)
    return core::fail(core::Errc::corrupt, fmt::format("branch '{}': {} offsets for {} entries", column.name,
                                                       source.size(), entries));
  const std::uint64_t base = source[first];
  const std::uint64_t* stored = source.data() + first;
  // Members of a list after the first usually have the same offsets: stored as the same bytes as
  // the first member's (one memcmp), or else equal once rebased (one branch-free comparison). Equal
  // to the shared ones (already checked) they cannot decrease, so either replaces the check.
  bool reuseOffsets = sharedOffsets && sharedOffsets->size() == count + 1;
  if (reuseOffsets &&
      !(sharedStored != nullptr && std::memcmp(stored, sharedStored, (count + 1) * sizeof(std::uint64_t)) == 0)) {
    const std::uint64_t* shared = sharedOffsets->data();
    std::uint64_t differ = 0;
    for (std::size_t e = 0; e <= count; ++e) differ |= shared[e] ^ (stored[e] - base);
    reuseOffsets = differ == 0;
  }
  if (!reuseOffsets) {
    bool decreasing = false;
    for (std::size_t e = 0; e < count; ++e) decreasing |= stored[e + 1] < stored[e];
    if (decreasing)
      for (std::size_t e = first; e < first + count; ++e)
        if (source[e + 1] < source[e])
          return core::fail(core::Errc::corrupt,
                            fmt::format("branch '{}': decreasing offsets at entry {}", column.name, e));
  }
  const std::size_t total = static_cast<std::size_t>(source[first + count] - base);
  array.values.reserve(total);
  MLAAS_TRY(convertValues(column, static_cast<std::size_t>(base), total, array.values));
  if (reuseOffsets) {
    array.offsets = sharedOffsets;
  } else {
    auto offsets = std::make_shared<Offsets>(count + 1);
    for (std::size_t e = 0; e <= count; ++e) (*offsets)[e] = stored[e] - base;
    array.offsets = std::move(offsets);
  }
  return array;
}

}  // namespace mlaas::data
