#include "root/compress.hpp"

#include <libdeflate.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <memory>

#include "core/result.hpp"

namespace mlaas::root {

namespace {

constexpr std::size_t kHeaderSize = 9;
constexpr std::size_t kMaxBlock = 0xFFFFFF;  // the 24-bit size fields bound every block
// JSROOT's LZMA decoder reads a block only when it is one LZMA2 chunk (at most 64 KiB compressed);
// ROOT's own 32 kB baskets always are. Smaller LZMA blocks keep our larger baskets readable there.
constexpr std::size_t kMaxLzmaBlock = 64 * 1024;

const char* codecName(Codec codec) {
  switch (codec) {
    case Codec::none: return "none";
    case Codec::zlib: return "zlib";
    case Codec::lzma: return "lzma";
    case Codec::legacy: return "legacy deflate";
    case Codec::lz4: return "lz4";
    case Codec::zstd: return "zstd";
  }
  return "?";
}

void putHeader(std::byte* at, char m0, char m1, std::uint8_t method, std::size_t compressed, std::size_t raw) {
  at[0] = std::byte(m0);
  at[1] = std::byte(m1);
  at[2] = std::byte(method);
  for (int i = 0; i < 3; ++i) {
    at[3 + i] = std::byte((compressed >> (8 * i)) & 0xFF);
    at[6 + i] = std::byte((raw >> (8 * i)) & 0xFF);
  }
}

// Per-thread contexts: codec state is expensive to create and baskets are compressed on pool threads.
struct DeflateCache {
  std::array<libdeflate_compressor*, 13> byLevel{};
  ~DeflateCache() {
    for (auto* c : byLevel)
      if (c) libdeflate_free_compressor(c);
  }
  libdeflate_compressor* get(int level) {
    auto& c = byLevel[static_cast<std::size_t>(level)];
    if (!c) c = libdeflate_alloc_compressor(level);
    return c;
  }
};
struct ZstdCache {
  ZSTD_CCtx* ctx = nullptr;
  ~ZstdCache() { ZSTD_freeCCtx(ctx); }
  ZSTD_CCtx* get() {
    if (!ctx) ctx = ZSTD_createCCtx();
    return ctx;
  }
};

// Each returns the compressed size written at `dst` (capacity `cap`), or 0 when it does not fit.
std::size_t zlibBlock(int level, std::span<const std::byte> src, std::byte* dst, std::size_t cap) {
  thread_local DeflateCache cache;
  auto* c = cache.get(level);
  if (!c) return 0;
  return libdeflate_zlib_compress(c, src.data(), src.size(), dst, cap);
}

std::size_t rawDeflateBlock(int level, std::span<const std::byte> src, std::byte* dst, std::size_t cap) {
  thread_local DeflateCache cache;
  auto* c = cache.get(level);
  if (!c) return 0;
  return libdeflate_deflate_compress(c, src.data(), src.size(), dst, cap);
}

// The streaming encoder, as ROOT uses it: its block header carries no sizes (12 bytes), which is
// what JSROOT's LZMA decoder expects.
// The dictionary is capped at the input size: a larger one cannot help, and the preset's (8 MiB
// at level 7) would make every basket pay for allocating it.
std::size_t lzmaBlock(int level, std::span<const std::byte> src, std::byte* dst, std::size_t cap) {
  lzma_options_lzma lzmaOptions;
  if (lzma_lzma_preset(&lzmaOptions, static_cast<std::uint32_t>(level))) return 0;
  lzmaOptions.dict_size = std::clamp<std::uint32_t>(static_cast<std::uint32_t>(src.size()), LZMA_DICT_SIZE_MIN,
                                                    lzmaOptions.dict_size);
  const lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &lzmaOptions}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_encoder(&stream, filters, LZMA_CHECK_CRC32) != LZMA_OK) return 0;
  stream.next_in = reinterpret_cast<const std::uint8_t*>(src.data());
  stream.avail_in = src.size();
  stream.next_out = reinterpret_cast<std::uint8_t*>(dst);
  stream.avail_out = cap;
  const lzma_ret rc = lzma_code(&stream, LZMA_FINISH);
  const std::size_t written = cap - stream.avail_out;
  lzma_end(&stream);
  return rc == LZMA_STREAM_END ? written : 0;
}

