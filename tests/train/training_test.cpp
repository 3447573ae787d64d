// The loop: learning a separable problem, determinism for a seed, resume from checkpoints, early
// stopping, schedules, and the errors for data that does not fit the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>

#include "core/result.hpp"
#include "synthetic.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

namespace mlaas::train {
namespace {

TrainConfig smallMlp(int epochs) {
  TrainConfig config;
  config.model.hidden = {32, 16};
  config.model.dropout = 0.1;
  config.training.epochs = epochs;
  config.training.batchSize = 128;
  config.training.learningRate = 3e-3;
  config.training.threads = 1;
  config.training.seed = 42;
  return config;
}

std::vector<double> losses(const TrainHistory& history) {
  std::vector<double> out;
  for (const auto& e : history.epochs) {
    out.push_back(e.trainLoss);
    out.push_back(e.validationLoss);
  }
  return out;
}

TEST(Training, MlpLearnsASeparableProblem) {
  const auto all = synthetic::vectorProblem(4000, 7, 2.0);
  const auto sets = splitTrainValidation(all, 0.25, 1);
  auto config = smallMlp(6);
  Trainer trainer(config, all.inputs, 1);
  const auto& history = trainer.fit(sets.train, sets.validation);
  ASSERT_EQ(history.epochs.size(), 6U);
  // Three features shifted by 2 sigma each: the Bayes AUC is about 0.99.
  EXPECT_GT(history.epochs.back().validationAuc, 0.95);
  EXPECT_GT(history.epochs.back().validationAccuracy, 0.88);
  EXPECT_LT(history.epochs.back().trainLoss, history.epochs.front().trainLoss);
  ASSERT_EQ(history.roc.size(), 1U);
  EXPECT_NEAR(history.roc[0].auc, history.epochs[static_cast<std::size_t>(history.bestEpoch - 1)].validationAuc, 1e-9);
  for (const auto& e : history.epochs) {
    EXPECT_GT(e.eventsPerSecond, 0);
    EXPECT_GE(e.seconds, e.loadSeconds + e.computeSeconds);
  }
}

TEST(Training, SameSeedGivesIdenticalLossHistory) {
  const auto all = synthetic::vectorProblem(1500, 8);
  const auto sets = splitTrainValidation(all, 0.2, 2);
  auto config = smallMlp(3);
  Trainer first(config, all.inputs, 1);
  Trainer second(config, all.inputs, 1);
  const auto a = losses(first.fit(sets.train, sets.validation));
  const auto b = losses(second.fit(sets.train, sets.validation));
  EXPECT_EQ(a, b);  // bit for bit
  EXPECT_EQ(first.predict(sets.validation), second.predict(sets.validation));

  config.training.seed = 43;
  Trainer other(config, all.inputs, 1);
  EXPECT_NE(losses(other.fit(sets.train, sets.validation)), a);
}

TEST(Training, ResumeFromCheckpointContinuesIdentically) {
  const auto all = synthetic::groupProblem(1200, 9);
  const auto sets = splitTrainValidation(all, 0.2, 3);
  auto config = smallMlp(5);
  config.model.kind = ModelKind::deepsets;
  config.model.pooling = Pooling::mean;
  config.training.schedule = Schedule::cosine;  // the rate depends on the epoch: resume must keep it
  mlaas::test::TempDir dir;

  Trainer uninterrupted(config, all.inputs, 1);
  const auto expected = losses(uninterrupted.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir / "a"}));

  {
    Trainer interrupted(config, all.inputs, 1);
    const auto& partial = interrupted.fit(sets.train, sets.validation,
                                          FitOptions{.checkpointDir = dir / "b", .stopAfterEpoch = 2});
    ASSERT_EQ(partial.epochs.size(), 2U);
  }
  ASSERT_TRUE(std::filesystem::exists(dir / "b" / "checkpoint.pt"));
  Trainer resumed(config, all.inputs, 1);  // fresh weights, replaced by the checkpoint
  const auto& history =
      resumed.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir / "b", .resume = true});
  EXPECT_EQ(losses(history), expected);
  EXPECT_EQ(resumed.predict(sets.validation), uninterrupted.predict(sets.validation));
}

TEST(Training, ResumeRefusesACheckpointOfAnotherModel) {
  const auto all = synthetic::vectorProblem(300, 10);
  const auto sets = splitTrainValidation(all, 0.2, 3);
  mlaas::test::TempDir dir;
  {
    Trainer trainer(smallMlp(1), all.inputs, 1);
    trainer.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir.path()});
  }
  auto config = smallMlp(2);
  config.model.hidden = {8};
  Trainer other(config, all.inputs, 1);
  try {
    other.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir.path(), .resume = true});
    FAIL() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::conflict);
    EXPECT_NE(std::string(e.what()).find("checkpoint.json"), std::string::npos) << e.what();
  }
}

