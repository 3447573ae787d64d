#include "serve/http.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/result.hpp"
#include "serve/ascii.hpp"
#include "serve/json_util.hpp"

namespace mlaas::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
// Each I/O thread runs its own io_context (its own epoll set and handler queue, like an nginx
// worker), and a connection lives on one of them for its whole life: its handlers never run
// concurrently, so it needs no strand, and no I/O thread ever wakes another. Naming the executor
// type (instead of Beast's type-erased any_io_executor) saves a copy and a virtual dispatch per step.
using IoExecutor = asio::io_context::executor_type;
using Stream = beast::basic_stream<tcp, IoExecutor, beast::unlimited_rate_policy>;
using IoSocket = tcp::socket::rebind_executor<IoExecutor>::other;

// The io_context the calling thread runs, if it is one of an HttpServer's I/O threads.
thread_local asio::io_context* tCurrentIoContext = nullptr;

std::string_view HttpRequest::header(std::string_view lowerName) const noexcept {
  for (const auto& [k, v] : headers)
    if (k == lowerName) return v;
  return {};
}

namespace {
class Connection;
}

struct HttpServer::Impl {
  // Declared first so they outlive the io_context, whose destructor may destroy connections.
  std::mutex mutex;
  std::condition_variable drained;
  std::set<Connection*> connections;
  HttpOptions options;
  HttpHandler handler;
  // Set once shutdown has joined the I/O threads: responders drop what they are given from then
  // on, since nothing would write it (declared before the contexts, whose destruction may call them).
  std::atomic<bool> ioStopped{false};
  // One per I/O thread (concurrency hint 1: Asio skips the cross-thread wake-ups of a shared
  // queue; it still locks, because inference threads post responses into it).
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::size_t nextContext = 0;  // round-robin placement of accepted connections
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  int boundPort = 0;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;

  void accept();
  void add(Connection* c) {
    std::lock_guard lock(mutex);
    connections.insert(c);
  }
  void remove(Connection* c) {
    std::lock_guard lock(mutex);
    connections.erase(c);
    drained.notify_all();
  }
};

namespace {

HttpResponse errorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = detail::errorBody(message);
  return r;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(IoSocket socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
    // Beast reads min(capacity, 64 KiB) per recvmsg and its parser empties the buffer after each
    // read, so a buffer left at its first 512 bytes never grows: a 4 KiB request took 9 recvmsg
    // calls. 8 KiB holds a typical inference request (and a 1024-float binary one) in one.
    buffer_.reserve(8192);
    server_.add(this);
  }
  ~Connection() { server_.remove(this); }

