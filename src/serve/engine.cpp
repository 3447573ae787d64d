#include "serve/engine.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mlaas::serve {

// ---- ModelCache ------------------------------------------------------------------------------

ModelCache::ModelCache(const Repository& repository, std::size_t budgetBytes)
    : repository_(repository), budgetBytes_(budgetBytes) {}

namespace {
/// The cache key of a version, written into `out`. The digest makes a re-created model with a
/// reused version number a different entry.
const std::string& cacheKey(const VersionRecord& version, std::string& out) {
  out.clear();
  fmt::format_to(std::back_inserter(out), "{}/{}#{}", version.name, version.version, version.sha256);
  return out;
}
}  // namespace

core::Result<std::shared_ptr<const LoadedModel>> ModelCache::get(const VersionRecord& version) {
  // Every inference request comes here: the key is formatted into a reused per-thread buffer, and
  // the promise that publishes a load is made only on a miss (both were heap allocations).
  thread_local std::string lookupKey;
  const std::string& key = cacheKey(version, lookupKey);
  std::optional<std::promise<core::Result<std::shared_ptr<const LoadedModel>>>> promise;
  std::string ownKey;
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      auto future = it->second.model;
      if (future.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return future.get();
      // another thread is loading it: wait outside the lock
      mutex_.unlock();
      auto result = future.get();
      mutex_.lock();
      return result;
    }
    ownKey = key;  // the thread's buffer is reused by the load below (a nested get for another model)
    promise.emplace();
    Entry entry;
    entry.name = version.name;
    entry.version = version.version;
    entry.model = promise->get_future().share();
    lru_.push_front(ownKey);
    entry.lru = lru_.begin();
    entries_.emplace(ownKey, std::move(entry));
  }
  core::Result<std::shared_ptr<const LoadedModel>> result = [&]() -> core::Result<std::shared_ptr<const LoadedModel>> {
    auto bytes = repository_.readModelFile(version);
    if (!bytes) return core::fail(bytes.error());
    return LoadedModel::load(*bytes, version.label());
  }();
  promise->set_value(result);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(ownKey);
  if (it != entries_.end()) {
    if (!result) {
      lru_.erase(it->second.lru);
      entries_.erase(it);
    } else {
      it->second.bytes = (*result)->memoryBytes();
      bytes_ += it->second.bytes;
      evictLocked(ownKey);
    }
  }
  return result;
}

void ModelCache::evictLocked(const std::string& keep) {
  while (bytes_ > budgetBytes_ && lru_.size() > 1) {
    auto victim = std::prev(lru_.end());
    if (*victim == keep) break;
    auto it = entries_.find(*victim);
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    lru_.erase(victim);
  }
}

bool ModelCache::isLoaded(const VersionRecord& version) const {
  std::string key;
  cacheKey(version, key);
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.bytes > 0;
}

void ModelCache::unload(std::string_view name, std::int64_t version) {
  std::lock_guard lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.name == name && (version == 0 || it->second.version == version) && it->second.bytes > 0) {
      bytes_ -= it->second.bytes;
      lru_.erase(it->second.lru);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t ModelCache::loadedCount() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const auto& e) { return e.second.bytes > 0; }));
}

std::size_t ModelCache::loadedBytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

// ---- Scheduler -------------------------------------------------------------------------------

