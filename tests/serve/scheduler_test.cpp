// The Scheduler on its own: the bounded queue answers "full" deterministically while the
// inference threads are paused, queued work runs once resumed, and paused queued requests meet
// in one batch; requests submitted on an I/O thread run as one batch at the end of its round.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "onnx_fixture.hpp"
#include "serve/engine.hpp"
#include "serve/runtime.hpp"

namespace mlaas::serve {
namespace {

/// `count` rows of `width` features, all `value`.
Tensor rows(std::int64_t count, std::int64_t width, float value) {
  Tensor t;
  t.name = "input";
  t.shape = {count, width};
  std::vector<float> values(static_cast<std::size_t>(count * width), value);
  const auto* bytes = reinterpret_cast<const std::byte*>(values.data());
  t.data.assign(bytes, bytes + values.size() * sizeof(float));
  return t;
}

struct Outcome {
  std::promise<std::pair<core::Result<std::vector<Tensor>>, InferenceTiming>> promise;
  InferenceCallback callback() {
    return [this](core::Result<std::vector<Tensor>> result, const InferenceTiming& timing) {
      promise.set_value({std::move(result), timing});
    };
  }
};

std::vector<Tensor> inputs(float value) {
  std::vector<Tensor> v;
  v.push_back(rows(1, 4, value));
  return v;
}

/// The inputs of request i in the batching tests: one row of 4 features, all 0.1 * i.
std::vector<Tensor> requestInputs(int i) {
  return inputs(0.1f * static_cast<float>(i));
}

/// Queues one request per outcome on `scheduler` (paused by the caller, so that they meet in one
/// batch): request i with `inputsOf(i)`, answered into outcomes[i] through `wrap(i, its callback)`
/// when given. Call it inside ASSERT_NO_FATAL_FAILURE.
void queueRequests(Scheduler& scheduler, const std::shared_ptr<const LoadedModel>& model,
                   std::vector<Outcome>& outcomes, const std::function<std::vector<Tensor>(int)>& inputsOf,
                   const std::function<InferenceCallback(int, InferenceCallback)>& wrap = {}) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const int n = static_cast<int>(i);
    auto answer = outcomes[i].callback();
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputsOf(n),
                                 wrap ? wrap(n, std::move(answer)) : std::move(answer)));
  }
}

TEST(Scheduler, FullQueueIsRefusedWhilePausedAndServesAfterResume) {
  auto model = LoadedModel::load(test::mlpModel({4, 3, 1}), "m/versions/1").value();
  Scheduler scheduler(2, 1);  // two inference threads, one queued request per model at most
  scheduler.pause();
  Outcome first;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.5f), first.callback()));
  EXPECT_EQ(scheduler.queued(), 1u);

  Outcome refused;
  auto full = scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.25f), refused.callback());
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, core::Errc::resource_exhausted);
  EXPECT_NE(full.error().message.find("model m/versions/1: inference queue is full (1 requests waiting)"),
            std::string::npos)
      << full.error().message;

  scheduler.resume();
  auto [result, timing] = first.promise.get_future().get();
  ASSERT_TRUE(result) << result.error().message;
  auto expected = model->run(inputs(0.5f)).value();
  ASSERT_EQ((*result)[0].data, expected[0].data);
  EXPECT_EQ(timing.batchRows, 1u);

  // The queue has room again.
  Outcome after;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.25f), after.callback()));
  auto [again, unused] = after.promise.get_future().get();
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].data, model->run(inputs(0.25f)).value()[0].data);
  EXPECT_EQ(scheduler.queued(), 0u);
}

// Inline scheduling off an I/O thread (no round to join) runs the request at once; its timing
// (and so /metrics' rows) counts the request's own rows, as the queue and the rounds do.
TEST(Scheduler, InlineRequestsOffAnIoThreadCountTheirOwnRows) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "i/versions/1").value();
  Scheduler scheduler(0, 100);
  std::vector<Tensor> request;
  request.push_back(rows(3, 4, 0.5f));
  Outcome outcome;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, request, outcome.callback()));
  auto [result, timing] = outcome.promise.get_future().get();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)[0].shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(timing.rows, 3u);
  EXPECT_EQ(timing.batchRows, 3u);
}

