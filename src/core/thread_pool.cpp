#include "core/thread_pool.hpp"

#include <array>
#include <chrono>
#include <exception>

namespace mlaas::core {

namespace {

inline void cpuRelax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// How long an idle worker keeps looking for work before it sleeps: long enough to span the serial
/// part between two parallel loops of a chunked read (planning, appending pieces: tens of us),
/// short enough to cost nothing that matters on a machine shared with other work.
constexpr auto kWorkerSpin = std::chrono::microseconds(50);

/// Spins (pause) until pred() or `limit` has passed; true when pred() held.
template <class Pred>
bool spinUntil(Pred pred, std::chrono::microseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (pred()) return true;
      cpuRelax();
    }
    if (std::chrono::steady_clock::now() - start > limit) return pred();
  }
}

}  // namespace

/// One parallel loop, on its caller's stack. Workers reach it only between joinLoop's increment of
/// inLoop_ and its decrement, and the caller does not return before inLoop_ is back to zero.
struct ThreadPool::Loop {
  /// The indices of a part not claimed yet, [base + front, base + back), front and back packed in
  /// one word: its participant claims from the front, a helper from the back. A helper then takes
  /// the part's last indices, the same ones call after call when the parts' costs are off the
  /// same way each time, and the indices a thread runs (the data it writes) stay on its core.
  struct alignas(64) Part {
    std::atomic<std::uint64_t> range{0};  // front in the low 32 bits, back in the high 32
    std::size_t base = 0;

    static constexpr std::uint64_t pack(std::uint64_t front, std::uint64_t back) noexcept { return back << 32 | front; }
    bool claim(bool fromBack, std::size_t& index) noexcept {
      std::uint64_t r = range.load(std::memory_order_relaxed);
      for (;;) {
        const std::uint64_t front = r & 0xffffffffu, back = r >> 32;
        if (front >= back) return false;
        const std::uint64_t next = fromBack ? pack(front, back - 1) : pack(front + 1, back);
        if (range.compare_exchange_weak(r, next, std::memory_order_relaxed)) {
          index = base + (fromBack ? back - 1 : front);
          return true;
        }
      }
    }
  };
  static constexpr std::size_t kInlineParts = 8;
  static constexpr std::size_t kMaxPartSize = 0xffffffffu;

  std::uint64_t serial = 0;  // a worker joins each loop once (loops reuse the caller's frame)
  void* body = nullptr;
  void (*call)(void*, std::size_t) = nullptr;
  std::span<Part> parts;
  alignas(64) std::atomic<std::size_t> participants{1};  // the caller is participant 0
  std::mutex errorMutex;
  std::exception_ptr firstError;

  /// Participant p's share: its own part first, in order, then what is left of the others, in
  /// turn, from their ends (with one part, as parallelFor makes, everyone claims in order).
  void work(std::size_t p) noexcept {
    const std::size_t n = parts.size();
    for (std::size_t k = 0; k < n; ++k) {
      auto& part = parts[(p + k) % n];
      // Its own part (a worker beyond the parts: part p mod n, like any participant of a plain
      // parallelFor, which claims in order whoever it is) from the front, the others from the back.
      const bool fromBack = k != 0;
      for (std::size_t i = 0; part.claim(fromBack, i);) {
        try {
          call(body, i);
        } catch (...) {
          std::lock_guard lock(errorMutex);
          if (!firstError) firstError = std::current_exception();
        }
      }
    }
  }
};

/// loop_ holds this while a loop's caller waits for the workers inside it: a worker that looks
/// then leaves at once, and no other caller can publish a loop before they are out.
ThreadPool::Loop ThreadPool::closedLoop_;

ThreadPool::ThreadPool(std::size_t threads) {
  workers_.reserve(threads);
  try {
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
  } catch (...) {  // the system refused a thread: stop and join those started, as the destructor
    stopping_.store(true);  // would (destroying a joinable std::thread aborts the process)
    signal();
    for (auto& worker : workers_) worker.join();
    throw;
  }
}

