// Grid credentials for HTTPS sources, found the way WLCG tools find them. (XRootD finds its own:
// libXrdCl reads BEARER_TOKEN*, X509_* and XrdSec* from the environment itself.)
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace mlaas::io {

/// Looks up an environment variable; nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
/// The process environment.
[[nodiscard]] EnvLookup processEnvironment();

struct BearerToken {
  std::string token;
  std::string origin;  ///< where it came from, e.g. "BEARER_TOKEN_FILE=/path" (never the token)
};

/// WLCG Bearer Token Discovery: $BEARER_TOKEN, else the file $BEARER_TOKEN_FILE, else
/// $XDG_RUNTIME_DIR/bt_u<uid>, else /tmp/bt_u<uid>; surrounding whitespace is removed. nullopt
/// when none is found; an error (unauthenticated) when BEARER_TOKEN_FILE names an unreadable or
/// empty file, since silently going without the token the user asked for would be worse.
[[nodiscard]] core::Result<std::optional<BearerToken>> discoverBearerToken(const EnvLookup& env, unsigned uid);

struct X509Credentials {
  std::string proxyFile;  ///< $X509_USER_PROXY, else /tmp/x509up_u<uid> if it exists; may be empty
  std::string caDir;      ///< $X509_CERT_DIR, else /etc/grid-security/certificates if it exists
};
[[nodiscard]] X509Credentials discoverX509(const EnvLookup& env, unsigned uid);

}  // namespace mlaas::io