TEST(Training, CorruptCheckpointIsAClearError) {
  const auto all = synthetic::vectorProblem(200, 10);
  const auto sets = splitTrainValidation(all, 0.2, 3);
  mlaas::test::TempDir dir;
  mlaas::test::writeFile(dir / "checkpoint.json", "{not json");
  mlaas::test::writeFile(dir / "checkpoint.pt", "garbage");
  Trainer trainer(smallMlp(1), all.inputs, 1);
  try {
    trainer.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir.path(), .resume = true});
    FAIL() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::corrupt);
    EXPECT_NE(std::string(e.what()).find("checkpoint.json"), std::string::npos) << e.what();
  }
}

TEST(Training, EarlyStoppingStopsAndKeepsTheBestWeights) {
  // Pure noise: validation loss stops improving quickly.
  auto all = synthetic::vectorProblem(600, 11, 0.0);
  const auto sets = splitTrainValidation(all, 0.3, 4);
  auto config = smallMlp(50);
  config.model.hidden = {64, 64};
  config.training.learningRate = 0.01;
  config.training.patience = 2;
  Trainer trainer(config, all.inputs, 1);
  const auto& history = trainer.fit(sets.train, sets.validation);
  EXPECT_TRUE(history.stoppedEarly);
  EXPECT_LT(history.epochs.size(), 50U);
  EXPECT_EQ(static_cast<int>(history.epochs.size()), history.bestEpoch + config.training.patience);
  // The restored weights are the best epoch's: evaluating again reproduces its validation loss.
  double best = history.epochs[static_cast<std::size_t>(history.bestEpoch - 1)].validationLoss;
  EXPECT_DOUBLE_EQ(best, history.bestValidationLoss);
}

TEST(Training, SgdWithStepScheduleFollowsTheSchedule) {
  const auto all = synthetic::vectorProblem(2000, 12, 2.0);
  const auto sets = splitTrainValidation(all, 0.25, 5);
  auto config = smallMlp(5);
  config.training.optimizer = OptimizerKind::sgd;
  config.training.learningRate = 0.05;
  config.training.schedule = Schedule::step;
  config.training.stepEpochs = 2;
  config.training.gamma = 0.1;
  Trainer trainer(config, all.inputs, 1);
  const auto& history = trainer.fit(sets.train, sets.validation);
  ASSERT_EQ(history.epochs.size(), 5U);
  EXPECT_DOUBLE_EQ(history.epochs[0].learningRate, 0.05);
  EXPECT_DOUBLE_EQ(history.epochs[1].learningRate, 0.05);
  EXPECT_NEAR(history.epochs[2].learningRate, 0.005, 1e-12);
  EXPECT_NEAR(history.epochs[4].learningRate, 0.0005, 1e-12);
  EXPECT_GT(history.epochs.back().validationAuc, 0.9);
}

TEST(Training, CosineScheduleEndsAtTheMinimum) {
  TrainingConfig t;
  t.schedule = Schedule::cosine;
  t.learningRate = 0.1;
  t.minLearningRate = 0.001;
  t.epochs = 10;
  EXPECT_DOUBLE_EQ(learningRateAt(t, 0), 0.1);
  EXPECT_NEAR(learningRateAt(t, 5), 0.0505, 1e-12);
  EXPECT_GT(learningRateAt(t, 9), 0.001);  // the last epoch still learns
  EXPECT_NEAR(learningRateAt(t, 10), 0.001, 1e-12);
}

TEST(Training, DeepSetsAndCnnLearnTheirProblems) {
  {
    const auto all = synthetic::groupProblem(3000, 13);
    const auto sets = splitTrainValidation(all, 0.25, 6);
    auto config = smallMlp(6);
    config.model.kind = ModelKind::deepsets;
    config.model.pooling = Pooling::sum;
    Trainer trainer(config, all.inputs, 1);
    EXPECT_GT(trainer.fit(sets.train, sets.validation).roc.at(0).auc, 0.85);
  }
  {
    const auto all = synthetic::imageProblem(1200, 14);
    const auto sets = splitTrainValidation(all, 0.25, 7);
    auto config = smallMlp(4);
    config.model.kind = ModelKind::cnn;
    config.model.channels = {4, 8};
    Trainer trainer(config, all.inputs, 1);
    EXPECT_GT(trainer.fit(sets.train, sets.validation).roc.at(0).auc, 0.95);
  }
}

