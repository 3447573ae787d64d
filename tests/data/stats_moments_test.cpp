// FeatureStats' moments are vectorised (two SSE2 vectors of two lanes); specs files must not
// change with that, so within one block (up to 2048 values, merged into empty stats unchanged)
// count, min, max, mean and m2 must equal, bit for bit, the scalar four-lane algorithm they
// replaced (written out below): every length around the four-lane step and the tail, non-finite
// values in every lane, signed zeros, subnormals and sums that overflow.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "data/stats.hpp"

namespace mlaas::data {
namespace {

struct Moments {
  std::uint64_t count = 0;
  double min = 0, max = 0, mean = 0, m2 = 0;
};

// The scalar version: lane l takes values 4k + l, the tail goes to lane 0; a non-finite value
// adds 0 and leaves lo/hi alone; two passes with the Chan-Golub-LeVeque correction.
Moments scalarMoments(const std::vector<double>& values) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  struct Lane {
    double sum = 0, lo = kInf, hi = -kInf;
    std::uint64_t finite = 0;
    double squares = 0, correction = 0;
  };
  auto isFinite = [](double v) { return std::fabs(v) <= std::numeric_limits<double>::max(); };
  Lane lanes[4];
  const std::size_t n = values.size();
  auto laneOf = [&](std::size_t i) -> Lane& { return lanes[i < n / 4 * 4 ? i % 4 : 0]; };
  for (std::size_t i = 0; i < n; ++i) {
    Lane& lane = laneOf(i);
    const double v = values[i];
    const bool ok = isFinite(v);
    lane.finite += ok;
    lane.sum += ok ? v : 0.0;
    lane.lo = ok && v < lane.lo ? v : lane.lo;
    lane.hi = ok && v > lane.hi ? v : lane.hi;
  }
  Moments out;
  const auto& [a, b, c, d] = lanes;
  out.count = a.finite + b.finite + c.finite + d.finite;
  if (out.count == 0) return out;
  out.min = std::min(std::min(a.lo, b.lo), std::min(c.lo, d.lo));
  out.max = std::max(std::max(a.hi, b.hi), std::max(c.hi, d.hi));
  out.mean = ((a.sum + b.sum) + (c.sum + d.sum)) / static_cast<double>(out.count);
  for (std::size_t i = 0; i < n; ++i) {
    Lane& lane = laneOf(i);
    const double dv = isFinite(values[i]) ? values[i] - out.mean : 0.0;
    lane.squares += dv * dv;
    lane.correction += dv;
  }
  const double squares = (a.squares + b.squares) + (c.squares + d.squares);
  const double correction = (a.correction + b.correction) + (c.correction + d.correction);
  out.m2 = squares - correction * correction / static_cast<double>(out.count);
  return out;
}

std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }

TEST(FeatureStatsMoments, VectorisedBlockEqualsTheScalarLanesBitForBit) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  const double specials[] = {kNaN, kInf, -kInf, -0.0, 0.0, std::numeric_limits<double>::denorm_min(), -1e-310,
                             std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(), 1e300};
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(40, 25);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(specials) - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  std::size_t blocksWithNonFinite = 0;
  for (std::size_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 63, 64, 65, 2046, 2047, 2048}) {
    for (int specialsPercent : {0, 10, 60, 100}) {
      SCOPED_TRACE(testing::Message() << n << " values, " << specialsPercent << "% special");
      std::vector<double> values(n);
      for (auto& v : values) v = percent(rng) < specialsPercent ? specials[pick(rng)] : normal(rng);
      const Moments want = scalarMoments(values);
      FeatureStats got;
      got.add(values);
      ASSERT_EQ(got.count, want.count);
      EXPECT_EQ(got.nonFinite, n - want.count);
      blocksWithNonFinite += want.count < n;
      if (want.count == 0) continue;
      EXPECT_EQ(bits(got.min), bits(want.min)) << got.min << " vs " << want.min;
      EXPECT_EQ(bits(got.max), bits(want.max)) << got.max << " vs " << want.max;
      EXPECT_EQ(bits(got.mean), bits(want.mean)) << got.mean << " vs " << want.mean;
      EXPECT_EQ(bits(got.m2), bits(want.m2)) << got.m2 << " vs " << want.m2;
    }
  }
  EXPECT_GT(blocksWithNonFinite, 20u);  // the masks were exercised
}

}  // namespace
}  // namespace mlaas::data
