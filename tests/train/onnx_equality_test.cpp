// The exported ONNX graph computes what libtorch computes: for each model kind, pooling and task,
// ONNX Runtime's outputs on a validation set equal Trainer::predict to 1e-5.
#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <cmath>

#include "core/result.hpp"
#include "synthetic.hpp"
#include "train/onnx_export.hpp"
#include "train/trainer.hpp"

namespace mlaas::train {
namespace {

Ort::Env& ortEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "mlaas-test-train");
  return env;
}

/// Runs the model on every event of set; returns [events x outputs].
std::vector<float> runOnnx(const std::string& model, const TensorSet& set, const std::string& outputName) {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  Ort::Session session(ortEnv(), model.data(), model.size(), options);
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<std::string> names;
  std::vector<Ort::Value> tensors;
  // ORT wants non-const buffers; copies keep the test set untouched.
  std::vector<std::vector<float>> values = set.values;
  std::vector<std::vector<std::uint8_t>> masks = set.masks;
  std::vector<std::vector<std::int64_t>> shapes;
  for (std::size_t i = 0; i < set.inputs.size(); ++i) {
    const auto& spec = set.inputs[i];
    std::vector<std::int64_t> shape{set.events};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    shapes.push_back(shape);
    names.push_back(spec.name);
    tensors.push_back(Ort::Value::CreateTensor<float>(memory, values[i].data(), values[i].size(), shapes.back().data(),
                                                      shapes.back().size()));
    if (spec.masked) {
      shapes.push_back({set.events, spec.maskPerEvent()});
      names.push_back(spec.maskName());
      tensors.push_back(Ort::Value::CreateTensor<std::uint8_t>(memory, masks[i].data(), masks[i].size(),
                                                               shapes.back().data(), shapes.back().size()));
    }
  }
  std::vector<const char*> inputNames;
  for (const auto& n : names) inputNames.push_back(n.c_str());
  const char* outputNames[] = {outputName.c_str()};
  auto outputs =
      session.Run(Ort::RunOptions{nullptr}, inputNames.data(), tensors.data(), tensors.size(), outputNames, 1);
  const auto info = outputs.front().GetTensorTypeAndShapeInfo();
  const auto* data = outputs.front().GetTensorData<float>();
  return {data, data + info.GetElementCount()};
}

struct Case {
  const char* name;
  ModelKind kind;
  Task task;
  Pooling pooling;
  Activation activation;
};

class OnnxEquality : public ::testing::TestWithParam<Case> {};

TensorSet problemFor(const Case& c) {
  if (c.kind == ModelKind::deepsets) return synthetic::groupProblem(600, 11);
  if (c.kind == ModelKind::cnn) return synthetic::imageProblem(300, 12);
  if (c.task == Task::multiclass) return synthetic::multiclassProblem(600, 13);
  if (c.task == Task::regression) return synthetic::regressionProblem(600, 14);
  return synthetic::vectorProblem(600, 15);
}

TEST_P(OnnxEquality, OnnxRuntimeMatchesLibtorch) {
  const auto& c = GetParam();
  TrainConfig config;
  config.model.kind = c.kind;
  config.model.task = c.task;
  config.model.pooling = c.pooling;
  config.model.activation = c.activation;
  config.model.hidden = {16, 8};
  config.model.objectHidden = {12, 6};
  config.model.channels = {4, 6};
  config.model.dropout = 0.1;  // active in training, absent from the export: eval mode must match
  config.training.epochs = 2;
  config.training.batchSize = 64;
  config.training.threads = 1;
  const auto all = problemFor(c);
  const auto sets = splitTrainValidation(all, 0.25, 3);
  Trainer trainer(config, all.inputs, resolveOutputs(config.model, sets.train));
  trainer.fit(sets.train, sets.validation);

  const auto expected = trainer.predict(sets.validation);
  const auto model = exportOnnx(config.model, trainer.inputs(), trainer.outputs(), trainer.weights());
  const auto actual = runOnnx(model, sets.validation, "output");
  ASSERT_EQ(actual.size(), expected.size());
  ASSERT_EQ(static_cast<std::int64_t>(expected.size()), sets.validation.events * trainer.outputs());
  double maxDiff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    // Padding includes NaN: masking must replace it, not multiply it by 0.
    ASSERT_TRUE(std::isfinite(expected[i])) << "libtorch output " << i;
    ASSERT_TRUE(std::isfinite(actual[i])) << "ONNX output " << i;
    maxDiff = std::max(maxDiff, static_cast<double>(std::abs(actual[i] - expected[i])));
  }
  EXPECT_LE(maxDiff, 1e-5) << c.name;
  // A trained network is not constant: outputs differ between events.
  const auto [lo, hi] = std::minmax_element(expected.begin(), expected.end());
  EXPECT_GT(*hi - *lo, 1e-3F);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, OnnxEquality,
    ::testing::Values(Case{"mlp_binary", ModelKind::mlp, Task::binary, Pooling::sum, Activation::relu},
                      Case{"mlp_multiclass_tanh", ModelKind::mlp, Task::multiclass, Pooling::sum, Activation::tanh},
                      Case{"mlp_regression_elu", ModelKind::mlp, Task::regression, Pooling::sum, Activation::elu},
                      Case{"deepsets_sum", ModelKind::deepsets, Task::binary, Pooling::sum, Activation::relu},
                      Case{"deepsets_mean", ModelKind::deepsets, Task::binary, Pooling::mean, Activation::sigmoid},
                      Case{"deepsets_max", ModelKind::deepsets, Task::binary, Pooling::max, Activation::relu},
                      Case{"cnn", ModelKind::cnn, Task::binary, Pooling::sum, Activation::relu}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

TEST(OnnxExport, RejectsWeightsThatDoNotFitTheInputs) {
  TrainConfig config;
  const auto all = synthetic::vectorProblem(10, 1);
  Trainer trainer(config, all.inputs, 1);
  auto weights = trainer.weights();
  weights.head.back().bias.push_back(0.0F);
  try {
    (void)exportOnnx(config.model, trainer.inputs(), 1, weights);
    FAIL() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("head"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlaas::train
