// A small HTTP/1.1 client transport: keep-alive connection pool, deadlines, retries of
// idempotent requests. Boost.Beast stays inside http.cpp; this header only has our own types.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/result.hpp"

namespace mlaas::client {

/// http[s]://host[:port][/prefix], split (default port 80, or 443 for https).
struct Endpoint {
  std::string host;
  std::uint16_t port = 80;
  std::string prefix;  // "" or "/something" without a trailing slash
  bool tls = false;    // https: TLS with certificate and host name verification, SNI

  static Result<Endpoint> parse(std::string_view url);
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, already percent-encoded, without the prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool idempotent = true;  // may be retried
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// The first header with this name (case-insensitive), or "".
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
};

struct TransportOptions {
  std::string token;
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds requestTimeout{60000};
  int maxRetries = 3;
  std::chrono::milliseconds retryBackoff{100};
  std::size_t maxIdleConnections = 16;
  std::uint64_t maxResponseBytes = std::uint64_t{1} << 30;
  /// https: PEM file of trusted CA certificates; empty: env MLAAS_CA_FILE, else OpenSSL's default
  /// store (which honours SSL_CERT_FILE and SSL_CERT_DIR).
  std::string caFile;
  bool insecure = false;  ///< https without verifying the certificate (tests, private networks)
};

struct TransportStats {
  std::uint64_t requests = 0;
  std::uint64_t connectionsOpened = 0;
  std::uint64_t retries = 0;
};

/// Thread safe: concurrent send() calls each use their own pooled connection.
class HttpTransport {
 public:
  /// Throws core::Exception(invalid_argument) when the CA file of an https endpoint cannot be loaded.
  HttpTransport(Endpoint endpoint, TransportOptions options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  /// Any HTTP status is a successful exchange; only transport failures are errors
  /// (Errc::io, Errc::timeout, Errc::resource_exhausted for an oversized response,
  /// Errc::unauthenticated when the server's certificate does not verify: never retried).
  /// Retries idempotent requests on transport failures and on 429/502/503/504.
  Result<HttpResponse> send(const HttpRequest& request) const;

  [[nodiscard]] TransportStats stats() const noexcept;
  [[nodiscard]] const Endpoint& endpoint() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters kept).
std::string percentEncode(std::string_view text);

}  // namespace mlaas::client
