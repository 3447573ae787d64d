// The built models are checked by the real consumer: ONNX Runtime loads them and its outputs
// must equal the plain C++ forward pass of the same weights.
#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "onnx/model_builder.hpp"

using namespace mlaas;
using onnx::Activation;
using onnx::ElementType;

namespace {

Ort::Env& ortEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "mlaas-test-onnx");
  return env;
}

Ort::Session loadSession(const std::string& bytes) {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  return Ort::Session(ortEnv(), bytes.data(), bytes.size(), options);
}

/// Runs a one-input, one-output float model; returns the output values and shape.
std::vector<float> runFloatModel(Ort::Session& session, const std::string& inputName,
                                 const std::string& outputName, std::vector<float> input,
                                 std::vector<std::int64_t> shape, std::vector<std::int64_t>* outShape = nullptr) {
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  auto tensor = Ort::Value::CreateTensor<float>(memory, input.data(), input.size(), shape.data(), shape.size());
  const char* inputNames[] = {inputName.c_str()};
  const char* outputNames[] = {outputName.c_str()};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, inputNames, &tensor, 1, outputNames, 1);
  auto info = outputs[0].GetTensorTypeAndShapeInfo();
  if (outShape) *outShape = info.GetShape();
  const float* data = outputs[0].GetTensorData<float>();
  return {data, data + info.GetElementCount()};
}

std::vector<float> deterministicInput(std::size_t count) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = std::sin(0.37f * static_cast<float>(i)) * 2.0f;
  return values;
}

void expectClose(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tolerance * (1.0f + std::fabs(expected[i]))) << "index " << i;
}

}  // namespace

TEST(OnnxMlp, OnnxRuntimeMatchesReferenceForwardPass) {
  onnx::MlpSpec spec;
  spec.layers = {42, 128, 128, 128, 64, 64, 1};
  spec.seed = 7;
  const auto weights = onnx::buildRandomMlpWeights(spec);
  auto session = loadSession(onnx::buildMlp(weights, spec));

  ASSERT_EQ(session.GetInputCount(), 1u);
  ASSERT_EQ(session.GetOutputCount(), 1u);
  Ort::AllocatorWithDefaultOptions allocator;
  EXPECT_STREQ(session.GetInputNameAllocated(0, allocator).get(), "input");
  EXPECT_STREQ(session.GetOutputNameAllocated(0, allocator).get(), "output");
  const auto inputShape = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
  EXPECT_EQ(inputShape, (std::vector<std::int64_t>{-1, 42}));  // dynamic batch

  for (std::int64_t batch : {1, 5, 33}) {
    const auto input = deterministicInput(static_cast<std::size_t>(batch * 42));
    std::vector<std::int64_t> outShape;
    const auto actual = runFloatModel(session, "input", "output", input, {batch, 42}, &outShape);
    EXPECT_EQ(outShape, (std::vector<std::int64_t>{batch, 1}));
    const auto expected = onnx::evaluateMlp(weights, spec, input);
    expectClose(actual, expected, 1e-4f);
    for (float v : actual) {  // sigmoid output
      EXPECT_GT(v, 0.0f);
      EXPECT_LT(v, 1.0f);
    }
  }
}

TEST(OnnxMlp, EveryActivationAndCustomNamesRunInOnnxRuntime) {
  for (auto hidden : {Activation::none, Activation::relu, Activation::tanh, Activation::sigmoid}) {
    for (auto output : {Activation::none, Activation::sigmoid, Activation::softmax}) {
      SCOPED_TRACE(std::string(onnx::activationName(hidden)) + "/" + std::string(onnx::activationName(output)));
      onnx::MlpSpec spec;
      spec.layers = {6, 9, 4};
      spec.hidden = hidden;
      spec.output = output;
      spec.inputName = "features";
      spec.outputName = "scores";
      const auto weights = onnx::buildRandomMlpWeights(spec);
      auto session = loadSession(onnx::buildMlp(weights, spec));
      const auto input = deterministicInput(3 * 6);
      const auto actual = runFloatModel(session, "features", "scores", input, {3, 6});
      expectClose(actual, onnx::evaluateMlp(weights, spec, input), 1e-5f);
      if (output == Activation::softmax) {
        for (int row = 0; row < 3; ++row) {
          float sum = 0;
          for (int j = 0; j < 4; ++j) sum += actual[static_cast<std::size_t>(row * 4 + j)];
          EXPECT_NEAR(sum, 1.0f, 1e-5f);
        }
      }
    }
  }
}

