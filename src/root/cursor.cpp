#include "root/cursor.hpp"

namespace mlaas::root {

void swapInPlace(std::byte* data, std::size_t count, std::size_t width) noexcept {
  if constexpr (std::endian::native == std::endian::big) return;
  switch (width) {
    case 2:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t v;
        std::memcpy(&v, data + 2 * i, 2);
        v = __builtin_bswap16(v);
        std::memcpy(data + 2 * i, &v, 2);
      }
      break;
    case 4:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t v;
        std::memcpy(&v, data + 4 * i, 4);
        v = __builtin_bswap32(v);
        std::memcpy(data + 4 * i, &v, 4);
      }
      break;
    case 8:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t v;
        std::memcpy(&v, data + 8 * i, 8);
        v = __builtin_bswap64(v);
        std::memcpy(data + 8 * i, &v, 8);
      }
      break;
    default: break;
  }
}

}  // namespace mlaas::root
