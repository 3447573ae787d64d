#include "root/compression.hpp"

#include <fmt/format.h>
#include <libdeflate.h>
#include <lz4.h>
#include <lzma.h>
#include <xxhash.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <memory>

namespace mlaas::root {
namespace {

constexpr std::size_t kBlockHeader = 9;

struct DeflateDeleter {
  void operator()(libdeflate_decompressor* d) const noexcept { libdeflate_free_decompressor(d); }
};

// libdeflate decompressors are not thread safe; one per thread is cheap (~32 KiB).
libdeflate_decompressor* threadDecompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DeflateDeleter> d(libdeflate_alloc_decompressor());
  return d.get();
}

struct ZstdDeleter {
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

// One zstd context per thread, reused. ZSTD_decompress builds a fresh context for every call, and
// building one runs CPUID (to pick its BMI2 code): under a hypervisor each CPUID traps, and that
// was half of reading HZZ-zstd (two CPUID sites in libzstd held 50% of the samples).
ZSTD_DCtx* threadZstdContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, ZstdDeleter> d(ZSTD_createDCtx());
  return d.get();
}

std::uint32_t le24(const std::byte* p) noexcept {
  return std::to_integer<std::uint32_t>(p[0]) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
         (std::to_integer<std::uint32_t>(p[2]) << 16);
}

core::Failure bad(std::string_view context, std::size_t offset, std::string_view what) {
  return core::fail(core::Errc::corrupt,
                    fmt::format("{}: compressed block at payload offset {}: {}", context, offset, what));
}

}  // namespace

std::string_view codecOf(std::span<const std::byte> payload) noexcept {
  if (payload.size() < kBlockHeader) return "none";
  const std::string_view magic(reinterpret_cast<const char*>(payload.data()), 2);
  for (std::string_view known : {"ZL", "CS", "XZ", "L4", "ZS"})
    if (magic == known) return known;
  return "none";
}

core::Result<void> decompress(std::span<const std::byte> in, std::span<std::byte> out, std::string_view context) {
  std::size_t inPos = 0;
  std::size_t outPos = 0;
  while (outPos < out.size()) {
    if (in.size() - inPos < kBlockHeader) return bad(context, inPos, "truncated block header");
    const std::byte* header = in.data() + inPos;
    const std::string_view magic(reinterpret_cast<const char*>(header), 2);
    const std::size_t csize = le24(header + 3);
    const std::size_t usize = le24(header + 6);
    if (csize > in.size() - inPos - kBlockHeader)
      return bad(context, inPos, fmt::format("compressed size {} exceeds the {} bytes left", csize,
                                             in.size() - inPos - kBlockHeader));
    if (usize > out.size() - outPos)
      return bad(context, inPos, fmt::format("uncompressed size {} exceeds the {} bytes expected", usize,
                                             out.size() - outPos));
    if (usize == 0) return bad(context, inPos, "empty block");
    const std::byte* src = header + kBlockHeader;
    std::byte* dst = out.data() + outPos;
    if (magic == "ZL" || magic == "CS") {
      std::size_t produced = 0;
      const auto rc = magic == "ZL"
                          ? libdeflate_zlib_decompress(threadDecompressor(), src, csize, dst, usize, &produced)
                          : libdeflate_deflate_decompress(threadDecompressor(), src, csize, dst, usize, &produced);
      if (rc != LIBDEFLATE_SUCCESS || produced != usize)
        return bad(context, inPos, fmt::format("{} (deflate) stream is invalid (libdeflate code {})", magic,
                                               static_cast<int>(rc)));
    } else if (magic == "XZ") {
      std::uint64_t memlimit = UINT64_MAX;
      std::size_t srcPos = 0;
      std::size_t dstPos = 0;
      const auto rc = lzma_stream_buffer_decode(&memlimit, 0, nullptr, reinterpret_cast<const std::uint8_t*>(src),
                                                &srcPos, csize, reinterpret_cast<std::uint8_t*>(dst), &dstPos, usize);
      if (rc != LZMA_OK || dstPos != usize)
        return bad(context, inPos, fmt::format("XZ (lzma) stream is invalid (lzma code {})", static_cast<int>(rc)));
    } else if (magic == "L4") {
      if (csize < 8) return bad(context, inPos, "LZ4 block shorter than its checksum");
      std::uint64_t expected = 0;
      for (int i = 0; i < 8; ++i) expected = (expected << 8) | std::to_integer<std::uint64_t>(src[i]);
      const std::uint64_t actual = XXH64(src + 8, csize - 8, 0);
      if (actual != expected)
        return bad(context, inPos, fmt::format("LZ4 checksum mismatch (stored {:016x}, computed {:016x})", expected,
                                               actual));
      const int produced = LZ4_decompress_safe(reinterpret_cast<const char*>(src + 8), reinterpret_cast<char*>(dst),
                                               static_cast<int>(csize - 8), static_cast<int>(usize));
      if (produced < 0 || static_cast<std::size_t>(produced) != usize)
        return bad(context, inPos, "LZ4 stream is invalid");
    } else if (magic == "ZS") {
      ZSTD_DCtx* zstd = threadZstdContext();
      if (!zstd) return core::fail(core::Errc::internal, std::string(context) + ": cannot allocate a zstd context");
      const std::size_t produced = ZSTD_decompressDCtx(zstd, dst, usize, src, csize);
      if (ZSTD_isError(produced) || produced != usize)
        return bad(context, inPos,
                   fmt::format("ZS (zstd) stream is invalid: {}",
                               ZSTD_isError(produced) ? ZSTD_getErrorName(produced) : "wrong size"));
    } else {
      return bad(context, inPos, fmt::format("unknown compression algorithm \"{}\"",
                                             fmt::format("{:02x}{:02x}", std::to_integer<int>(header[0]),
                                                         std::to_integer<int>(header[1]))));
    }
    inPos += kBlockHeader + csize;
    outPos += usize;
  }
  return {};
}

}  // namespace mlaas::root