TEST(OnnxMlp, WeightsAreDeterministicPerSeedAndGlorotBounded) {
  onnx::MlpSpec spec;
  spec.layers = {10, 20, 3};
  spec.seed = 42;
  const auto a = onnx::buildRandomMlpWeights(spec);
  const auto b = onnx::buildRandomMlpWeights(spec);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[0].weight, b.layers[0].weight);
  EXPECT_EQ(a.layers[1].bias, b.layers[1].bias);
  EXPECT_EQ(onnx::buildRandomMlp(spec), onnx::buildRandomMlp(spec));
  spec.seed = 43;
  const auto c = onnx::buildRandomMlpWeights(spec);
  EXPECT_NE(a.layers[0].weight, c.layers[0].weight);

  const float limit = std::sqrt(6.0f / 30.0f);
  float maxAbs = 0;
  for (float w : a.layers[0].weight) maxAbs = std::max(maxAbs, std::fabs(w));
  EXPECT_LE(maxAbs, limit);
  EXPECT_GT(maxAbs, 0.5f * limit);  // actually spread over the range, not all tiny
  EXPECT_EQ(a.layers[0].weight.size(), 200u);
  EXPECT_EQ(a.layers[1].bias.size(), 3u);
}

TEST(OnnxMlp, MetadataAndProducerAreVisibleToOnnxRuntime) {
  onnx::MlpSpec spec;
  spec.layers = {4, 2};
  spec.seed = 9;
  auto session = loadSession(onnx::buildRandomMlp(spec));
  auto metadata = session.GetModelMetadata();
  Ort::AllocatorWithDefaultOptions allocator;
  EXPECT_STREQ(metadata.GetProducerNameAllocated(allocator).get(), "mlaas");
  EXPECT_STREQ(metadata.LookupCustomMetadataMapAllocated("mlaas.mlp.layers", allocator).get(), "4,2");
  EXPECT_STREQ(metadata.LookupCustomMetadataMapAllocated("mlaas.mlp.seed", allocator).get(), "9");
}

