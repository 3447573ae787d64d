#include "io/credentials.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace mlaas::io {
namespace {

std::string trimmed(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::optional<std::string> readSmallFile(const std::string& path) {
  std::error_code ec;
  // Tokens are a few KiB; refuse anything absurd rather than reading it into a header.
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > 1024 * 1024) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

EnvLookup processEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

core::Result<std::optional<BearerToken>> discoverBearerToken(const EnvLookup& env, unsigned uid) {
  if (auto value = env("BEARER_TOKEN"); value && !trimmed(*value).empty()) {
    return std::optional<BearerToken>(BearerToken{trimmed(*value), "BEARER_TOKEN"});
  }
  if (auto file = env("BEARER_TOKEN_FILE"); file && !file->empty()) {
    auto text = readSmallFile(*file);
    if (!text || trimmed(*text).empty()) {
      return core::fail(core::Errc::unauthenticated,
                        fmt::format("BEARER_TOKEN_FILE={}: cannot read a token from that file", *file));
    }
    return std::optional<BearerToken>(BearerToken{trimmed(*text), "BEARER_TOKEN_FILE=" + *file});
  }
  std::vector<std::string> candidates;
  if (auto runtime = env("XDG_RUNTIME_DIR"); runtime && !runtime->empty()) {
    candidates.push_back(fmt::format("{}/bt_u{}", *runtime, uid));
  }
  candidates.push_back(fmt::format("/tmp/bt_u{}", uid));
  for (const auto& path : candidates) {
    if (auto text = readSmallFile(path); text && !trimmed(*text).empty()) {
      return std::optional<BearerToken>(BearerToken{trimmed(*text), path});
    }
  }
  return std::optional<BearerToken>();
}

X509Credentials discoverX509(const EnvLookup& env, unsigned uid) {
  X509Credentials found;
  std::error_code ec;
  if (auto proxy = env("X509_USER_PROXY"); proxy && !proxy->empty()) {
    found.proxyFile = *proxy;
  } else if (const auto fallback = fmt::format("/tmp/x509up_u{}", uid); std::filesystem::exists(fallback, ec)) {
    found.proxyFile = fallback;
  }
  if (auto dir = env("X509_CERT_DIR"); dir && !dir->empty()) {
    found.caDir = *dir;
  } else if (std::filesystem::is_directory("/etc/grid-security/certificates", ec)) {
    found.caDir = "/etc/grid-security/certificates";
  }
  return found;
}

}  // namespace mlaas::io
