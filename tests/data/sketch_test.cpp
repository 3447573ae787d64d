// The quantile sketch's documented accuracy against exact order statistics, its merges, and the
// specs format of both bucket mappings (binary today, logarithmic in older specs files).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "data/specs.hpp"
#include "data/stats.hpp"

namespace mlaas::data {
namespace {

double exactQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

// Samples spanning many decades and both signs, plus values at and near bucket edges.
std::vector<std::vector<double>> samples() {
  std::mt19937_64 rng(11);
  std::vector<std::vector<double>> out(5);
  std::lognormal_distribution<double> wide(0, 6);  // ~1e-8 .. 1e8
  std::normal_distribution<double> normal(3, 40);
  std::uniform_real_distribution<double> eta(-2.5, 2.5);
  for (int i = 0; i < 30000; ++i) {
    out[0].push_back(wide(rng));
    out[1].push_back(normal(rng));
    out[2].push_back(eta(rng));
    out[3].push_back(-wide(rng));
  }
  for (int e = -30; e <= 30; ++e)  // exact powers of two and their neighbours: the bucket edges
    for (double v : {std::ldexp(1.0, e), std::nextafter(std::ldexp(1.0, e), 0.0), std::ldexp(1.0, e) * 1.0078125})
      out[4].push_back(v);
  return out;
}

TEST(Sketch, QuantilesWithinAlphaOfExactOrderStatistics) {
  for (double alpha : {0.005, 0.01, 0.05}) {
    for (const auto& values : samples()) {
      QuantileSketch sketch(alpha);
      sketch.add(values);
      ASSERT_EQ(sketch.count(), values.size());
      for (double q : {0.0, 0.001, 0.16, 0.25, 0.5, 0.84, 0.99, 1.0}) {
        const double exact = exactQuantile(values, q);
        EXPECT_LE(std::fabs(sketch.quantile(q) - exact), alpha * std::fabs(exact)) << "alpha " << alpha << " q " << q;
      }
    }
  }
}

TEST(Sketch, BulkAndSingleAddsAndAnySplitGiveTheSameBuckets) {
  auto values = samples()[1];
  values.push_back(std::nan(""));
  values.push_back(INFINITY);
  values.push_back(0);
  values.push_back(1e-300);  // below the zero threshold
  QuantileSketch one, bulk, merged, part;
  for (double v : values) one.add(v);
  bulk.add(values);
  // Merge pieces of very different ranges, in an order that grows the target downwards and upwards.
  std::vector<double> low, high;
  for (double v : values) (std::fabs(v) < 10 ? low : high).push_back(v);
  part.add(high);
  merged.add(low);
  merged.merge(part);
  for (const auto* s : {&bulk, &merged}) {
    EXPECT_EQ(s->count(), values.size() - 2);
    EXPECT_EQ(s->zeros(), one.zeros());
    EXPECT_EQ(s->positive().counts.size(), one.positive().counts.size());
    EXPECT_EQ(s->positive().offset, one.positive().offset);
    EXPECT_EQ(s->positive().counts, one.positive().counts);
    EXPECT_EQ(s->negative().counts, one.negative().counts);
    for (double q : {0.1, 0.5, 0.9}) EXPECT_EQ(s->quantile(q), one.quantile(q));
  }
}

TEST(Sketch, LogarithmicBucketsOfOlderSpecsStillAnswer) {
  // Build the buckets the way specs files written before the binary mapping did.
  const double alpha = 0.005, gamma = (1 + alpha) / (1 - alpha);
  const auto values = samples()[0];
  QuantileSketch::Buckets positive;
  std::vector<std::int32_t> indices;
  for (double v : values) indices.push_back(static_cast<std::int32_t>(std::ceil(std::log(v) / std::log(gamma))));
  positive.offset = *std::min_element(indices.begin(), indices.end());
  positive.counts.assign(
      static_cast<std::size_t>(*std::max_element(indices.begin(), indices.end()) - positive.offset) + 1, 0);
  for (auto i : indices) ++positive.counts[static_cast<std::size_t>(i - positive.offset)];
  auto legacy = QuantileSketch::fromBuckets(alpha, QuantileSketch::Mapping::logarithmic, 0, positive, {}, 0);
  for (double q : {0.16, 0.5, 0.84}) {
    const double exact = exactQuantile(values, q);
    EXPECT_LE(std::fabs(legacy.quantile(q) - exact), alpha * exact) << q;
  }
  QuantileSketch fresh;
  fresh.add(1.0);
  EXPECT_THROW(fresh.merge(legacy), std::invalid_argument);
}

std::string specsWithSketch(const std::string& sketch) {
  return R"({"mlaas_specs": 1, "config_hash": "h", "tree": "t", "entries": 3, "selected": 3, "inputs": [], "schema": [],
    "groups": {}, "features": {"x": {"count": 3, "non_finite": 0, "min": -4, "max": 4, "mean": 2, "m2": 1, "sketch": )" +
         sketch + "}}}";
}

TEST(Sketch, SpecsCarryTheMappingAndRejectBadOnes) {
  // An older specs file: no "mapping" key, logarithmic buckets (index 139 of gamma 1.01005 is ~4).
  auto old = Specs::fromJson(specsWithSketch(R"({"alpha": 0.005, "zeros": 0, "positive": {"offset": 0, "counts": [1]},
      "negative": {"offset": 139, "counts": [2]}})"),
                             "old.json");
  EXPECT_EQ(old.features.at("x").sketch.mapping(), QuantileSketch::Mapping::logarithmic);
  EXPECT_NEAR(old.features.at("x").sketch.quantile(0), -4.0, 0.005 * 4);

  QuantileSketch sketch;
  sketch.add(std::vector<double>{1, 2, 4});
  const auto bits = std::to_string(sketch.mantissaBits());
  const auto offset = std::to_string(sketch.positive().offset);
  auto fresh =
      Specs::fromJson(specsWithSketch(R"({"alpha": 0.005, "zeros": 0, "mapping": "binary", "mantissa_bits": )" + bits +
                                      R"(, "positive": {"offset": )" + offset +
                                      R"(, "counts": [1]}, "negative": {"offset": 0, "counts": []}})"),
                      "new.json");
  // One value in the bucket of 1: its representative, within alpha (q = 0 is now the exact min).
  EXPECT_NEAR(fresh.features.at("x").sketch.quantile(0.5), 1.0, 0.005);

  auto expectError = [](const std::string& sketchJson, const std::string& needle) {
    try {
      (void)Specs::fromJson(specsWithSketch(sketchJson), "bad.json");
      FAIL() << "accepted " << sketchJson;
    } catch (const core::Exception& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("bad.json: key 'features.x'"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  expectError(
      R"({"alpha": 0.005, "zeros": 0, "mapping": "cubic", "positive": {"offset": 0, "counts": []}, "negative": {"offset": 0, "counts": []}})",
      "unknown sketch mapping 'cubic'");
  expectError(
      R"({"alpha": 0.005, "zeros": 0, "mapping": "binary", "mantissa_bits": 3, "positive": {"offset": 0, "counts": []},
      "negative": {"offset": 0, "counts": []}})",
      "3 mantissa bits do not match alpha 0.005");
  expectError(R"({"alpha": 0.005, "zeros": 0, "mapping": "binary", "mantissa_bits": )" + bits +
                  R"(, "positive": {"offset": 2000000000, "counts": [1]}, "negative": {"offset": 0, "counts": []}})",
              "outside the finite doubles");
}

}  // namespace
}  // namespace mlaas::data
