// The character rules for model names, aliases and tag keys, shared by the server (which refuses
// anything else: src/serve/names.hpp) and the clients that check before sending, e.g. `mlaas train
// --upload`, which checks its alias before a training run instead of after it.
#pragma once

#include <string_view>

namespace mlaas::core {

/// 1-128 of [A-Za-z0-9_.-], starting with a letter, digit or '_', without "..".
[[nodiscard]] bool isValidModelName(std::string_view name) noexcept;
/// 1-64 of [A-Za-z0-9_-], starting with a letter.
[[nodiscard]] bool isValidAlias(std::string_view alias) noexcept;
/// 1-128 of [A-Za-z0-9_.:-].
[[nodiscard]] bool isValidTagKey(std::string_view key) noexcept;

}  // namespace mlaas::core
