#include "core/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

using mlaas::core::ThreadPool;

TEST(ThreadPool, ParallelForVisitsEveryIndexOnce) {
  for (std::size_t threads : {0u, 1u, 2u, 4u}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(1000);
    pool.parallelFor(hits.size(), [&](std::size_t i) { hits[i].fetch_add(1); });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "threads=" << threads;
  }
}

TEST(ThreadPool, SubmitReturnsResultsAndExceptions) {
  ThreadPool pool(2);
  auto a = pool.submit([] { return 21 * 2; });
  auto b = pool.submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_EQ(a.get(), 42);
  EXPECT_THROW(b.get(), std::runtime_error);
}

TEST(ThreadPool, ParallelForRethrowsFirstError) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallelFor(100,
                                [&](std::size_t i) {
                                  ran.fetch_add(1);
                                  if (i == 50) throw std::invalid_argument("index 50");
                                }),
               std::invalid_argument);
  EXPECT_EQ(ran.load(), 100);  // the others still ran: no half-finished state behind our back
}

TEST(ThreadPool, ParallelForPartsVisitsEveryIndexOnce) {
  // Parts of every shape: more parts than threads, empty parts, one part, a part per index.
  const std::vector<std::vector<std::size_t>> cutsList = {{0, 500, 1000},
                                                          {0, 0, 1000},
                                                          {0, 1000, 1000},
                                                          {0, 1000},
                                                          {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                                                          {0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}};
  for (std::size_t threads : {0u, 1u, 3u}) {
    ThreadPool pool(threads);
    for (const auto& cuts : cutsList) {
      std::vector<std::atomic<int>> hits(cuts.back());
      pool.parallelForParts(cuts, [&](std::size_t i) { hits[i].fetch_add(1); });
      for (std::size_t i = 0; i < hits.size(); ++i)
        ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads << " index " << i << " of " << cuts.size() - 1
                                     << " parts";
    }
  }
}

// A participant done with its own part helps with another from that part's end, so the part's
// owner keeps its front (the same indices, the same data, call after call): the indices the
// caller runs of the worker's part form one run that ends with the part's last index, and the
// worker's (if it joined) one run from the part's first. Jobs of a few microseconds, so the two
// threads overlap.
TEST(ThreadPool, HelpersTakeAnotherPartFromItsEnd) {
  ThreadPool pool(1);
  const std::size_t cuts[] = {0, 1, 41};
  for (int round = 0; round < 50; ++round) {
    std::vector<std::thread::id> ranBy(cuts[2]);
    pool.parallelForParts(cuts, [&](std::size_t i) {
      ranBy[i] = std::this_thread::get_id();
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
      while (std::chrono::steady_clock::now() < until) {
      }
    });
    const auto caller = std::this_thread::get_id();
    // Part 0 (one index) is the caller's, but a worker that finished part 1 before the caller was
    // scheduled may take it from its end: either is right, so only that it ran is checked.
    ASSERT_NE(ranBy[0], std::thread::id{});
    std::size_t firstByCaller = cuts[1];
    while (firstByCaller < cuts[2] && ranBy[firstByCaller] != caller) ++firstByCaller;
    for (std::size_t i = firstByCaller; i < cuts[2]; ++i)
      ASSERT_EQ(ranBy[i], caller) << "round " << round << " index " << i;
    for (std::size_t i = cuts[1]; i < firstByCaller; ++i) ASSERT_EQ(ranBy[i], ranBy[cuts[1]]) << "round " << round;
  }
}

TEST(ThreadPool, ManyShortLoopsInARowEachFinishBeforeReturning) {
  // Loops reuse the caller's frame: a worker must neither miss a loop nor run an index of one that
  // has returned (each loop's sum is checked against its own indices).
  ThreadPool pool(2);
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::size_t> seen(3 + round % 7, 0);
    const std::size_t cuts[3] = {0, seen.size() / 2, seen.size()};
    pool.parallelForParts(cuts, [&](std::size_t i) { seen[i] = i + 1; });
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1) << "round " << round;
  }
}

TEST(ThreadPool, NestedAndConcurrentLoopsRunAndDoNotDeadlock) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallelFor(8, [&](std::size_t) { pool.parallelFor(10, [&](std::size_t) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 80);
  // Two threads sharing one pool: one gets the workers, the other runs its loop on its own.
  std::atomic<int> total{0};
  auto loops = [&] {
    for (int r = 0; r < 200; ++r) pool.parallelFor(16, [&](std::size_t) { total.fetch_add(1); });
  };
  std::thread other(loops);
  loops();
  other.join();
  EXPECT_EQ(total.load(), 2 * 200 * 16);
}

TEST(ThreadPool, SubmittedTasksRunBesideLoops) {
  ThreadPool pool(2);
  std::vector<std::future<int>> results;
  for (int k = 0; k < 50; ++k) {
    results.push_back(pool.submit([k] { return k * k; }));
    std::atomic<int> n{0};
    pool.parallelFor(20, [&](std::size_t) { n.fetch_add(1); });
    ASSERT_EQ(n.load(), 20);
  }
  for (int k = 0; k < 50; ++k) EXPECT_EQ(results[static_cast<std::size_t>(k)].get(), k * k);
}

TEST(ThreadPool, PartsRethrowTheFirstErrorAfterEveryIndexRan) {
  ThreadPool pool(1);
  std::atomic<int> ran{0};
  const std::size_t cuts[3] = {0, 30, 60};
  EXPECT_THROW(pool.parallelForParts(cuts,
                                     [&](std::size_t i) {
                                       ran.fetch_add(1);
                                       if (i % 20 == 7) throw std::out_of_range("part error");
                                     }),
               std::out_of_range);
  EXPECT_EQ(ran.load(), 60);
}

TEST(ThreadPool, LoopRunInlineStopsAtTheFirstError) {
  // Without workers the loop is a plain for loop on the caller (the header's contract).
  ThreadPool pool(0);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallelFor(10,
                                [&](std::size_t i) {
                                  ran.fetch_add(1);
                                  if (i == 3) throw std::out_of_range("inline error");
                                }),
               std::out_of_range);
  EXPECT_EQ(ran.load(), 4);
}
