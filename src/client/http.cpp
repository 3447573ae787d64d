#include "client/http.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace mlaas::client {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using core::Errc;

constexpr const char* kUserAgent = "mlaas-client/0.1";
constexpr std::chrono::milliseconds kMaxBackoff{2000};

/// One TCP (or TLS over TCP) connection with its own io_context: it is used by one thread at a
/// time (checked out of the pool), so running its context from the calling thread needs no
/// further locking.
struct Connection {
  net::io_context io;
  beast::tcp_stream plain{io};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool reused = false;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : plain; }
  /// Calls f with the stream HTTP messages go through.
  template <class F>
  auto visit(F&& f) {
    return tls ? f(*tls) : f(plain);
  }
};

/// Starts an async operation and runs the connection's context until it completes; the
/// stream's expiry turns a missed deadline into beast::error::timeout.
template <class Start>
boost::system::error_code runOperation(Connection& connection, Start&& start) {
  boost::system::error_code result = net::error::would_block;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  connection.io.restart();
  connection.io.run();
  return result;
}

/// A pooled connection the peer has closed (or that has stray bytes) must not be reused: a
/// request written to it would fail, and a POST could not safely be retried.
bool stillUsable(Connection& connection) {
  auto& socket = connection.tcp().socket();
  if (!socket.is_open() || connection.buffer.size() != 0) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return false;  // 0: closed by the peer; > 0: unexpected data
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

bool retriableStatus(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }

}  // namespace

// ---- Endpoint ------------------------------------------------------------------------------

Result<Endpoint> Endpoint::parse(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Error{Errc::invalid_argument, 0, fmt::format("bad server URL '{}': {}", url, why)};
  };
  std::string_view rest = url;
  Endpoint endpoint;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    endpoint.tls = true;
    endpoint.port = 443;
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return bad("expected http[s]://host[:port][/prefix]");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in the URL are not supported (use a token)");
  std::string_view portText;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in the host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':' after ']'");
      portText = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
  }
  if (endpoint.host.empty()) return bad("no host");
  if (!portText.empty() || authority.ends_with(':')) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (ec != std::errc{} || end != portText.data() + portText.size() || port == 0 || port > 65535)
      return bad(fmt::format("port '{}' is not a number in 1..65535", portText));
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.find_first_of("?#") != std::string_view::npos) return bad("no query or fragment allowed");
  endpoint.prefix = std::string(path);
  return endpoint;
}

std::string_view HttpResponse::header(std::string_view name) const noexcept {
  // Header names are ASCII (RFC 9110): Beast's compare folds A-Z only, whatever the C locale.
  for (const auto& [key, value] : headers)
    if (beast::iequals(beast::string_view(key.data(), key.size()), beast::string_view(name.data(), name.size())))
      return value;
  return {};
}

std::string percentEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// ---- HttpTransport ---------------------------------------------------------------------------

struct HttpTransport::Impl {
  Endpoint endpoint;
  TransportOptions options;
  // https only; configured once in the constructor, then only used to create connections (which
  // OpenSSL allows from any thread), hence mutable in const calls.
  mutable std::optional<net::ssl::context> tlsContext;
  std::string hostHeader;
  mutable std::mutex poolMutex;
  mutable std::vector<std::unique_ptr<Connection>> idle;
  mutable std::atomic<std::uint64_t> requests{0};
  mutable std::atomic<std::uint64_t> connectionsOpened{0};
  mutable std::atomic<std::uint64_t> retries{0};

  [[nodiscard]] std::string where() const {
    return fmt::format("{}://{}:{}", endpoint.tls ? "https" : "http",
                       endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host,
                       endpoint.port);
  }