TEST(OnnxMlp, BadSpecsAreRejectedWithClearErrors) {
  auto expectInvalid = [](const onnx::MlpSpec& spec, const std::string& fragment) {
    try {
      (void)onnx::buildRandomMlp(spec);
      ADD_FAILURE() << "expected an error containing '" << fragment << "'";
    } catch (const core::Exception& e) {
      EXPECT_EQ(e.code(), core::Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  onnx::MlpSpec spec;
  spec.layers = {4};
  expectInvalid(spec, "at least 2 layer sizes");
  spec.layers = {4, 0, 1};
  expectInvalid(spec, "layer 1 has size 0");
  spec.layers = {4, -3};
  expectInvalid(spec, "layer 1 has size -3");
  spec.layers = {1 << 20, 1 << 20};
  expectInvalid(spec, "more than");
  spec.layers = {4, 2};
  spec.outputName = "input";
  expectInvalid(spec, "both named 'input'");

  onnx::MlpSpec good;
  good.layers = {3, 2};
  auto weights = onnx::buildRandomMlpWeights(good);
  weights.layers[0].bias.pop_back();
  EXPECT_THROW((void)onnx::buildMlp(weights, good), core::Exception);
  const std::vector<float> wrongWidth(7, 0.0f);
  EXPECT_THROW((void)onnx::evaluateMlp(onnx::buildRandomMlpWeights(good), good, wrongWidth), core::Exception);
  EXPECT_THROW((void)onnx::parseActivation("gelu"), core::Exception);
  EXPECT_EQ(onnx::parseActivation("tanh"), Activation::tanh);
}

TEST(OnnxGraphBuilder, GeneralGraphWithInt64InitializerAndAttributes) {
  // y = Reshape(Transpose(x, perm=[1,0]), shape) * scale: exercises int64 initializers,
  // int-list and float attributes, and named dynamic dimensions.
  onnx::GraphBuilder graph("general", 13);
  graph.addInput("x", ElementType::float32, {-1, 3}, {"rows", ""});
  graph.addOutput("y", ElementType::float32, {-1});
  const std::vector<std::int64_t> flat = {-1};
  graph.addInitializerInt64("flat", {1}, flat);
  const std::vector<float> scale = {2.0f};
  graph.addInitializer("scale", {}, scale);
  graph.addNode("Transpose", {"x"}, {"xt"}, {{"perm", std::vector<std::int64_t>{1, 0}}}, "transpose");
  graph.addNode("Reshape", {"xt", "flat"}, {"xf"});
  graph.addNode("Mul", {"xf", "scale"}, {"y"});
  graph.setMetadata("purpose", "test");
  graph.setMetadata("purpose", "test2");  // replaces, one value per key
  auto session = loadSession(graph.serialize());

  const auto inputShape = session.GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape();
  EXPECT_EQ(inputShape, (std::vector<std::int64_t>{-1, 3}));
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};  // [[1,2,3],[4,5,6]]
  const auto y = runFloatModel(session, "x", "y", x, {2, 3});
  EXPECT_EQ(y, (std::vector<float>{2, 8, 4, 10, 6, 12}));
  Ort::AllocatorWithDefaultOptions allocator;
  EXPECT_STREQ(session.GetModelMetadata().LookupCustomMetadataMapAllocated("purpose", allocator).get(), "test2");
}

TEST(OnnxGraphBuilder, RejectsInconsistentInitializersShapesAndOpsets) {
  onnx::GraphBuilder graph;
  const std::vector<float> three = {1, 2, 3};
  EXPECT_THROW(graph.addInitializer("w", {2, 2}, three), core::Exception);
  EXPECT_THROW(graph.addInitializer("w", {-1, 3}, three), core::Exception);
  EXPECT_THROW(graph.addInitializer("", {3}, three), core::Exception);
  EXPECT_THROW(graph.addInput("x", ElementType::float32, {-2, 3}), core::Exception);
  EXPECT_THROW(graph.addInput("x", ElementType::float32, {-1, 3}, {"only-one"}), core::Exception);
  EXPECT_THROW(graph.addNode("Relu", {"x"}, {}), core::Exception);
  EXPECT_THROW(onnx::GraphBuilder("g", 7), core::Exception);
  EXPECT_THROW(onnx::GraphBuilder("g", 99), core::Exception);
  EXPECT_NO_THROW(graph.addInitializer("w", {3}, three));
}

TEST(OnnxGraphBuilder, Int64InitializerValuesReachTheRuntimeInOrder) {
  // Gather columns by an int64 index initializer: every index value (not just one) must arrive
  // intact and in order, whatever encoding the builder picks for the tensor.
  onnx::GraphBuilder graph("gather", 13);
  graph.addInput("x", ElementType::float32, {-1, 4});
  graph.addOutput("y", ElementType::float32, {-1, 3});
  const std::vector<std::int64_t> columns = {3, 0, 2};
  graph.addInitializerInt64("columns", {3}, columns);
  graph.addNode("Gather", {"x", "columns"}, {"y"}, {{"axis", std::int64_t{1}}});
  auto session = loadSession(graph.serialize());
  const std::vector<float> x = {10, 11, 12, 13, 20, 21, 22, 23};  // [[10..13],[20..23]]
  EXPECT_EQ(runFloatModel(session, "x", "y", x, {2, 4}), (std::vector<float>{13, 10, 12, 23, 20, 22}));

  const std::vector<std::int64_t> two = {1, 2};
  EXPECT_THROW(graph.addInitializerInt64("bad", {3}, two), core::Exception);
  EXPECT_THROW(graph.addInitializerInt64("", {2}, two), core::Exception);
}
