// Internal: the framing shared by every streamed record: optional byte count + version words, and
// object slots (null, back-reference, new object with class name or class back-reference).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "root/cursor.hpp"

namespace mlaas::root::detail {

inline constexpr std::uint32_t kByteCountMask = 0x40000000;
inline constexpr std::uint32_t kNewClassTag = 0xFFFFFFFF;
inline constexpr std::uint32_t kClassMask = 0x80000000;
inline constexpr std::int64_t kMapOffset = 2;

struct Version {
  int version = 0;
  std::optional<std::size_t> end;  ///< index just past the record, when it has a byte count
};

/// Reads [byte count] version. The byte count is validated against the buffer.
inline Version readVersion(Cursor& c) {
  Version v;
  c.need(2);
  if (c.remaining() >= 4) {
    const auto peek = c.read<std::uint32_t>();
    if (peek & kByteCountMask) {
      const std::size_t count = peek & ~kByteCountMask;
      if (count < 2 || count > c.remaining()) c.fail("byte count " + std::to_string(count) + " exceeds the record");
      v.end = c.index() + count;
      v.version = c.i16();
      return v;
    }
    c.seekIndex(c.index() - 4);
  }
  v.version = c.i16();
  return v;
}

/// Seeks to a record's end, failing if the reader already went past it.
inline void finishRecord(Cursor& c, const Version& v, const std::string& what) {
  if (!v.end) return;
  if (c.index() > *v.end) c.fail(what + " read " + std::to_string(c.index() - *v.end) + " bytes past its byte count");
  c.seekIndex(*v.end);
}

struct SlotHeader {
  bool null = false;
  bool reference = false;
  std::int64_t referenceTag = 0;
  std::string className;
  std::int64_t objectTag = 0;          ///< map position of a new object
  std::optional<std::size_t> end;      ///< index past the object, when byte-counted
};

inline SlotHeader readSlotHeader(Cursor& c, std::map<std::int64_t, std::string>& classes) {
  SlotHeader h;
  const std::int64_t startPos = c.position();
  std::uint32_t tag = c.u32();
  if ((tag & kByteCountMask) && tag != kNewClassTag) {
    const std::size_t count = tag & ~kByteCountMask;
    if (count < 4 || count > c.remaining())
      c.fail("object byte count " + std::to_string(count) + " exceeds the record");
    h.end = c.index() + count;
    const std::int64_t tagPos = c.position();
    tag = c.u32();
    if (tag == kNewClassTag) {
      h.className = c.cstring();
      classes[tagPos + kMapOffset] = h.className;
    } else if (tag & kClassMask) {
      const auto it = classes.find(static_cast<std::int64_t>(tag & ~kClassMask));
      if (it == classes.end()) c.fail("class reference " + std::to_string(tag & ~kClassMask) + " names no class");
      h.className = it->second;
    } else {
      c.fail("byte-counted object slot without a class tag");
    }
    h.objectTag = startPos + kMapOffset;
    return h;
  }
  if (tag == 0) {
    h.null = true;
    return h;
  }
  if (tag == kNewClassTag) {  // old files: no byte count
    const std::int64_t tagPos = startPos;
    h.className = c.cstring();
    classes[tagPos + kMapOffset] = h.className;
    h.objectTag = startPos + kMapOffset;
    return h;
  }
  if (tag & kClassMask) {
    const auto it = classes.find(static_cast<std::int64_t>(tag & ~kClassMask));
    if (it == classes.end()) c.fail("class reference names no class");
    h.className = it->second;
    h.objectTag = startPos + kMapOffset;
    return h;
  }
  h.reference = true;
  h.referenceTag = tag;
  return h;
}

/// TObject's own bytes: version, fUniqueID, fBits, and a process id when referenced.
inline std::uint32_t readTObjectBytes(Cursor& c) {
  const auto v = readVersion(c);
  c.u32();
  const auto bits = c.u32();
  if (bits & (1u << 4)) c.u16();  // kIsReferenced: the TProcessID index follows
  if (v.end) c.seekIndex(*v.end);
  return bits;
}

}  // namespace mlaas::root::detail
