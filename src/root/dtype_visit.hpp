// Generic code over a column's element type: one switch here instead of an eleven-case switch at
// every place that converts values (JSON events, RNTuple decoding, ...).
#pragma once

#include <cstdint>

#include "root/column.hpp"

namespace mlaas::root {

/// Calls fn(T{}) with T the C++ element type of a numeric DType (std::int8_t ... double) and
/// returns true. Returns false without calling fn for boolean and string, whose storage (one byte
/// per flag, characters behind an offsets level) callers handle themselves.
template <class Fn>
bool visitNumeric(DType type, Fn&& fn) {
  switch (type) {
    case DType::int8:
      fn(std::int8_t{});
      return true;
    case DType::uint8:
      fn(std::uint8_t{});
      return true;
    case DType::int16:
      fn(std::int16_t{});
      return true;
    case DType::uint16:
      fn(std::uint16_t{});
      return true;
    case DType::int32:
      fn(std::int32_t{});
      return true;
    case DType::uint32:
      fn(std::uint32_t{});
      return true;
    case DType::int64:
      fn(std::int64_t{});
      return true;
    case DType::uint64:
      fn(std::uint64_t{});
      return true;
    case DType::float32:
      fn(float{});
      return true;
    case DType::float64:
      fn(double{});
      return true;
    case DType::boolean:
    case DType::string:
      return false;
  }
  return false;
}

}  // namespace mlaas::root
