// Quantiles against a two-pass reference (sort, then the value of rank floor(q (n - 1))): never
// outside the data's [min, max], exact for constants and for small integers, the same after the
// specs' JSON round trip; robust normalisation maps a constant feature to exactly 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "data/config.hpp"
#include "data/dataset.hpp"
#include "data/plan.hpp"
#include "data/specs.hpp"
#include "data/stats.hpp"
#include "data/transform.hpp"
#include "data_test_util.hpp"

namespace mlaas::data {
namespace {

constexpr double kQuantiles[] = {0.0, 0.01, 0.16, 0.25, 0.5, 0.75, 0.84, 0.99, 1.0};

double referenceQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

FeatureStats statsOf(const std::vector<double>& values) {
  FeatureStats stats;
  stats.add(values);
  return stats;
}

TEST(QuantileExact, ConstantFeatureAnswersTheConstant) {
  // -1 sits on a bucket edge (the old answer was the bucket's midpoint -1.0039); 3.3 and 1e-13
  // (below the zero threshold) inside buckets.
  for (double constant : {-1.0, 3.3, 1e-13, 0.0, -250.75}) {
    auto stats = statsOf(std::vector<double>(1000, constant));
    for (double q : kQuantiles) EXPECT_EQ(stats.sketch.quantile(q), constant) << "constant " << constant << " q " << q;
  }
}

TEST(QuantileExact, IntegerDataAnswersTheExactOrderStatistic) {
  std::mt19937_64 rng(5);
  std::poisson_distribution<int> pileup(10);             // like PV_npvsGood
  std::uniform_int_distribution<int> signedSmall(-200, 200);
  std::vector<double> counts, signedValues;
  for (int i = 0; i < 20000; ++i) {
    counts.push_back(pileup(rng));
    signedValues.push_back(signedSmall(rng));
  }
  for (const auto* values : {&counts, &signedValues}) {
    auto stats = statsOf(*values);
    ASSERT_TRUE(stats.sketch.integral());
    for (double q : kQuantiles) EXPECT_EQ(stats.sketch.quantile(q), referenceQuantile(*values, q)) << "q " << q;
  }
}

TEST(QuantileExact, ContinuousDataStaysWithinMinMaxAndAlpha) {
  // All values in [1, 1.001]: one bucket [1, 1.0078) whose midpoint 1.0039 lies above the max.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> narrow(1.0, 1.001), wide(-50, 80);
  std::vector<double> narrowValues, wideValues;
  for (int i = 0; i < 5000; ++i) {
    narrowValues.push_back(narrow(rng));
    wideValues.push_back(wide(rng));
  }
  for (const auto* values : {&narrowValues, &wideValues}) {
    auto stats = statsOf(*values);
    EXPECT_FALSE(stats.sketch.integral());
    const double lo = *std::min_element(values->begin(), values->end());
    const double hi = *std::max_element(values->begin(), values->end());
    EXPECT_EQ(stats.sketch.quantile(0), lo);
    EXPECT_EQ(stats.sketch.quantile(1), hi);
    for (double q : kQuantiles) {
      const double answer = stats.sketch.quantile(q), exact = referenceQuantile(*values, q);
      EXPECT_GE(answer, lo);
      EXPECT_LE(answer, hi);
      EXPECT_LE(std::fabs(answer - exact), stats.sketch.alpha() * std::fabs(exact)) << "q " << q;
    }
  }
}

TEST(QuantileExact, IntegralityAndExtremesMergeAndSurviveSingleAdds) {
  QuantileSketch integers, mixed, single;
  integers.add(std::vector<double>{3, -0.0, 9007199254740994.0, -7, 1024});
  EXPECT_TRUE(integers.integral());
  EXPECT_EQ(integers.min(), -7);
  EXPECT_EQ(integers.max(), 9007199254740994.0);
  for (double fraction : {0.5, 1e-13, 2.25, -1023.5, 4503599627370495.5}) {
    QuantileSketch one;
    one.add(std::vector<double>{4, fraction});
    EXPECT_FALSE(one.integral()) << fraction;
    QuantileSketch scalar;
    scalar.add(fraction);
    EXPECT_FALSE(scalar.integral()) << fraction;
  }
  mixed.add(std::vector<double>{0.5, NAN, INFINITY});
  EXPECT_EQ(mixed.max(), 0.5);  // non-finite values are not extremes
  QuantileSketch merged = integers;
  merged.merge(mixed);
  EXPECT_FALSE(merged.integral());
  EXPECT_EQ(merged.min(), -7);
  single.add(-7.0);
  single.add(3.0);
  EXPECT_TRUE(single.integral());
  EXPECT_EQ(single.quantile(0.5), -7);  // rank floor(0.5 * 1) = 0
}

TEST(QuantileExact, SpecsRoundTripKeepsExactQuantiles) {
  using testing::flatColumn;
  using testing::intColumn;
  std::mt19937 rng(3);
  std::poisson_distribution<int> pileup(10);
  std::uniform_real_distribution<float> met(0, 100);
  std::vector<std::int32_t> npv;
  std::vector<float> constant, metValues;
  for (int i = 0; i < 3000; ++i) {
    npv.push_back(pileup(rng));
    constant.push_back(-1.0F);
    metValues.push_back(met(rng));
  }
  TreeSchema schema{{"npv", root::DType::int32, "", ""},
                    {"flag", root::DType::float32, "", ""},
                    {"MET_pt", root::DType::float32, "", ""}};
  auto tree = memoryTree("q.root", schema,
                         {intColumn("npv", npv), flatColumn("flag", constant), flatColumn("MET_pt", metValues)});
  auto inputs = makeInputs({tree}, {std::nullopt});
  auto config = DatasetConfig::parse("inputs: {tree: t, files: [q.root]}\nfeatures: {flat: [npv, flag, MET_pt]}\n"
                                     "normalization: robust\nshuffle: false\n",
                                     "q.yaml", "/tmp");
  auto plan = Plan::build(config, inputs.schema);
  const Specs specs = computeSpecs(*plan, inputs);
  const Specs loaded = Specs::fromJson(specs.toJson(*plan), "specs.json");
  std::vector<double> npvValues(npv.begin(), npv.end());
  for (const auto* s : {&specs, &loaded}) {
    EXPECT_EQ(s->features.at("flag").sketch.quantile(0.5), -1.0);
    for (double q : kQuantiles)
      EXPECT_EQ(s->features.at("npv").sketch.quantile(q), referenceQuantile(npvValues, q)) << "q " << q;
    EXPECT_LE(s->features.at("MET_pt").sketch.quantile(0.99), s->features.at("MET_pt").max);
  }

  // Robust normalisation: (x - median) / ((p84 - p16) / 2); a constant's median is itself, so 0.
  for (const auto* s : {&specs, &loaded}) {
    auto transform = std::make_shared<const Transform>(plan, *s);
    Dataset dataset(plan, transform, inputs, {});
    dataset.start(0);
    std::size_t rows = 0;
    while (const Batch* batch = dataset.next().value()) {
      for (std::size_t r = 0; r < batch->rows; ++r) {
        const float* row = batch->tensors[0].data() + r * 3;
        ASSERT_EQ(row[1], 0.0F) << "row " << rows + r;
      }
      rows += batch->rows;
    }
    EXPECT_EQ(rows, 3000u);
  }
}

}  // namespace
}  // namespace mlaas::data
