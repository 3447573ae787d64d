// Unsigned integers stored little-endian in byte buffers, whatever the host's byte order: for the
// wire and file formats that fix the order (the Open Inference Protocol's BYTES length prefixes).
// The loops compile to one load or store on little-endian hosts.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mlaas::core {

/// The sizeof(T) bytes at `bytes`, least significant first, as a T.
template <std::unsigned_integral T>
[[nodiscard]] constexpr T loadLittleEndian(const char* bytes) noexcept {
  T value = 0;
  for (std::size_t k = sizeof(T); k-- > 0;)
    value = static_cast<T>((value << 8) | static_cast<T>(static_cast<unsigned char>(bytes[k])));
  return value;
}

/// Writes `value` to the sizeof(T) bytes at `bytes`, least significant first.
template <std::unsigned_integral T>
constexpr void storeLittleEndian(T value, char* bytes) noexcept {
  for (std::size_t k = 0; k < sizeof(T); ++k) bytes[k] = static_cast<char>((value >> (8 * k)) & 0xffu);
}

}  // namespace mlaas::core
