// Inference execution: the cache of loaded ONNX Runtime sessions (memory budget, LRU) and the
// scheduler that owns the inference threads and merges concurrent requests into batches.
// These two are the only owners of inference work; I/O threads only decode and encode.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "serve/repository.hpp"
#include "serve/runtime.hpp"

namespace mlaas::serve {

class ModelCache {
 public:
  ModelCache(const Repository& repository, std::size_t budgetBytes);

  /// The loaded session of a version, loading it on a miss (concurrent callers share one load).
  /// Evicts least recently used sessions beyond the budget; evicted sessions stay alive while
  /// requests hold them.
  core::Result<std::shared_ptr<const LoadedModel>> get(const VersionRecord& version);
  [[nodiscard]] bool isLoaded(const VersionRecord& version) const;
  /// Drops a version (or, with version == 0, every version of the name) from memory.
  void unload(std::string_view name, std::int64_t version = 0);
  [[nodiscard]] std::size_t loadedCount() const;
  [[nodiscard]] std::size_t loadedBytes() const;

 private:
  struct Entry {
    std::string name;
    std::int64_t version = 0;
    std::shared_future<core::Result<std::shared_ptr<const LoadedModel>>> model;
    std::size_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  void evictLocked(const std::string& keep);

  const Repository& repository_;
  std::size_t budgetBytes_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // front = most recently used
  std::size_t bytes_ = 0;
};

struct InferenceTiming {
  std::chrono::nanoseconds queue{0};
  std::chrono::nanoseconds compute{0};
  /// The rows of the run this request was part of, as batch formation counts them: each request
  /// its own rows, or 1 when it has none or they are unknown (not batchable).
  std::size_t batchRows = 0;
  std::size_t rows = 0;  ///< the request's own rows, counted the same way
};
/// Answers one request, on an inference or I/O thread, in the middle of a batch whose other
/// requests still wait for their answers. It should not throw; if it does, the scheduler logs the
/// exception and goes on with the batch (that request may be left without an answer).
using InferenceCallback = std::function<void(core::Result<std::vector<Tensor>>, const InferenceTiming&)>;

/// Takes `task` and runs it later on the calling thread, once the events that thread already
/// received are handled (the end of its event-loop round), and returns true; returns false on a
/// thread without such rounds. serve::deferToEndOfIoRound is the HTTP server's.
using RoundDeferrer = bool (*)(std::function<void()>& task);

class Scheduler {
 public:
  /// threads == 0 runs every request inline in the caller's thread (no batching).
  Scheduler(std::size_t threads, std::size_t maxQueuePerModel);
  ~Scheduler();  // finishes queued work, then joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Queues a request whose inputs already match the model's signature (matchInputs). Fails
  /// with resource_exhausted when the model's queue is full, and throws what an allocation
  /// throws before the request is queued; neither calls `done`. Otherwise `done` is called
  /// exactly once, on an inference thread (or inline), also when forming its batch or the run
  /// throws (an internal error then), or, unavailable without running at shutdown, where a
  /// round's task dropped unrun is destroyed or in the thread calling abandonQueued().
  core::Result<void> submit(std::shared_ptr<const LoadedModel> model, const BatchingPolicy& policy,
                            std::vector<Tensor> inputs, InferenceCallback done);

  [[nodiscard]] std::size_t threads() const noexcept { return workers_.size(); }

  /// Batches on the I/O threads (docs/serving.md#threads): a request submitted on a thread that
  /// `defer` accepts joins that thread's batch for the current event-loop round, run there at the
  /// end of the round, with no hand-off to another thread, when its model is batchable, its
  /// version asks for no queue delay and its recent runs took less than `maxRunTime` (inline
  /// scheduling: every request, whatever the model). Call before the first submit.
  /// A round's batch for one model that reaches `flushRows` rows runs at once, before the round
  /// ends, so that responses start flowing while the thread still reads the rest (0 = only at the end).
  void runSmallBatchesOnIoThreads(RoundDeferrer defer, std::chrono::microseconds maxRunTime,
                                  std::int64_t flushRows = 0);

  /// Operations hook (maintenance, embedding, tests): while paused, inference threads start no
  /// new batch; requests keep queueing up to the limit and are answered 429 beyond it.
  /// Stopping overrides a pause: the destructor still runs the queued work, unless abandonQueued()
  /// answered it first (Server::shutdown resumes, then abandons what the grace left queued). No
  /// effect on inline scheduling.
  void pause();
  void resume();
  /// Shutdown once its grace has run out: from now on submit refuses requests (unavailable), and
  /// every request still queued is answered unavailable, "the server is shutting down", without
  /// running (nothing would write its answer any more); batches already running finish. Call it
  /// once the I/O threads have stopped: their rounds do not pass through the queues.
  void abandonQueued() noexcept;
  /// Requests waiting in queues (not yet taken by an inference thread), over all models.
  [[nodiscard]] std::size_t queued() const;