TEST(Scheduler, RequestsQueuedWhilePausedRunAsOneBatchWithOwnRowsBack) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "b/versions/1").value();
  Scheduler scheduler(2, 100);
  scheduler.pause();
  constexpr int kRequests = 5;
  std::vector<Outcome> outcomes(kRequests);
  ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, model, outcomes, requestInputs));
  EXPECT_EQ(scheduler.queued(), static_cast<std::size_t>(kRequests));
  scheduler.resume();
  for (int i = 0; i < kRequests; ++i) {
    auto [result, timing] = outcomes[static_cast<std::size_t>(i)].promise.get_future().get();
    ASSERT_TRUE(result);
    EXPECT_EQ(timing.batchRows, static_cast<std::size_t>(kRequests));  // everything queued went in one run
    auto expected = model->run(requestInputs(i)).value();
    ASSERT_EQ((*result)[0].shape, expected[0].shape);
    const auto* got = reinterpret_cast<const float*>((*result)[0].data.data());
    const auto* want = reinterpret_cast<const float*>(expected[0].data.data());
    for (std::size_t k = 0; k < 2; ++k) EXPECT_FLOAT_EQ(got[k], want[k]);
  }
}

// A callback that throws (the server's can, when posting its response fails to allocate) costs at
// most its own answer: every other request of the batch still gets its own rows, each callback
// is called once, and nothing escapes the inference thread (which would end the process).
TEST(Scheduler, CallbacksThatThrowLeaveTheRestOfTheirBatchAnswered) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "t/versions/1").value();
  Scheduler scheduler(1, 100);
  scheduler.pause();
  constexpr int kRequests = 3;
  std::vector<Outcome> outcomes(kRequests);
  std::vector<std::atomic<int>> calls(kRequests);
  ASSERT_NO_FATAL_FAILURE(
      queueRequests(scheduler, model, outcomes, requestInputs, [&calls](int i, InferenceCallback answer) {
        auto& count = calls[static_cast<std::size_t>(i)];
        return InferenceCallback(
            [answer, &count](core::Result<std::vector<Tensor>> result, const InferenceTiming& timing) {
              if (++count == 1) answer(std::move(result), timing);
              throw std::runtime_error("the callback failed");
            });
      }));
  scheduler.resume();
  for (int i = 0; i < kRequests; ++i) {
    SCOPED_TRACE(i);
    auto [result, timing] = outcomes[static_cast<std::size_t>(i)].promise.get_future().get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(timing.batchRows, static_cast<std::size_t>(kRequests));
    auto expected = model->run(requestInputs(i)).value();
    ASSERT_EQ((*result)[0].data, expected[0].data);
  }
  // A request after them runs on the same (still living) inference thread.
  Outcome after;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.5f), after.callback()));
  EXPECT_TRUE(after.promise.get_future().get().first);
  for (const auto& count : calls) EXPECT_EQ(count.load(), 1);
}

/// y = x reshaped to one column: x [-1, width] of elemType in, y [-1, 1] out, so the output of a
/// batch is not per row (its first dimension is the batch's elements).
std::string reshapeToColumnModel(int elemType, std::int64_t width) {
  test::Proto graph;
  graph.message(1, test::node("Reshape", {"x", "column"}, {"y"}));
  graph.bytes(2, "reshape");
  const std::int64_t column[] = {-1, 1};
  test::Proto shape;
  shape.varint(1, 2).varint(2, test::kInt64).bytes(8, "column");
  shape.bytes(9, std::string(reinterpret_cast<const char*>(column), sizeof column));
  graph.message(5, shape);
  graph.message(11, test::valueInfo("x", elemType, {-1, width}));
  graph.message(12, test::valueInfo("y", elemType, {-1, 1}));
  return test::model(graph);
}

// A batch whose output does not map rows to rows (here a reshape to one column: [3, 2] in, [6, 1]
// out) runs again one request at a time, each on its own inputs: BYTES inputs too, which the
// merged run must not have taken from the requests.
TEST(Scheduler, ABatchWhoseOutputIsNotPerRowRunsEachRequestOnItsOwnStrings) {
  auto model = LoadedModel::load(reshapeToColumnModel(test::kString, 2), "s/versions/1").value();
  Scheduler scheduler(1, 100);
  scheduler.pause();
  constexpr int kRequests = 3;
  std::vector<Outcome> outcomes(kRequests);
  auto strings = [](int i) {
    Tensor t;
    t.name = "x";
    t.type = DataType::bytes;
    t.shape = {1, 2};
    t.strings = {"a" + std::to_string(i), "b" + std::to_string(i)};
    return std::vector<Tensor>{t};
  };
  ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, model, outcomes, strings));
  scheduler.resume();
  for (int i = 0; i < kRequests; ++i) {
    SCOPED_TRACE(i);
    auto [result, timing] = outcomes[static_cast<std::size_t>(i)].promise.get_future().get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ((*result)[0].shape, (std::vector<std::int64_t>{2, 1}));
    EXPECT_EQ((*result)[0].strings, strings(i)[0].strings);
  }
}

