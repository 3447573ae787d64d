#include "root/column.hpp"

namespace mlaas::root {

std::size_t dtypeSize(DType type) noexcept {
  switch (type) {
    case DType::boolean:
    case DType::int8:
    case DType::uint8:
    case DType::string: return 1;
    case DType::int16:
    case DType::uint16: return 2;
    case DType::int32:
    case DType::uint32:
    case DType::float32: return 4;
    case DType::int64:
    case DType::uint64:
    case DType::float64: return 8;
  }
  return 1;
}

std::string_view dtypeName(DType type) noexcept {
  switch (type) {
    case DType::boolean: return "bool";
    case DType::int8: return "int8";
    case DType::uint8: return "uint8";
    case DType::int16: return "int16";
    case DType::uint16: return "uint16";
    case DType::int32: return "int32";
    case DType::uint32: return "uint32";
    case DType::int64: return "int64";
    case DType::uint64: return "uint64";
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::string: return "string";
  }
  return "?";
}

}  // namespace mlaas::root