  Result<std::unique_ptr<Connection>> acquire() const {
    {
      std::lock_guard lock(poolMutex);
      while (!idle.empty()) {
        auto connection = std::move(idle.back());
        idle.pop_back();
        if (stillUsable(*connection)) {
          connection->reused = true;
          return connection;
        }
      }
    }
    auto connection = std::make_unique<Connection>();
    tcp::resolver resolver(connection->io);
    boost::system::error_code ec;
    const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) return Error{Errc::io, 0, fmt::format("cannot resolve '{}': {}", endpoint.host, ec.message())};
    if (tlsContext) connection->tls.emplace(connection->io, *tlsContext);
    connection->tcp().expires_after(options.connectTimeout);
    ec = runOperation(*connection, [&](auto handler) { connection->tcp().async_connect(addresses, handler); });
    if (ec == beast::error::timeout)
      return Error{Errc::timeout, 0,
                   fmt::format("connecting to {} timed out after {} ms", where(), options.connectTimeout.count())};
    if (ec) return Error{Errc::io, 0, fmt::format("cannot connect to {}: {}", where(), ec.message())};
    connection->tcp().socket().set_option(tcp::no_delay(true), ec);  // small requests: no Nagle delay
    ++connectionsOpened;
    if (connection->tls) {
      if (auto shaken = handshake(*connection); !shaken) return std::move(shaken).error();
    }
    return connection;
  }

  /// TLS client handshake: SNI with the host name, and OpenSSL's own host (or IP address) check
  /// so that a mismatch shows up as a verification result with a readable reason.
  Result<void> handshake(Connection& connection) const {
    SSL* ssl = connection.tls->native_handle();
    boost::system::error_code ec;
    (void)net::ip::make_address(endpoint.host, ec);
    const bool literalAddress = !ec;
    if (!literalAddress && !SSL_set_tlsext_host_name(ssl, endpoint.host.c_str()))
      return Error{Errc::internal, 0, fmt::format("{}: cannot set the TLS server name", where())};
    if (!options.insecure) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      const int ok = literalAddress ? X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.host.c_str())
                                    : X509_VERIFY_PARAM_set1_host(param, endpoint.host.c_str(), 0);
      if (!ok) return Error{Errc::internal, 0, fmt::format("{}: cannot set the expected certificate name", where())};
    }
    connection.tcp().expires_after(options.connectTimeout);
    ec = runOperation(connection,
                      [&](auto handler) { connection.tls->async_handshake(net::ssl::stream_base::client, handler); });
    if (!ec) return {};
    if (ec == beast::error::timeout)
      return Error{Errc::timeout, 0,
                   fmt::format("TLS handshake with {} timed out after {} ms", where(), options.connectTimeout.count())};
    if (const long verified = SSL_get_verify_result(ssl); verified != X509_V_OK)
      return Error{Errc::unauthenticated, 0,
                   fmt::format("TLS: the certificate of {} does not verify: {} (give the server's CA with a CA file or "
                               "MLAAS_CA_FILE, or turn verification off with insecure)",
                               where(), X509_verify_cert_error_string(verified))};
    return Error{Errc::io, 0, fmt::format("TLS handshake with {} failed: {}", where(), ec.message())};
  }

  void release(std::unique_ptr<Connection> connection) const {
    std::lock_guard lock(poolMutex);
    if (idle.size() < options.maxIdleConnections) idle.push_back(std::move(connection));
  }

  Result<HttpResponse> exchange(const HttpRequest& request) const {
    ++requests;
    auto acquired = acquire();
    if (!acquired) return std::move(acquired).error();
    auto connection = std::move(*acquired);

    const auto verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown)
      return Error{Errc::invalid_argument, 0, fmt::format("unknown HTTP method '{}'", request.method)};
    http::request<http::string_body> message{verb, endpoint.prefix + request.target, 11};
    message.set(http::field::host, hostHeader);
    message.set(http::field::user_agent, kUserAgent);
    if (!options.token.empty()) message.set(http::field::authorization, "Bearer " + options.token);
    for (const auto& [key, value] : request.headers) message.set(key, value);
    message.body() = request.body;
    message.keep_alive(true);
    message.prepare_payload();

    const auto what = fmt::format("{} {}{}{}", request.method, where(), endpoint.prefix, request.target);
    const auto deadline = std::chrono::steady_clock::now() + options.requestTimeout;
    auto failure = [&](boost::system::error_code ec, std::string_view stage) -> Error {
      if (ec == beast::error::timeout)
        return Error{Errc::timeout, 0,
                     fmt::format("{}: no complete response within {} ms", what, options.requestTimeout.count())};
      if (ec == http::error::body_limit)
        return Error{Errc::resource_exhausted, 0,
                     fmt::format("{}: response larger than {} bytes", what, options.maxResponseBytes)};
      return Error{Errc::io, 0, fmt::format("{}: {} failed: {}", what, stage, ec.message())};
    };

    connection->tcp().expires_at(deadline);
    auto ec = connection->visit([&](auto& stream) {
      return runOperation(*connection, [&](auto handler) { http::async_write(stream, message, handler); });
    });
    // A server may answer before it has read the whole body (413 for a body over its limit) and
    // stop reading; the write then fails (broken pipe, reset). Its answer may still be waiting in
    // the socket: read it and report that, not the pipe.
    const auto writeError = ec;
    if (writeError && writeError == beast::error::timeout) return failure(writeError, "sending the request");

    http::response_parser<http::string_body> parser;
    parser.body_limit(options.maxResponseBytes);
    parser.header_limit(64 * 1024);
    connection->tcp().expires_at(deadline);
    ec = connection->visit([&](auto& stream) {
      return runOperation(*connection,
                          [&](auto handler) { http::async_read_header(stream, connection->buffer, parser, handler); });
    });
    if (ec)
      return failure(writeError ? writeError : ec, writeError ? "sending the request" : "reading the response header");
    // Beast 1.74 skips body_limit for a Content-Length body that arrives with the header in
    // eager mode, so check the declared length here before reading the body.
    if (const auto length = parser.content_length(); length && *length > options.maxResponseBytes)
      return failure(http::error::body_limit, "reading the response");
    ec = connection->visit([&](auto& stream) {
      return runOperation(*connection,
                          [&](auto handler) { http::async_read(stream, connection->buffer, parser, handler); });
    });
    if (ec) return failure(writeError ? writeError : ec, writeError ? "sending the request" : "reading the response");

    auto& parsed = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(parsed.result_int());
    for (const auto& field : parsed)
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    const bool keepAlive = parsed.keep_alive() && !writeError;
    response.body = std::move(parsed.body());
    if (keepAlive) {
      connection->tcp().expires_never();
      release(std::move(connection));
    }
    return response;
  }
};

