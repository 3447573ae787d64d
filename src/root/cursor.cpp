#include "root/cursor.hpp"

#include <algorithm>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MLAAS_ROOT_X86 1
#endif

namespace mlaas::root {
namespace {

template <class U>
U bswap(U v) noexcept {
  if constexpr (sizeof(U) == 2) return __builtin_bswap16(v);
  if constexpr (sizeof(U) == 4) return __builtin_bswap32(v);
  if constexpr (sizeof(U) == 8) return __builtin_bswap64(v);
}

template <class U>
void scalarSwapCopy(std::byte* dst, const std::byte* src, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    U v;
    std::memcpy(&v, src + sizeof(U) * i, sizeof(U));
    v = bswap(v);
    std::memcpy(dst + sizeof(U) * i, &v, sizeof(U));
  }
}

/// scalarSwapCopy of `count` values of `width` bytes (2, 4 or 8; any other copies nothing).
/// Inlined, as the two switches it replaces were: swapCopy runs once per basket.
[[gnu::always_inline]] inline void scalarSwapCopy(std::byte* dst, const std::byte* src, std::size_t count,
                                                  std::size_t width) noexcept {
  switch (width) {
    case 2:
      scalarSwapCopy<std::uint16_t>(dst, src, count);
      break;
    case 4:
      scalarSwapCopy<std::uint32_t>(dst, src, count);
      break;
    case 8:
      scalarSwapCopy<std::uint64_t>(dst, src, count);
      break;
    default:
      break;
  }
}

#ifdef MLAAS_ROOT_X86
// The pshufb control that reverses each value of `width` bytes (2, 4 or 8) in a 32-byte vector.
__attribute__((target("avx2"), always_inline)) inline __m256i avx2SwapMask(std::size_t width) noexcept {
  alignas(32) static constexpr char k2[32] = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,
                                              1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
  alignas(32) static constexpr char k4[32] = {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                              3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12};
  alignas(32) static constexpr char k8[32] = {7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
                                              7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8};
  const char* maskBytes = width == 2 ? k2 : width == 4 ? k4 : k8;
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(maskBytes));
}

// One pshufb per 32 bytes. Chosen at run time, so the build needs no -mavx2 (the baseline x86-64
// path below is SSE2, which every x86-64 CPU has).
__attribute__((target("avx2"))) std::size_t avx2SwapCopy(std::byte* dst, const std::byte* src, std::size_t bytes,
                                                         std::size_t width) noexcept {
  const __m256i mask = avx2SwapMask(width);
  std::size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_shuffle_epi8(a, mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), _mm256_shuffle_epi8(b, mask));
  }
  for (; i + 32 <= bytes; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_shuffle_epi8(a, mask));
  }
  return i;
}

__attribute__((target("avx2"), always_inline)) inline void avx2SwapOne(std::byte* dst, const std::byte* src,
                                                                      std::size_t at, __m256i mask) noexcept {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + at));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + at), _mm256_shuffle_epi8(a, mask));
}

/// avx2SwapCopy of a whole run of at least 32 bytes between distinct buffers: the first and last 32
/// bytes as one vector each, overlapping the loop's (values swapped twice into dst from an
/// unchanged src are the same), instead of up to 7 values one by one at each end. The loop
/// starts at dst's first 32-byte boundary. NanoAOD's ~950 columns are a few hundred bytes each,
/// where those ends were a large part of each copy.
__attribute__((target("avx2"))) void avx2SwapCopyDistinct(std::byte* dst, const std::byte* src, std::size_t bytes,
                                                          std::size_t width) noexcept {
  const __m256i mask = avx2SwapMask(width);
  const std::size_t tail = bytes - 32;  // a multiple of width: so are bytes and 32
  avx2SwapOne(dst, src, 0, mask);
  avx2SwapOne(dst, src, tail, mask);
  // From dst's first 32-byte boundary (when that is a whole number of values from the start).
  std::size_t i = 32;
  if (const auto misaligned = reinterpret_cast<std::uintptr_t>(dst) & 31; misaligned % width == 0)
    i = (32 - misaligned) & 31;
  for (; i + 64 <= tail; i += 64) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_shuffle_epi8(a, mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 32), _mm256_shuffle_epi8(b, mask));
  }
  for (; i < tail; i += 32) avx2SwapOne(dst, src, i, mask);
}

std::size_t sse2SwapCopy(std::byte* dst, const std::byte* src, std::size_t bytes, std::size_t width) noexcept {
  std::size_t i = 0;
  for (; i + 16 <= bytes; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    x = _mm_or_si128(_mm_slli_epi16(x, 8), _mm_srli_epi16(x, 8));  // bytes within 16-bit words
    if (width == 4) x = _mm_shufflehi_epi16(_mm_shufflelo_epi16(x, 0xB1), 0xB1);  // words within 32 bits
    if (width == 8) x = _mm_shufflehi_epi16(_mm_shufflelo_epi16(x, 0x1B), 0x1B);  // words within 64 bits
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), x);
  }
  return i;
}

// __builtin_cpu_init: this runs during static initialisation, possibly before libgcc's own.
const bool kHaveAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
const bool kHaveAvx512 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
         __builtin_cpu_supports("avx512vl") != 0;
}();
#endif

}  // namespace

void swapCopy(std::byte* dst, const std::byte* src, std::size_t count, std::size_t width) noexcept {
  if (count == 0) return;
  if ((width != 2 && width != 4 && width != 8) || std::endian::native == std::endian::big) {
    if (dst != src) std::memcpy(dst, src, count * width);
    return;
  }
  std::size_t done = 0;  // bytes
#ifdef MLAAS_ROOT_X86
  if (kHaveAvx2 && dst != src && count * width >= 32) return avx2SwapCopyDistinct(dst, src, count * width, width);
  // Values up to the destination's first 32-byte boundary go one by one, so that no vector store
  // of the loops below straddles two cache lines (a split store costs about two).
  if (const auto misaligned = reinterpret_cast<std::uintptr_t>(dst) & 31; misaligned % width == 0 && misaligned) {
    const std::size_t head = std::min(count, (32 - misaligned) / width);
    scalarSwapCopy(dst, src, head, width);
    done = head * width;
  }
  done += kHaveAvx2 ? avx2SwapCopy(dst + done, src + done, count * width - done, width)
                    : sse2SwapCopy(dst + done, src + done, count * width - done, width);
#endif
  scalarSwapCopy(dst + done, src + done, count - done / width, width);
}

void swapInPlace(std::byte* data, std::size_t count, std::size_t width) noexcept { swapCopy(data, data, count, width); }

bool cpuHasAvx2() noexcept {
#ifdef MLAAS_ROOT_X86
  return kHaveAvx2;
#else
  return false;
#endif
}

bool cpuHasAvx512() noexcept {
#ifdef MLAAS_ROOT_X86
  return kHaveAvx512;
#else
  return false;
#endif
}

}  // namespace mlaas::root