Scheduler::Scheduler(std::size_t threads, std::size_t maxQueuePerModel)
    : maxQueue_(std::max<std::size_t>(1, maxQueuePerModel)) {
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

namespace {
/// A request's rows when its batch may merge with others (every input has them first), else -1.
std::int64_t jobRows(const std::vector<Tensor>& inputs, bool batchable) {
  if (!batchable || inputs.empty()) return -1;
  const std::int64_t rows = inputs[0].shape[0];
  for (const auto& t : inputs)
    if (t.shape.empty() || t.shape[0] != rows) return -1;
  return rows;
}

/// The rows a job counts for in a batch: its own, or 1 when they are unknown (-1) or none.
std::int64_t countedRows(std::int64_t rows) {
  return std::max<std::int64_t>(rows, 1);
}

constexpr std::string_view kInferenceFailed = "inference failed: ";
/// Every request refused or dropped unrun because the scheduler stops says so, the same way.
constexpr std::string_view kShuttingDown = "the server is shutting down";

/// A request refused because its model already has `waiting` requests queued (both paths: the
/// I/O thread's round and the inference threads' queue).
core::Error queueFull(const LoadedModel& model, std::size_t waiting) {
  return core::Error{core::Errc::resource_exhausted,
                     fmt::format("model {}: inference queue is full ({} requests waiting); retry later",
                                 model.label(), waiting)};
}
}  // namespace

bool Scheduler::compatible(const Job& a, const Job& b) {
  if (a.rows < 0 || b.rows < 0) return false;
  for (std::size_t i = 0; i < a.inputs.size(); ++i)
    if (!std::equal(a.inputs[i].shape.begin() + 1, a.inputs[i].shape.end(), b.inputs[i].shape.begin() + 1,
                    b.inputs[i].shape.end()))
      return false;
  return true;
}

thread_local Scheduler::Round* Scheduler::currentRound_ = nullptr;

void Scheduler::runSmallBatchesOnIoThreads(RoundDeferrer defer, std::chrono::microseconds maxRunTime,
                                           std::int64_t flushRows) {
  roundDeferrer_ = defer;
  roundMaxRunTime_ = maxRunTime;
  roundFlushRows_ = flushRows;
}

bool Scheduler::roundEligible(const LoadedModel& model, const BatchingPolicy& policy) const {
  if (!roundDeferrer_) return false;
  if (workers_.empty()) return true;  // inline scheduling: every request runs on its I/O thread
  // A queue delay asks for a waiting window only the inference threads give; a pause must hold
  // every request in the queues; an expensive model would stall the I/O thread's other
  // connections for the length of its batch, and one never run yet may be one (its first run, on
  // an inference thread, tells).
  auto typical = model.typicalRunTime();
  return policy.maxQueueDelayUs == 0 && !paused_.load(std::memory_order_relaxed) && typical.count() > 0 &&
         typical < roundMaxRunTime_;
}

core::Result<bool> Scheduler::addToRound(const std::shared_ptr<const LoadedModel>& model, const BatchingPolicy& policy,
                                         Job& job) {
  Round* round = currentRound_;
  if (!round || round->owner != this) {
    auto fresh = std::make_shared<Round>();
    fresh->owner = this;
    std::function<void()> task = [fresh] {
      if (currentRound_ == fresh.get()) currentRound_ = nullptr;  // later requests start the next round
      runRound(*fresh);
    };
    if (!roundDeferrer_(task)) return false;
    currentRound_ = round = fresh.get();
  }
  auto group =
      std::find_if(round->groups.begin(), round->groups.end(), [&](const Round::Group& g) { return g.model == model; });
  if (group == round->groups.end()) {
    round->groups.push_back({model, policy, {}});
    group = std::prev(round->groups.end());
  }
  if (group->jobs.size() >= maxQueue_) return core::fail(queueFull(*model, group->jobs.size()));
  group->jobs.push_back(std::move(job));  // the last step that can throw: the job is the caller's until here
  group->rows += countedRows(group->jobs.back().rows);
  if (roundFlushRows_ > 0 && group->rows >= roundFlushRows_) {
    // Run this part of the round now: the responses reach the client while the thread reads the
    // rest of the round's requests, instead of all at the end. Nothing here reads new requests,
    // so the round cannot change while the batch runs.
    std::vector<Job> jobs = std::move(group->jobs);
    group->jobs.clear();
    group->rows = 0;
    runGroup(*model, policy, jobs);
  }
  return true;
}

Scheduler::Round::~Round() {
  if (currentRound_ == this) currentRound_ = nullptr;  // destroyed on its own thread: the next request starts a new one
  const auto now = Clock::now();
  for (auto& group : groups)
    for (auto& job : group.jobs) answerShuttingDown(*group.model, job, now);
}

void Scheduler::runRound(Round& round) {
  for (auto& group : round.groups) runGroup(*group.model, group.policy, group.jobs);
}

template <class JobIt>
JobIt Scheduler::batchEnd(std::span<const Job> batch, JobIt next, JobIt end, std::int64_t& rows, std::int64_t maxRows) {
  const Job* first = batch.empty() ? nullptr : &batch.front();
  for (; next != end; ++next) {
    if (first && (first->rows < 0 || rows >= maxRows || !compatible(*first, *next) || rows + next->rows > maxRows))
      break;
    if (!first) first = &*next;
    rows += countedRows(next->rows);
  }
  return next;
}

bool Scheduler::batchClosed(std::span<const Job> batch, std::int64_t rows, std::int64_t maxRows) {
  return !batch.empty() && (batch.front().rows < 0 || rows >= maxRows);
}

void Scheduler::runGroup(const LoadedModel& model, const BatchingPolicy& policy, std::vector<Job>& jobs) {
  const std::int64_t maxRows = std::max<std::int64_t>(1, policy.maxBatchSize);
  // Each batch runs where its jobs lie, a stretch of the group: nothing here allocates, so no job
  // of the round can be dropped unanswered on the way to execute.
  for (auto next = jobs.begin(); next != jobs.end();) {
    std::int64_t rows = 0;
    auto stop = batchEnd({}, next, jobs.end(), rows, maxRows);
    execute(model, std::span<Job>(next, stop), Clock::now());
    next = stop;
  }
  jobs.clear();
}

core::Result<void> Scheduler::submit(std::shared_ptr<const LoadedModel> model, const BatchingPolicy& policy,
                                     std::vector<Tensor> inputs, InferenceCallback done) {
  Job job;
  job.enqueued = Clock::now();
  job.rows = jobRows(inputs, model->batchable());  // as the queue and the rounds count them
  job.inputs = std::move(inputs);
  job.done = std::move(done);
  // Inline scheduling takes every model into rounds; with inference threads only batchable ones.
  if (roundEligible(*model, policy) && (model->batchable() || workers_.empty())) {
    auto added = addToRound(model, policy, job);
    if (!added) return core::fail(added.error());
    if (*added) return {};
    // not an I/O thread: take the usual way
  }
  if (workers_.empty()) {
    execute(*model, std::span<Job>(&job, 1), Clock::now());
    return {};
  }
  std::unique_lock lock(mutex_);
  auto [slot, created] = queues_.try_emplace(model.get());
  if (created) {
    try {
      slot->second = std::make_shared<Queue>();
      slot->second->model = model;
      ready_.reserve(queues_.size());  // so that a worker puts any queue back without allocating
    } catch (...) {
      queues_.erase(slot);
      throw;
    }
  }
  Queue& queue = *slot->second;
  queue.policy = policy;
  if (stopping_) return core::fail(core::Errc::unavailable, std::string(kShuttingDown));
  if (queue.jobs.size() >= maxQueue_) return core::fail(queueFull(*model, queue.jobs.size()));
  queue.jobs.push_back(std::move(job));  // the last step that can throw
  ++queued_;
  // Wake a worker only when the queue becomes ready. While it already is, the worker woken for
  // it (or one that is busy and checks ready_ before sleeping) takes this request along; waking
  // a second thread would find nothing to do and cost a futex wake, two context switches and a
  // core the I/O threads need (bench/RESULTS.md, "Hand-offs and batch formation").
  bool newlyReady = !queue.scheduled;
  if (newlyReady) {
    queue.scheduled = true;
    ready_.push_back(slot->second);
  }
  bool collectorMayWait = policy.maxQueueDelayUs > 0;
  lock.unlock();
  // A worker holding an under-full batch waits on the same condition; wake everyone only then.
  if (collectorMayWait)
    wake_.notify_all();
  else if (newlyReady)
    wake_.notify_one();
  return {};
}

void Scheduler::pause() {
  std::lock_guard lock(mutex_);
  paused_ = true;
}

void Scheduler::resume() {
  {
    std::lock_guard lock(mutex_);
    paused_ = false;
  }
  wake_.notify_all();
}

void Scheduler::abandonQueued() noexcept {
  std::vector<std::shared_ptr<const LoadedModel>> models;  // kept alive while their jobs are answered
  std::vector<std::pair<std::size_t, Job>> abandoned;      // (index into models, job)
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    std::size_t count = 0;
    for (const auto& entry : queues_) count += entry.second->jobs.size();
    try {
      models.reserve(queues_.size());
      abandoned.reserve(count);
    } catch (const std::bad_alloc&) {
      return;  // the queued requests then run, as without this call (the destructor waits for them)
    }
    // Taken out under the lock (moving a job cannot throw): a worker collecting a batch during its
    // queue delay reads the same queue, finds it empty and runs what it holds.
    for (auto& [key, queue] : queues_) {
      if (queue->jobs.empty()) continue;
      models.push_back(queue->model);
      for (auto& job : queue->jobs) abandoned.emplace_back(models.size() - 1, std::move(job));
      queue->jobs.clear();
    }
    for (auto& queue : ready_) queue->scheduled = false;  // a worker must not take an empty queue
    ready_.clear();
    queued_ = 0;
  }
  wake_.notify_all();
  const auto now = Clock::now();
  for (auto& [model, job] : abandoned) answerShuttingDown(*models[model], job, now);
}