TEST(Training, MulticlassWithEventAndClassWeights) {
  const auto all = synthetic::multiclassProblem(3000, 15);
  const auto sets = splitTrainValidation(all, 0.25, 8);
  auto config = smallMlp(5);
  config.model.task = Task::multiclass;
  config.model.classWeights = {1.0, 2.0, 1.0};
  ASSERT_EQ(resolveOutputs(config.model, sets.train), 3);
  Trainer trainer(config, all.inputs, 3);
  const auto& history = trainer.fit(sets.train, sets.validation, FitOptions{.classNames = {"a", "b", "c"}});
  EXPECT_GT(history.epochs.back().validationAuc, 0.85);
  ASSERT_EQ(history.roc.size(), 3U);
  EXPECT_EQ(history.roc[1].label, "b");
  // Softmax rows sum to 1.
  const auto p = trainer.predict(sets.validation);
  for (std::size_t e = 0; e < p.size() / 3; ++e) EXPECT_NEAR(p[3 * e] + p[3 * e + 1] + p[3 * e + 2], 1.0, 1e-5);
}

TEST(Training, RegressionReducesTheError) {
  const auto all = synthetic::regressionProblem(3000, 16);
  const auto sets = splitTrainValidation(all, 0.25, 9);
  auto config = smallMlp(8);
  config.model.task = Task::regression;
  config.model.dropout = 0;
  Trainer trainer(config, all.inputs, resolveOutputs(config.model, sets.train));
  const auto& history = trainer.fit(sets.train, sets.validation);
  // The targets have variance ~5 and ~3; a useful fit brings the mean squared error well below.
  EXPECT_LT(history.epochs.back().validationLoss, 0.5);
  EXPECT_TRUE(std::isnan(history.epochs.back().validationAuc));
  EXPECT_TRUE(history.roc.empty());
}

void expectInvalid(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "expected an exception mentioning " << needle;
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Training, InputsThatDoNotSuitTheModelAreErrors) {
  const auto vector = synthetic::vectorProblem(50, 1);
  const auto groups = synthetic::groupProblem(50, 1);
  const auto image = synthetic::imageProblem(20, 1);
  TrainConfig config;
  config.model.kind = ModelKind::mlp;
  expectInvalid([&] { Trainer t(config, groups.inputs, 1); }, "model.kind: mlp");
  config.model.kind = ModelKind::deepsets;
  expectInvalid([&] { Trainer t(config, vector.inputs, 1); }, "model.kind: deepsets");
  config.model.kind = ModelKind::cnn;
  expectInvalid([&] { Trainer t(config, vector.inputs, 1); }, "model.kind: cnn");
  config.model.channels = {2, 2, 2, 2, 2};  // 12 -> 6 -> 3 -> 1 -> 0
  expectInvalid([&] { Trainer t(config, image.inputs, 1); }, "model.channels");

  config.model.kind = ModelKind::mlp;
  Trainer trainer(config, vector.inputs, 1);
  expectInvalid([&] { trainer.fit(groups, groups); }, "training set");
  auto badLabels = vector;
  badLabels.labels[3] = 2.0F;
  expectInvalid([&] { (void)resolveOutputs(config.model, badLabels); }, "event 3");
  auto truncated = vector;
  truncated.values[0].pop_back();
  expectInvalid([&] { trainer.fit(truncated, vector); }, "input 'features'");
}

// ---- values the network cannot use, weights, classes, divergence ----

std::string messageOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return {};
}

