#include "io/remote.hpp"
#include "io/source.hpp"

namespace mlaas::io {

namespace {
bool startsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }
}  // namespace

bool isRemoteUrl(std::string_view pathOrUrl) noexcept {
  return startsWith(pathOrUrl, "root://") || startsWith(pathOrUrl, "roots://") || startsWith(pathOrUrl, "xroot://") ||
         startsWith(pathOrUrl, "http://") || startsWith(pathOrUrl, "https://");
}

core::Result<SourcePtr> open(const std::string& pathOrUrl, const SourceOptions& options) {
  if (startsWith(pathOrUrl, "http://") || startsWith(pathOrUrl, "https://")) return openHttp(pathOrUrl, options);
  if (startsWith(pathOrUrl, "root://") || startsWith(pathOrUrl, "roots://") || startsWith(pathOrUrl, "xroot://")) {
    return openXrootd(pathOrUrl, options);
  }
  const auto scheme = pathOrUrl.find("://");
  if (scheme != std::string::npos && !startsWith(pathOrUrl, "file://")) {
    return core::fail(core::Errc::unsupported,
                      pathOrUrl + ": scheme '" + pathOrUrl.substr(0, scheme) +
                          "' is not supported (use a path, file://, root://, roots://, http:// or https://)");
  }
  return openLocal(pathOrUrl);
}

}  // namespace mlaas::io