std::size_t Scheduler::queued() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

void Scheduler::workerLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || (!paused_ && !ready_.empty()); });
    if (ready_.empty()) {
      if (stopping_) return;
      continue;
    }
    auto queue = std::move(ready_.front());
    ready_.erase(ready_.begin());
    const LoadedModel& model = *queue->model;
    std::vector<Job> batch;
    std::int64_t rows = 0;
    const std::int64_t maxRows = model.batchable() ? std::max<std::int64_t>(1, queue->policy.maxBatchSize) : 1;
    // Moves the jobs that can join from the front of the queue into the batch; true: it is full.
    // Only making room in the batch can throw, before anything moved; `joining` jobs at the front
    // of the queue were to join it then.
    std::size_t joining = 0;
    std::int64_t joinedRows = 0;
    auto collect = [&] {
      auto& jobs = queue->jobs;
      joinedRows = rows;
      const auto stop = batchEnd(batch, jobs.begin(), jobs.end(), joinedRows, maxRows);
      joining = static_cast<std::size_t>(stop - jobs.begin());
      // Grows as push_back would: a batch filled during the queue delay, a few jobs per wake,
      // must not move all of its jobs again under the lock at each wake.
      batch.reserve(std::max(batch.size() + joining, 2 * batch.size()));
      std::move(jobs.begin(), stop, std::back_inserter(batch));
      jobs.erase(jobs.begin(), stop);
      queued_ -= std::exchange(joining, 0);
      rows = joinedRows;
      return !jobs.empty() || batchClosed(batch, rows, maxRows);
    };
    try {
      bool full = collect();
      if (!full && queue->policy.maxQueueDelayUs > 0 && maxRows > 1) {
        auto deadline = batch.front().enqueued + std::chrono::microseconds(queue->policy.maxQueueDelayUs);
        while (!full && !stopping_ && Clock::now() < deadline) {
          wake_.wait_until(lock, deadline);
          full = collect();
        }
      }
    } catch (const std::exception& e) {
      // The batch could not be formed (std::bad_alloc): its requests get the error, as when a run
      // throws, each answered outside the lock, and the queue's other requests go on as usual.
      const auto failedAt = Clock::now();
      const auto failedRows = static_cast<std::size_t>(joinedRows);
      for (; joining > 0; --joining) {
        Job job = std::move(queue->jobs.front());
        queue->jobs.pop_front();
        --queued_;
        lock.unlock();
        answerError(model, job, core::Errc::internal, kInferenceFailed, e.what(), failedAt, failedRows);
        lock.lock();
      }
      lock.unlock();
      for (auto& job : batch)
        answerError(model, job, core::Errc::internal, kInferenceFailed, e.what(), failedAt, failedRows);
      batch.clear();
      lock.lock();
    }
    if (!queue->jobs.empty()) {
      ready_.push_back(queue);  // within the capacity submit keeps for every queue: cannot throw
    } else {
      // Drop idle queues so an unloaded or evicted model is freed once its last request is done.
      queue->scheduled = false;
      queues_.erase(queue->model.get());
    }
    bool moreWork = !ready_.empty();
    lock.unlock();
    if (moreWork) wake_.notify_one();
    if (!batch.empty()) execute(model, batch, Clock::now());
    batch.clear();  // callbacks and tensors released outside the lock
    lock.lock();
  }
}