// ROOT's LZ4 block: 8-byte big-endian xxhash64 of the LZ4 data, then the data; ROOT uses the HC
// compressor from level 4 on.
std::size_t lz4Block(int level, std::span<const std::byte> src, std::byte* dst, std::size_t cap) {
  constexpr std::size_t kChecksum = 8;
  if (cap <= kChecksum) return 0;
  const auto* in = reinterpret_cast<const char*>(src.data());
  auto* out = reinterpret_cast<char*>(dst + kChecksum);
  const int outCap = static_cast<int>(cap - kChecksum);
  const int n = level >= 4 ? LZ4_compress_HC(in, out, static_cast<int>(src.size()), outCap, level)
                           : LZ4_compress_default(in, out, static_cast<int>(src.size()), outCap);
  if (n <= 0) return 0;
  const XXH64_hash_t hash = XXH64(out, static_cast<std::size_t>(n), 0);
  for (int i = 0; i < 8; ++i) dst[i] = std::byte((hash >> (56 - 8 * i)) & 0xFF);
  return static_cast<std::size_t>(n) + kChecksum;
}

// ROOT passes twice its level to zstd (ZipZSTD.cxx), so 505 is zstd level 10.
std::size_t zstdBlock(int level, std::span<const std::byte> src, std::byte* dst, std::size_t cap) {
  thread_local ZstdCache cache;
  auto* ctx = cache.get();
  if (!ctx) return 0;
  const std::size_t n = ZSTD_compressCCtx(ctx, dst, cap, src.data(), src.size(), 2 * level);
  return ZSTD_isError(n) ? 0 : n;
}

}  // namespace

CompressionSetting CompressionSetting::fromRoot(int value) {
  if (value < 0 || value > 509)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("invalid compression setting {}: expected algorithm*100+level "
                                      "(0 none, 101 zlib, 207 lzma, 301 legacy, 404 lz4, 505 zstd)",
                                      value));
  const int algorithm = value / 100;
  const int level = value % 100;
  if (level > 9)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("invalid compression setting {}: level {} is not in 0..9", value, level));
  CompressionSetting s;
  s.level = level;
  switch (algorithm) {
    case 0: s.codec = Codec::zlib; break;  // ROOT's "use the global default", zlib
    case 1: s.codec = Codec::zlib; break;
    case 2: s.codec = Codec::lzma; break;
    case 3: s.codec = Codec::legacy; break;
    case 4: s.codec = Codec::lz4; break;
    case 5: s.codec = Codec::zstd; break;
    default: break;
  }
  if (level == 0) s.codec = Codec::none;
  return s;
}

int CompressionSetting::rootValue() const noexcept {
  if (!enabled()) return 0;
  return static_cast<int>(codec) * 100 + level;
}

std::string CompressionSetting::describe() const {
  if (!enabled()) return "none";
  return fmt::format("{} level {}", codecName(codec), level);
}

bool compressBlocks(const CompressionSetting& setting, std::span<const std::byte> in, std::vector<std::byte>& out) {
  if (!setting.enabled() || in.empty()) return false;
  const std::size_t start = out.size();
  std::size_t budget = in.size();  // stored raw unless strictly smaller
  std::size_t used = 0;
  const std::size_t blockSize = setting.codec == Codec::lzma ? kMaxLzmaBlock : kMaxBlock;
  for (std::size_t pos = 0; pos < in.size(); pos += blockSize) {
    const auto chunk = in.subspan(pos, std::min(blockSize, in.size() - pos));
    if (used + kHeaderSize >= budget) {
      out.resize(start);
      return false;
    }
    std::size_t cap = std::min(budget - used - kHeaderSize, kMaxBlock);
    // An LZMA block that does not shrink would be stored as an uncompressed LZMA2 chunk.
    if (setting.codec == Codec::lzma) cap = std::min(cap, chunk.size() - 1);
    out.resize(start + used + kHeaderSize + cap);
    std::byte* header = out.data() + start + used;
    std::byte* body = header + kHeaderSize;
    std::size_t n = 0;
    switch (setting.codec) {
      case Codec::zlib:
        n = zlibBlock(setting.level, chunk, body, cap);
        putHeader(header, 'Z', 'L', 8, n, chunk.size());
        break;
      case Codec::legacy:
        n = rawDeflateBlock(setting.level, chunk, body, cap);
        putHeader(header, 'C', 'S', 8, n, chunk.size());
        break;
      case Codec::lzma:
        n = lzmaBlock(setting.level, chunk, body, cap);
        putHeader(header, 'X', 'Z', 0, n, chunk.size());
        break;
      case Codec::lz4:
        n = lz4Block(setting.level, chunk, body, cap);
        putHeader(header, 'L', '4', LZ4_VERSION_MAJOR, n, chunk.size());
        break;
      case Codec::zstd:
        n = zstdBlock(setting.level, chunk, body, cap);
        putHeader(header, 'Z', 'S', 1, n, chunk.size());
        break;
      case Codec::none: break;
    }
    if (n == 0 || n > kMaxBlock) {  // did not fit in the budget: store the payload raw
      out.resize(start);
      return false;
    }
    used += kHeaderSize + n;
  }
  if (used == 0 || used >= budget) {
    out.resize(start);
    return false;
  }
  out.resize(start + used);
  return true;
}

}  // namespace mlaas::root