// BYTES requests merged into one run (rows 1, 0 and 2 here) each get their own strings back,
// embedded NUL bytes included.
TEST(Scheduler, BytesRequestsMergedIntoOneRunGetTheirOwnStringsBack) {
  auto model = LoadedModel::load(test::oneNodeModel("Identity", test::kString, 2), "t/versions/1").value();
  const std::vector<std::int64_t> rowCounts = {1, 0, 2};
  auto strings = [&](int i) {
    Tensor t;
    t.name = "x";
    t.type = DataType::bytes;
    t.shape = {rowCounts[static_cast<std::size_t>(i)], 2};
    for (std::int64_t k = 0; k < 2 * t.shape[0]; ++k)
      t.strings.push_back(std::string("r") + std::to_string(i) + std::string(1, '\0') + std::to_string(k));
    return std::vector<Tensor>{t};
  };
  Scheduler scheduler(1, 100);
  scheduler.pause();
  std::vector<Outcome> outcomes(rowCounts.size());
  ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, model, outcomes, strings));
  scheduler.resume();
  for (int i = 0; i < static_cast<int>(outcomes.size()); ++i) {
    SCOPED_TRACE(i);
    auto [result, timing] = outcomes[static_cast<std::size_t>(i)].promise.get_future().get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(timing.batchRows, 4u);  // one run: 1 + 1 (none counts one) + 2
    EXPECT_EQ((*result)[0].shape, strings(i)[0].shape);
    EXPECT_EQ((*result)[0].strings, strings(i)[0].strings);
  }
}

// A request with no rows counts for one row of its batch (as batch formation counts it against
// max_batch_size) on every path: merged with others, and run on its own when the merged outputs
// are not per row, where each request is a batch of its own.
TEST(Scheduler, ZeroRowRequestsCountOneRowOfTheirBatchOnEveryPath) {
  auto rowsOf = [](std::vector<std::int64_t> counts) {
    return [counts](int i) {
      Tensor t = rows(counts[static_cast<std::size_t>(i)], 4, 0.5f);
      t.name = "x";
      return std::vector<Tensor>{t};
    };
  };
  auto expectBatchRows = [](std::vector<Outcome>& outcomes, std::vector<std::size_t> want) {
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      SCOPED_TRACE(i);
      auto [result, timing] = outcomes[i].promise.get_future().get();
      ASSERT_TRUE(result) << result.error().message;
      EXPECT_EQ(timing.batchRows, want[i]);
    }
  };
  {
    // Merged: 0 + 0 + 2 rows run as one batch of four counted rows.
    auto model = LoadedModel::load(test::oneNodeModel("Relu", test::kFloat, 4), "z/versions/1").value();
    Scheduler scheduler(1, 100);
    scheduler.pause();
    std::vector<Outcome> outcomes(3);
    ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, model, outcomes, rowsOf({0, 0, 2})));
    scheduler.resume();
    expectBatchRows(outcomes, {4, 4, 4});
  }
  {
    // The merged run's output ([8, 1] for 0 + 2 rows of 4) is not per row: each request runs alone.
    auto model = LoadedModel::load(reshapeToColumnModel(test::kFloat, 4), "y/versions/1").value();
    Scheduler scheduler(1, 100);
    scheduler.pause();
    std::vector<Outcome> outcomes(2);
    ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, model, outcomes, rowsOf({0, 2})));
    scheduler.resume();
    expectBatchRows(outcomes, {1, 2});
  }
}

TEST(Scheduler, BatchesStopAtMaxBatchSize) {
  auto model = LoadedModel::load(test::mlpModel({4, 1}), "c/versions/1").value();
  Scheduler scheduler(1, 100);
  scheduler.pause();
  std::vector<Outcome> outcomes(5);
  for (auto& o : outcomes) ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{2, 0}, inputs(1.0f), o.callback()));
  scheduler.resume();
  std::vector<std::size_t> rows;
  for (auto& o : outcomes) rows.push_back(o.promise.get_future().get().second.batchRows);
  EXPECT_EQ(rows, (std::vector<std::size_t>{2, 2, 2, 2, 1}));
}