HttpTransport::HttpTransport(Endpoint endpoint, TransportOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = std::move(endpoint);
  impl_->options = std::move(options);
  const auto& host = impl_->endpoint.host;
  impl_->hostHeader = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                      std::to_string(impl_->endpoint.port);
  if (impl_->endpoint.tls) {
    auto& context = impl_->tlsContext.emplace(net::ssl::context::tls_client);
    context.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    std::string caFile = impl_->options.caFile;
    if (caFile.empty())
      if (const char* env = std::getenv("MLAAS_CA_FILE"); env && *env) caFile = env;
    boost::system::error_code ec;
    if (impl_->options.insecure) {
      context.set_verify_mode(net::ssl::verify_none);
    } else {
      context.set_verify_mode(net::ssl::verify_peer);
      if (!caFile.empty()) {
        context.load_verify_file(caFile, ec);
        if (ec)
          throw core::Exception(
              Errc::invalid_argument,
              fmt::format("{}: cannot load CA certificates (PEM expected): {}", caFile, ec.message()));
      } else {
        context.set_default_verify_paths(ec);  // honours SSL_CERT_FILE / SSL_CERT_DIR
      }
    }
  }
}

HttpTransport::~HttpTransport() = default;

Result<HttpResponse> HttpTransport::send(const HttpRequest& request) const {
  auto backoff = impl_->options.retryBackoff;
  for (int attempt = 0;; ++attempt) {
    auto response = impl_->exchange(request);
    const bool transient =
        response ? retriableStatus(response->status)
                 : (response.error().code == Errc::io || response.error().code == Errc::timeout);
    if (!transient || !request.idempotent || attempt >= impl_->options.maxRetries) return response;
    ++impl_->retries;
    std::this_thread::sleep_for(backoff);  // give an overloaded or restarting server room
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

TransportStats HttpTransport::stats() const noexcept {
  return TransportStats{impl_->requests.load(), impl_->connectionsOpened.load(), impl_->retries.load()};
}

const Endpoint& HttpTransport::endpoint() const noexcept { return impl_->endpoint; }

}  // namespace mlaas::client
