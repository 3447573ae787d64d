// Per-feature statistics that merge exactly across chunks, files and threads.
//
// FeatureStats keeps count, min, max, mean and the sum of squared deviations (merged with Chan et
// al.'s pairwise formula, so the variance stays accurate for large counts), the number of
// non-finite values (never part of the statistics), and a QuantileSketch for medians and
// percentiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mlaas::data {

/// DDSketch (Masson, Rim, Lee, VLDB 2019): logarithmic buckets give every quantile within a relative
/// error `alpha` of a true sample value; two sketches with the same alpha merge exactly by adding
/// bucket counts, so the result does not depend on how the data was split.
class QuantileSketch {
 public:
  explicit QuantileSketch(double alpha = 0.005);

  void add(double value);
  void merge(const QuantileSketch& other);
  /// The q-quantile (q in [0, 1]) within relative error alpha; NaN when empty.
  [[nodiscard]] double quantile(double q) const;
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] double alpha() const noexcept { return alpha_; }

  /// Serialisation: the buckets as (index, count) pairs per sign, plus the zero bucket.
  struct Buckets {
    std::int32_t offset = 0;
    std::vector<std::uint64_t> counts;
  };
  [[nodiscard]] const Buckets& positive() const noexcept { return positive_; }
  [[nodiscard]] const Buckets& negative() const noexcept { return negative_; }
  [[nodiscard]] std::uint64_t zeros() const noexcept { return zeros_; }
  static QuantileSketch fromBuckets(double alpha, Buckets positive, Buckets negative, std::uint64_t zeros);

 private:
  [[nodiscard]] std::int32_t indexOf(double magnitude) const;
  [[nodiscard]] double valueOf(std::int32_t index) const;
  static void addTo(Buckets& buckets, std::int32_t index, std::uint64_t n);

  double alpha_;
  double gamma_;
  double logGamma_;
  Buckets positive_, negative_;
  std::uint64_t zeros_ = 0;
  std::uint64_t count_ = 0;
};

struct FeatureStats {
  std::uint64_t count = 0;     ///< finite values seen
  std::uint64_t nonFinite = 0;  ///< NaN and infinities, excluded from everything else
  double min = 0, max = 0, mean = 0;
  double m2 = 0;  ///< sum of squared deviations from the mean
  QuantileSketch sketch;

  /// Adds a batch of values (two-pass mean and deviations over the batch, then a Chan merge).
  void add(std::span<const double> values);
  void merge(const FeatureStats& other);
  /// Population variance (m2 / count); 0 when count < 2.
  [[nodiscard]] double variance() const noexcept;
  [[nodiscard]] double stddev() const noexcept;
};

}  // namespace mlaas::data
