#include "data/stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

namespace mlaas::data {
namespace {
// Magnitudes below this count as zero: keeps the bucket range bounded.
constexpr double kMinMagnitude = 1e-12;
constexpr std::size_t kMaxBuckets = 1 << 16;
constexpr int kMantissaBits = 52;
}  // namespace

int QuantileSketch::mantissaBitsFor(double alpha) noexcept {
  // Bucket [b, b (1 + d)) with d = 2^-m: the relative midpoint is within d / (2 + d) of any value.
  int bits = 0;
  while (bits < 20) {
    const double d = std::ldexp(1.0, -bits);
    if (d / (2 + d) <= alpha) break;
    ++bits;
  }
  return bits;
}

QuantileSketch::QuantileSketch(double alpha) : alpha_(alpha), mantissaBits_(mantissaBitsFor(alpha)) {}

std::int32_t QuantileSketch::indexOf(double magnitude) const noexcept {
  if (mapping_ == Mapping::binary)
    return static_cast<std::int32_t>(std::bit_cast<std::uint64_t>(magnitude) >> (kMantissaBits - mantissaBits_));
  return static_cast<std::int32_t>(std::ceil(std::log(magnitude) / logGamma_));
}

double QuantileSketch::valueOf(std::int32_t index) const noexcept {
  if (mapping_ == Mapping::binary) {
    const int shift = kMantissaBits - mantissaBits_;
    const double low = std::bit_cast<double>(static_cast<std::uint64_t>(index) << shift);
    const double high = std::bit_cast<double>(static_cast<std::uint64_t>(index + 1) << shift);
    return 2 * low * high / (low + high);  // the relative midpoint of [low, high)
  }
  // The midpoint (in relative terms) of bucket (gamma^(i-1), gamma^i].
  return 2 * std::pow(gamma_, index) / (gamma_ + 1);
}

// Makes [low, high] addressable; false (nothing changed) when that would exceed kMaxBuckets.
bool QuantileSketch::ensureRange(Buckets& buckets, std::int32_t low, std::int32_t high) {
  if (buckets.counts.empty()) {
    if (static_cast<std::size_t>(high - low) + 1 > kMaxBuckets) return false;
    buckets.offset = low;
    buckets.counts.assign(static_cast<std::size_t>(high - low) + 1, 0);
    return true;
  }
  const std::int32_t top = buckets.offset + static_cast<std::int32_t>(buckets.counts.size()) - 1;
  const std::int32_t newLow = std::min(low, buckets.offset), newHigh = std::max(high, top);
  if (static_cast<std::size_t>(newHigh - newLow) + 1 > kMaxBuckets) return false;
  if (newHigh > top) buckets.counts.resize(static_cast<std::size_t>(newHigh - buckets.offset) + 1, 0);
  if (newLow < buckets.offset) {
    buckets.counts.insert(buckets.counts.begin(), static_cast<std::size_t>(buckets.offset - newLow), 0);
    buckets.offset = newLow;
  }
  return true;
}

void QuantileSketch::addTo(Buckets& buckets, std::int32_t index, std::uint64_t n) {
  if (!ensureRange(buckets, index, index)) {
    // Collapse into the nearest end bucket (bounded memory; never reached for doubles in 1e-12..1e140).
    index = std::clamp(index, buckets.offset, buckets.offset + static_cast<std::int32_t>(buckets.counts.size()) - 1);
  }
  buckets.counts[static_cast<std::size_t>(index - buckets.offset)] += n;
}

void QuantileSketch::add(double value) {
  if (!std::isfinite(value)) return;
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  integral_ = integral_ && value == std::trunc(value);
  double magnitude = std::fabs(value);
  if (magnitude < kMinMagnitude) {
    ++zeros_;
    return;
  }
  addTo(value > 0 ? positive_ : negative_, indexOf(magnitude), 1);
}

void QuantileSketch::add(std::span<const double> values) {
  double low = min_, high = max_;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  addWithExtremes(values, low, high);
}

void QuantileSketch::addWithExtremes(std::span<const double> values, double min, double max) {
  if (mapping_ != Mapping::binary) {
    for (double v : values) add(v);
    return;
  }
  // The integrality check runs only while every value so far was an integer: a continuous
  // feature pays for it on its first block only.
  const std::uint64_t fractionBits = integral_ ? addBuckets<true>(values) : addBuckets<false>(values);
  integral_ = integral_ && fractionBits == 0;
  min_ = std::min(min_, min);
  max_ = std::max(max_, max);
}

template <bool kCheckIntegral>
std::uint64_t QuantileSketch::addBuckets(std::span<const double> values) {
  // Integer work only: |x|'s bit pattern orders like |x|, so its bucket is the pattern shifted.
  // One pass; a value outside the buckets so far takes the slow path that grows them, which
  // happens about log(n) times for data in random order.
  constexpr std::uint64_t kMagnitudeMask = ~(std::uint64_t{1} << 63);
  constexpr std::uint64_t kInfinityBits = 0x7ff0000000000000ULL;
  const std::uint64_t zeroBits = std::bit_cast<std::uint64_t>(kMinMagnitude);
  const int shift = kMantissaBits - mantissaBits_;
  // The bucket arrays' pointers, offsets and sizes in locals (registers), reloaded after a growth.
  std::uint64_t *posCounts = nullptr, *negCounts = nullptr;
  std::int32_t posOffset = 0, negOffset = 0;
  std::uint32_t posSize = 0, negSize = 0;
  auto reload = [&] {
    posCounts = positive_.counts.data();
    posOffset = positive_.offset;
    posSize = static_cast<std::uint32_t>(positive_.counts.size());
    negCounts = negative_.counts.data();
    negOffset = negative_.offset;
    negSize = static_cast<std::uint32_t>(negative_.counts.size());
  };
  reload();
  std::uint64_t finite = 0, zeros = 0;
  // Any bit set here is a fractional bit of some value (integer operations, no branch).
  std::uint64_t fractionBits = 0;
  for (double v : values) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    const std::uint64_t magnitude = bits & kMagnitudeMask;
    if (magnitude < zeroBits || magnitude >= kInfinityBits) {
      finite += magnitude < kInfinityBits;
      zeros += magnitude < zeroBits;
      if constexpr (kCheckIntegral) fractionBits |= magnitude < zeroBits ? magnitude : 0;  // only 0 is an integer
      continue;
    }
    ++finite;
    if constexpr (kCheckIntegral) {
      // |v| = 1.m * 2^(e - 1023): the mantissa bits below 2^0, and the implicit leading bit when
      // |v| < 1, are fractional.
      const auto exponent = static_cast<std::int64_t>(magnitude >> kMantissaBits);
      const std::int64_t fractional = std::clamp<std::int64_t>(1075 - exponent, 0, 63);
      fractionBits |= (magnitude | (std::uint64_t{1} << kMantissaBits)) & ((std::uint64_t{1} << fractional) - 1);
    }
    const bool negative = (bits >> 63) != 0;
    const auto index = static_cast<std::int32_t>(magnitude >> shift);
    // Selects, not branches: signs such as eta's are random.
    std::uint64_t* const counts = negative ? negCounts : posCounts;
    const auto slot = static_cast<std::uint32_t>(index - (negative ? negOffset : posOffset));
    if (slot < (negative ? negSize : posSize)) {
      ++counts[slot];
    } else {
      addTo(negative ? negative_ : positive_, index, 1);
      reload();
    }
  }
  count_ += finite;
  zeros_ += zeros;
  return fractionBits;
}

