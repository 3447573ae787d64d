// Tensors as the server sees them: an OIP datatype, a shape and row-major little-endian bytes
// (or strings for BYTES). Decoders produce them, the runtime consumes and returns them, so
// neither the HTTP layer nor callers ever see ONNX Runtime types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlaas::serve {

/// Element types: every Open Inference Protocol datatype that ONNX also has.
enum class DataType : std::uint8_t {
  boolean, uint8, uint16, uint32, uint64, int8, int16, int32, int64, fp16, fp32, fp64, bytes
};

/// The OIP spelling ("FP32", "BYTES", ...).
std::string_view dataTypeName(DataType type) noexcept;
/// Parses the OIP spelling (exact, upper case).
std::optional<DataType> parseDataType(std::string_view name) noexcept;
/// Bytes per element; 0 for BYTES (variable length).
std::size_t elementSize(DataType type) noexcept;

/// Name, type and shape of a model input or output; -1 marks a dynamic dimension.
struct TensorSpec {
  std::string name;
  DataType type = DataType::fp32;
  std::vector<std::int64_t> shape;
};

struct Tensor {
  std::string name;
  DataType type = DataType::fp32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;       ///< row-major little-endian values (all types but BYTES)
  std::vector<std::string> strings;  ///< BYTES elements

  /// Product of the shape (1 for a scalar); nullopt if a dimension is negative or it overflows.
  [[nodiscard]] std::optional<std::int64_t> elementCount() const noexcept;
  [[nodiscard]] std::size_t byteSize() const noexcept;
};

/// Product of dims with overflow and negativity checks.
std::optional<std::int64_t> shapeElementCount(std::span<const std::int64_t> shape) noexcept;

/// "[2,42]" for messages.
std::string shapeToString(std::span<const std::int64_t> shape);

}  // namespace mlaas::serve
