// Byte sources: where ROOT files come from. The reader asks a Source for lists of byte ranges;
// local files answer with pread, remote ones (root://, http(s)://) with vector or multi-range
// requests. Sources are thread safe: several threads may read at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mlaas::io {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  [[nodiscard]] std::uint64_t end() const noexcept { return offset + size; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

/// One read: the range and where its bytes go (dest.size() == range.size).
struct ReadRequest {
  std::uint64_t offset = 0;
  std::span<std::byte> dest;
};

/// Counters a source keeps, for benchmarks and the round-trip targets of remote reading.
struct SourceStats {
  std::uint64_t requests = 0;     ///< calls to read()
  std::uint64_t roundTrips = 0;   ///< network exchanges (== requests for local files)
  std::uint64_t bytesRead = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  /// The path or URL this source was opened with (used in every error message).
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;
  /// The size in bytes, known from opening.
  [[nodiscard]] virtual std::uint64_t size() const noexcept = 0;
  /// Fills every request completely, or fails naming the source and range; never partial data.
  [[nodiscard]] virtual core::Result<void> read(std::span<const ReadRequest> requests) = 0;
  [[nodiscard]] virtual SourceStats stats() const noexcept = 0;

  /// Convenience: one range into a new buffer.
  [[nodiscard]] core::Result<std::vector<std::byte>> readRange(std::uint64_t offset, std::uint64_t size);
};

using SourcePtr = std::shared_ptr<Source>;

struct SourceOptions {
  /// Remote sources: merge ranges whose gap is at most this many bytes.
  std::uint64_t coalesceGap = 64 * 1024;
  /// Remote sources: never merge beyond this many bytes per request.
  std::uint64_t maxRequestSize = 16 * 1024 * 1024;
  /// Remote sources: per-request timeout and retries of transient failures.
  double timeoutSeconds = 60;
  int retries = 3;
};

/// Opens a local path (or file:// URL); remote schemes are dispatched by io::open in remote.hpp
/// once that module part exists. Fails with not_found / io, naming the path.
[[nodiscard]] core::Result<SourcePtr> openLocal(const std::string& path);

/// Opens a path or URL (local, root://, http://, https://).
[[nodiscard]] core::Result<SourcePtr> open(const std::string& pathOrUrl, const SourceOptions& options = {});

/// Sorts and merges ranges whose gap is <= maxGap, keeping each merged range <= maxSize (a single
/// range larger than maxSize stays whole). Used by the read plan and by remote sources.
[[nodiscard]] std::vector<ByteRange> coalesce(std::vector<ByteRange> ranges, std::uint64_t maxGap,
                                              std::uint64_t maxSize);

}  // namespace mlaas::io
