// ROOT's compressed payloads: one or more blocks, each a 9-byte header ("ZL"/"CS"/"XZ"/"L4"/"ZS",
// method byte, 3-byte little-endian compressed and uncompressed sizes) followed by its data. L4
// blocks carry an 8-byte xxhash64 of the compressed bytes, which is verified.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mlaas::root {

/// Which codec a payload uses ("ZL", "CS", "XZ", "L4", "ZS"), or "none" when it is not a
/// compressed block (first bytes are not a known magic).
[[nodiscard]] std::string_view codecOf(std::span<const std::byte> payload) noexcept;

/// Decompresses all blocks of `in` into exactly `out` (sized from the key's fObjlen). Fails with
/// corrupt (naming `context` and the block offset) on bad headers, sizes, checksums or streams.
/// Thread safe.
[[nodiscard]] core::Result<void> decompress(std::span<const std::byte> in, std::span<std::byte> out,
                                            std::string_view context);

}  // namespace mlaas::root
