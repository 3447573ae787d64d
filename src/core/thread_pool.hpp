// A fixed-size pool of worker threads: a FIFO task queue (submit) and parallel loops
// (parallelFor, parallelForParts). The owner of a pool decides how many threads it has; nothing in
// mlaas starts threads behind the caller's back (docs/architecture.md#threads lists every owner).
//
// Parallel loops are built for many short calls (a ROOT read of a small file is ~30 us): the
// caller publishes one loop at a time with no allocation, wakes the workers once (none sleeping:
// no system call), works through the indices itself, and waits only for the workers that joined
// in time; a worker that wakes after the caller has claimed every index is not waited for. Idle
// workers spin for a short while before sleeping, so back-to-back loops find them awake.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
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

  /// Runs body(i) for i in [0, count), spread over the workers and the calling thread (each index
  /// claimed by whoever is free); returns when all are done and rethrows the first exception. With
  /// workers the other indices still run (the workers cannot be stopped); a loop run inline (see
  /// parallelForParts) stops at the exception, like a plain for loop.
  template <class F>
  void parallelFor(std::size_t count, F&& body) {
    const std::size_t cuts[2] = {0, count};
    parallelForParts(cuts, std::forward<F>(body));
  }

  /// parallelFor over consecutive parts [cuts[p], cuts[p + 1]) (cuts ascending, from 0 to the
  /// count): participant p (the caller is 0, workers 1.. in the order they join) works through
  /// part p in order, then helps with the others from their ends (so a part's owner keeps its
  /// front, and what a helper takes is the same last indices call after call). Parts of equal
  /// cost keep each thread on the same share of the data call after call (its caches stay warm)
  /// and claim indices without touching another thread's cache line. One part means "one index at
  /// a time, in order, to whoever is free".
  /// Runs everything on the caller when the pool has no workers, when there is one index, or when
  /// the pool is already running a loop (a nested call, or another thread's).
  template <class F>
  void parallelForParts(std::span<const std::size_t> cuts, F&& body) {
    using Body = std::remove_reference_t<F>;
    run(cuts, const_cast<void*>(static_cast<const void*>(&body)),
        [](void* b, std::size_t i) { (*static_cast<Body*>(b))(i); });
  }

  /// Hardware threads, at least 1.
  static std::size_t hardwareThreads() noexcept;

 private:
  struct Loop;
  void run(std::span<const std::size_t> cuts, void* body, void (*call)(void*, std::size_t));
  bool joinLoop(std::uint64_t& lastSerial);
  void enqueue(std::function<void()> job);
  void workerLoop();
  void signal();

  // Queued tasks (submit).
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
  std::atomic<std::size_t> queued_{0};
  // The loop being run (null: none; &closedLoop_ while its caller waits for the workers that joined),
  // and how many workers are inside it or about to look at it.
  std::atomic<Loop*> loop_{nullptr};
  std::atomic<std::size_t> inLoop_{0};
  static Loop closedLoop_;
  std::atomic<std::uint64_t> nextSerial_{1};
  // Bumped for every event a worker must look at (a loop, a task, stopping); sleepers wait on it.
  std::atomic<std::uint32_t> signal_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace mlaas::core
