#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/thread_pool.hpp"

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
