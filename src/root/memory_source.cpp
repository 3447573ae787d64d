#include "root/memory_source.hpp"

#include <cstring>

namespace mlaas::root {

core::Result<void> MemorySource::read(std::span<const io::ReadRequest> requests) {
  std::uint64_t total = 0;
  for (const auto& r : requests) {
    if (r.offset > bytes_.size() || r.dest.size() > bytes_.size() - r.offset)
      return core::fail(core::Errc::corrupt, name_ + ": range [" + std::to_string(r.offset) + ", " +
                                                 std::to_string(r.offset + r.dest.size()) +
                                                 ") is beyond the end (" + std::to_string(bytes_.size()) + " bytes)");
    if (!r.dest.empty()) std::memcpy(r.dest.data(), bytes_.data() + r.offset, r.dest.size());
    total += r.dest.size();
  }
  std::lock_guard lock(mutex_);
  ++stats_.requests;
  ++stats_.roundTrips;
  stats_.bytesRead += total;
  return {};
}

io::SourceStats MemorySource::stats() const noexcept {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace mlaas::root