// NaN or inf as a present value made every output NaN, and the NaN scores hung rocAuc forever.
TEST(Training, NonFiniteFeaturesAreRefusedNamingTheFeatureAndSplit) {
  const auto all = synthetic::vectorProblem(400, 21);
  auto sets = splitTrainValidation(all, 0.25, 2);
  // Padding (mask 0) may hold NaN (synthetic::garbage does): the network never sees it.
  ASSERT_TRUE(std::any_of(sets.train.values[0].begin(), sets.train.values[0].end(),
                          [](float v) { return std::isnan(v); }));
  auto presentIndex = [](const TensorSet& set, std::int64_t feature, int nth) {
    for (std::int64_t e = 0; e < set.events; ++e)
      if (set.masks[0][static_cast<std::size_t>(e * 6 + feature)] != 0 && nth-- == 0)
        return static_cast<std::size_t>(e * 6 + feature);
    return std::size_t{0};
  };
  sets.train.values[0][presentIndex(sets.train, 1, 0)] = std::numeric_limits<float>::quiet_NaN();
  sets.train.values[0][presentIndex(sets.train, 1, 5)] = std::numeric_limits<float>::quiet_NaN();
  sets.validation.values[0][presentIndex(sets.validation, 1, 2)] = std::numeric_limits<float>::infinity();
  sets.validation.values[0][presentIndex(sets.validation, 4, 0)] = -std::numeric_limits<float>::infinity();
  Trainer trainer(smallMlp(1), all.inputs, 1);
  const auto message = messageOf([&] { trainer.fit(sets.train, sets.validation); });
  EXPECT_NE(message.find("2 values are NaN or infinite"), std::string::npos) << message;
  EXPECT_NE(message.find("feature 'b': 2 values in 2 of 300 events of the training split; 1 value in 1 of 100 events "
                         "of the validation split"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("feature 'e': 1 value in 1 of 100 events of the validation split"), std::string::npos)
      << message;
  EXPECT_NE(message.find("where(nJet > 0, Jet_pt[0], 0)"), std::string::npos) << message;
  EXPECT_TRUE(trainer.history().epochs.empty());

  // The same NaN behind a mask of 0 is padding: training runs and every metric is a number.
  auto padded = sets;
  for (auto* set : {&padded.train, &padded.validation})
    for (std::size_t k = 0; k < set->values[0].size(); ++k)
      if (!std::isfinite(set->values[0][k])) set->masks[0][k] = 0;
  Trainer fine(smallMlp(1), all.inputs, 1);
  const auto& history = fine.fit(padded.train, padded.validation);
  EXPECT_TRUE(std::isfinite(history.epochs.at(0).validationLoss));
  EXPECT_TRUE(std::isfinite(history.epochs.at(0).validationAuc));
}

TEST(Training, NonFiniteLabelsAndWeightsAreRefused) {
  const auto all = synthetic::multiclassProblem(300, 22);
  auto sets = splitTrainValidation(all, 0.2, 3);
  auto config = smallMlp(1);
  config.model.task = Task::multiclass;
  Trainer trainer(config, all.inputs, 3);
  auto nanWeight = sets;
  nanWeight.train.weights[7] = std::numeric_limits<float>::quiet_NaN();
  auto message = messageOf([&] { trainer.fit(nanWeight.train, nanWeight.validation); });
  EXPECT_NE(message.find("the event weight is NaN or infinite"), std::string::npos) << message;
  EXPECT_NE(message.find("1 value in 1 of 240 events of the training split"), std::string::npos) << message;

  auto regression = synthetic::regressionProblem(200, 23);
  regression.labels[9] = std::numeric_limits<float>::infinity();
  auto regressionConfig = smallMlp(1);
  regressionConfig.model.task = Task::regression;
  Trainer regressor(regressionConfig, regression.inputs, 2);
  message = messageOf([&] { regressor.fit(regression, regression.emptyLike()); });
  EXPECT_NE(message.find("the label is NaN or infinite"), std::string::npos) << message;
}

// NLO samples: negative weights are weights. The reported losses and AUC are the weighted ones.
TEST(Training, NegativeEventWeightsAreUsedAsWeights) {
  auto all = synthetic::vectorProblem(1600, 24, 2.0);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> weight(-0.5F, 1.5F);
  for (std::int64_t e = 0; e < all.events; ++e) all.weights.push_back(weight(rng));
  const auto sets = splitTrainValidation(all, 0.25, 4);
  ASSERT_TRUE(std::any_of(sets.train.weights.begin(), sets.train.weights.end(), [](float w) { return w < 0; }));
  auto config = smallMlp(3);
  config.model.dropout = 0;
  Trainer trainer(config, all.inputs, 1);
  const auto& history = trainer.fit(sets.train, sets.validation);
  ASSERT_EQ(history.epochs.size(), 3U);
  for (const auto& e : history.epochs) EXPECT_TRUE(std::isfinite(e.trainLoss) && std::isfinite(e.validationLoss));
  EXPECT_GT(history.epochs.back().validationAuc, 0.9);

  // The restored (best) weights' validation loss and AUC, by hand with the same weights.
  const auto p = trainer.predict(sets.validation);
  double lossSum = 0;
  double weightSum = 0;
  for (std::size_t e = 0; e < p.size(); ++e) {
    const double y = sets.validation.labels[e];
    const double q = std::clamp(static_cast<double>(p[e]), 1e-7, 1 - 1e-7);
    lossSum += sets.validation.weights[e] * -(y * std::log(q) + (1 - y) * std::log(1 - q));
    weightSum += sets.validation.weights[e];
  }
  EXPECT_NEAR(history.bestValidationLoss, lossSum / weightSum, 1e-3);
  std::vector<std::uint8_t> positive;
  for (const auto label : sets.validation.labels) positive.push_back(label > 0.5F ? 1 : 0);
  EXPECT_NEAR(history.roc.at(0).auc, rocAuc(p, positive, sets.validation.weights), 1e-12);
  // Unweighted, the AUC differs: the weights were used.
  EXPECT_NE(history.roc.at(0).auc, rocAuc(p, positive, {}));
}

TEST(Training, WeightsThatDoNotSumToMoreThanZeroAreRefused) {
  auto all = synthetic::vectorProblem(300, 25);
  all.weights.assign(static_cast<std::size_t>(all.events), 0.0F);
  const auto sets = splitTrainValidation(all, 0.2, 5);
  Trainer trainer(smallMlp(1), all.inputs, 1);
  auto message = messageOf([&] { trainer.fit(sets.train, sets.validation); });
  EXPECT_NE(message.find("training set: the event weights of its 240 events sum to 0"), std::string::npos) << message;
  // A validation set whose weights cancel leaves no validation loss to pick the best epoch.
  auto cancelling = sets;
  cancelling.train.weights.assign(cancelling.train.weights.size(), 1.0F);
  for (std::size_t e = 0; e < cancelling.validation.weights.size(); ++e)
    cancelling.validation.weights[e] = e % 2 == 0 ? 1.0F : -1.0F;
  message = messageOf([&] { trainer.fit(cancelling.train, cancelling.validation); });
  EXPECT_NE(message.find("validation set: the event weights of its 60 events sum to 0"), std::string::npos) << message;
}

// Trained on one class, a classifier learns a constant; its AUC is undefined (null), not a result.
TEST(Training, ASingleClassIsRefused) {
  auto all = synthetic::vectorProblem(200, 26);
  all.labels.assign(all.labels.size(), 1.0F);
  const auto sets = splitTrainValidation(all, 0.2, 6);
  Trainer trainer(smallMlp(1), all.inputs, 1);
  const auto message = messageOf([&] { trainer.fit(sets.train, sets.validation); });
  EXPECT_NE(message.find("all 160 events have label 1: a binary classifier needs events of at least two classes"),
            std::string::npos)
      << message;

  auto multi = synthetic::multiclassProblem(200, 27);
  multi.labels.assign(multi.labels.size(), 2.0F);
  auto config = smallMlp(1);
  config.model.task = Task::multiclass;
  Trainer multiTrainer(config, multi.inputs, 3);
  EXPECT_NE(messageOf([&] { multiTrainer.fit(multi, multi.emptyLike()); }).find("all 200 events have label 2"),
            std::string::npos);
}

// A loss that overflows stops the run naming the epoch; it used to train on and end with
// "best epoch 0" and a bundle of NaN weights.
TEST(Training, ADivergingLossStopsNamingTheEpoch) {
  auto all = synthetic::regressionProblem(600, 28);
  for (auto& target : all.labels) target *= 1e19F;  // finite, but its square overflows float
  const auto sets = splitTrainValidation(all, 0.2, 7);
  auto config = smallMlp(3);
  config.model.task = Task::regression;
  config.model.dropout = 0;
  mlaas::test::TempDir dir;
  Trainer trainer(config, all.inputs, resolveOutputs(config.model, sets.train));
  const auto message =
      messageOf([&] { trainer.fit(sets.train, sets.validation, FitOptions{.checkpointDir = dir.path()}); });
  EXPECT_NE(message.find("epoch 1, batch 1 of 4: the training loss is inf"), std::string::npos) << message;
  EXPECT_NE(message.find("training diverged"), std::string::npos) << message;
  EXPECT_TRUE(trainer.history().epochs.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.pt"));
}

TEST(Split, IsSeededAndDisjoint) {
  const auto all = synthetic::vectorProblem(100, 1);
  const auto a = splitTrainValidation(all, 0.3, 5);
  const auto b = splitTrainValidation(all, 0.3, 5);
  EXPECT_EQ(a.train.events, 70);
  EXPECT_EQ(a.validation.events, 30);
  // Padding holds NaN (NaN != NaN), so compare masks and labels, which identify the events.
  EXPECT_EQ(a.validation.masks, b.validation.masks);
  EXPECT_EQ(a.validation.labels, b.validation.labels);
  const auto c = splitTrainValidation(all, 0.3, 6);
  EXPECT_NE(a.validation.masks, c.validation.masks);
  // Every event lands in exactly one half: the label sums add up.
  double sum = 0;
  for (const auto l : a.train.labels) sum += l;
  for (const auto l : a.validation.labels) sum += l;
  double total = 0;
  for (const auto l : all.labels) total += l;
  EXPECT_EQ(sum, total);
}

}  // namespace
}  // namespace mlaas::train
