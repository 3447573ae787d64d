// The local file source (openLocal, pread): what a reader may do differently on it.
#pragma once

#include "io/source.hpp"

namespace mlaas::io {

/// True for sources made by openLocal. Their reads are positioned reads of the page cache: a
/// caller may split a range into several small reads (into their final place) without paying a
/// round trip for each, which on remote sources would cost one per request.
[[nodiscard]] bool isLocal(const Source& source) noexcept;

}  // namespace mlaas::io
