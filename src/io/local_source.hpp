// The local file source (openLocal): pread, plus a read-only mapping of the file that readers may
// decode from in place. What a reader may do differently on it.
#pragma once

#include <span>

#include "io/source.hpp"

namespace mlaas::io {

/// True for sources made by openLocal. Their reads are positioned reads of the page cache: a
/// caller may split a range into several small reads (into their final place) without paying a
/// round trip for each, which on remote sources would cost one per request.
[[nodiscard]] bool isLocal(const Source& source) noexcept;

/// The whole file as mapped read-only by openLocal (the mapping lives as long as the source), so a
/// reader can decompress or byte-swap baskets where they lie instead of pread-ing them into a
/// buffer first. Index it by file offset. Empty, and the caller falls back to Source::read, unless
/// `source` is local, its file could be mapped, and every range lies within the size the file has
/// NOW: that is checked (fstat) on every call, because touching a mapped page past the end of a
/// file that shrank since it was opened raises SIGBUS, where pread reports an error. (A file cut
/// while a caller is between this check and its last access is the one case left uncovered.)
/// Counts as one request of the ranges' bytes in stats(). Set MLAAS_LOCAL_MMAP=0 in the
/// environment to open local files without a mapping (pread only).
[[nodiscard]] std::span<const std::byte> mappedBytes(const Source& source, std::span<const ByteRange> ranges) noexcept;

}  // namespace mlaas::io
