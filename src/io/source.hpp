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
  std::uint64_t bytesRead = 0;    ///< bytes delivered to callers
  std::uint64_t bytesFetched = 0; ///< bytes moved over the network (remote sources only)
  std::uint64_t cacheHits = 0;    ///< requests served from the head/tail/prefetch cache
  std::uint64_t retries = 0;      ///< transient failures that were retried
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

  /// A hint that these ranges will be read soon: remote sources start fetching them now (the
  /// reader calls it for the next chunk's baskets while the current one decompresses) and serve
  /// the later read() from memory. Local files ignore it. Never fails: errors surface in read().
  virtual void prefetch(std::span<const ByteRange> ranges) { (void)ranges; }

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
  /// Remote sources: first wait after a transient failure; doubles per retry, capped at 4 s.
  double retryBackoffSeconds = 0.25;
  /// Remote sources: bytes fetched and cached at open from the start and from the end of the
  /// file, so that a ROOT file's header, directory, keys, streamers and (usually) its trees are
  /// read in at most two round trips. 0 disables that block.
  std::uint64_t headBytes = 256 * 1024;
  std::uint64_t tailBytes = 1024 * 1024;
  /// Remote sources: a lone small read that misses the caches (metadata: a key, then its object)
  /// fetches this many bytes from its offset and keeps them for the next small reads. 0 disables.
  std::uint64_t smallReadBlockBytes = 256 * 1024;
  /// Remote sources: requests in flight at once (HTTP connections / XRootD requests).
  int maxParallelRequests = 8;
  /// Remote sources: bytes that prefetch() may hold; the oldest blocks go first.
  std::uint64_t prefetchLimitBytes = 256 * 1024 * 1024;
  /// HTTP: ask for several ranges in one multipart/byteranges request (falls back to parallel
  /// single ranges when the server answers otherwise), at most this many ranges per request.
  bool httpMultiRange = true;
  int httpMaxRangesPerRequest = 200;
  /// XRootD: vector read limits (the server's defaults: readv_iov_max, readv_ior_max).
  int xrootdMaxChunks = 1024;
  std::uint64_t xrootdMaxChunkSize = 2097136;
};

/// Opens a local path (or file:// URL). Fails with not_found / io, naming the path.
[[nodiscard]] core::Result<SourcePtr> openLocal(const std::string& path);

/// The local path that `pathOrUrl` names: a plain path as it is; a file URL (RFC 8089) with an
/// empty host or `localhost` (`file:///data/a.root`, `file://localhost/data/a.root`) as its path.
/// Fails for a file URL of another host, which no local read can reach.
[[nodiscard]] core::Result<std::string> localPathOf(const std::string& pathOrUrl);

/// Opens a path or URL (local, root://, roots://, http://, https://; see docs/remote.md).
[[nodiscard]] core::Result<SourcePtr> open(const std::string& pathOrUrl, const SourceOptions& options = {});

/// Sorts and merges ranges whose gap is <= maxGap, keeping each merged range <= maxSize (a single
/// range larger than maxSize stays whole). Used by the read plan and by remote sources.
[[nodiscard]] std::vector<ByteRange> coalesce(std::vector<ByteRange> ranges, std::uint64_t maxGap,
                                              std::uint64_t maxSize);

}  // namespace mlaas::io
