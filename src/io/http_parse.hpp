// The parts of an HTTP range response that need parsing: Content-Range and multipart/byteranges
// bodies (RFC 9110 §14.4, §14.6). Internal to mlaas::io; separate so that tests and the fuzzer
// reach it without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mlaas::io::detail {

/// ASCII lower case (HTTP header names are case-insensitive).
std::string lowercase(std::string_view text);
/// Without leading blanks and trailing blanks or line ends.
std::string_view trim(std::string_view text);

/// A decimal number of at most 19 digits, surrounding blanks allowed; nullopt otherwise.
[[nodiscard]] std::optional<std::uint64_t> parseDecimal(std::string_view text);

/// "bytes first-last/total", "bytes first-last/*" or "bytes */total".
struct ContentRange {
  bool hasRange = false;
  std::uint64_t first = 0, last = 0;  ///< inclusive, when hasRange
  std::optional<std::uint64_t> total;
};
[[nodiscard]] std::optional<ContentRange> parseContentRange(std::string_view text);

/// One part of a multipart/byteranges body; bytes point into the body.
struct BodyPart {
  ContentRange range;
  std::string_view bytes;
};
/// Splits a multipart/byteranges body by the boundary named in contentType. Fails (corrupt) on a
/// missing boundary, a part without a valid Content-Range, a truncated part or a missing closing
/// delimiter: a body that does not parse completely yields no data at all.
[[nodiscard]] core::Result<std::vector<BodyPart>> parseMultipartByteranges(std::string_view contentType,
                                                                           std::string_view body);

}  // namespace mlaas::io::detail
