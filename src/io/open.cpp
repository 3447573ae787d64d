#include "io/source.hpp"

namespace mlaas::io {

// Remote schemes are added by the remote-sources work (issue: XRootD and HTTP(S) sources).
core::Result<SourcePtr> open(const std::string& pathOrUrl, const SourceOptions& /*options*/) {
  const auto scheme = pathOrUrl.find("://");
  if (scheme != std::string::npos && pathOrUrl.rfind("file://", 0) != 0) {
    return core::fail(core::Errc::unsupported,
                      pathOrUrl + ": scheme '" + pathOrUrl.substr(0, scheme) + "' is not supported yet");
  }
  return openLocal(pathOrUrl);
}

}  // namespace mlaas::io