void QuantileSketch::restoreExtremes(double min, double max, bool integral) noexcept {
  min_ = min;
  max_ = max;
  integral_ = integral;
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.count_ == 0) return;
  if (other.mapping_ != mapping_ || other.mantissaBits_ != mantissaBits_ ||
      (mapping_ == Mapping::logarithmic && other.alpha_ != alpha_))
    throw std::invalid_argument("merging quantile sketches with different bucket mappings");
  for (auto [mine, theirs] : {std::pair{&positive_, &other.positive_}, std::pair{&negative_, &other.negative_}}) {
    if (theirs->counts.empty()) continue;
    const std::int32_t high = theirs->offset + static_cast<std::int32_t>(theirs->counts.size()) - 1;
    if (ensureRange(*mine, theirs->offset, high)) {
      std::uint64_t* target = mine->counts.data() + (theirs->offset - mine->offset);
      for (std::size_t i = 0; i < theirs->counts.size(); ++i) target[i] += theirs->counts[i];
    } else {
      for (std::size_t i = 0; i < theirs->counts.size(); ++i)
        if (theirs->counts[i] != 0) addTo(*mine, theirs->offset + static_cast<std::int32_t>(i), theirs->counts[i]);
    }
  }
  zeros_ += other.zeros_;
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  integral_ = integral_ && other.integral_;
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  const bool extremesKnown = min_ <= max_;
  if (extremesKnown && q == 0) return min_;
  if (extremesKnown && q == 1) return max_;
  auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
  // The bucket holding the rank: its index and sign, or the zero bucket.
  std::int32_t index = 0;
  bool negative = false, zero = false, found = false;
  std::uint64_t seen = 0;
  // Negative values, most negative first: highest magnitude index first.
  for (std::size_t i = negative_.counts.size(); !found && i-- > 0;) {
    seen += negative_.counts[i];
    if (seen > rank)
      std::tie(index, negative, found) = std::tuple{negative_.offset + static_cast<std::int32_t>(i), true, true};
  }
  if (!found) {
    seen += zeros_;
    zero = found = seen > rank;
  }
  for (std::size_t i = 0; !found && i < positive_.counts.size(); ++i) {
    seen += positive_.counts[i];
    if (seen > rank) std::tie(index, found) = std::tuple{positive_.offset + static_cast<std::int32_t>(i), true};
  }
  if (!found) index = positive_.offset + static_cast<std::int32_t>(positive_.counts.size()) - 1;
  double magnitude = zero ? 0.0 : valueOf(index);
  if (!zero && integral_ && mapping_ == Mapping::binary) {
    // Integer data: a bucket [low, high) that holds one integer holds only that value.
    const int shift = kMantissaBits - mantissaBits_;
    const double low = std::bit_cast<double>(static_cast<std::uint64_t>(index) << shift);
    const double high = std::bit_cast<double>(static_cast<std::uint64_t>(index + 1) << shift);
    const double integer = std::ceil(low);
    if (integer < high && integer + 1 >= high) magnitude = integer;
  }
  const double value = negative ? -magnitude : magnitude;
  return extremesKnown ? std::clamp(value, min_, max_) : value;
}

