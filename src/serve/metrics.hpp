// Prometheus metrics: request and failure counters by model, version and protocol; latency
// histograms (queue, compute, total) and batch sizes by model and version.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace mlaas::serve {

class Metrics {
 public:
  struct Sample {
    std::string model, version, protocol;
    int status = 200;
    std::chrono::nanoseconds queue{0}, compute{0}, total{0};
    std::size_t batchRows = 0;  ///< 0 when the request never reached inference
    std::size_t rows = 0;       ///< the request's own rows in that batch
  };
  void record(const Sample& sample);
  void countRequest() noexcept { requests_.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t requests() const noexcept { return requests_.load(std::memory_order_relaxed); }
  /// The exposition text; gauges supplied by the caller.
  [[nodiscard]] std::string render(std::size_t loadedModels, std::size_t loadedBytes) const;

 private:
  static constexpr std::array<double, 14> kSeconds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  2.5};
  static constexpr std::array<double, 10> kBatch{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024};
  template <std::size_t N>
  struct Histogram {
    std::array<std::uint64_t, N + 1> buckets{};
    double sum = 0;
    std::uint64_t count = 0;
    void add(double v, const std::array<double, N>& bounds) {
      std::size_t i = 0;
      while (i < N && v > bounds[i]) ++i;
      ++buckets[i];
      sum += v;
      ++count;
    }
  };
  struct PerModel {
    Histogram<14> queue, compute, total;
    Histogram<10> batch;
    double inferenceSeconds = 0;  ///< sum over batches of their run time (each request adds its share)
    double rows = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> requestsBy_;
  std::map<std::tuple<std::string, std::string, std::string, int>, std::uint64_t> failuresBy_;
  std::map<std::pair<std::string, std::string>, PerModel> perModel_;
  std::atomic<std::uint64_t> requests_{0};
};

/// Resident set size of this process in bytes (Linux /proc/self/statm), 0 if unknown.
std::size_t residentBytes();

}  // namespace mlaas::serve