void Scheduler::answer(const LoadedModel& model, Job& job, core::Result<std::vector<Tensor>> result,
                       Clock::time_point started, Clock::time_point end, std::size_t batchRows) noexcept {
  InferenceTiming timing;
  timing.queue = started - job.enqueued;
  timing.compute = end - started;
  timing.batchRows = batchRows;
  timing.rows = static_cast<std::size_t>(countedRows(job.rows));
  try {
    job.done(std::move(result), timing);
  } catch (const std::exception& e) {
    // Only this job's answer may be lost: the batch's other jobs still get theirs, and nothing
    // escapes to the thread (where it would end the process).
    spdlog::error("model {}: answering a request: {}", model.label(), e.what());
  } catch (...) {
    spdlog::error("model {}: answering a request: unknown exception", model.label());
  }
}

void Scheduler::answerError(const LoadedModel& model, Job& job, core::Errc code, std::string_view what,
                            std::string_view detail, Clock::time_point started, std::size_t batchRows) noexcept {
  std::string message;
  try {
    message = fmt::format("model {}: {}{}", model.label(), what, detail);
  } catch (...) {
    // still answered, with its code but without its text: the request must not hang
  }
  answer(model, job, core::fail(code, std::move(message)), started, Clock::now(), batchRows);
}

void Scheduler::answerShuttingDown(const LoadedModel& model, Job& job, Clock::time_point now) noexcept {
  answerError(model, job, core::Errc::unavailable, kShuttingDown, {}, now, 0);  // batch rows 0: never run
}