  void start() { asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->readHeader(); }); }

  /// Called on shutdown: closes the connection now if it waits for a request.
  void closeIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) {
        beast::error_code ec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        self->stream_.close();
      }
    });
  }

 private:
  void readHeader() {
    if (server_.stopping) return close();
    busy_ = false;
    parser_.emplace();
    parser_->body_limit(server_.options.maxBodyBytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(server_.options.headerTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onHeader(ec); });
  }

  void onHeader(beast::error_code ec) {
    if (ec) {
      if (ec == bhttp::error::header_limit) return fail(431, "request headers larger than 64 KiB");
      if (ec == bhttp::error::body_limit) return fail(413, tooLarge());
      if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::error::bad_descriptor)
        return close();
      return fail(400, fmt::format("malformed HTTP request: {}", ec.message()));
    }
    busy_ = true;
    started_ = std::chrono::steady_clock::now();
    auto& req = parser_->get();
    if (auto length = parser_->content_length(); length && *length > server_.options.maxBodyBytes)
      return fail(413, tooLarge());
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto cont = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      asio::async_write(stream_, asio::buffer(*cont),
                        [self = shared_from_this(), cont](beast::error_code e, std::size_t) {
                          if (e) return self->close();
                          self->readBody();
                        });
      return;
    }
    readBody();
  }

  void readBody() {
    // Not the stream's own expiry: on timeout basic_stream closes the socket, and the 408 the
    // docs promise could never be written. This timer only cancels the read.
    stream_.expires_never();
    bodyTimedOut_ = false;
    // No body, or a small one that arrived with its header: the read never waits on the socket,
    // and arming (and cancelling) a timer would only cost the request path its time.
    const auto length = parser_->content_length();
    const bool timed = !parser_->is_done() && (!length || buffer_.size() < *length);
    if (timed) {
      bodyTimer_.expires_after(server_.options.bodyTimeout);
      bodyReading_ = true;
      bodyTimer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        // Cancelled, or expired in the same round as the read's completion, which ran first and
        // may already be writing the answer: cancelling the socket now would abort that write.
        if (ec || !self->bodyReading_) return;
        self->bodyTimedOut_ = true;
        beast::error_code ignored;
        self->stream_.socket().cancel(ignored);
      });
    }
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this(), timed](beast::error_code ec, std::size_t) {
                        self->bodyReading_ = false;
                        if (timed) self->bodyTimer_.cancel();
                        if (self->bodyTimedOut_)
                          return self->fail(408, fmt::format("request body not received within {} ms "
                                                             "(limits.body_timeout_ms)",
                                                             self->server_.options.bodyTimeout.count()));
                        if (ec == bhttp::error::body_limit) return self->fail(413, self->tooLarge());
                        if (ec) return self->close();
                        self->dispatchRequest();
                      });
  }

  std::string tooLarge() const {
    return fmt::format("request body larger than the limit of {} bytes (limits.max_body_bytes)",
                       server_.options.maxBodyBytes);
  }

  void dispatchRequest() {
    stream_.expires_never();
    auto message = parser_->release();
    keepAlive_ = message.keep_alive();
    HttpRequest request;
    request.method = std::string(message.method_string());
    std::string_view target(message.target().data(), message.target().size());
    auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.headers.reserve(8);
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = detail::lowerAscii(c);
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.remote = remote_;
    if (server_.options.accessLog) {  // copies only for the log line
      method_ = request.method;
      target_ = std::string(target.substr(0, 200));
    }
    auto self = shared_from_this();
    const std::uint64_t number = ++requests_;
    try {
      // Nothing below the handler call touches the connection, so a response given during the
      // call (an error, or inference run on this thread) may be written right away.
      server_.handler(std::move(request), [self, number](HttpResponse response) {
        // After shutdown no thread runs the io_context, and one being destroyed (whose dropped
        // tasks may answer their requests) must not be posted to.
        if (self->server_.ioStopped.load(std::memory_order_acquire)) return;
        // On the connection's own I/O thread (inline inference, a batch run at the end of this
        // thread's event-loop round, an early error) the write starts here: no queueing, no wake.
        // From an inference thread it is posted to that I/O thread.
        if (self->stream_.get_executor().running_in_this_thread()) return self->answer(number, std::move(response));
        asio::post(self->stream_.get_executor(), [self, number, response = std::move(response)]() mutable {
          self->answer(number, std::move(response));
        });
      });
    } catch (const std::exception& e) {
      // Posted, not answered here: a response the handler gave from another thread before it
      // threw is posted already, and it came first, so it is the one written.
      asio::post(stream_.get_executor(),
                 [self, number, response = errorResponse(500, fmt::format("internal error: {}", e.what()))]() mutable {
                   self->answer(number, std::move(response));
                 });
    }
  }

  /// Writes the response to request `number` unless it already has one: a handler that throws
  /// after answering (or a responder called twice) must not start a second write on the stream.
  void answer(std::uint64_t number, HttpResponse response) {
    if (answered_ >= number) {
      spdlog::error("{}: dropped a second response (status {}) to one request", remote_, response.status);
      return;
    }
    answered_ = number;
    write(std::move(response));
  }

  void fail(int status, std::string message) {
    keepAlive_ = false;  // the rest of the stream cannot be trusted
    linger_ = true;      // the client may still be sending the body we refused
    busy_ = true;
    method_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "-";
    target_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().target().substr(0, 200)) : "-";
    started_ = std::chrono::steady_clock::now();
    write(errorResponse(status, message));
  }

  void write(HttpResponse response) {
    // The head is a handful of fixed fields, so it is formatted directly into one buffer and sent
    // with the body in one gather write (Beast's field container and serializer cost more per
    // request than the whole head does).
    bool keep = keepAlive_ && !server_.stopping;
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(response.status));
    head_.clear();
    fmt::format_to(std::back_inserter(head_),
                   "HTTP/1.1 {} {}\r\nServer: mlaas\r\nContent-Type: {}\r\nContent-Length: {}\r\n", response.status,
                   std::string_view(reason.data(), reason.size()), response.contentType, response.body.size());
    for (const auto& [k, v] : response.headers) fmt::format_to(std::back_inserter(head_), "{}: {}\r\n", k, v);
    if (!keep) head_ += "Connection: close\r\n";
    head_ += "\r\n";
    body_ = std::move(response.body);
    if (server_.options.accessLog) {
      auto micros =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_).count();
      spdlog::info("{} \"{} {}\" {} {} {}us", remote_, method_, target_, response.status, body_.size(), micros);
    }
    stream_.expires_after(server_.options.bodyTimeout);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers, [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
      if (!ec && self->linger_) return self->lingerThenClose();
      if (ec || !keep) return self->close();
      self->readHeader();
    });
  }

  /// After an early error response (413 while the client still sends its body): closing at once
  /// with unread bytes makes the kernel reset the connection, so the client's write fails ("Broken
  /// pipe") and a client that does not then read (or a system that drops received data on a
  /// reset) never sees the 413. Like nginx's lingering close: stop sending, read and drop what
  /// arrives, for at most the body timeout (capped at kMaxLinger).
  void lingerThenClose() {
    busy_ = false;  // shutdown may close it right away
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(std::min<std::chrono::milliseconds>(server_.options.bodyTimeout, kMaxLinger));
    drain();
  }

  void drain() {
    buffer_.clear();  // the connection's own buffer: no per-connection scratch space for a rare path
    stream_.async_read_some(buffer_.prepare(16384), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();  // end of stream, reset or the linger deadline
      self->drain();
    });
  }

  static constexpr std::chrono::milliseconds kMaxLinger{30'000};

  void close() {
    busy_ = false;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  Stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_ = "-", method_, target_;
  std::string head_, body_;  // the response being written (kept alive until the write completes)
  std::chrono::steady_clock::time_point started_;
  bool keepAlive_ = true;
  bool busy_ = false;
  bool linger_ = false;  // the response is an early error: drain the request before closing
  asio::steady_timer bodyTimer_{stream_.get_executor()};
  bool bodyTimedOut_ = false;
  bool bodyReading_ = false;  ///< the body read is in flight: its timer may still act
  // Requests dispatched to the handler and answered, counted on the connection's thread only.
  std::uint64_t requests_ = 0, answered_ = 0;
};

}  // namespace

