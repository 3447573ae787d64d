// A TCP proxy on loopback that delays every byte by a fixed one-way latency in each direction, so
// a request/response exchange costs 2 x delay more than on plain loopback. It stands in for
// `tc netem`, which this sandbox's kernel lacks. Latency only: no bandwidth cap, and the proxy
// buffers without limit (it models a long path, not a slow one).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mlaas::bench {

class DelayProxy {
 public:
  DelayProxy(int targetPort, std::chrono::microseconds oneWayDelay) : target_(targetPort), delay_(oneWayDelay) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = loopback(0);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 64) != 0) {
      throw std::runtime_error("DelayProxy: cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~DelayProxy() {
    stopping_ = true;
    ::shutdown(listen_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_);
    std::lock_guard lock(mutex_);
    for (auto& pipe : pipes_) pipe->stop();
    pipes_.clear();
    for (int fd : sockets_) ::close(fd);
  }
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
  }

  /// One direction of one connection: a reader stamps chunks, a writer sends them when due.
  class Pipe {
   public:
    Pipe(int from, int to, std::chrono::microseconds delay) : from_(from), to_(to), delay_(delay) {
      reader_ = std::thread([this] { readLoop(); });
      writer_ = std::thread([this] { writeLoop(); });
    }
    void stop() {
      ::shutdown(from_, SHUT_RDWR);
      ::shutdown(to_, SHUT_RDWR);
      {
        std::lock_guard lock(mutex_);
        closed_ = true;
      }
      wake_.notify_all();
      reader_.join();
      writer_.join();
    }

   private:
    using Clock = std::chrono::steady_clock;
    void readLoop() {
      std::vector<char> buffer(256 * 1024);
      for (;;) {
        const auto n = ::recv(from_, buffer.data(), buffer.size(), 0);
        std::lock_guard lock(mutex_);
        if (n <= 0) {
          closed_ = true;
          wake_.notify_all();
          return;
        }
        queue_.push_back({Clock::now() + delay_, std::string(buffer.data(), static_cast<std::size_t>(n))});
        wake_.notify_all();
      }
    }
    void writeLoop() {
      std::unique_lock lock(mutex_);
      for (;;) {
        wake_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) {
          ::shutdown(to_, SHUT_WR);  // pass the half-close on
          return;
        }
        const auto due = queue_.front().first;
        if (Clock::now() < due) {
          wake_.wait_until(lock, due);
          continue;
        }
        std::string chunk = std::move(queue_.front().second);
        queue_.pop_front();
        lock.unlock();
        std::size_t sent = 0;
        while (sent < chunk.size()) {
          const auto n = ::send(to_, chunk.data() + sent, chunk.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<std::size_t>(n);
        }
        lock.lock();
        if (sent < chunk.size()) {
          closed_ = true;
          queue_.clear();
        }
      }
    }
    int from_, to_;
    std::chrono::microseconds delay_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<Clock::time_point, std::string>> queue_;
    bool closed_ = false;
    std::thread reader_, writer_;
  };

  void acceptLoop() {
    while (!stopping_) {
      pollfd pfd{listen_, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      const int client = ::accept(listen_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr = loopback(target_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      const int one = 1;
      ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      pipes_.push_back(std::make_unique<Pipe>(client, server, delay_));
      pipes_.push_back(std::make_unique<Pipe>(server, client, delay_));
      sockets_.insert(sockets_.end(), {client, server});
    }
  }

  int target_;
  std::chrono::microseconds delay_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Pipe>> pipes_;
  std::vector<int> sockets_;
};

}  // namespace mlaas::bench
