#include "core/model_names.hpp"

namespace mlaas::core {
namespace {
bool isAlnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool isAlpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
}  // namespace

bool isValidModelName(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128) return false;
  if (!(isAlnum(name[0]) || name[0] == '_')) return false;
  for (char c : name)
    if (!(isAlnum(c) || c == '_' || c == '.' || c == '-')) return false;
  return name.find("..") == std::string_view::npos;
}

bool isValidAlias(std::string_view alias) noexcept {
  if (alias.empty() || alias.size() > 64 || !isAlpha(alias[0])) return false;
  for (char c : alias)
    if (!(isAlnum(c) || c == '_' || c == '-')) return false;
  return true;
}

bool isValidTagKey(std::string_view key) noexcept {
  if (key.empty() || key.size() > 128) return false;
  for (char c : key)
    if (!(isAlnum(c) || c == '_' || c == '.' || c == ':' || c == '-')) return false;
  return true;
}

}  // namespace mlaas::core