void Scheduler::execute(const LoadedModel& model, std::span<Job> batch, Clock::time_point started) noexcept {
  // What a run counts for (timings, /metrics) is the sum of its jobs' countedRows, as batch
  // formation counts them: a zero-row request is one row of its batch, whichever path runs it.
  // The merged run's tensors have the raw sum (totalRows) along their first dimension.
  std::size_t batchRows = 0;
  std::int64_t totalRows = 0;
  for (const auto& job : batch) {
    batchRows += static_cast<std::size_t>(countedRows(job.rows));
    totalRows += job.rows;
  }
  std::size_t answered = 0;  // jobs are answered in batch order
  auto finish = [&](Job& job, core::Result<std::vector<Tensor>> result, Clock::time_point end, std::size_t rows) {
    ++answered;
    answer(model, job, std::move(result), started, end, rows);
  };
  auto runAndAnswer = [&] {
    if (batch.size() == 1) {
      auto result = model.run(batch[0].inputs);
      finish(batch[0], std::move(result), Clock::now(), batchRows);
      return;
    }
    // One run over the jobs' inputs merged along the first dimension. They stay the jobs' own: a
    // model whose outputs are not per row runs each job's inputs again.
    std::vector<std::span<const Tensor>> requests;
    requests.reserve(batch.size());
    for (const auto& job : batch) requests.emplace_back(job.inputs);
    auto result = model.runConcatenated(requests);
    auto end = Clock::now();
    if (!result) {
      for (auto& job : batch) finish(job, core::fail(result.error()), end, batchRows);
      return;
    }
    for (const auto& out : *result) {
      if (out.shape.empty() || out.shape[0] != totalRows) {
        // The model does not map rows to rows: fall back to one run per request, each a batch
        // of its own.
        for (auto& job : batch) {
          auto single = model.run(job.inputs);
          finish(job, std::move(single), Clock::now(), static_cast<std::size_t>(countedRows(job.rows)));
        }
        return;
      }
    }
    std::int64_t offset = 0;
    for (auto& job : batch) {
      std::vector<Tensor> outputs;
      outputs.reserve(result->size());
      for (auto& out : *result) {
        Tensor part;
        part.name = out.name;
        part.type = out.type;
        part.shape = out.shape;
        part.shape[0] = job.rows;
        std::int64_t perRow = 1;
        for (std::size_t d = 1; d < out.shape.size(); ++d) perRow *= out.shape[d];
        if (out.type == DataType::bytes) {
          // Moved: each job takes its own rows, once.
          part.strings.assign(std::make_move_iterator(out.strings.begin() + offset * perRow),
                              std::make_move_iterator(out.strings.begin() + (offset + job.rows) * perRow));
        } else {
          auto rowBytes = static_cast<std::size_t>(perRow) * elementSize(out.type);
          part.data.assign(out.data.begin() + static_cast<std::ptrdiff_t>(offset * rowBytes),
                           out.data.begin() + static_cast<std::ptrdiff_t>((offset + job.rows) * rowBytes));
        }
        outputs.push_back(std::move(part));
      }
      offset += job.rows;
      finish(job, std::move(outputs), end, batchRows);
    }
  };
  // A run can still throw outside ONNX Runtime (std::bad_alloc copying a large batch's outputs).
  // The requests not answered yet get the error: on an inference thread the exception would end
  // the process, on an I/O thread its event loop, and the requests would never be answered.
  auto failRest = [&](const char* what) noexcept {
    for (std::size_t i = answered; i < batch.size(); ++i)
      answerError(model, batch[i], core::Errc::internal, kInferenceFailed, what, started, batchRows);
  };
  try {
    runAndAnswer();
  } catch (const std::exception& e) {
    failRest(e.what());
  } catch (...) {
    failRest("unknown exception");
  }
}

}  // namespace mlaas::serve