QuantileSketch QuantileSketch::fromBuckets(double alpha, Buckets positive, Buckets negative, std::uint64_t zeros) {
  return fromBuckets(alpha, Mapping::binary, mantissaBitsFor(alpha), std::move(positive), std::move(negative), zeros);
}

QuantileSketch QuantileSketch::fromBuckets(double alpha, Mapping mapping, int mantissaBits, Buckets positive,
                                           Buckets negative, std::uint64_t zeros) {
  QuantileSketch sketch(alpha);
  sketch.mapping_ = mapping;
  if (mapping == Mapping::binary) {
    if (mantissaBits != sketch.mantissaBits_)
      throw std::invalid_argument(fmt::format("{} mantissa bits do not match alpha {} (expected {})", mantissaBits,
                                              alpha, sketch.mantissaBits_));
    // Every bucket must be a positive finite magnitude: index << shift below the exponent of infinity.
    const std::int64_t limit = std::int64_t{0x7ff} << mantissaBits;
    for (const auto* b : {&positive, &negative})
      if (!b->counts.empty() && (b->offset < 0 || b->offset + static_cast<std::int64_t>(b->counts.size()) > limit))
        throw std::invalid_argument(fmt::format("bucket indices {}..{} outside the finite doubles", b->offset,
                                                b->offset + static_cast<std::int64_t>(b->counts.size()) - 1));
  } else {
    sketch.mantissaBits_ = 0;
    sketch.gamma_ = (1 + alpha) / (1 - alpha);
    sketch.logGamma_ = std::log(sketch.gamma_);
  }
  sketch.integral_ = false;  // not known from buckets alone: restoreExtremes
  sketch.positive_ = std::move(positive);
  sketch.negative_ = std::move(negative);
  sketch.zeros_ = zeros;
  sketch.count_ = zeros;
  for (auto c : sketch.positive_.counts) sketch.count_ += c;
  for (auto c : sketch.negative_.counts) sketch.count_ += c;
  return sketch;
}