TEST(Scheduler, ShutdownFinishesWorkQueuedWhilePaused) {
  auto model = LoadedModel::load(test::mlpModel({4, 1}), "d/versions/1").value();
  Outcome outcome;
  auto future = outcome.promise.get_future();
  {
    Scheduler scheduler(1, 10);
    scheduler.pause();
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(1.0f), outcome.callback()));
  }  // the destructor overrides the pause and drains the queue
  auto [result, timing] = future.get();
  EXPECT_TRUE(result);
}

// After the shutdown grace, requests still queued are answered unavailable without running
// (the model never runs here), and new ones are refused; the destructor then has nothing to run.
TEST(Scheduler, AbandonedQueuedRequestsAreAnsweredUnavailableWithoutRunning) {
  auto first = LoadedModel::load(test::mlpModel({4, 1}), "a/versions/1").value();
  auto second = LoadedModel::load(test::mlpModel({4, 1}), "b/versions/2").value();
  std::vector<Outcome> outcomes(3);
  {
    Scheduler scheduler(2, 10);
    scheduler.pause();
    ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, first, outcomes, [](int) { return inputs(1.0f); }));
    std::vector<Outcome> other(1);
    ASSERT_NO_FATAL_FAILURE(queueRequests(scheduler, second, other, [](int) { return inputs(1.0f); }));
    EXPECT_EQ(scheduler.queued(), 4u);
    scheduler.abandonQueued();
    EXPECT_EQ(scheduler.queued(), 0u);
    outcomes.push_back(std::move(other[0]));
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      SCOPED_TRACE(i);
      auto future = outcomes[i].promise.get_future();
      ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);  // answered in the call
      auto [result, timing] = future.get();
      ASSERT_FALSE(result);
      EXPECT_EQ(result.error().code, core::Errc::unavailable);
      EXPECT_EQ(result.error().message, (i < 3 ? "model a/versions/1" : "model b/versions/2") +
                                            std::string(": the server is shutting down"));
      EXPECT_EQ(timing.batchRows, 0u);  // never ran
    }
    Outcome late;
    auto refused = scheduler.submit(first, BatchingPolicy{64, 0}, inputs(1.0f), late.callback());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, core::Errc::unavailable);
  }
  EXPECT_EQ(first->typicalRunTime().count(), 0);  // no run, not even after the destructor
  EXPECT_EQ(second->typicalRunTime().count(), 0);
}

// Workers are woken only when a queue becomes ready (requests arriving while it is ready join the
// batch of the worker already woken): a lost wake-up would leave a request unanswered forever, so
// many threads submit at once, with and without a queue delay, and every request must come back
// with its own row's output.
TEST(Scheduler, ConcurrentSubmittersAllGetTheirOwnRowsBack) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "e/versions/1").value();
  for (std::int64_t delayUs : {0, 200}) {
    Scheduler scheduler(2, 10'000);
    constexpr int kThreads = 4, kPerThread = 200;
    std::vector<std::vector<Outcome>> outcomes(kThreads);
    for (auto& o : outcomes) o = std::vector<Outcome>(kPerThread);
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t)
      submitters.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          float value = static_cast<float>(t * kPerThread + i) / 1000.0f;
          auto submitted =
              scheduler.submit(model, BatchingPolicy{16, delayUs}, inputs(value),
                               outcomes[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)].callback());
          ASSERT_TRUE(submitted) << submitted.error().message;
        }
      });
    for (auto& s : submitters) s.join();
    for (int t = 0; t < kThreads; ++t)
      for (int i = 0; i < kPerThread; ++i) {
        auto [result, timing] =
            outcomes[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)].promise.get_future().get();
        ASSERT_TRUE(result) << result.error().message;
        EXPECT_GE(timing.batchRows, 1u);
        EXPECT_LE(timing.batchRows, 16u);
        float value = static_cast<float>(t * kPerThread + i) / 1000.0f;
        auto expected = model->run(inputs(value)).value();
        const auto* got = reinterpret_cast<const float*>((*result)[0].data.data());
        const auto* want = reinterpret_cast<const float*>(expected[0].data.data());
        for (std::size_t k = 0; k < 2; ++k)
          EXPECT_FLOAT_EQ(got[k], want[k]) << "delay " << delayUs << " request " << t << "/" << i;
      }
    EXPECT_EQ(scheduler.queued(), 0u);
  }
}

