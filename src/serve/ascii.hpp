// ASCII case folding private to this module: HTTP header names and the tokens in their values
// (ASCII by RFC 9110), TFaaS keys, repository search. The same as the C locale's std::tolower
// (other bytes, UTF-8 included, pass unchanged) without its call per character.
#pragma once

#include <string>
#include <string_view>

namespace mlaas::serve::detail {

[[nodiscard]] constexpr char lowerAscii(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `text` with A-Z lowered.
[[nodiscard]] inline std::string lowerCopy(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

}  // namespace mlaas::serve::detail
