// The writer's side of ROOT's block format: every codec round-trips through the reader's
// decompressor, payloads past 16 MiB split into several blocks, and incompressible data is left
// raw (as ROOT does).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "root/compress.hpp"
#include "root/compression.hpp"

namespace mlaas::root {
namespace {

std::vector<std::byte> compressible(std::size_t n) {
  std::vector<std::byte> v(n);
  std::mt19937 rng(1);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((i / 7 + (rng() % 4)) & 0xFF);
  return v;
}

std::uint32_t le24(const std::byte* p) {
  return std::to_integer<std::uint32_t>(p[0]) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
         (std::to_integer<std::uint32_t>(p[2]) << 16);
}

class BlockTest : public testing::TestWithParam<int> {};

TEST_P(BlockTest, RoundTripsThroughTheReaderAcrossSeveralBlocks) {
  const auto setting = CompressionSetting::fromRoot(GetParam());
  // Past 0xFFFFFF: two blocks (LZMA is cut into 64 KiB blocks, so 1 MiB gives it 16).
  const auto input = compressible(setting.codec == Codec::lzma ? 1u << 20 : 0xFFFFFFu + 65536u);
  std::vector<std::byte> out{std::byte{0xAB}};  // appends after what is there
  ASSERT_TRUE(compressBlocks(setting, input, out));
  EXPECT_EQ(out[0], std::byte{0xAB});
  const std::span<const std::byte> blocks(out.data() + 1, out.size() - 1);
  EXPECT_LT(blocks.size(), input.size());

  // Walk the headers: every block names its codec and holds at most 0xFFFFFF bytes.
  std::size_t pos = 0, raw = 0, count = 0;
  while (pos < blocks.size()) {
    ASSERT_LE(pos + 9, blocks.size());
    const auto magic = std::string{static_cast<char>(blocks[pos]), static_cast<char>(blocks[pos + 1])};
    const char* expected = setting.codec == Codec::zlib     ? "ZL"
                           : setting.codec == Codec::lzma   ? "XZ"
                           : setting.codec == Codec::legacy ? "CS"
                           : setting.codec == Codec::lz4    ? "L4"
                                                            : "ZS";
    EXPECT_EQ(magic, expected);
    const auto compressed = le24(&blocks[pos + 3]);
    const auto uncompressed = le24(&blocks[pos + 6]);
    EXPECT_LE(uncompressed, 0xFFFFFFu);
    raw += uncompressed;
    pos += 9 + compressed;
    ++count;
  }
  EXPECT_EQ(pos, blocks.size());
  EXPECT_EQ(raw, input.size());
  EXPECT_GE(count, 2u);

  std::vector<std::byte> back(input.size());
  const auto r = decompress(blocks, back, "test");
  ASSERT_TRUE(r.hasValue()) << r.error().message;
  EXPECT_TRUE(back == input);
}

INSTANTIATE_TEST_SUITE_P(Codecs, BlockTest, testing::Values(1, 101, 109, 201, 301, 404, 409, 501, 505),
                         [](const testing::TestParamInfo<int>& p) { return "c" + std::to_string(p.param); });

TEST(WriterCompress, IncompressibleOrDisabledStaysRaw) {
  std::vector<std::byte> noise(100000);
  std::mt19937_64 rng(5);
  for (auto& b : noise) b = std::byte(rng() & 0xFF);
  for (int setting : {101, 207, 404, 505}) {
    std::vector<std::byte> out;
    EXPECT_FALSE(compressBlocks(CompressionSetting::fromRoot(setting), noise, out)) << setting;
    EXPECT_TRUE(out.empty()) << setting;
  }
  std::vector<std::byte> out;
  EXPECT_FALSE(compressBlocks(CompressionSetting::fromRoot(0), compressible(1000), out));
  EXPECT_FALSE(compressBlocks(CompressionSetting::fromRoot(505), {}, out));
}

TEST(WriterCompress, Lz4CarriesTheXxhashTheReaderVerifies) {
  const auto input = compressible(100000);
  std::vector<std::byte> out;
  ASSERT_TRUE(compressBlocks(CompressionSetting::fromRoot(404), input, out));
  std::vector<std::byte> back(input.size());
  ASSERT_TRUE(decompress(out, back, "lz4").hasValue());
  out[20] ^= std::byte{0x01};  // damage the compressed bytes the checksum covers
  const auto r = decompress(out, back, "lz4");
  EXPECT_FALSE(r.hasValue());
}

}  // namespace
}  // namespace mlaas::root
