// A big-endian output buffer with ROOT's object framing: byte counts (kByteCountMask | n) patched
// when an object ends, class tags (kNewClassTag + name, or a back-reference), and object references.
// Positions in tags count from the start of the record, key included, so the buffer is told where
// its byte 0 sits in the record (`origin`, normally the key length).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlaas::root::detail {

class WriteBuffer {
 public:
  static constexpr std::uint32_t kByteCountMask = 0x40000000;
  static constexpr std::uint32_t kNewClassTag = 0xFFFFFFFF;
  static constexpr std::uint32_t kClassMask = 0x80000000;
  static constexpr std::uint32_t kMapOffset = 2;

  explicit WriteBuffer(std::uint32_t origin = 0) : origin_(origin) {}

  void u8(std::uint8_t v) { data_.push_back(std::byte(v)); }
  void i8(std::int8_t v) { u8(static_cast<std::uint8_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void u16(std::uint16_t v) { put(v); }
  void i16(std::int16_t v) { put(static_cast<std::uint16_t>(v)); }
  void u32(std::uint32_t v) { put(v); }
  void i32(std::int32_t v) { put(static_cast<std::uint32_t>(v)); }
  void u64(std::uint64_t v) { put(v); }
  void i64(std::int64_t v) { put(static_cast<std::uint64_t>(v)); }
  void f32(float v) { put(std::bit_cast<std::uint32_t>(v)); }
  void f64(double v) { put(std::bit_cast<std::uint64_t>(v)); }
  void bytes(std::span<const std::byte> b) { data_.insert(data_.end(), b.begin(), b.end()); }
  void zeros(std::size_t n) { data_.resize(data_.size() + n); }

  /// ROOT's counted string: one length byte, or 255 and a 4-byte length from 255 characters on.
  void string(std::string_view s) {
    if (s.size() < 255) {
      u8(static_cast<std::uint8_t>(s.size()));
    } else {
      u8(255);
      u32(static_cast<std::uint32_t>(s.size()));
    }
    data_.insert(data_.end(), reinterpret_cast<const std::byte*>(s.data()),
                 reinterpret_cast<const std::byte*>(s.data() + s.size()));
  }
  static std::size_t stringSize(std::string_view s) { return s.size() < 255 ? s.size() + 1 : s.size() + 5; }

  /// Reserves a byte count; returns its position for endByteCount.
  std::size_t beginByteCount() {
    const std::size_t pos = data_.size();
    zeros(4);
    return pos;
  }
  void endByteCount(std::size_t pos) {
    patchU32(pos, kByteCountMask | static_cast<std::uint32_t>(data_.size() - pos - 4));
  }
  /// A framed object: byte count and version; close with endByteCount.
  std::size_t beginObject(std::int16_t version) {
    const std::size_t pos = beginByteCount();
    i16(version);
    return pos;
  }

  /// The start of a pointer slot: byte count, then the class record (new or back-referenced);
  /// records the object's map position so later references can name it. Returns the byte-count
  /// position; the caller writes the framed object and then endByteCount(pos).
  std::size_t beginSlot(std::string_view className) {
    const std::size_t pos = beginByteCount();
    auto it = classes_.find(std::string(className));
    if (it != classes_.end()) {
      u32(kClassMask | it->second);
    } else {
      const auto tagPos = static_cast<std::uint32_t>(origin_ + data_.size());
      u32(kNewClassTag);
      data_.insert(data_.end(), reinterpret_cast<const std::byte*>(className.data()),
                   reinterpret_cast<const std::byte*>(className.data() + className.size()));
      u8(0);
      classes_.emplace(std::string(className), tagPos + kMapOffset);
    }
    return pos;
  }
  /// The reference value of the object whose slot began at `slotPos` (for fLeafCount, fLeaves).
  [[nodiscard]] std::uint32_t objectTag(std::size_t slotPos) const {
    return static_cast<std::uint32_t>(origin_ + slotPos) + kMapOffset;
  }
  void nullPointer() { u32(0); }

  /// TObject's streamer: version 1, fUniqueID, fBits (no byte count).
  void tobject(std::uint32_t bits = 0) {
    i16(1);
    u32(0);
    u32(bits);
  }
  /// TNamed, framed.
  void tnamed(std::string_view name, std::string_view title, std::uint32_t bits = 0) {
    const auto pos = beginObject(1);
    tobject(bits);
    string(name);
    string(title);
    endByteCount(pos);
  }

  void patchU32(std::size_t pos, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) data_[pos + i] = std::byte((v >> (24 - 8 * i)) & 0xFF);
  }

  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] std::span<const std::byte> view() const noexcept { return data_; }
  [[nodiscard]] std::vector<std::byte>& data() noexcept { return data_; }
  void reserve(std::size_t n) { data_.reserve(n); }

 private:
  template <class U>
  void put(U v) {
    if constexpr (std::endian::native == std::endian::little) v = byteswap(v);
    const auto at = data_.size();
    data_.resize(at + sizeof(U));
    std::memcpy(data_.data() + at, &v, sizeof(U));
  }
  template <class U>
  static U byteswap(U v) {
    if constexpr (sizeof(U) == 2) return static_cast<U>(__builtin_bswap16(v));
    if constexpr (sizeof(U) == 4) return static_cast<U>(__builtin_bswap32(v));
    if constexpr (sizeof(U) == 8) return static_cast<U>(__builtin_bswap64(v));
    return v;
  }

  std::uint32_t origin_;
  std::vector<std::byte> data_;
  std::map<std::string, std::uint32_t, std::less<>> classes_;
};

}  // namespace mlaas::root::detail