// A stand-in for an I/O thread's event loop: tasks deferred to the end of the "round" wait here
// until the test runs them, on the same thread, as HttpServer's I/O threads would.
std::vector<std::function<void()>> gRoundTasks;
bool deferToTestRound(std::function<void()>& task) {
  gRoundTasks.push_back(std::move(task));
  return true;
}
void endTestRound() {
  auto tasks = std::move(gRoundTasks);
  gRoundTasks.clear();
  for (auto& task : tasks) task();
}
bool noRounds(std::function<void()>&) {
  return false;
}

TEST(Scheduler, RequestsOfOneIoRoundRunAsOneBatchOnThatThreadAtItsEnd) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "r/versions/1").value();
  {
    // A model never run has no known cost: its first request goes to an inference thread.
    Scheduler scheduler(1, 100);
    scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::seconds(10));
    Outcome first;
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{4, 0}, inputs(0.5f), first.callback()));
    EXPECT_TRUE(first.promise.get_future().get().first);
    EXPECT_TRUE(gRoundTasks.empty());
    EXPECT_GT(model->typicalRunTime().count(), 0);
  }
  Scheduler scheduler(2, 100);
  scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::seconds(10));
  constexpr int kRequests = 5;
  std::vector<Outcome> outcomes(kRequests);
  const auto submitter = std::this_thread::get_id();
  std::vector<std::thread::id> ranOn(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    auto& outcome = outcomes[static_cast<std::size_t>(i)];
    ASSERT_TRUE(scheduler.submit(
        model, BatchingPolicy{4, 0}, requestInputs(i),
        [&outcome, &ranOn, i](core::Result<std::vector<Tensor>> result, const InferenceTiming& timing) {
          ranOn[static_cast<std::size_t>(i)] = std::this_thread::get_id();
          outcome.promise.set_value({std::move(result), timing});
        }));
  }
  EXPECT_EQ(gRoundTasks.size(), 1u);  // one deferred task for the whole round
  EXPECT_EQ(scheduler.queued(), 0u);  // nothing went to the inference threads
  endTestRound();
  for (int i = 0; i < kRequests; ++i) {
    auto future = outcomes[static_cast<std::size_t>(i)].promise.get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);  // answered inside the round's end
    auto [result, timing] = future.get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(ranOn[static_cast<std::size_t>(i)], submitter);
    EXPECT_EQ(timing.batchRows, i < 4 ? 4u : 1u);  // max_batch_size 4 splits the round's five rows
    auto expected = model->run(requestInputs(i)).value();
    const auto* got = reinterpret_cast<const float*>((*result)[0].data.data());
    const auto* want = reinterpret_cast<const float*>(expected[0].data.data());
    for (std::size_t k = 0; k < 2; ++k) EXPECT_FLOAT_EQ(got[k], want[k]);
  }
  // The next request starts a new round.
  Outcome next;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{4, 0}, inputs(1.0f), next.callback()));
  EXPECT_EQ(gRoundTasks.size(), 1u);
  endTestRound();
  EXPECT_EQ(next.promise.get_future().get().second.batchRows, 1u);
}

TEST(Scheduler, RoundBatchesThatReachTheFlushRowsRunBeforeTheRoundEnds) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "f/versions/1").value();
  (void)model->run(inputs(0.5f));  // a known, small cost
  Scheduler scheduler(1, 100);
  scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::seconds(10), 2);
  std::vector<Outcome> outcomes(5);
  std::vector<std::future<std::pair<core::Result<std::vector<Tensor>>, InferenceTiming>>> futures;
  for (auto& o : outcomes) futures.push_back(o.promise.get_future());
  auto ready = [&](std::size_t i) { return futures[i].wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.1f), outcomes[0].callback()));
  EXPECT_FALSE(ready(0));
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.2f), outcomes[1].callback()));
  EXPECT_TRUE(ready(0));  // two rows: run at once, on this thread
  EXPECT_TRUE(ready(1));
  for (std::size_t i = 2; i < 5; ++i)
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.1f * static_cast<float>(i + 1)),
                                 outcomes[i].callback()));
  EXPECT_TRUE(ready(3));
  EXPECT_FALSE(ready(4));  // the fifth waits for the end of the round
  EXPECT_EQ(gRoundTasks.size(), 1u);
  endTestRound();
  for (std::size_t i = 0; i < 5; ++i) {
    auto [result, timing] = futures[i].get();
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(timing.batchRows, i < 4 ? 2u : 1u);
    auto expected = model->run(inputs(0.1f * static_cast<float>(i + 1))).value();
    const auto* got = reinterpret_cast<const float*>((*result)[0].data.data());
    const auto* want = reinterpret_cast<const float*>(expected[0].data.data());
    for (std::size_t k = 0; k < 2; ++k) EXPECT_FLOAT_EQ(got[k], want[k]);
  }
}

