// ROC/AUC against a brute-force pair count, and the JSON and SVG forms of a history.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "train/metrics.hpp"

namespace mlaas::train {
namespace {

double bruteForceAuc(const std::vector<float>& s, const std::vector<std::uint8_t>& pos, const std::vector<float>& w) {
  double num = 0;
  double den = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j) {
      if (pos[i] == 0 || pos[j] != 0) continue;
      const double pairWeight = (w.empty() ? 1.0 : w[i]) * (w.empty() ? 1.0 : w[j]);
      den += pairWeight;
      num += pairWeight * (s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0);
    }
  return num / den;
}

TEST(Metrics, AucMatchesPairCountingWithTiesAndWeights) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> coarse(0, 9);  // many ties
  std::uniform_real_distribution<float> weight(0.1F, 2.0F);
  std::vector<float> scores;
  std::vector<std::uint8_t> positive;
  std::vector<float> weights;
  for (int i = 0; i < 300; ++i) {
    const bool p = i % 3 == 0;
    positive.push_back(p ? 1 : 0);
    scores.push_back(static_cast<float>(coarse(rng) + (p ? 2 : 0)));
    weights.push_back(weight(rng));
  }
  EXPECT_NEAR(rocAuc(scores, positive, {}), bruteForceAuc(scores, positive, {}), 1e-12);
  EXPECT_NEAR(rocAuc(scores, positive, weights), bruteForceAuc(scores, positive, weights), 1e-12);
}

TEST(Metrics, AucEdgeCases) {
  const std::vector<float> s{0.1F, 0.2F, 0.8F, 0.9F};
  EXPECT_DOUBLE_EQ(rocAuc(s, std::vector<std::uint8_t>{0, 0, 1, 1}, {}), 1.0);
  EXPECT_DOUBLE_EQ(rocAuc(s, std::vector<std::uint8_t>{1, 1, 0, 0}, {}), 0.0);
  EXPECT_DOUBLE_EQ(rocAuc(std::vector<float>{0.5F, 0.5F}, std::vector<std::uint8_t>{1, 0}, {}), 0.5);
  EXPECT_TRUE(std::isnan(rocAuc(s, std::vector<std::uint8_t>{1, 1, 1, 1}, {})));
}

// A NaN score (a network fed a NaN feature) made rocAuc loop forever: NaN == NaN is false, so
// the run of ties never advanced, and sorting by a comparison that NaN breaks is undefined.
TEST(Metrics, NaNScoresGiveAnUndefinedAucAndTerminate) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::uint8_t> positive{1, 0, 1, 0, 1};
  for (const auto& scores : {std::vector<float>{nan, nan, nan, nan, nan}, std::vector<float>{0.9F, nan, 0.4F, 0.1F, nan},
                             std::vector<float>{nan, 0.2F, 0.2F, 0.2F, 0.7F}}) {
    EXPECT_TRUE(std::isnan(rocAuc(scores, positive, {})));
    const auto curve = rocCurve(scores, positive, {});
    EXPECT_TRUE(std::isnan(curve.auc));
    EXPECT_TRUE(curve.falsePositiveRate.empty());
    EXPECT_TRUE(curve.truePositiveRate.empty());
  }
  // A weight that is not finite makes the rates meaningless too.
  const std::vector<float> s{0.1F, 0.2F, 0.8F, 0.9F};
  const std::vector<std::uint8_t> p{0, 0, 1, 1};
  EXPECT_TRUE(std::isnan(rocAuc(s, p, std::vector<float>{1, nan, 1, 1})));
  EXPECT_TRUE(std::isnan(rocAuc(s, p, std::vector<float>{1, 1, std::numeric_limits<float>::infinity(), 1})));
}

TEST(Metrics, InfiniteScoresAreOrdered) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> scores{-inf, 0.3F, inf, inf, -inf, 0.3F};
  const std::vector<std::uint8_t> positive{0, 1, 1, 0, 1, 0};
  EXPECT_NEAR(rocAuc(scores, positive, {}), bruteForceAuc(scores, positive, {}), 1e-12);
  const auto curve = rocCurve(scores, positive, {});
  EXPECT_EQ(curve.falsePositiveRate.size(), 4U);  // origin + one point per distinct score
  EXPECT_DOUBLE_EQ(curve.truePositiveRate.back(), 1.0);
}

