// A fixed-size pool of worker threads with a FIFO task queue. The owner of a pool decides how
// many threads it has; nothing in mlaas starts threads behind the caller's back
// (docs/architecture.md#threads lists every owner).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace mlaas::core {

class ThreadPool {
 public:
  /// threads == 0 means "run every task inline in the caller" (useful for 1-thread reads).
  explicit ThreadPool(std::size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  [[nodiscard]] std::size_t size() const noexcept { return workers_.size(); }

  /// Queues fn; the future carries its result or exception.
  template <class F>
  auto submit(F&& fn) -> std::future<std::invoke_result_t<std::decay_t<F>>> {
    using R = std::invoke_result_t<std::decay_t<F>>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    auto future = task->get_future();
    if (workers_.empty()) {
      (*task)();
      return future;
    }
    enqueue([task] { (*task)(); });
    return future;
  }

  /// Runs body(i) for i in [0, count), spread over the workers and the calling thread; returns
  /// when all are done and rethrows the first exception.
  void parallelFor(std::size_t count, const std::function<void(std::size_t)>& body);

  /// Hardware threads, at least 1.
  static std::size_t hardwareThreads() noexcept;

 private:
  void enqueue(std::function<void()> job);
  void workerLoop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace mlaas::core
