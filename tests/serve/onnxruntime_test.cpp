// Proves ONNX Runtime is found and linked: creates the environment and runs one-node models
// built in the test.
#include <gtest/gtest.h>

#include <cstring>
#include <span>

#include "onnx_fixture.hpp"
#include "serve/runtime.hpp"

namespace mlaas::serve {
namespace {

Tensor floats(const std::string& name, std::vector<std::int64_t> shape, const std::vector<float>& values) {
  Tensor t;
  t.name = name;
  t.type = DataType::fp32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<float> asFloats(const Tensor& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

TEST(OnnxRuntime, RunsAOneNodeModelBuiltInTheTest) {
  EXPECT_FALSE(onnxRuntimeVersion().empty());
  auto model = LoadedModel::load(test::oneNodeModel("Add", test::kFloat, 3, true), "add");
  ASSERT_TRUE(model) << model.error().message;
  const auto& sig = (*model)->signature();
  ASSERT_EQ(sig.inputs.size(), 1u);
  EXPECT_EQ(sig.inputs[0].name, "x");
  EXPECT_EQ(sig.inputs[0].shape, (std::vector<std::int64_t>{-1, 3}));
  EXPECT_EQ(sig.outputs[0].type, DataType::fp32);
  std::vector<Tensor> in{floats("x", {2, 3}, {1, 2, 3, -4, 5.5f, 0})};
  auto out = (*model)->run(in);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(asFloats((*out)[0]), (std::vector<float>{2, 4, 6, -8, 11, 0}));
}

TEST(OnnxRuntime, StringAndBoolTensorsRoundTrip) {
  auto model = LoadedModel::load(test::oneNodeModel("Identity", test::kString, 2), "strings");
  ASSERT_TRUE(model) << model.error().message;
  Tensor in;
  in.name = "x";
  in.type = DataType::bytes;
  in.shape = {1, 2};
  in.strings = {"hello", std::string("a\0b", 3)};
  auto out = (*model)->run(std::vector<Tensor>{in});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ((*out)[0].strings, in.strings);

  auto notModel = LoadedModel::load(test::oneNodeModel("Not", test::kBool, 3), "not");
  ASSERT_TRUE(notModel) << notModel.error().message;
  Tensor b;
  b.name = "x";
  b.type = DataType::boolean;
  b.shape = {1, 3};
  b.data = {std::byte{1}, std::byte{0}, std::byte{1}};
  auto negated = (*notModel)->run(std::vector<Tensor>{b});
  ASSERT_TRUE(negated);
  EXPECT_EQ((*negated)[0].data, (std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{0}}));
}

// Several requests' inputs run as one batch along the first dimension; inputs that cannot form
// one tensor (a type, a rank or an element count that does not fit) are refused before any copy.
TEST(OnnxRuntime, RunsRequestsConcatenatedAndRefusesInputsThatDoNotFit) {
  auto model = LoadedModel::load(test::oneNodeModel("Add", test::kFloat, 2, true), "add").value();
  const std::vector<Tensor> a{floats("x", {1, 2}, {1, 2})}, b{floats("x", {2, 2}, {3, 4, 5, 6})};
  const std::span<const Tensor> both[] = {a, b};
  auto out = model->runConcatenated(both);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ((*out)[0].shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(asFloats((*out)[0]), (std::vector<float>{2, 4, 6, 8, 10, 12}));

  const std::vector<Tensor> tooShort{floats("x", {1, 2}, {7})};
  const std::span<const Tensor> shortOne[] = {a, tooShort};
  auto refused = model->runConcatenated(shortOne);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::Errc::internal);
  EXPECT_EQ(refused.error().message, "model add: input 'x' has 3 elements for shape [2,2]");

  const std::vector<Tensor> flat{floats("x", {2}, {7, 8})};
  const std::span<const Tensor> otherRank[] = {a, flat};
  auto differs = model->runConcatenated(otherRank);
  ASSERT_FALSE(differs);
  EXPECT_EQ(differs.error().message, "model add: input 'x' differs between the requests of a batch");
}

TEST(OnnxRuntime, RejectsBytesThatAreNotAModel) {
  auto model = LoadedModel::load("this is not an onnx file", "junk");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().code, core::Errc::invalid_argument);
  EXPECT_NE(model.error().message.find("junk"), std::string::npos);
}

TEST(OnnxRuntime, MatchInputsChecksNamesTypesShapesAndSizes) {
  auto model = LoadedModel::load(test::mlpModel({4, 8, 1}), "mlp");
  ASSERT_TRUE(model) << model.error().message;
  const auto& sig = (*model)->signature();
  auto ok = matchInputs(sig, {floats("input", {2, 4}, std::vector<float>(8, 0.5f))}, "mlp");
  EXPECT_TRUE(ok);
  auto wrongName = matchInputs(sig, {floats("x", {1, 4}, std::vector<float>(4))}, "mlp");
  ASSERT_FALSE(wrongName);
  EXPECT_NE(wrongName.error().message.find("no input 'x'"), std::string::npos);
  auto wrongShape = matchInputs(sig, {floats("input", {1, 5}, std::vector<float>(5))}, "mlp");
  ASSERT_FALSE(wrongShape);
  EXPECT_NE(wrongShape.error().message.find("shape"), std::string::npos);
  auto wrongSize = matchInputs(sig, {floats("input", {2, 4}, std::vector<float>(7))}, "mlp");
  ASSERT_FALSE(wrongSize);
  EXPECT_NE(wrongSize.error().message.find("needs 8 elements"), std::string::npos);
  Tensor wrongType = floats("input", {1, 4}, std::vector<float>(4));
  wrongType.type = DataType::int32;
  auto typeError = matchInputs(sig, {wrongType}, "mlp");
  ASSERT_FALSE(typeError);
  EXPECT_NE(typeError.error().message.find("datatype FP32"), std::string::npos);
  auto missing = matchInputs(sig, {}, "mlp");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("needs input 'input'"), std::string::npos);
}

}  // namespace
}  // namespace mlaas::serve