void HttpServer::Impl::accept() {
  auto& context = *contexts[nextContext++ % contexts.size()];
  acceptor->async_accept(context, [this](beast::error_code ec, IoSocket socket) {
    if (stopping || !acceptor->is_open()) return;
    if (!ec) std::make_shared<Connection>(std::move(socket), *this)->start();
    accept();
  });
}

HttpServer::HttpServer(HttpOptions options, HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() {
  if (!impl_->threads.empty()) shutdown(std::chrono::milliseconds(0));
}

void HttpServer::start() {
  auto& impl = *impl_;
  beast::error_code ec;
  auto address = asio::ip::make_address(impl.options.host, ec);
  if (ec)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("listen address '{}' is not an IP address", impl.options.host));
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl.options.port));
  const std::size_t threadCount = std::max<std::size_t>(1, impl.options.ioThreads);
  for (std::size_t i = 0; i < threadCount; ++i) impl.contexts.push_back(std::make_unique<asio::io_context>(1));
  impl.acceptor.emplace(*impl.contexts[0]);
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw core::Exception(
        core::Errc::io, fmt::format("cannot listen on {}:{}: {}", impl.options.host, impl.options.port, ec.message()));
  impl.boundPort = impl.acceptor->local_endpoint().port();
  for (auto& context : impl.contexts) impl.work.push_back(asio::make_work_guard(*context));
  impl.accept();
  for (auto& context : impl.contexts)
    impl.threads.emplace_back([context = context.get()] {
      tCurrentIoContext = context;
      // A handler that throws (an allocation failure writing a response, a deferred task) must not
      // end the process with the thread: Asio lets run() go on after the exception (the
      // connection whose handler threw is dropped when its last reference goes).
      for (;;) {
        try {
          context->run();
          break;
        } catch (const std::exception& e) {
          spdlog::error("I/O thread: a handler threw: {}", e.what());
        }
      }
      tCurrentIoContext = nullptr;
    });
}

bool deferToEndOfIoRound(std::function<void()>& task) {
  if (!tCurrentIoContext) return false;
  // From inside its own single-thread io_context, post queues the task behind the handlers of the
  // events already received (Asio's thread-private queue, then the shared one): no lock, no wake.
  asio::post(*tCurrentIoContext, std::move(task));
  return true;
}

int HttpServer::port() const noexcept { return impl_->boundPort; }
bool HttpServer::stopping() const noexcept { return impl_->stopping; }

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  auto& impl = *impl_;
  if (impl.threads.empty()) return;
  impl.stopping = true;
  asio::post(*impl.contexts[0], [&impl] {
    beast::error_code ec;
    impl.acceptor->close(ec);
  });
  {
    // Take owning references under the lock but close outside it: dropping the last reference
    // runs ~Connection, which takes the same lock.
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::lock_guard lock(impl.mutex);
      for (Connection* c : impl.connections)
        if (auto alive = c->weak_from_this().lock()) open.push_back(std::move(alive));
    }
    for (auto& c : open) c->closeIfIdle();
    open.clear();
    std::unique_lock lock(impl.mutex);
    impl.drained.wait_for(lock, grace, [&] { return impl.connections.empty(); });
  }
  impl.work.clear();
  for (auto& context : impl.contexts) context->stop();
  for (auto& t : impl.threads) t.join();
  impl.threads.clear();
  impl.ioStopped.store(true, std::memory_order_release);
}

}  // namespace mlaas::serve