// An I/O thread stopped at shutdown drops the tasks still queued in its event loop: a round
// whose task never ran still answers each of its requests, once, that the server is shutting down.
TEST(Scheduler, ARoundWhoseTaskIsDroppedAnswersItsRequestsUnavailable) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "u/versions/1").value();
  (void)model->run(inputs(0.5f));  // a known, small cost
  Scheduler scheduler(1, 100);
  scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::seconds(10));
  std::vector<Outcome> outcomes(3);
  std::vector<int> calls(outcomes.size(), 0);
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.5f),
                                 [&, i, answer = outcomes[i].callback()](core::Result<std::vector<Tensor>> result,
                                                                         const InferenceTiming& timing) {
                                   if (++calls[i] == 1) answer(std::move(result), timing);
                                 }));
  ASSERT_EQ(gRoundTasks.size(), 1u);
  gRoundTasks.clear();  // destroyed without running, as a stopped io_context destroys its handlers
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    SCOPED_TRACE(i);
    auto future = outcomes[i].promise.get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    auto [result, timing] = future.get();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, core::Errc::unavailable);
    EXPECT_EQ(result.error().message, "model u/versions/1: the server is shutting down");
    EXPECT_EQ(calls[i], 1);
  }
}

TEST(Scheduler, SlowModelsQueueDelaysPausesAndOtherThreadsUseTheInferenceThreads) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "s/versions/1").value();
  (void)model->run(inputs(0.5f));  // gives the model a run time above the zero limit below
  {
    Scheduler scheduler(1, 100);
    scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::microseconds(0));
    Outcome slow;
    ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{4, 0}, inputs(0.5f), slow.callback()));
    EXPECT_TRUE(gRoundTasks.empty());
    EXPECT_TRUE(slow.promise.get_future().get().first);  // answered by the inference thread
  }
  Scheduler scheduler(1, 100);
  scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::seconds(10));
  Outcome delayed;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{4, 100}, inputs(0.5f), delayed.callback()));
  EXPECT_TRUE(delayed.promise.get_future().get().first);
  scheduler.pause();
  Outcome paused;
  ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{4, 0}, inputs(0.5f), paused.callback()));
  EXPECT_EQ(scheduler.queued(), 1u);  // held in the queue like every paused request
  scheduler.resume();
  EXPECT_TRUE(paused.promise.get_future().get().first);
  EXPECT_TRUE(gRoundTasks.empty());

  Scheduler elsewhere(1, 100);
  elsewhere.runSmallBatchesOnIoThreads(&noRounds, std::chrono::seconds(10));
  Outcome fallback;
  ASSERT_TRUE(elsewhere.submit(model, BatchingPolicy{4, 0}, inputs(0.5f), fallback.callback()));
  EXPECT_TRUE(fallback.promise.get_future().get().first);
}

TEST(Scheduler, InlineSchedulingBatchesEveryModelPerRoundAndRunsAtOnceWithoutRounds) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 2}), "i/versions/1").value();
  Scheduler scheduler(0, 100);
  scheduler.runSmallBatchesOnIoThreads(&deferToTestRound, std::chrono::microseconds(0));  // inline ignores the limit
  std::vector<Outcome> outcomes(3);
  for (auto& o : outcomes) ASSERT_TRUE(scheduler.submit(model, BatchingPolicy{64, 0}, inputs(0.5f), o.callback()));
  endTestRound();
  for (auto& o : outcomes) EXPECT_EQ(o.promise.get_future().get().second.batchRows, 3u);

  Scheduler plain(0, 100);  // no rounds: each request runs in the submitting call
  Outcome now;
  ASSERT_TRUE(plain.submit(model, BatchingPolicy{64, 0}, inputs(0.5f), now.callback()));
  auto future = now.promise.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(future.get().second.batchRows, 1u);
}

}  // namespace
}  // namespace mlaas::serve
