#include "serve/names.hpp"

#include <charconv>

#include <fmt/format.h>

namespace mlaas::serve {
namespace {
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\')
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}
}  // namespace

core::Result<void> checkModelName(std::string_view name) {
  if (isValidModelName(name)) return {};
  return core::fail(core::Errc::invalid_argument,
                    fmt::format("invalid model name \"{}\": use 1-128 of [A-Za-z0-9_.-], starting with a letter, digit "
                                "or '_', without '..'",
                                printable(name)));
}

core::Result<void> checkAlias(std::string_view alias) {
  if (isValidAlias(alias)) return {};
  return core::fail(
      core::Errc::invalid_argument,
      fmt::format("invalid alias \"{}\": use 1-64 of [A-Za-z0-9_-], starting with a letter", printable(alias)));
}

core::Result<void> checkTagKey(std::string_view key) {
  if (isValidTagKey(key)) return {};
  return core::fail(core::Errc::invalid_argument,
                    fmt::format("invalid tag key \"{}\": use 1-128 of [A-Za-z0-9_.:-]", printable(key)));
}

std::string ModelRef::toString() const {
  if (!alias.empty()) return fmt::format("{}@{}", name, alias);
  if (version > 0) return fmt::format("{}/versions/{}", name, version);
  return name;
}

core::Result<std::int64_t> parseVersion(std::string_view text) {
  std::int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc{} || end != text.data() + text.size() || version < 1 || text.size() > 18)
    return core::fail(core::Errc::invalid_argument,
                      fmt::format("invalid version \"{}\": expected a number >= 1", printable(text)));
  return version;
}

core::Result<ModelRef> parseModelRef(std::string_view text) {
  ModelRef ref;
  if (auto at = text.find('@'); at != std::string_view::npos) {
    ref.name = std::string(text.substr(0, at));
    ref.alias = std::string(text.substr(at + 1));
    MLAAS_TRY(checkModelName(ref.name));
    MLAAS_TRY(checkAlias(ref.alias));
    return ref;
  }
  constexpr std::string_view kVersions = "/versions/";
  if (auto slash = text.find(kVersions); slash != std::string_view::npos) {
    ref.name = std::string(text.substr(0, slash));
    MLAAS_TRY(checkModelName(ref.name));
    auto version = parseVersion(text.substr(slash + kVersions.size()));
    if (!version) return core::fail(version.error());
    ref.version = *version;
    return ref;
  }
  ref.name = std::string(text);
  MLAAS_TRY(checkModelName(ref.name));
  return ref;
}

}  // namespace mlaas::serve
