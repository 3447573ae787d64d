// A scripted HTTP/1.1 server on 127.0.0.1 for client unit tests: each request goes to a
// handler that returns the response (or hangs until the server stops, or drops the
// connection). Records every request and counts accepted connections. Tests only.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mlaas::test {

struct StubRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  int connection = 0;  // which accepted connection carried it (1, 2, ...)
};

struct StubResponse {
  int status = 200;
  std::string body;
  std::string contentType = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;       // send "Connection: close" and close
  bool silentClose = false; // close after responding without announcing it (idle-timeout peer)
  bool hang = false;        // never answer (until the stub stops)
  bool drop = false;        // close the connection without answering
};

class StubServer {
 public:
  using Handler = std::function<StubResponse(const StubRequest&)>;

  explicit StubServer(Handler handler) : handler_(std::move(handler)) {
    namespace net = boost::asio;
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    acceptThread_ = std::thread([this] { acceptLoop(); });
  }
  ~StubServer() { stop(); }
  StubServer(const StubServer&) = delete;
  StubServer& operator=(const StubServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int connections() const { return connections_.load(); }
  /// Waits (bounded) until the stub has closed every connection it accepted.
  bool waitForAllClosed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return closed_.wait_for(lock, timeout, [this] { return openFds_.empty(); });
  }
  [[nodiscard]] std::vector<StubRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      for (int fd : openFds_) ::shutdown(fd, SHUT_RDWR);  // unblocks reads in connection threads
    }
    wake_.notify_all();
    // shutdown() makes the blocked accept() fail; the acceptor is closed only once the accept
    // thread is gone, since an Asio object must not be used from two threads at once.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (acceptThread_.joinable()) acceptThread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(connectionThreads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void acceptLoop() {
    for (;;) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      const int id = ++connections_;
      openFds_.push_back(socket.native_handle());
      connectionThreads_.emplace_back([this, id, s = std::move(socket)]() mutable { serve(std::move(s), id); });
    }
  }

  void serve(boost::asio::ip::tcp::socket socket, int id) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) break;
      StubRequest recorded{std::string(request.method_string()), std::string(request.target()), {}, request.body(), id};
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        recorded.headers[name] = std::string(field.value());
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(recorded);
      }
      const auto answer = handler_(recorded);
      if (answer.hang) {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopped_; });
        break;
      }
      if (answer.drop) break;
      http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
      response.set(http::field::content_type, answer.contentType);
      for (const auto& [k, v] : answer.headers) response.set(k, v);
      response.body() = answer.body;
      response.keep_alive(!answer.close);
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || answer.close || answer.silentClose) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    std::lock_guard lock(mutex_);
    std::erase(openFds_, socket.native_handle());
    socket.close(ignored);
    closed_.notify_all();
  }

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  int port_ = 0;
  std::thread acceptThread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  mutable std::condition_variable closed_;
  bool stopped_ = false;
  std::vector<int> openFds_;
  std::vector<std::thread> connectionThreads_;
  std::vector<StubRequest> requests_;
  std::atomic<int> connections_{0};
};

}  // namespace mlaas::test
