#include "serve/tensor.hpp"

#include <array>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace mlaas::serve {
namespace {
struct TypeRow {
  DataType type;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<TypeRow, 13> kTypes{{
    {DataType::boolean, "BOOL", 1}, {DataType::uint8, "UINT8", 1},   {DataType::uint16, "UINT16", 2},
    {DataType::uint32, "UINT32", 4}, {DataType::uint64, "UINT64", 8}, {DataType::int8, "INT8", 1},
    {DataType::int16, "INT16", 2},   {DataType::int32, "INT32", 4},   {DataType::int64, "INT64", 8},
    {DataType::fp16, "FP16", 2},     {DataType::fp32, "FP32", 4},     {DataType::fp64, "FP64", 8},
    {DataType::bytes, "BYTES", 0},
}};
}  // namespace

std::string_view dataTypeName(DataType type) noexcept { return kTypes[static_cast<std::size_t>(type)].name; }

std::optional<DataType> parseDataType(std::string_view name) noexcept {
  for (const auto& row : kTypes)
    if (row.name == name) return row.type;
  return std::nullopt;
}

std::size_t elementSize(DataType type) noexcept { return kTypes[static_cast<std::size_t>(type)].size; }

std::optional<std::int64_t> shapeElementCount(std::span<const std::int64_t> shape) noexcept {
  std::int64_t count = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && count > std::numeric_limits<std::int64_t>::max() / dim) return std::nullopt;
    count *= dim;
  }
  return count;
}

std::optional<std::int64_t> Tensor::elementCount() const noexcept { return shapeElementCount(shape); }

std::size_t Tensor::byteSize() const noexcept {
  if (type != DataType::bytes) return data.size();
  std::size_t total = 0;
  for (const auto& s : strings) total += s.size();
  return total;
}

std::string shapeToString(std::span<const std::int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

}  // namespace mlaas::serve
