// Model names, aliases, tag keys and model references ("name", "name/versions/N", "name@alias").
// Names become SQLite keys and appear in URLs and logs, never in file paths (the file store is
// content-addressed), but they are still validated strictly so a name is always printable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/model_names.hpp"
#include "core/result.hpp"

namespace mlaas::serve {

// The character rules live in core (core/model_names.hpp) so that clients check with the same code.
using core::isValidAlias;
using core::isValidModelName;
using core::isValidTagKey;

/// Checks a name and returns an invalid_argument error naming it when bad.
core::Result<void> checkModelName(std::string_view name);
core::Result<void> checkAlias(std::string_view alias);
core::Result<void> checkTagKey(std::string_view key);

struct ModelRef {
  std::string name;
  std::int64_t version = 0;  ///< > 0 when a version was given
  std::string alias;         ///< non-empty when an alias was given
  /// The reference as written by users: "name", "name/versions/3", "name@prod".
  [[nodiscard]] std::string toString() const;
};

/// Parses "name", "name@alias" or "name/versions/N".
core::Result<ModelRef> parseModelRef(std::string_view text);
/// Parses a decimal version number >= 1.
core::Result<std::int64_t> parseVersion(std::string_view text);

}  // namespace mlaas::serve
