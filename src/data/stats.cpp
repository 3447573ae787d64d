#include "data/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlaas::data {
namespace {
// Magnitudes below this count as zero: keeps the bucket range bounded (about 8,000 buckets span
// 1e-12..1e12 at alpha 0.005).
constexpr double kMinMagnitude = 1e-12;
constexpr std::size_t kMaxBuckets = 1 << 16;
}  // namespace

QuantileSketch::QuantileSketch(double alpha)
    : alpha_(alpha), gamma_((1 + alpha) / (1 - alpha)), logGamma_(std::log((1 + alpha) / (1 - alpha))) {}

std::int32_t QuantileSketch::indexOf(double magnitude) const {
  return static_cast<std::int32_t>(std::ceil(std::log(magnitude) / logGamma_));
}

double QuantileSketch::valueOf(std::int32_t index) const {
  // The midpoint (in relative terms) of bucket (gamma^(i-1), gamma^i].
  return 2 * std::pow(gamma_, index) / (gamma_ + 1);
}

void QuantileSketch::addTo(Buckets& buckets, std::int32_t index, std::uint64_t n) {
  if (buckets.counts.empty()) {
    buckets.offset = index;
    buckets.counts.assign(1, 0);
  } else if (index < buckets.offset) {
    auto grow = static_cast<std::size_t>(buckets.offset - index);
    if (buckets.counts.size() + grow > kMaxBuckets) {
      index = buckets.offset;  // collapse the lowest buckets (bounded memory; never reached for doubles in 1e-12..1e12)
    } else {
      buckets.counts.insert(buckets.counts.begin(), grow, 0);
      buckets.offset = index;
    }
  } else if (static_cast<std::size_t>(index - buckets.offset) >= buckets.counts.size()) {
    auto size = static_cast<std::size_t>(index - buckets.offset) + 1;
    if (size > kMaxBuckets) {
      index = buckets.offset + static_cast<std::int32_t>(buckets.counts.size()) - 1;
    } else {
      buckets.counts.resize(size, 0);
    }
  }
  buckets.counts[static_cast<std::size_t>(index - buckets.offset)] += n;
}

void QuantileSketch::add(double value) {
  if (!std::isfinite(value)) return;
  ++count_;
  double magnitude = std::fabs(value);
  if (magnitude < kMinMagnitude) {
    ++zeros_;
    return;
  }
  addTo(value > 0 ? positive_ : negative_, indexOf(magnitude), 1);
}

void QuantileSketch::merge(const QuantileSketch& other) {
  for (auto [mine, theirs] : {std::pair{&positive_, &other.positive_}, std::pair{&negative_, &other.negative_}}) {
    for (std::size_t i = 0; i < theirs->counts.size(); ++i)
      if (theirs->counts[i] != 0) addTo(*mine, theirs->offset + static_cast<std::int32_t>(i), theirs->counts[i]);
  }
  zeros_ += other.zeros_;
  count_ += other.count_;
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
  std::uint64_t seen = 0;
  // Negative values, most negative first: highest magnitude index first.
  for (std::size_t i = negative_.counts.size(); i-- > 0;) {
    seen += negative_.counts[i];
    if (seen > rank) return -valueOf(negative_.offset + static_cast<std::int32_t>(i));
  }
  seen += zeros_;
  if (seen > rank) return 0;
  for (std::size_t i = 0; i < positive_.counts.size(); ++i) {
    seen += positive_.counts[i];
    if (seen > rank) return valueOf(positive_.offset + static_cast<std::int32_t>(i));
  }
  return valueOf(positive_.offset + static_cast<std::int32_t>(positive_.counts.size()) - 1);
}

QuantileSketch QuantileSketch::fromBuckets(double alpha, Buckets positive, Buckets negative, std::uint64_t zeros) {
  QuantileSketch sketch(alpha);
  sketch.positive_ = std::move(positive);
  sketch.negative_ = std::move(negative);
  sketch.zeros_ = zeros;
  sketch.count_ = zeros;
  for (auto c : sketch.positive_.counts) sketch.count_ += c;
  for (auto c : sketch.negative_.counts) sketch.count_ += c;
  return sketch;
}

void FeatureStats::add(std::span<const double> values) {
  FeatureStats batch;
  double sum = 0;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++batch.nonFinite;
      continue;
    }
    ++batch.count;
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    batch.sketch.add(v);
  }
  if (batch.count != 0) {
    batch.mean = sum / static_cast<double>(batch.count);
    double squares = 0, correction = 0;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      double d = v - batch.mean;
      squares += d * d;
      correction += d;
    }
    // Second-order correction of the two-pass algorithm (Chan, Golub, LeVeque 1983).
    batch.m2 = squares - correction * correction / static_cast<double>(batch.count);
    batch.min = lo;
    batch.max = hi;
  }
  merge(batch);
}

void FeatureStats::merge(const FeatureStats& other) {
  nonFinite += other.nonFinite;
  sketch.merge(other.sketch);
  if (other.count == 0) return;
  if (count == 0) {
    count = other.count;
    min = other.min;
    max = other.max;
    mean = other.mean;
    m2 = other.m2;
    return;
  }
  const double n1 = static_cast<double>(count), n2 = static_cast<double>(other.count);
  const double n = n1 + n2;
  const double delta = other.mean - mean;
  mean += delta * n2 / n;
  m2 += other.m2 + delta * delta * n1 * n2 / n;
  count += other.count;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
}

double FeatureStats::variance() const noexcept { return count < 2 ? 0.0 : std::max(0.0, m2 / static_cast<double>(count)); }
double FeatureStats::stddev() const noexcept { return std::sqrt(variance()); }

}  // namespace mlaas::data
