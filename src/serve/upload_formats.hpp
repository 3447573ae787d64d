// Upload body formats: multipart/form-data and TFaaS tar(.gz) bundles (libarchive), both
// parsed from memory with every size checked against the body and hostile archive entries
// (absolute paths, "..", links, devices) rejected.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mlaas::serve {

struct FormPart {
  std::string name;      ///< form field name
  std::string filename;  ///< client file name, if any
  std::string contentType;
  std::string body;
};

/// The boundary parameter of a multipart/form-data Content-Type, or an error.
core::Result<std::string> multipartBoundary(std::string_view contentType);
core::Result<std::vector<FormPart>> parseMultipart(std::string_view body, std::string_view boundary);

struct Bundle {
  std::string name;                           ///< the top-level directory
  std::map<std::string, std::string> files;   ///< path below it → contents
};

/// Reads a tar (optionally gzip/any libarchive filter) from memory; total extracted size is
/// bounded by maxBytes.
core::Result<Bundle> readBundle(std::string_view archive, std::size_t maxBytes);

/// Percent-decoding for URL paths and query values ('+' → ' ' when query is true).
core::Result<std::string> percentDecode(std::string_view text, bool query);

}  // namespace mlaas::serve
