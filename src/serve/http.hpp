// The HTTP/1.1 server (Boost.Beast inside, our own request/response types outside): keep-alive,
// in-order pipelining, body size limit (413 before the body is read), header/body/idle
// timeouts, access log, and graceful shutdown that lets in-flight requests finish.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlaas::serve {

struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string path;    ///< target before '?', still percent-encoded
  std::string query;   ///< after '?'
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-case
  std::string body;
  std::string remote;
  /// The first header with that (lower-case) name, or "".
  [[nodiscard]] std::string_view header(std::string_view lowerName) const noexcept;
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Completes a request; may be called from any thread while the HttpServer exists. The first call
/// answers; the server drops later ones, and answers 500 itself when the handler throws before any
/// call. Once shutdown() has stopped the I/O threads it drops every response.
using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8083;  ///< 0 = any free port
  std::size_t ioThreads = 1;
  std::size_t maxBodyBytes = 64u << 20;
  std::chrono::milliseconds headerTimeout{10'000};  ///< also the keep-alive idle limit
  std::chrono::milliseconds bodyTimeout{60'000};
  bool accessLog = true;
};

/// On one of an HttpServer's I/O threads: takes `task` and runs it later on this same thread,
/// after the handlers of the events this thread has already received (the end of its event-loop
/// round), and returns true. On any other thread returns false and leaves `task` alone.
bool deferToEndOfIoRound(std::function<void()>& task);

class HttpServer {
 public:
  HttpServer(HttpOptions options, HttpHandler handler);
  ~HttpServer();  // shutdown(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts the I/O threads; throws core::Exception naming the address on failure.
  void start();
  [[nodiscard]] int port() const noexcept;
  /// Stops accepting, closes idle connections, waits up to `grace` for in-flight requests to be
  /// answered, then stops the I/O threads. Their event loops, with the tasks and responses still
  /// queued there, are destroyed with the HttpServer.
  void shutdown(std::chrono::milliseconds grace);
  [[nodiscard]] bool stopping() const noexcept;

  struct Impl;  // public only so the connection class in http.cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaas::serve
