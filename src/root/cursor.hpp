// Bounds-checked big-endian reading of ROOT's serialized bytes. Every read past the end throws
// core::Exception(corrupt) naming the context (file, object) and the offset, so a damaged file can
// never make the reader run off a buffer.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mlaas::root {

/// Reads big-endian values from a borrowed buffer. `origin` is the value `position()` reports for
/// the first byte (ROOT's object map counts from the start of the key, so payload cursors start at
/// fKeylen); `context` prefixes error messages.
class Cursor {
 public:
  Cursor(std::span<const std::byte> data, std::int64_t origin, std::string_view context)
      : data_(data), origin_(origin), context_(context) {}
  /// The context is borrowed: a temporary string would dangle.
  Cursor(std::span<const std::byte>, std::int64_t, std::string&&) = delete;

  [[nodiscard]] std::size_t index() const noexcept { return pos_; }
  [[nodiscard]] std::int64_t position() const noexcept { return origin_ + static_cast<std::int64_t>(pos_); }
  [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return data_; }
  [[nodiscard]] std::string_view context() const noexcept { return context_; }

  void seekIndex(std::size_t index) {
    if (index > data_.size()) fail("seek to " + std::to_string(index) + " beyond the end");
    pos_ = index;
  }
  void skip(std::size_t n) {
    need(n);
    pos_ += n;
  }
  std::span<const std::byte> bytes(std::size_t n) {
    need(n);
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  template <class T>
  T read() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    if constexpr (sizeof(T) > 1 && std::endian::native == std::endian::little) value = byteswap(value);
    return value;
  }
  std::uint8_t u8() { return read<std::uint8_t>(); }
  std::int16_t i16() { return read<std::int16_t>(); }
  std::uint16_t u16() { return read<std::uint16_t>(); }
  std::int32_t i32() { return read<std::int32_t>(); }
  std::uint32_t u32() { return read<std::uint32_t>(); }
  std::int64_t i64() { return read<std::int64_t>(); }
  std::uint64_t u64() { return read<std::uint64_t>(); }
  float f32() { return std::bit_cast<float>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }

  /// A counted string: one length byte, or 255 then a 4-byte length.
  std::string string() {
    std::uint32_t n = u8();
    if (n == 255) n = u32();
    auto b = bytes(n);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  /// A NUL-terminated string (class names in object tags).
  std::string cstring() {
    const auto start = pos_;
    while (pos_ < data_.size() && data_[pos_] != std::byte{0}) ++pos_;
    if (pos_ >= data_.size()) fail("unterminated string");
    std::string out(reinterpret_cast<const char*>(data_.data() + start), pos_ - start);
    ++pos_;
    return out;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw core::Exception(core::Errc::corrupt, std::string(context_) + ": " + what + " at offset " +
                                                   std::to_string(position()));
  }
  /// Inline check, out-of-line message: every read calls it (a basket key is ~15 reads).
  void need(std::size_t n) const {
    if (n > data_.size() - pos_) [[unlikely]]
      failNeed(n);
  }

  [[noreturn, gnu::cold, gnu::noinline]] void failNeed(std::size_t n) const {
    fail("needs " + std::to_string(n) + " bytes but only " + std::to_string(data_.size() - pos_) + " remain");
  }

  template <class T>
  static T byteswap(T value) noexcept {
    if constexpr (sizeof(T) == 1) {
      return value;
    } else {
      using U = std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                   std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
      U u = std::bit_cast<U>(value);
      if constexpr (sizeof(T) == 2) u = __builtin_bswap16(u);
      if constexpr (sizeof(T) == 4) u = __builtin_bswap32(u);
      if constexpr (sizeof(T) == 8) u = __builtin_bswap64(u);
      return std::bit_cast<T>(u);
    }
  }

 private:
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  std::int64_t origin_ = 0;
  std::string_view context_;
};

/// Swaps `count` big-endian values of `width` bytes in place to native order.
void swapInPlace(std::byte* data, std::size_t count, std::size_t width) noexcept;
/// Copies `count` big-endian values of `width` (1, 2, 4 or 8) bytes from src to dst in native
/// order: the copy and the byte swap in one pass (SIMD on x86-64). dst == src is allowed; other
/// overlaps are not.
void swapCopy(std::byte* dst, const std::byte* src, std::size_t count, std::size_t width) noexcept;

/// Whether this CPU runs AVX2, decided once at start-up (always false off x86-64). Hot loops keep
/// the x86-64 baseline and pick a `target("avx2")` twin with it at run time, not through GCC's
/// target_clones, whose ifunc resolvers run before the sanitizer runtimes exist.
bool cpuHasAvx2() noexcept;
/// Whether this CPU runs AVX-512 F, BW and VL (the reader's 64-byte-store passes), decided once.
bool cpuHasAvx512() noexcept;

}  // namespace mlaas::root