 private:
  friend struct SchedulerTestPeer;  // tests/serve: sizeof(Job), to fail the allocation of a batch
  using Clock = std::chrono::steady_clock;
  struct Job {
    std::vector<Tensor> inputs;
    InferenceCallback done;
    Clock::time_point enqueued;
    std::int64_t rows = 0;  ///< first dimension, -1 when not batchable
  };
  // Moving jobs into a batch cannot fail once the batch has room (workerLoop relies on it).
  static_assert(std::is_nothrow_move_constructible_v<Job>);
  struct Queue {
    std::shared_ptr<const LoadedModel> model;
    BatchingPolicy policy;
    std::deque<Job> jobs;
    bool scheduled = false;  // in ready_ or being collected by a worker
  };
  /// The requests one I/O thread collected in its current event-loop round, by model.
  struct Round {
    Round() = default;
    Round(const Round&) = delete;
    Round& operator=(const Round&) = delete;
    /// Answers the requests of a round whose task never ran (an I/O thread stopped at shutdown
    /// destroys the tasks left in its event loop) with unavailable: each request is answered once.
    ~Round();
    const Scheduler* owner = nullptr;
    struct Group {
      std::shared_ptr<const LoadedModel> model;
      BatchingPolicy policy;
      std::vector<Job> jobs;
      std::int64_t rows = 0;
    };
    std::vector<Group> groups;
  };
  static thread_local Round* currentRound_;
  bool roundEligible(const LoadedModel& model, const BatchingPolicy& policy) const;
  /// Adds the job to this thread's round and returns true, or returns false (job untouched) on a
  /// thread without rounds.
  core::Result<bool> addToRound(const std::shared_ptr<const LoadedModel>& model, const BatchingPolicy& policy,
                                Job& job);
  static void runRound(Round& round);
  static void runGroup(const LoadedModel& model, const BatchingPolicy& policy, std::vector<Job>& jobs);
  void workerLoop();
  /// Batch formation, for the worker's queue and a round's group alike: how far from `next` the
  /// jobs of [next, end) can join a batch that holds `batch` (the same trailing dimensions as its
  /// first job, the rows staying within maxRows). Adds their rows to `rows`; moves nothing.
  template <class JobIt>
  static JobIt batchEnd(std::span<const Job> batch, JobIt next, JobIt end, std::int64_t& rows, std::int64_t maxRows);
  /// No later job can join: the first one is not batchable or the rows reached maxRows.
  static bool batchClosed(std::span<const Job> batch, std::int64_t rows, std::int64_t maxRows);
  /// Runs a batch and answers each job, in batch order; a run that throws answers the rest with
  /// an internal error. Never throws.
  static void execute(const LoadedModel& model, std::span<Job> batch, Clock::time_point started) noexcept;
  /// Gives a job its result. Never throws: a callback that throws loses only its own answer (it
  /// is logged), so the other jobs of a batch still get theirs.
  static void answer(const LoadedModel& model, Job& job, core::Result<std::vector<Tensor>> result,
                     Clock::time_point started, Clock::time_point end, std::size_t batchRows) noexcept;
  /// Answers a job with the error `code`, "model <label>: <what><detail>". Never throws.
  static void answerError(const LoadedModel& model, Job& job, core::Errc code, std::string_view what,
                          std::string_view detail, Clock::time_point started, std::size_t batchRows) noexcept;
  /// Answers a job that never ran, because the scheduler stops, with unavailable. Never throws.
  static void answerShuttingDown(const LoadedModel& model, Job& job, Clock::time_point now) noexcept;
  static bool compatible(const Job& a, const Job& b);

  std::size_t maxQueue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::unordered_map<const LoadedModel*, std::shared_ptr<Queue>> queues_;
  /// The queues with work, oldest first, each at most once. Its capacity covers every queue in
  /// queues_, so a worker puts a queue back without allocating (nothing can fail there).
  std::vector<std::shared_ptr<Queue>> ready_;
  bool stopping_ = false;
  std::atomic<bool> paused_{false};  // written under mutex_; read without it by the round path
  RoundDeferrer roundDeferrer_ = nullptr;
  std::chrono::nanoseconds roundMaxRunTime_{0};
  std::int64_t roundFlushRows_ = 0;
  std::size_t queued_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace mlaas::serve