// NLO samples carry negative weights: they count as weights, pair by pair, like the others.
TEST(Metrics, AucWithNegativeWeightsMatchesPairCounting) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> coarse(0, 19);
  std::uniform_real_distribution<float> weight(-0.3F, 1.5F);
  std::vector<float> scores;
  std::vector<std::uint8_t> positive;
  std::vector<float> weights;
  for (int i = 0; i < 400; ++i) {
    const bool p = i % 2 == 0;
    positive.push_back(p ? 1 : 0);
    scores.push_back(static_cast<float>(coarse(rng) + (p ? 4 : 0)));
    weights.push_back(weight(rng));
  }
  ASSERT_TRUE(std::any_of(weights.begin(), weights.end(), [](float w) { return w < 0; }));
  const double auc = rocAuc(scores, positive, weights);
  EXPECT_NEAR(auc, bruteForceAuc(scores, positive, weights), 1e-9);
  EXPECT_GT(auc, 0.5);
  // Weights of one class summing to 0 or less leave no AUC.
  const std::vector<float> s{0.1F, 0.2F, 0.8F, 0.9F};
  EXPECT_TRUE(std::isnan(rocAuc(s, std::vector<std::uint8_t>{0, 0, 1, 1}, std::vector<float>{1, 1, 1, -1})));
}

TEST(Metrics, RocCurveRunsFromOriginToOneAndIsMonotonic) {
  std::vector<float> scores;
  std::vector<std::uint8_t> positive;
  for (int i = 0; i < 1000; ++i) {
    scores.push_back(static_cast<float>(i % 97));
    positive.push_back(i % 97 > 40 ? 1 : (i % 5 == 0 ? 1 : 0));
  }
  const auto curve = rocCurve(scores, positive, {}, 50);
  ASSERT_LE(curve.falsePositiveRate.size(), 50U);
  EXPECT_EQ(curve.falsePositiveRate.front(), 0.0);
  EXPECT_EQ(curve.truePositiveRate.front(), 0.0);
  EXPECT_DOUBLE_EQ(curve.falsePositiveRate.back(), 1.0);
  EXPECT_DOUBLE_EQ(curve.truePositiveRate.back(), 1.0);
  for (std::size_t i = 1; i < curve.falsePositiveRate.size(); ++i) {
    EXPECT_GE(curve.falsePositiveRate[i], curve.falsePositiveRate[i - 1]);
    EXPECT_GE(curve.truePositiveRate[i], curve.truePositiveRate[i - 1]);
  }
  EXPECT_DOUBLE_EQ(curve.auc, rocAuc(scores, positive, {}));
}

TrainHistory sampleHistory() {
  TrainHistory h;
  for (int e = 1; e <= 3; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.learningRate = 1e-3;
    m.trainLoss = 1.0 / e;
    m.validationLoss = 1.1 / e;
    m.validationAuc = 0.8 + 0.05 * e;
    h.epochs.push_back(m);
  }
  h.bestEpoch = 3;
  h.bestValidationLoss = 1.1 / 3;
  h.roc.push_back(RocCurve{"signal & <b>", {0, 0.1, 1}, {0, 0.7, 1}, 0.9});
  return h;
}

TEST(Metrics, HistoryJsonHasEveryEpochAndNullForMissingValues) {
  const auto json = nlohmann::json::parse(historyJson(sampleHistory(), TrainConfig{}));
  ASSERT_EQ(json["epochs"].size(), 3U);
  EXPECT_DOUBLE_EQ(json["epochs"][1]["train_loss"].get<double>(), 0.5);
  EXPECT_TRUE(json["epochs"][0]["train_accuracy"].is_null());  // NaN: not measured
  EXPECT_EQ(json["best_epoch"], 3);
  EXPECT_EQ(json["task"], "binary");
  EXPECT_DOUBLE_EQ(json["roc"][0]["auc"].get<double>(), 0.9);
}

TEST(Metrics, SvgIsWellFormedAndEscapesLabels) {
  const auto svg = historySvg(sampleHistory(), "run <1>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0U);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("signal &amp; &lt;b&gt; (AUC 0.9000)"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  // Two loss polylines, the diagonal and one ROC curve.
  std::size_t polylines = 0;
  for (auto pos = svg.find("<polyline"); pos != std::string::npos; pos = svg.find("<polyline", pos + 1)) ++polylines;
  EXPECT_EQ(polylines, 4U);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace mlaas::train
