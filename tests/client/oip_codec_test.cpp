// OIP bodies <-> typed tensors: round trips of every datatype and clear errors for bad bodies.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "client/oip_codec.hpp"

using namespace mlaas;
using client::DataType;
using client::Encoding;
using client::Tensor;
using core::Errc;
using nlohmann::json;

namespace {

/// Turns an encoded request into the response a server echoing every input would send.
std::pair<std::string, std::optional<std::size_t>> echoAsResponse(const client::EncodedBody& encoded) {
  auto header = json::parse(encoded.body.substr(0, encoded.jsonLength));
  json response = {{"model_name", "m"}, {"model_version", "1"}, {"outputs", header["inputs"]}};
  if (!encoded.binary) return {response.dump(), std::nullopt};
  const auto text = response.dump();
  return {text + encoded.body.substr(encoded.jsonLength), text.size()};
}

client::InferRequest everyType() {
  client::InferRequest request;
  request.inputs.push_back(Tensor::of<float>("f32", {2, 2}, std::vector<float>{1.5f, -2.25f, 0.1f, 3e38f}));
  request.inputs.push_back(Tensor::of<double>("f64", {1}, std::vector<double>{0.1}));
  request.inputs.push_back(Tensor::of<std::int64_t>("i64", {3}, std::vector<std::int64_t>{INT64_MIN, -1, INT64_MAX}));
  request.inputs.push_back(Tensor::of<std::int32_t>("i32", {2}, std::vector<std::int32_t>{-7, 7}));
  request.inputs.push_back(Tensor::of<std::uint64_t>("u64", {1}, std::vector<std::uint64_t>{UINT64_MAX}));
  request.inputs.push_back(Tensor::of<std::uint8_t>("u8", {2}, std::vector<std::uint8_t>{0, 255}));
  request.inputs.push_back(Tensor::of<std::int8_t>("i8", {2}, std::vector<std::int8_t>{-128, 127}));
  request.inputs.push_back(Tensor::of<bool>("b", {3}, std::vector<bool>{true, false, true}));
  request.inputs.push_back(Tensor::ofStrings("s", {2}, {"jet", std::string("a\0b", 3)}));
  return request;
}

}  // namespace

TEST(OipCodec, EveryDatatypeRoundTripsThroughJsonAndBinary) {
  const auto request = everyType();
  for (auto encoding : {Encoding::json, Encoding::binary}) {
    SCOPED_TRACE(encoding == Encoding::json ? "json" : "binary");
    auto encoded = client::encodeInferRequest(request, encoding);
    ASSERT_TRUE(encoded) << encoded.error().describe();
    const auto [body, headerLength] = echoAsResponse(*encoded);
    auto decoded = client::decodeInferResponse(body, headerLength);
    ASSERT_TRUE(decoded) << decoded.error().describe();
    ASSERT_EQ(decoded->outputs.size(), request.inputs.size());
    for (std::size_t i = 0; i < request.inputs.size(); ++i) {
      const auto& sent = request.inputs[i];
      const auto& got = decoded->outputs[i];
      EXPECT_EQ(got.name, sent.name);
      EXPECT_EQ(got.datatype, sent.datatype) << sent.name;
      EXPECT_EQ(got.shape, sent.shape) << sent.name;
      EXPECT_EQ(got.raw, sent.raw) << sent.name;  // bit-exact, also through JSON text
      EXPECT_EQ(got.strings, sent.strings) << sent.name;
    }
  }
}

TEST(OipCodec, JsonRequestFileParsesNestedDataAndOutputs) {
  auto request = client::parseInferRequestJson(R"({"id":"7",
    "inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6.5]]},
              {"name":"mask","shape":[2],"datatype":"BOOL","data":[true,false]}],
    "outputs":[{"name":"output"}]})");
  ASSERT_TRUE(request) << request.error().describe();
  EXPECT_EQ(request->id, "7");
  ASSERT_EQ(request->inputs.size(), 2u);
  EXPECT_EQ(request->inputs[0].values<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  EXPECT_EQ(request->inputs[1].values<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(request->outputs, std::vector<std::string>{"output"});
  EXPECT_THROW((void)request->inputs[0].values<double>(), core::Exception);
}

TEST(OipCodec, BadRequestFilesAreRejectedWithTheTensorNamed) {
  struct Case {
    const char* json;
    const char* fragment;
  };
  const Case cases[] = {
      {"[1,2]", "not a JSON object"},
      {"{\"inputs\":", "not valid JSON"},
      {R"({"inputs":[]})", "no 'inputs'"},
      {R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]})",
       "tensor 'x': shape holds 3 elements but the data has 2"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]})", "unknown datatype 'FP99'"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]})", "300 is out of range"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})", "not an integer"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]})", "not a number"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]})", "not true/false"},
      {R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})", "non-negative integers"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})", "input 'x' has no 'data'"},
      {R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})", "no string 'name'"},
  };
  for (const auto& c : cases) {
    auto request = client::parseInferRequestJson(c.json);
    ASSERT_FALSE(request) << c.json;
    EXPECT_EQ(request.error().code, Errc::invalid_argument) << c.json;
    EXPECT_NE(request.error().message.find(c.fragment), std::string::npos)
        << c.json << " -> " << request.error().message;
  }
}

