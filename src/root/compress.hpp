// ROOT compression settings (algorithm*100 + level: 101 zlib-1, 207 LZMA-7, 404 LZ4-4, 505 ZSTD-5, 0
// none) and the writer side of ROOT's block format: 9-byte headers, at most 0xFFFFFF uncompressed
// bytes per block, LZ4 blocks prefixed by an xxhash64 of their compressed bytes. The reader's
// counterpart is root/compression.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mlaas::root {

enum class Codec : std::uint8_t { none = 0, zlib = 1, lzma = 2, legacy = 3, lz4 = 4, zstd = 5 };

struct CompressionSetting {
  Codec codec = Codec::zlib;
  int level = 1;  ///< 1..9; level 0 always means codec none

  /// Parses ROOT's number: 0 (none), 1..9 (zlib, ROOT's "global default" algorithm), 100*a + l
  /// for a in 1..5 and l in 0..9. Throws core::Exception(invalid_argument) naming the value.
  [[nodiscard]] static CompressionSetting fromRoot(int value);
  /// ROOT's number for this setting (0 for none), as stored in fCompress.
  [[nodiscard]] int rootValue() const noexcept;
  /// "zstd level 5", "none", ...
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] bool enabled() const noexcept { return codec != Codec::none && level > 0; }
};

/// Compresses `in` into ROOT blocks appended to `out`. Returns false (and leaves `out` as it was)
/// when compression is disabled or would not make the payload smaller, in which case the caller
/// stores the bytes raw, as ROOT does. Thread safe (per-thread codec contexts).
bool compressBlocks(const CompressionSetting& setting, std::span<const std::byte> in, std::vector<std::byte>& out);

}  // namespace mlaas::root
