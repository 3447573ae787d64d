// root::swapCopy and swapInPlace against a plain byte-reversing loop, for every width, runs of 0 to
// 300 values (the vector loop, its overlapping first and last vectors, the scalar ends) and every
// alignment of the destination and of the source within 32 bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "root/cursor.hpp"

namespace mlaas::root {
namespace {

std::vector<std::byte> reversedValues(const std::byte* src, std::size_t count, std::size_t width) {
  std::vector<std::byte> out(count * width);
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t b = 0; b < width; ++b) out[i * width + b] = src[i * width + (width - 1 - b)];
  return out;
}

TEST(SwapCopy, EqualsAByteReversingLoopForEveryWidthLengthAndAlignment) {
  std::vector<std::byte> source(8 * 300 + 64);
  for (std::size_t k = 0; k < source.size(); ++k) source[k] = static_cast<std::byte>(k * 131 + 7);
  for (const std::size_t width : {1u, 2u, 4u, 8u}) {
    for (std::size_t count = 0; count <= 300; count += count < 40 ? 1 : 13) {
      for (std::size_t dstAt = 0; dstAt < 32; ++dstAt) {
        const std::size_t srcAt = (dstAt * 5) % 32;
        SCOPED_TRACE(testing::Message() << "width " << width << ", " << count << " values, dst +" << dstAt
                                        << ", src +" << srcAt);
        const auto expected = reversedValues(source.data() + srcAt, count, width == 1 ? 1 : width);
        std::vector<std::byte> dst(count * width + 64, std::byte{0xEE});
        swapCopy(dst.data() + dstAt, source.data() + srcAt, count, width);
        ASSERT_TRUE(std::equal(expected.begin(), expected.end(), dst.begin() + static_cast<std::ptrdiff_t>(dstAt)));
        // Nothing written outside the run.
        ASSERT_TRUE(std::all_of(dst.begin(), dst.begin() + static_cast<std::ptrdiff_t>(dstAt),
                                [](std::byte b) { return b == std::byte{0xEE}; }));
        ASSERT_TRUE(std::all_of(dst.begin() + static_cast<std::ptrdiff_t>(dstAt + count * width), dst.end(),
                                [](std::byte b) { return b == std::byte{0xEE}; }));
        // In place.
        std::vector<std::byte> inPlace(count * width + 64);
        std::copy(source.begin() + static_cast<std::ptrdiff_t>(srcAt),
                  source.begin() + static_cast<std::ptrdiff_t>(srcAt + count * width),
                  inPlace.begin() + static_cast<std::ptrdiff_t>(dstAt));
        swapInPlace(inPlace.data() + dstAt, count, width);
        ASSERT_TRUE(
            std::equal(expected.begin(), expected.end(), inPlace.begin() + static_cast<std::ptrdiff_t>(dstAt)));
      }
    }
  }
}

}  // namespace
}  // namespace mlaas::root