TEST(OipCodec, CorruptResponsesAreCheckedBeforeAllocating) {
  const std::string header =
      R"({"outputs":[{"name":"y","datatype":"FP32","shape":[1000000000000],"parameters":{"binary_data_size":8}}]})";
  struct Case {
    std::string body;
    std::optional<std::size_t> headerLength;
    const char* fragment;
  };
  const std::string small =
      R"({"outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  const std::string bytes =
      R"({"outputs":[{"name":"s","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]})";
  const Case cases[] = {
      {"{}", 100, "exceeds the body"},
      {"nope", std::nullopt, "not a JSON object"},
      {"{}", std::nullopt, "no 'outputs' array"},
      {header + "12345678", header.size(), "binary_data_size is 8 but shape and datatype need 4000000000000"},
      {small + "1234", small.size(), "exceeds the 4 bytes left"},
      {small + "1234567890", small.size(), "2 bytes after the last binary output"},
      {bytes + std::string("\xff\x00\x00\x00zz", 6), bytes.size(), "overruns the data"},
      {R"({"outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[1,2]}]})", std::nullopt, "shape holds 3"},
      {R"({"outputs":[{"name":"y","datatype":"FP32","shape":[1]}]})", std::nullopt,
       "neither data nor binary_data_size"},
  };
  for (const auto& c : cases) {
    auto response = client::decodeInferResponse(c.body, c.headerLength);
    ASSERT_FALSE(response) << c.fragment;
    EXPECT_EQ(response.error().code, Errc::corrupt) << c.fragment;
    EXPECT_NE(response.error().message.find(c.fragment), std::string::npos) << response.error().message;
  }
}

TEST(OipCodec, EncodingRejectsInconsistentTensors) {
  client::InferRequest request;
  request.inputs.push_back(Tensor::of<float>("x", {2, 2}, std::vector<float>{1, 2, 3}));
  auto encoded = client::encodeInferRequest(request, Encoding::json);
  ASSERT_FALSE(encoded);
  EXPECT_NE(encoded.error().message.find("tensor 'x': shape holds 4 elements but the data has 3"), std::string::npos);

  client::InferRequest half;
  half.inputs.push_back(Tensor{"h", DataType::fp16, {1}, {0x00, 0x3c}, {}});
  EXPECT_FALSE(client::encodeInferRequest(half, Encoding::json));
  EXPECT_TRUE(client::encodeInferRequest(half, Encoding::binary));

  client::InferRequest nan;
  nan.inputs.push_back(Tensor::of<float>("n", {1}, std::vector<float>{std::numeric_limits<float>::quiet_NaN()}));
  auto nanJson = client::encodeInferRequest(nan, Encoding::json);
  ASSERT_FALSE(nanJson);
  EXPECT_NE(nanJson.error().message.find("not finite"), std::string::npos);
}

TEST(OipCodec, ModelReferencesParse) {
  auto plain = client::ModelRef::parse("demo");
  EXPECT_EQ(plain.name, "demo");
  EXPECT_FALSE(plain.version);
  auto versioned = client::ModelRef::parse("demo/versions/12");
  EXPECT_EQ(versioned.version, 12);
  EXPECT_EQ(versioned.str(), "demo/versions/12");
  auto aliased = client::ModelRef::parse("demo@production");
  EXPECT_EQ(aliased.alias, "production");
  EXPECT_EQ(aliased.str(), "demo@production");
  for (const char* bad : {"", "@x", "demo@", "demo/versions/0", "demo/versions/x", "demo/versions/", "a/b",
                          "demo@a/versions/1"})
    EXPECT_THROW((void)client::ModelRef::parse(bad), core::Exception) << bad;
}

// The server writes a non-finite float output as "NaN", "Infinity" or "-Infinity"
// (docs/http-api.md#non-finite-values); on such a 200 infer() failed with 'not a number'.
TEST(OipCodec, NonFiniteOutputsDecodeFromTheServersStrings) {
  const std::string body =
      R"({"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[4],)"
      R"("data":["NaN","Infinity","-Infinity",0.5]},{"name":"z","datatype":"FP64","shape":[1],"data":["NaN"]}]})";
  auto decoded = client::decodeInferResponse(body, std::nullopt);
  ASSERT_TRUE(decoded) << decoded.error().describe();
  const auto y = decoded->outputs[0].values<float>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(y[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(y[3], 0.5f);
  EXPECT_TRUE(std::isnan(decoded->outputs[1].values<double>()[0]));
  // Printed back the same way (mlaas infer's output), and other strings still refused.
  const auto printed = json::parse(client::formatInferResponseJson(*decoded));
  EXPECT_EQ(printed["outputs"][0]["data"], json({"NaN", "Infinity", "-Infinity", 0.5}));
  auto other = client::decodeInferResponse(
      R"({"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":["nan"]}]})", std::nullopt);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("data element 0 is not a number"), std::string::npos) << other.error().message;
}

// 1e39 is no FP32: a request file holding it must not silently become inf.
TEST(OipCodec, AJsonNumberOutsideFp32IsRefusedNamingTheElement) {
  auto parsed = client::parseInferRequestJson(
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1.0, 1e39]}]})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("tensor 'x' (FP32): element 1 (1e+39) is outside the FP32 range"),
            std::string::npos)
      << parsed.error().message;
}