ThreadPool::~ThreadPool() {
  stopping_.store(true);
  signal();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::signal() {
  signal_.fetch_add(1);
  signal_.notify_all();  // no system call when no worker sleeps (libstdc++ counts its waiters)
}

void ThreadPool::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
    queued_.fetch_add(1);
  }
  signal();
}

bool ThreadPool::joinLoop(std::uint64_t& lastSerial) {
  // Announce first, look second (both sequentially consistent): either the caller's close comes
  // later and it waits for us, or we see it closed and never touch its loop.
  inLoop_.fetch_add(1);
  Loop* loop = loop_.load();
  const bool joined = loop != nullptr && loop != &closedLoop_ && loop->serial != lastSerial;
  if (joined) {
    lastSerial = loop->serial;
    loop->work(loop->participants.fetch_add(1, std::memory_order_relaxed));
  }
  if (inLoop_.fetch_sub(1) == 1) inLoop_.notify_all();
  return joined;
}

void ThreadPool::workerLoop() {
  std::uint64_t lastSerial = 0;  // the last loop joined: its indices are all claimed once we are back
  for (;;) {
    const auto seen = signal_.load();
    const Loop* open = loop_.load(std::memory_order_relaxed);
    if (open != nullptr && open != &closedLoop_ && joinLoop(lastSerial)) continue;
    if (queued_.load() > 0) {
      std::function<void()> job;
      {
        std::lock_guard lock(mutex_);
        if (!queue_.empty()) {
          job = std::move(queue_.front());
          queue_.pop_front();
          queued_.fetch_sub(1);
        }
      }
      if (job) job();
      continue;
    }
    if (stopping_.load()) return;  // stopping and the queue drained
    if (!spinUntil([&] { return signal_.load(std::memory_order_relaxed) != seen; }, kWorkerSpin)) signal_.wait(seen);
  }
}

void ThreadPool::run(std::span<const std::size_t> cuts, void* body, void (*call)(void*, std::size_t)) {
  const std::size_t count = cuts.empty() ? 0 : cuts.back();
  if (count == 0) return;
  auto inline_ = [&] {
    for (std::size_t i = 0; i < count; ++i) call(body, i);
  };
  // No workers, or nothing to share, or the pool busy with a loop (nested or another thread's).
  if (workers_.empty() || count == 1 || loop_.load(std::memory_order_relaxed) != nullptr) return inline_();
  Loop loop;
  std::array<Loop::Part, Loop::kInlineParts> inlineParts;
  std::unique_ptr<Loop::Part[]> manyParts;
  const std::size_t partCount = cuts.size() - 1;
  if (partCount > inlineParts.size()) manyParts = std::make_unique<Loop::Part[]>(partCount);
  loop.parts = {manyParts ? manyParts.get() : inlineParts.data(), partCount};
  for (std::size_t p = 0; p < partCount; ++p) {
    // A part of 2^32 indices or more (never in mlaas) does not fit the packed claim: run inline.
    if (cuts[p + 1] - cuts[p] > Loop::kMaxPartSize) return inline_();
    loop.parts[p].base = cuts[p];
    loop.parts[p].range.store(Loop::Part::pack(0, cuts[p + 1] - cuts[p]), std::memory_order_relaxed);
  }
  loop.body = body;
  loop.call = call;
  loop.serial = nextSerial_.fetch_add(1, std::memory_order_relaxed);
  Loop* expected = nullptr;
  if (!loop_.compare_exchange_strong(expected, &loop)) return inline_();  // lost a race for the pool
  signal();
  loop.work(0);
  // Every index is claimed. Close the loop, then wait for the workers that joined in time (they
  // are finishing their last index); one that wakes now sees it closed and leaves.
  loop_.store(&closedLoop_);
  for (std::size_t v = inLoop_.load(); v != 0; v = inLoop_.load())
    if (!spinUntil([&] { return inLoop_.load(std::memory_order_relaxed) == 0; }, std::chrono::microseconds(20)))
      inLoop_.wait(v);
  loop_.store(nullptr);
  if (loop.firstError) std::rethrow_exception(loop.firstError);
}

std::size_t ThreadPool::hardwareThreads() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace mlaas::core