namespace {

// Moments of one block of values: count, sum and extremes, then the squared deviations from the
// block's mean. Four interleaved accumulators break the add-latency chains; the order is fixed,
// so results do not depend on timing.
struct BlockMoments {
  std::uint64_t count = 0, nonFinite = 0;
  double mean = 0, m2 = 0, min = 0, max = 0;
};

// The four lanes in two SSE2 vectors of two (GCC's vector extension): lane l takes values 4k + l
// and the tail goes to lane 0, exactly as four scalar lanes would, with the same operations per
// lane, so the results are the same bits. A non-finite value adds +0.0 and leaves lo/hi alone
// (bit masks instead of branches or selects, which GCC would scalarise).
using Double2 = double __attribute__((vector_size(16)));
using Mask2 = std::int64_t __attribute__((vector_size(16)));

inline Mask2 bitsOf(Double2 v) { return reinterpret_cast<Mask2>(v); }
inline Double2 fromBits(Mask2 m) { return reinterpret_cast<Double2>(m); }

inline Mask2 finiteMask(Double2 v) {
  constexpr std::int64_t kAbs = 0x7fffffffffffffffLL;
  constexpr double kMax = std::numeric_limits<double>::max();
  const Double2 magnitude = fromBits(bitsOf(v) & kAbs);
  return magnitude <= Double2{kMax, kMax};
}

inline Double2 keepIf(Double2 v, Mask2 mask) { return fromBits(bitsOf(v) & mask); }
inline Double2 choose(Mask2 mask, Double2 a, Double2 b) { return fromBits((bitsOf(a) & mask) | (bitsOf(b) & ~mask)); }

inline Double2 load2(const double* p) {
  Double2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

BlockMoments blockMoments(const double* values, std::size_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // Lanes 0 and 1 in the first vector, 2 and 3 in the second.
  Double2 sumA = {0, 0}, sumB = {0, 0}, loA = {kInf, kInf}, loB = loA, hiA = {-kInf, -kInf}, hiB = hiA;
  Mask2 finiteA = {0, 0}, finiteB = {0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Double2 a = load2(values + i), b = load2(values + i + 2);
    const Mask2 okA = finiteMask(a), okB = finiteMask(b);
    finiteA -= okA;  // masks are -1 where true
    finiteB -= okB;
    sumA += keepIf(a, okA);
    sumB += keepIf(b, okB);
    loA = choose(okA & (a < loA), a, loA);
    loB = choose(okB & (b < loB), b, loB);
    hiA = choose(okA & (a > hiA), a, hiA);
    hiB = choose(okB & (b > hiB), b, hiB);
  }
  // The tail into lane 0, as a scalar lane.
  double sum0 = sumA[0], lo0 = loA[0], hi0 = hiA[0];
  auto finite0 = static_cast<std::uint64_t>(finiteA[0]);
  for (; i < n; ++i) {
    const double v = values[i];
    const bool isFinite = std::fabs(v) <= std::numeric_limits<double>::max();
    finite0 += isFinite;
    sum0 += isFinite ? v : 0.0;
    lo0 = isFinite && v < lo0 ? v : lo0;
    hi0 = isFinite && v > hi0 ? v : hi0;
  }
  BlockMoments out;
  out.count = finite0 + static_cast<std::uint64_t>(finiteA[1]) + static_cast<std::uint64_t>(finiteB[0]) +
              static_cast<std::uint64_t>(finiteB[1]);
  out.nonFinite = n - out.count;
  if (out.count == 0) return out;
  out.min = std::min(std::min(lo0, loA[1]), std::min(loB[0], loB[1]));
  out.max = std::max(std::max(hi0, hiA[1]), std::max(hiB[0], hiB[1]));
  out.mean = ((sum0 + sumA[1]) + (sumB[0] + sumB[1])) / static_cast<double>(out.count);
  const double mean = out.mean;
  const Double2 mean2 = {mean, mean};
  Double2 squaresA = {0, 0}, squaresB = {0, 0}, correctionA = {0, 0}, correctionB = {0, 0};
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const Double2 a = load2(values + i), b = load2(values + i + 2);
    const Double2 da = keepIf(a - mean2, finiteMask(a)), db = keepIf(b - mean2, finiteMask(b));
    squaresA += da * da;
    squaresB += db * db;
    correctionA += da;
    correctionB += db;
  }
  double squares0 = squaresA[0], correction0 = correctionA[0];
  for (; i < n; ++i) {
    const double v = values[i];
    const double d = std::fabs(v) <= std::numeric_limits<double>::max() ? v - mean : 0.0;
    squares0 += d * d;
    correction0 += d;
  }
  const double squares = (squares0 + squaresA[1]) + (squaresB[0] + squaresB[1]);
  const double correction = (correction0 + correctionA[1]) + (correctionB[0] + correctionB[1]);
  // Second-order correction of the two-pass algorithm (Chan, Golub, LeVeque 1983).
  out.m2 = squares - correction * correction / static_cast<double>(out.count);
  return out;
}

/// Chan et al.'s pairwise merge of (count, mean, m2), plus min and max, into `into`.
void mergeMoments(FeatureStats& into, std::uint64_t count, double min, double max, double mean, double m2) {
  if (count == 0) return;
  if (into.count == 0) {
    into.count = count;
    into.min = min;
    into.max = max;
    into.mean = mean;
    into.m2 = m2;
    return;
  }
  const double n1 = static_cast<double>(into.count), n2 = static_cast<double>(count);
  const double total = n1 + n2;
  const double delta = mean - into.mean;
  into.mean += delta * n2 / total;
  into.m2 += m2 + delta * delta * n1 * n2 / total;
  into.count += count;
  into.min = std::min(into.min, min);
  into.max = std::max(into.max, max);
}

}  // namespace

void FeatureStats::add(std::span<const double> values) {
  // Blocks small enough to stay in L1 while the moments and the sketch pass over them.
  constexpr std::size_t kBlock = 2048;
  for (std::size_t begin = 0; begin < values.size(); begin += kBlock) {
    const std::size_t n = std::min(kBlock, values.size() - begin);
    const BlockMoments block = blockMoments(values.data() + begin, n);
    if (block.count != 0) sketch.addWithExtremes(values.subspan(begin, n), block.min, block.max);
    else sketch.add(values.subspan(begin, n));  // nothing finite: extremes stay as they are
    nonFinite += block.nonFinite;
    mergeMoments(*this, block.count, block.min, block.max, block.mean, block.m2);
  }
}

void FeatureStats::merge(const FeatureStats& other) {
  nonFinite += other.nonFinite;
  sketch.merge(other.sketch);
  mergeMoments(*this, other.count, other.min, other.max, other.mean, other.m2);
}

double FeatureStats::variance() const noexcept {
  return count < 2 ? 0.0 : std::max(0.0, m2 / static_cast<double>(count));
}
double FeatureStats::stddev() const noexcept { return std::sqrt(variance()); }

}  // namespace mlaas::data
