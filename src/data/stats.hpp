// Per-feature statistics that merge exactly across chunks, files and threads.
//
// FeatureStats keeps count, min, max, mean and the sum of squared deviations (merged with Chan et
// al.'s pairwise formula, so the variance stays accurate for large counts), the number of
// non-finite values (never part of the statistics), and a QuantileSketch for medians and
// percentiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace mlaas::data {

/// A DDSketch (Masson, Rim, Lee, VLDB 2019): buckets whose upper and lower bounds differ by a
/// bounded ratio give every quantile within a relative error `alpha` of a true sample value; two
/// sketches with the same mapping merge exactly by adding bucket counts, so the result does not
/// depend on how the data was split.
///
/// The bucket of a value comes from its IEEE-754 bits, not a logarithm: the exponent and the top
/// `m` mantissa bits of |x| (one shift), so bucket k spans [b, b * (1 + 2^-m)) at most, and its
/// representative (the relative midpoint) is within 2^-m / (2 + 2^-m) of every value in it. The
/// constructor picks the smallest m that keeps this within alpha (m = 7 for alpha = 0.005, a
/// relative error of at most 0.0039). Specs written before this mapping used logarithmic buckets
/// (index ceil(log|x| / log gamma)); they still load and answer quantiles (Mapping::logarithmic).
///
/// The sketch also keeps the exact minimum and maximum and whether every value was an integer:
/// a quantile never leaves [min, max] (a constant's median is the constant, so robust
/// normalisation maps it to 0), and for integer data a bucket holding a single integer answers
/// that integer exactly (a count's median is 10, not the bucket's midpoint 10.04).
class QuantileSketch {
 public:
  enum class Mapping : std::uint8_t { binary, logarithmic };

  explicit QuantileSketch(double alpha = 0.005);

  void add(double value);
  /// Adds many values (non-finite ones are skipped): the bucket range grows once per call.
  void add(std::span<const double> values);
  /// The same when the caller already knows the extremes of the finite `values` (FeatureStats
  /// computes them with the moments): saves a pass.
  void addWithExtremes(std::span<const double> values, double min, double max);
  void merge(const QuantileSketch& other);
  /// The q-quantile (q in [0, 1]) within relative error alpha of the value of rank
  /// floor(q (count - 1)), inside [min, max], exact for q = 0 and 1; NaN when empty.
  [[nodiscard]] double quantile(double q) const;
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// Exact extremes of the finite values added (+inf / -inf when empty or not known).
  [[nodiscard]] double min() const noexcept { return min_; }
  [[nodiscard]] double max() const noexcept { return max_; }
  /// True when every finite value added was an integer (false when not known).
  [[nodiscard]] bool integral() const noexcept { return integral_; }
  /// For a sketch read back from its buckets: the extremes and integrality kept beside them
  /// (specs store min and max with the feature's moments).
  void restoreExtremes(double min, double max, bool integral) noexcept;
  [[nodiscard]] double alpha() const noexcept { return alpha_; }
  [[nodiscard]] Mapping mapping() const noexcept { return mapping_; }
  /// Mantissa bits per bucket (binary mapping; 0 for logarithmic).
  [[nodiscard]] int mantissaBits() const noexcept { return mantissaBits_; }

  /// Serialisation: the buckets as (index, count) pairs per sign, plus the zero bucket.
  struct Buckets {
    std::int32_t offset = 0;
    std::vector<std::uint64_t> counts;
  };
  [[nodiscard]] const Buckets& positive() const noexcept { return positive_; }
  [[nodiscard]] const Buckets& negative() const noexcept { return negative_; }
  [[nodiscard]] std::uint64_t zeros() const noexcept { return zeros_; }
  /// A binary-mapping sketch (the buckets of mapping() == binary with the alpha's mantissa bits).
  static QuantileSketch fromBuckets(double alpha, Buckets positive, Buckets negative, std::uint64_t zeros);
  /// Either mapping; throws std::invalid_argument when `mantissaBits` does not match alpha.
  static QuantileSketch fromBuckets(double alpha, Mapping mapping, int mantissaBits, Buckets positive, Buckets negative,
                                    std::uint64_t zeros);
  /// The mantissa bits the binary mapping uses for `alpha`.
  [[nodiscard]] static int mantissaBitsFor(double alpha) noexcept;

 private:
  /// Counts the values into the binary mapping's buckets; returns the OR of their fractional bits
  /// (0 when all were integers) when kCheckIntegral.
  template <bool kCheckIntegral>
  std::uint64_t addBuckets(std::span<const double> values);
  [[nodiscard]] std::int32_t indexOf(double magnitude) const noexcept;
  [[nodiscard]] double valueOf(std::int32_t index) const noexcept;
  static bool ensureRange(Buckets& buckets, std::int32_t low, std::int32_t high);
  static void addTo(Buckets& buckets, std::int32_t index, std::uint64_t n);

  double alpha_;
  Mapping mapping_ = Mapping::binary;
  int mantissaBits_ = 0;
  double gamma_ = 0, logGamma_ = 0;  // logarithmic mapping only
  Buckets positive_, negative_;
  std::uint64_t zeros_ = 0;
  std::uint64_t count_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  bool integral_ = true;  // vacuously, while empty
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
