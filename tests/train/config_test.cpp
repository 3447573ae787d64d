// The model: and training: sections: defaults, every key, and precise errors for bad values.
#include <gtest/gtest.h>

#include "core/result.hpp"
#include "test_support.hpp"
#include "train/config.hpp"

namespace mlaas::train {
namespace {

TEST(TrainConfig, ParsesEveryKey) {
  const auto config = parseTrainConfig(R"(
dataset: {files: [a.root]}   # other sections are the dataset layer's
model:
  kind: deepsets
  task: multiclass
  outputs: 4
  hidden: [128, 64]
  activation: elu
  dropout: 0.2
  object_hidden: [32]
  pooling: max
  channels: [4]
  kernel: 5
  class_weights: [1, 2, 1, 0.5]
  event_weights: false
training:
  optimizer: sgd
  learning_rate: 0.05
  momentum: 0.8
  weight_decay: 0.0001
  schedule: step
  step_epochs: 3
  gamma: 0.3
  epochs: 12
  batch_size: 512
  patience: 4
  min_delta: 0.001
  validation_fraction: 0.1
  seed: 99
  threads: 2
)",
                                       "cfg.yaml");
  EXPECT_EQ(config.model.kind, ModelKind::deepsets);
  EXPECT_EQ(config.model.task, Task::multiclass);
  EXPECT_EQ(config.model.outputs, 4);
  EXPECT_EQ(config.model.hidden, (std::vector<std::int64_t>{128, 64}));
  EXPECT_EQ(config.model.activation, Activation::elu);
  EXPECT_DOUBLE_EQ(config.model.dropout, 0.2);
  EXPECT_EQ(config.model.objectHidden, (std::vector<std::int64_t>{32}));
  EXPECT_EQ(config.model.pooling, Pooling::max);
  EXPECT_EQ(config.model.channels, (std::vector<std::int64_t>{4}));
  EXPECT_EQ(config.model.kernel, 5);
  EXPECT_EQ(config.model.classWeights, (std::vector<double>{1, 2, 1, 0.5}));
  EXPECT_FALSE(config.model.eventWeights);
  EXPECT_EQ(config.training.optimizer, OptimizerKind::sgd);
  EXPECT_DOUBLE_EQ(config.training.learningRate, 0.05);
  EXPECT_DOUBLE_EQ(config.training.momentum, 0.8);
  EXPECT_DOUBLE_EQ(config.training.weightDecay, 0.0001);
  EXPECT_EQ(config.training.schedule, Schedule::step);
  EXPECT_EQ(config.training.stepEpochs, 3);
  EXPECT_DOUBLE_EQ(config.training.gamma, 0.3);
  EXPECT_EQ(config.training.epochs, 12);
  EXPECT_EQ(config.training.batchSize, 512);
  EXPECT_EQ(config.training.patience, 4);
  EXPECT_DOUBLE_EQ(config.training.minDelta, 0.001);
  EXPECT_DOUBLE_EQ(config.training.validationFraction, 0.1);
  EXPECT_EQ(config.training.seed, 99U);
  EXPECT_EQ(config.training.threads, 2);
}

TEST(TrainConfig, DefaultsForAMinimalSection) {
  const auto config = parseTrainConfig("model:\n  kind: mlp\n", "cfg.yaml");
  EXPECT_EQ(config.model.task, Task::binary);
  EXPECT_EQ(config.model.hidden, (std::vector<std::int64_t>{64, 64}));
  EXPECT_EQ(config.training.optimizer, OptimizerKind::adam);
  EXPECT_EQ(config.training.epochs, 10);
}

struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the message: file:line:column: key: what
};

class BadTrainConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadTrainConfig, NamesTheKeyAndLine) {
  try {
    (void)parseTrainConfig(GetParam().yaml, "cfg.yaml");
    FAIL() << "expected an exception for:\n" << GetParam().yaml;
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(GetParam().expected), std::string::npos)
        << "message: " << e.what() << "\nexpected: " << GetParam().expected;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Keys, BadTrainConfig,
    ::testing::Values(
        BadCase{"model:\n  kind: transformer\n",
                "cfg.yaml:2:9: model.kind: expected one of mlp, deepsets, cnn, got 'transformer'"},
        BadCase{"model:\n  hidden: [64, -3]\n", "cfg.yaml:2:16: model.hidden[1]: expected a positive integer"},
        BadCase{"model:\n  hidden: [64, abc]\n", "model.hidden[1]: expected a positive integer, got 'abc'"},
        BadCase{"model:\n  hidden: 64\n", "cfg.yaml:2:11: model.hidden: expected a list"},
        BadCase{"model:\n  dropout: 1.5\n", "model.dropout: expected a number in [0, 0.95], got 1.5"},
        BadCase{"model:\n  hiden: [3]\n", "cfg.yaml:2:3: model.hiden: unknown key"},
        BadCase{"model:\n  task: binary\n  outputs: 3\n", "model.outputs: a binary task has 1 output"},
        BadCase{"model:\n  class_weights: [1]\n", "model.class_weights: a binary task takes 2 class weights"},
        BadCase{"model:\n  kernel: 4\n", "model.kernel: expected an odd size"},
        BadCase{"model:\n  pooling: median\n", "model.pooling: expected one of sum, mean, max"},
        BadCase{"model: {}\ntraining:\n  learning_rate: 0\n",
                "cfg.yaml:3:18: training.learning_rate: expected a number in (0"},
        BadCase{"model: {}\ntraining:\n  epochs: ten\n", "training.epochs: expected a positive integer, got 'ten'"},
        BadCase{"model: {}\ntraining:\n  optimizer: rmsprop\n", "training.optimizer: expected one of adam, sgd"},
        BadCase{"model: {}\ntraining:\n  batch_size: 0\n", "training.batch_size: expected a positive integer, got 0"},
        BadCase{"model: {}\ntraining:\n  schedule: linear\n",
                "training.schedule: expected one of constant, step, cosine"},
        BadCase{"model: {}\ntraining: [1, 2]\n", "training: expected a mapping"},
        BadCase{"dataset: {}\n", "cfg.yaml: model: missing section"},
        BadCase{"model: [\n", "cfg.yaml:2:1: not valid YAML"},
        // yaml-cpp keeps both keys and node[key] returns the first: the later block was ignored.
        BadCase{"model: {}\ntraining: {epochs: 1}\ntraining: {epochs: 5}\n",
                "cfg.yaml:3:1: duplicate key 'training' (first at line 2)"},
        BadCase{"model:\n  hidden: [8]\n  hidden: [16]\n", "cfg.yaml:3:3: duplicate key 'model.hidden' (first at line 2)"},
        BadCase{"features: {flat: [a]}\nfeatures: {flat: [b]}\nmodel: {}\n",
                "cfg.yaml:2:1: duplicate key 'features' (first at line 1)"}),
    [](const ::testing::TestParamInfo<BadCase>& param) { return "case" + std::to_string(param.index); });

TEST(TrainConfig, MissingFileNamesThePath) {
  try {
    (void)loadTrainConfig("/nonexistent/train.yaml");
    FAIL();
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::not_found);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/train.yaml"), std::string::npos);
  }
}

}  // namespace
}  // namespace mlaas::train
