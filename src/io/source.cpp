#include "io/source.hpp"

#include <algorithm>

namespace mlaas::io {

core::Result<std::vector<std::byte>> Source::readRange(std::uint64_t offset, std::uint64_t size) {
  if (offset > this->size() || size > this->size() - offset) {
    return core::fail(core::Errc::corrupt,
                      name() + ": range [" + std::to_string(offset) + ", " + std::to_string(offset + size) +
                          ") is beyond the end of the file (" + std::to_string(this->size()) + " bytes)");
  }
  std::vector<std::byte> buffer(size);
  const ReadRequest request{offset, buffer};
  MLAAS_TRY(read(std::span(&request, 1)));
  return buffer;
}

std::vector<ByteRange> coalesce(std::vector<ByteRange> ranges, std::uint64_t maxGap, std::uint64_t maxSize) {
  std::sort(ranges.begin(), ranges.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  std::vector<ByteRange> merged;
  for (const auto& r : ranges) {
    if (r.size == 0) continue;
    if (!merged.empty()) {
      auto& last = merged.back();
      const bool close = r.offset <= last.end() + maxGap;
      const std::uint64_t newEnd = std::max(last.end(), r.end());
      if (close && newEnd - last.offset <= maxSize) {
        last.size = newEnd - last.offset;
        continue;
      }
      if (r.end() <= last.end()) continue;  // fully inside an oversized range
    }
    merged.push_back(r);
  }
  return merged;
}

}  // namespace mlaas::io
