// The in-process server on a free loopback port, exercised with raw HTTP: repository API, OIP v2
// (JSON and binary), TFaaS endpoints, tokens, limits, batching, metrics; outputs compared with
// in-process ONNX Runtime.
#include "serve/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "allocation_failure.hpp"
#include "http_fixture.hpp"
#include "image_fixture.hpp"
#include "onnx_fixture.hpp"
#include "serve/engine.hpp"
#include "serve/runtime.hpp"
#include "serve/tfaas.pb.h"
#include "test_support.hpp"

namespace mlaas::serve {

struct SchedulerTestPeer {
  /// What an inference thread allocates for a batch of `jobs` requests (the vector it moves them into).
  static constexpr std::size_t batchBytes(std::size_t jobs) { return jobs * sizeof(Scheduler::Job); }
};

namespace {

using nlohmann::json;
using test::request;
using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers kAuth{{"Authorization", "Bearer s3cret"}};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { startServer(); }
  void startServer(std::size_t maxBody = 64u << 20, std::int64_t delayUs = 0,
                   const std::function<void(ServerConfig&)>& tweak = {}) {
    ServerConfig config;
    config.port = 0;
    config.dataDir = dir_.path() / "data";
    config.tokens = {"s3cret"};
    config.accessLog = false;
    config.ioThreads = 2;
    config.inferenceThreads = 2;
    config.maxBodyBytes = maxBody;
    config.batching.maxQueueDelayUs = delayUs;
    if (tweak) tweak(config);
    server_ = std::make_unique<Server>(config);
    server_->start();
    port_ = server_->port();
  }
  test::RawResponse upload(const std::string& name, const std::string& onnx, const std::string& metadata = "") {
    Headers h = kAuth;
    h.emplace_back("Content-Type", "application/octet-stream");
    if (!metadata.empty()) h.emplace_back("X-Mlaas-Metadata", metadata);
    return request(port_, "POST", "/api/v1/models/" + name + "/versions", onnx, h);
  }
  static json body(const test::RawResponse& r) { return json::parse(r.body); }
  /// `clients` one-row OIP requests to `model` (8 features, row i seeded with i), each from its own thread.
  std::vector<std::future<test::RawResponse>> concurrentRowRequests(const std::string& model, int clients);
  /// Each answer of concurrentRowRequests equals in-process ONNX Runtime on its row.
  static void expectRowAnswers(std::vector<std::future<test::RawResponse>>& futures, const std::string& onnx);
  /// Uploads `onnx` as `model`, holds two concurrentRowRequests in the queue while inference is
  /// paused, then shuts the server down; returns the requests' futures.
  std::vector<std::future<test::RawResponse>> shutDownWithTwoRequestsQueued(const std::string& model,
                                                                            const std::string& onnx);

  ::mlaas::test::TempDir dir_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

std::vector<float> randomRow(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> referenceOutput(const std::string& onnx, const std::vector<float>& input, std::int64_t rows) {
  auto model = LoadedModel::load(onnx, "reference").value();
  Tensor t;
  t.name = model->signature().inputs[0].name;
  t.shape = {rows, static_cast<std::int64_t>(input.size()) / rows};
  t.data.resize(input.size() * 4);
  std::memcpy(t.data.data(), input.data(), t.data.size());
  auto out = model->run(std::vector<Tensor>{t}).value();
  std::vector<float> v(out[0].data.size() / 4);
  std::memcpy(v.data(), out[0].data.data(), out[0].data.size());
  return v;
}

json inferBody(const std::vector<float>& values, std::int64_t rows, std::int64_t width) {
  return {{"id", "r1"},
          {"inputs", {{{"name", "input"}, {"shape", {rows, width}}, {"datatype", "FP32"}, {"data", values}}}}};
}

std::vector<std::future<test::RawResponse>> ServerTest::concurrentRowRequests(const std::string& model, int clients) {
  std::vector<std::future<test::RawResponse>> futures;
  for (int i = 0; i < clients; ++i)
    futures.push_back(std::async(std::launch::async, [this, model, i] {
      return request(port_, "POST", "/v2/models/" + model + "/infer",
                     inferBody(randomRow(8, static_cast<unsigned>(i)), 1, 8).dump());
    }));
  return futures;
}

void ServerTest::expectRowAnswers(std::vector<std::future<test::RawResponse>>& futures, const std::string& onnx) {
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_EQ(r.status, 200) << r.body;
    auto expected = referenceOutput(onnx, randomRow(8, static_cast<unsigned>(i)), 1);
    EXPECT_FLOAT_EQ(json::parse(r.body)["outputs"][0]["data"][0].get<float>(), expected[0]);
  }
}

TEST_F(ServerTest, UploadRecordsSignatureAndNumbersVersions) {
  std::string onnx = test::mlpModel({42, 16, 1});
  auto first =
      upload("tfaas", onnx,
             R"({"description":"ttbar vs QCD","labels":["signal"],"tags":{"stage":"dev"},"metrics":{"auc":0.9}})");
  ASSERT_EQ(first.status, 201) << first.body;
  auto card = body(first);
  EXPECT_EQ(card["version"], 1);
  EXPECT_EQ(card["inputs"][0]["name"], "input");
  EXPECT_EQ(card["inputs"][0]["shape"], json({-1, 42}));
  EXPECT_EQ(card["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(card["size"], onnx.size());
  EXPECT_EQ(card["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(card["description"], "ttbar vs QCD");
  EXPECT_EQ(card["tags"]["stage"], "dev");
  auto second = upload("tfaas", test::mlpModel({42, 16, 1}, 2));
  ASSERT_EQ(second.status, 201);
  EXPECT_EQ(body(second)["version"], 2);
  auto model = request(port_, "GET", "/api/v1/models/tfaas");
  ASSERT_EQ(model.status, 200);
  EXPECT_EQ(body(model)["latest_version"], 2);
  EXPECT_EQ(body(model)["cards"].size(), 2u);
  auto v1 = request(port_, "GET", "/api/v1/models/tfaas/versions/1");
  EXPECT_EQ(body(v1)["metrics"]["auc"], 0.9);
}

TEST_F(ServerTest, UploadRejectsBadModelsMetadataAndNames) {
  auto junk = upload("junk", "not an onnx file");
  EXPECT_EQ(junk.status, 400);
  EXPECT_NE(body(junk)["error"].get<std::string>().find("ONNX Runtime cannot load"), std::string::npos);
  auto badMeta = upload("m", test::mlpModel({4, 1}), R"({"colour":"red"})");
  EXPECT_EQ(badMeta.status, 400);
  EXPECT_NE(body(badMeta)["error"].get<std::string>().find("colour"), std::string::npos);
  auto badName = upload("..%2Fetc", test::mlpModel({4, 1}));
  EXPECT_EQ(badName.status, 400);
  EXPECT_NE(body(badName)["error"].get<std::string>().find("invalid model name"), std::string::npos);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models/junk").status, 404);
}

TEST_F(ServerTest, MultipartUploadWithMetadataPart) {
  std::string onnx = test::mlpModel({4, 1});
  std::string b = "XyZbOuNdArY";
  std::string form =
      "--" + b +
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" +
      onnx + "\r\n--" + b +
      "\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"description\":\"from a form\"}\r\n--" + b +
      "--\r\n";
  Headers h = kAuth;
  h.emplace_back("Content-Type", "multipart/form-data; boundary=" + b);
  auto r = request(port_, "POST", "/api/v1/models/formy/versions", form, h);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(body(r)["description"], "from a form");
  EXPECT_EQ(body(r)["size"], onnx.size());
}

TEST_F(ServerTest, TokensAreRequiredForMutationsOnly) {
  std::string onnx = test::mlpModel({4, 1});
  auto none = request(port_, "POST", "/api/v1/models/m/versions", onnx);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  auto wrong = request(port_, "POST", "/api/v1/models/m/versions", onnx, {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_NE(body(wrong)["error"].get<std::string>().find("not valid"), std::string::npos);
  ASSERT_EQ(upload("m", onnx).status, 201);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models").status, 200);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/m").status, 401);
  EXPECT_EQ(request(port_, "PUT", "/api/v1/models/m/aliases/prod", R"({"version":1})").status, 401);
  EXPECT_EQ(request(port_, "POST", "/v2/repository/models/m/load").status, 401);
  EXPECT_EQ(request(port_, "GET", "/v2/health/live").status, 200);
}

TEST_F(ServerTest, UploadDryRunChecksLikeAnUploadAndStoresNothing) {
  const std::string onnx = test::mlpModel({4, 1});
  auto dry = [&](const std::string& name, const std::string& bodyBytes, const Headers& headers,
                 const std::string& flag = "true") {
    return request(port_, "POST", "/api/v1/models/" + name + "/versions?dry_run=" + flag, bodyBytes, headers);
  };
  EXPECT_EQ(dry("m", "", {}).status, 401);
  EXPECT_EQ(dry("m", "", {{"Authorization", "Bearer nope"}}).status, 403);
  auto empty = dry("m", "", kAuth);
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(body(empty), (json{{"dry_run", true}, {"name", "m"}, {"version", 1}, {"model_checked", false}}));
  auto full = dry("m", onnx, kAuth);
  ASSERT_EQ(full.status, 200) << full.body;
  EXPECT_EQ(body(full)["model_checked"], true);
  EXPECT_EQ(body(request(port_, "GET", "/api/v1/models"))["models"].size(), 0u);  // nothing stored

  auto garbage = dry("m", "not an onnx model", kAuth);
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  EXPECT_EQ(dry("bad name!", "", kAuth).status, 400);
  Headers withMetadata = kAuth;
  withMetadata.emplace_back("X-Mlaas-Metadata", R"({"colour": "blue"})");
  auto metadata = dry("m", "", withMetadata);
  EXPECT_EQ(metadata.status, 400);
  EXPECT_NE(metadata.body.find("colour"), std::string::npos) << metadata.body;
  auto flag = dry("m", "", kAuth, "maybe");
  EXPECT_EQ(flag.status, 400);
  EXPECT_NE(flag.body.find("dry_run"), std::string::npos) << flag.body;

  ASSERT_EQ(upload("m", onnx).status, 201);
  EXPECT_EQ(body(dry("m", "", kAuth))["version"], 2);
  auto stored = dry("m", onnx, kAuth, "false");  // dry_run=false is an upload
  ASSERT_EQ(stored.status, 201) << stored.body;
  EXPECT_EQ(body(stored)["version"], 2);
  EXPECT_EQ(body(request(port_, "GET", "/api/v1/models/m/versions"))["versions"].size(), 2u);
}

TEST_F(ServerTest, OipJsonInferenceEqualsInProcessOnnxRuntime) {
  std::string onnx = test::mlpModel({42, 32, 16, 1});
  ASSERT_EQ(upload("mlp", onnx).status, 201);
  auto values = randomRow(42 * 3, 7);
  auto r = request(port_, "POST", "/v2/models/mlp/infer", inferBody(values, 3, 42).dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto out = body(r);
  EXPECT_EQ(out["model_name"], "mlp");
  EXPECT_EQ(out["model_version"], "1");
  EXPECT_EQ(out["id"], "r1");
  EXPECT_EQ(out["outputs"][0]["shape"], json({3, 1}));
  auto expected = referenceOutput(onnx, values, 3);
  auto got = out["outputs"][0]["data"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], expected[i]);
  auto meta = request(port_, "GET", "/v2/models/mlp");
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(body(meta)["inputs"][0]["shape"], json({-1, 42}));
  EXPECT_EQ(request(port_, "GET", "/v2/models/mlp/versions/1/ready").status, 200);
  EXPECT_EQ(body(request(port_, "GET", "/v2"))["extensions"][0], "binary_tensor_data");
}

TEST_F(ServerTest, OipBinaryTensorExtension) {
  std::string onnx = test::mlpModel({8, 4, 2});
  ASSERT_EQ(upload("bin", onnx).status, 201);
  auto values = randomRow(16, 3);
  json header = {{"inputs", {{{"name", "input"}, {"shape", {2, 8}}, {"datatype", "FP32"},
                              {"parameters", {{"binary_data_size", 64}}}}}},
                 {"parameters", {{"binary_data_output", true}}}};
  std::string h = header.dump();
  std::string payload = h + std::string(reinterpret_cast<const char*>(values.data()), 64);
  auto r = request(
      port_, "POST", "/v2/models/bin/infer", payload,
      {{"Inference-Header-Content-Length", std::to_string(h.size())}, {"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::size_t jsonLength = std::stoul(r.headers["inference-header-content-length"]);
  auto out = json::parse(r.body.substr(0, jsonLength));
  EXPECT_EQ(out["outputs"][0]["parameters"]["binary_data_size"], 16);
  std::vector<float> got(4);
  ASSERT_EQ(r.body.size() - jsonLength, 16u);
  std::memcpy(got.data(), r.body.data() + jsonLength, 16);
  auto expected = referenceOutput(onnx, values, 2);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(got[i], expected[i]);
  // a binary_data_size larger than what was sent
  json bad = header;
  bad["inputs"][0]["parameters"]["binary_data_size"] = 128;
  std::string bh = bad.dump();
  auto e = request(port_, "POST", "/v2/models/bin/infer", bh + std::string(64, '\0'),
                   {{"Inference-Header-Content-Length", std::to_string(bh.size())}});
  EXPECT_EQ(e.status, 400);
  EXPECT_NE(body(e)["error"].get<std::string>().find("binary_data_size 128"), std::string::npos);
}

// An allocation that fails after the handler handed the request to the scheduler (the copy of
// the model's output of kRows rows) is that request's 500, naming the failure, on whichever thread
// its batch runs; the connection and the server keep serving.
TEST_F(ServerTest, AnAllocationFailureDuringInferenceIsA500AndTheConnectionKeepsServing) {
  constexpr std::int64_t kRows = 1237, kWidth = 42;
  const std::string onnx = test::mlpModel({kWidth, 8, 1});
  const auto values = randomRow(kRows * kWidth, 5);
  const auto expected = referenceOutput(onnx, values, kRows);
  const std::string header = json{{"inputs",
                                   {{{"name", "input"},
                                     {"shape", {kRows, kWidth}},
                                     {"datatype", "FP32"},
                                     {"parameters", {{"binary_data_size", values.size() * 4}}}}}},
                                  {"parameters", {{"binary_data_output", true}}}}
                                 .dump();
  const std::string infer =
      test::formatRequest("POST", "/v2/models/m/infer",
                          header + std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4),
                          {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  struct Mode {
    std::string name;
    std::function<void(ServerConfig&)> tweak;
  };
  const std::vector<Mode> modes{
      {"inference-threads", [](ServerConfig& c) { c.ioBatchMaxRunTime = std::chrono::microseconds(0); }},
      // after its first run the model is cheap: its batches run at the end of the I/O thread's round
      {"io-rounds", [](ServerConfig&) {}},
      {"inline", [](ServerConfig& c) { c.inlineInference = true; }}};
  for (const auto& mode : modes) {
    SCOPED_TRACE(mode.name);
    server_.reset();
    startServer(64u << 20, 0, [&](ServerConfig& c) {
      c.dataDir = dir_.path() / mode.name;
      mode.tweak(c);
    });
    ASSERT_EQ(upload("m", onnx).status, 201);
    test::RawConnection connection(port_);
    auto expectRightAnswer = [&] {
      connection.send(infer);
      auto r = connection.read();
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      std::size_t jsonLength = std::stoul(r->headers["inference-header-content-length"]);
      ASSERT_EQ(r->body.size() - jsonLength, expected.size() * 4);
      std::vector<float> got(expected.size());
      std::memcpy(got.data(), r->body.data() + jsonLength, got.size() * 4);
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_FLOAT_EQ(got[i], expected[i]) << i;
    };
    expectRightAnswer();  // loads the session and times its first run

    test::failNextAllocationOf(static_cast<std::size_t>(kRows) * sizeof(float));  // the output [kRows, 1]
    connection.send(infer);
    auto failed = connection.read();
    const bool fired = !test::allocationFailurePending();
    test::clearAllocationFailure();
    ASSERT_TRUE(failed);
    ASSERT_TRUE(fired);
    EXPECT_EQ(failed->status, 500);
    EXPECT_NE(body(*failed)["error"].get<std::string>().find("model m/versions/1: inference failed: std::bad_alloc"),
              std::string::npos)
        << failed->body;

    expectRightAnswer();  // the same connection
  }
}

TEST_F(ServerTest, AliasesMoveTrafficAndUnknownReferencesAre404) {
  ASSERT_EQ(upload("a", test::oneNodeModel("Relu", test::kFloat, 2)).status, 201);
  ASSERT_EQ(upload("a", test::oneNodeModel("Neg", test::kFloat, 2)).status, 201);
  auto put = request(port_, "PUT", "/api/v1/models/a/aliases/production", R"({"version":1})", kAuth);
  ASSERT_EQ(put.status, 200) << put.body;
  json in = {{"inputs", {{{"name", "x"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {-1.5, 2}}}}}};
  auto relu = body(request(port_, "POST", "/v2/models/a@production/infer", in.dump()));
  EXPECT_EQ(relu["outputs"][0]["data"], json({0.0, 2.0}));
  EXPECT_EQ(relu["model_version"], "1");
  ASSERT_EQ(request(port_, "PUT", "/api/v1/models/a/aliases/production", R"({"version":2})", kAuth).status, 200);
  auto neg = body(request(port_, "POST", "/v2/models/a@production/infer", in.dump()));
  EXPECT_EQ(neg["outputs"][0]["data"], json({1.5, -2.0}));
  EXPECT_EQ(body(request(port_, "GET", "/api/v1/models/a@production"))["version"], 2);
  auto noAlias = request(port_, "POST", "/v2/models/a@staging/infer", in.dump());
  EXPECT_EQ(noAlias.status, 404);
  EXPECT_NE(body(noAlias)["error"].get<std::string>().find("no alias 'staging'"), std::string::npos);
  auto noVersion = request(port_, "POST", "/v2/models/a/versions/9/infer", in.dump());
  EXPECT_EQ(noVersion.status, 404);
  EXPECT_NE(body(noVersion)["error"].get<std::string>().find("no version 9"), std::string::npos);
  auto noModel = request(port_, "POST", "/v2/models/zzz/infer", in.dump());
  EXPECT_EQ(noModel.status, 404);
  EXPECT_NE(body(noModel)["error"].get<std::string>().find("'zzz' not found"), std::string::npos);
  EXPECT_EQ(request(port_, "PUT", "/api/v1/models/a/aliases/production", R"({"version":7})", kAuth).status, 404);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/a/aliases/production", "", kAuth).status, 200);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/a/aliases/production", "", kAuth).status, 404);
}

TEST_F(ServerTest, BadInferenceRequestsGet400AndTheServerKeepsServing) {
  ASSERT_EQ(upload("m", test::mlpModel({4, 1})).status, 201);
  auto expect400 = [&](const std::string& payload, const std::string& fragment) {
    auto r = request(port_, "POST", "/v2/models/m/infer", payload);
    EXPECT_EQ(r.status, 400) << payload;
    EXPECT_NE(body(r)["error"].get<std::string>().find(fragment), std::string::npos) << r.body;
  };
  expect400("{\"inputs\": [", "malformed JSON");
  expect400(R"({"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]})", "shape");
  expect400(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]})", "needs 4 elements");
  expect400(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]})", "datatype FP32");
  expect400(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":["a","b","c","d"]}]})",
            "not a valid FP32");
  expect400(R"({"inputs":[{"name":"other","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})", "no input 'other'");
  expect400(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FLOAT","data":[1,2,3,4]}]})", "unknown datatype");
  expect400(R"({"inputs":[{"name":"input","shape":[1000000000,1000000000],"datatype":"FP32","data":[1]}]})",
            "more elements than");
  expect400(
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]})",
      "no output 'nope'");
  auto ok = request(port_, "POST", "/v2/models/m/infer",
                    R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(request(port_, "GET", "/v2/models/m/infer").status, 405);
  EXPECT_EQ(request(port_, "GET", "/nothing/here").status, 404);
}

TEST_F(ServerTest, OversizedBodiesGet413) {
  server_->shutdown();
  startServer(4096);
  auto big = request(port_, "POST", "/v2/models/m/infer", std::string(10000, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(body(big)["error"].get<std::string>().find("limit of 4096 bytes"), std::string::npos);
  EXPECT_EQ(request(port_, "GET", "/v2/health/ready").status, 200);
}

TEST_F(ServerTest, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  ASSERT_EQ(upload("p", test::oneNodeModel("Neg", test::kFloat, 1)).status, 201);
  test::RawConnection c(port_);
  std::string batch;
  for (int i = 0; i < 5; ++i) {
    json in = {{"id", std::to_string(i)},
               {"inputs", {{{"name", "x"}, {"shape", {1, 1}}, {"datatype", "FP32"}, {"data", {i}}}}}};
    batch += test::formatRequest("POST", "/v2/models/p/infer", in.dump());
  }
  c.send(batch);
  for (int i = 0; i < 5; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r);
    auto out = json::parse(r->body);
    EXPECT_EQ(out["id"], std::to_string(i));
    EXPECT_EQ(out["outputs"][0]["data"][0], -i);
  }
}

TEST_F(ServerTest, TfaasJsonProtoAndListingEndpoints) {
  std::string onnx = test::mlpModel({42, 16, 1});
  ASSERT_EQ(upload("tfaas", onnx, R"({"labels":["signal"],"description":"d"})").status, 201);
  auto values = randomRow(42, 11);
  auto expected = referenceOutput(onnx, values, 1);
  json req = {{"keys", json::array()}, {"values", values}, {"model", "tfaas"}};
  auto r = request(port_, "POST", "/json", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto got = json::parse(r.body);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FLOAT_EQ(got[0].get<float>(), expected[0]);
  // batch form and case-insensitive keys
  json batch = {{"VALUES", {values, values}}, {"Model", "tfaas"}};
  auto b = json::parse(request(port_, "POST", "/predict/json", batch.dump()).body);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_FLOAT_EQ(b[1][0].get<float>(), expected[0]);
  // protobuf
  tfaaspb::Row row;
  row.set_model("tfaas");
  for (float v : values) row.add_value(v);
  auto p = request(port_, "POST", "/proto", row.SerializeAsString());
  ASSERT_EQ(p.status, 200);
  tfaaspb::Predictions predictions;
  ASSERT_TRUE(predictions.ParseFromString(p.body));
  ASSERT_EQ(predictions.prediction_size(), 1);
  EXPECT_EQ(predictions.prediction(0).label(), "signal");
  EXPECT_FLOAT_EQ(predictions.prediction(0).probability(), expected[0]);
  EXPECT_EQ(request(port_, "POST", "/proto", "\xff\xff\xff").status, 400);
  auto models = json::parse(request(port_, "GET", "/models").body);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["name"], "tfaas");
  EXPECT_EQ(models[0]["inputNode"], "input");
  EXPECT_EQ(json::parse(request(port_, "GET", "/params/tfaas").body)["description"], "d");
  EXPECT_EQ(request(port_, "GET", "/status").status, 200);
  EXPECT_EQ(request(port_, "DELETE", "/delete/tfaas").status, 401);
  EXPECT_EQ(request(port_, "DELETE", "/delete/tfaas", "", kAuth).status, 200);
  EXPECT_EQ(json::parse(request(port_, "GET", "/models").body).size(), 0u);
  EXPECT_EQ(request(port_, "POST", "/json", req.dump()).status, 404);
}

TEST_F(ServerTest, TagsSearchAndDeletes) {
  ASSERT_EQ(upload("jets-tagger", test::mlpModel({4, 1}), R"({"description":"b-tagging for jets"})").status, 201);
  ASSERT_EQ(upload("muons", test::mlpModel({4, 1})).status, 201);
  ASSERT_EQ(request(port_, "PUT", "/api/v1/models/muons/tags/owner", R"({"value":"cms"})", kAuth).status, 200);
  ASSERT_EQ(
      request(port_, "PUT", "/api/v1/models/jets-tagger/versions/1/tags/stage", R"({"value":"prod"})", kAuth).status,
      200);
  ASSERT_EQ(request(port_, "PUT", "/api/v1/models/muons/aliases/staging", R"({"version":1})", kAuth).status, 200);
  auto names = [&](const std::string& q) {
    std::vector<std::string> out;
    auto r = request(port_, "GET", "/api/v1/models?q=" + q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.body;
    auto parsed = json::parse(r.body);  // named: a range-for over a temporary's member would dangle
    for (const auto& m : parsed["models"]) out.push_back(m["name"]);
    return out;
  };
  EXPECT_EQ(names("name:jets*"), std::vector<std::string>{"jets-tagger"});
  EXPECT_EQ(names("tag:owner=cms"), std::vector<std::string>{"muons"});
  EXPECT_EQ(names("tag:stage"), std::vector<std::string>{"jets-tagger"});
  EXPECT_EQ(names("alias:staging"), std::vector<std::string>{"muons"});
  EXPECT_EQ(names("B-TAGGING"), std::vector<std::string>{"jets-tagger"});
  EXPECT_EQ(names("name:*s+tag:owner"), std::vector<std::string>{"muons"});
  EXPECT_TRUE(names("nothing-matches").empty());
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/muons/tags/owner", "", kAuth).status, 200);
  EXPECT_TRUE(names("tag:owner").empty());
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/muons/versions/1", "", kAuth).status, 200);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models/muons/versions/1").status, 404);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/jets-tagger", "", kAuth).status, 200);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/jets-tagger", "", kAuth).status, 404);
  EXPECT_EQ(request(port_, "POST", "/api/v1/models/x/predict-events", "{}").status,
            404);  // implemented: tests/serve/predict_events_test.cpp
}

TEST_F(ServerTest, RepositoryExtensionLoadsAndUnloads) {
  ASSERT_EQ(upload("r", test::mlpModel({4, 1})).status, 201);
  auto index = json::parse(request(port_, "POST", "/v2/repository/index", "{}").body);
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0]["state"], "UNAVAILABLE");
  EXPECT_EQ(request(port_, "POST", "/v2/repository/models/r/load", "", kAuth).status, 200);
  EXPECT_EQ(json::parse(request(port_, "POST", "/v2/repository/index", R"({"ready":true})").body)[0]["state"], "READY");
  EXPECT_EQ(request(port_, "POST", "/v2/repository/models/r/unload", "", kAuth).status, 200);
  EXPECT_EQ(json::parse(request(port_, "POST", "/v2/repository/index", R"({"ready":true})").body).size(), 0u);
  EXPECT_EQ(request(port_, "POST", "/v2/repository/models/nope/load", "", kAuth).status, 404);
}

/// Waits (without sleeping for a fixed time) until the paused server holds `n` queued requests.
::testing::AssertionResult waitForQueued(const Server& server, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (server.queuedRequests() < n) {
    if (std::chrono::steady_clock::now() > deadline)
      return ::testing::AssertionFailure() << "only " << server.queuedRequests() << " of " << n << " requests queued";
    std::this_thread::yield();
  }
  return ::testing::AssertionSuccess();
}

// An allocation that fails while an inference thread forms a batch (before its run, outside the
// guarded execution) is a 500 for each request of the batch, naming the failure; the thread
// goes on serving, and the next requests get their right answers.
TEST_F(ServerTest, AnAllocationFailureFormingABatchIsA500ForItsRequestsAndTheNextOnesAreServed) {
  const std::string onnx = test::mlpModel({8, 4, 1});
  ASSERT_EQ(upload("f", onnx).status, 201);
  // Sixteen requests held in the queue while paused form one batch on resume: the inference
  // thread's one allocation of that size (a size nothing else allocates then).
  constexpr int kClients = 16;
  server_->pauseInference();
  auto failing = concurrentRowRequests("f", kClients);
  ASSERT_TRUE(waitForQueued(*server_, kClients));
  test::failNextAllocationOf(SchedulerTestPeer::batchBytes(kClients));
  server_->resumeInference();
  for (auto& future : failing) {
    auto r = future.get();
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(body(r)["error"], "model f/versions/1: inference failed: std::bad_alloc");
  }
  const bool fired = !test::allocationFailurePending();
  test::clearAllocationFailure();
  ASSERT_TRUE(fired);
  EXPECT_EQ(server_->queuedRequests(), 0u);

  auto next = concurrentRowRequests("f", kClients);
  expectRowAnswers(next, onnx);
}

TEST_F(ServerTest, ConcurrentRequestsAreBatchedAndCountedInMetrics) {
  std::string onnx = test::mlpModel({8, 8, 1});
  ASSERT_EQ(upload("b", onnx).status, 201);
  constexpr int kClients = 8;
  server_->pauseInference();  // every request waits in the queue, then all run as one batch
  auto futures = concurrentRowRequests("b", kClients);
  ASSERT_TRUE(waitForQueued(*server_, kClients));
  server_->resumeInference();
  expectRowAnswers(futures, onnx);
  auto metrics = request(port_, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("mlaas_requests_total{model=\"b\",version=\"1\",protocol=\"v2\"} 8"), std::string::npos)
      << metrics;
  // All eight ran in one batch: every bucket below 8 rows stayed empty.
  EXPECT_NE(metrics.find("mlaas_batch_size_bucket{model=\"b\",version=\"1\",le=\"4\"} 0"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("mlaas_batch_size_bucket{model=\"b\",version=\"1\",le=\"8\"} 8"), std::string::npos)
      << metrics;
  // Eight one-row requests: eight rows run, in some positive time.
  EXPECT_NE(metrics.find("mlaas_inference_rows_total{model=\"b\",version=\"1\"} 8\n"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("mlaas_inference_seconds_total{model=\"b\",version=\"1\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("mlaas_loaded_models 1"), std::string::npos);
}

TEST_F(ServerTest, BatchesFormWithinTheQueueDelay) {
  server_->shutdown();
  startServer(64u << 20, 200'000);  // a long queue delay so concurrent requests meet in one batch
  std::string onnx = test::mlpModel({8, 8, 1});
  ASSERT_EQ(upload("b", onnx).status, 201);
  constexpr int kClients = 4;
  auto futures = concurrentRowRequests("b", kClients);
  expectRowAnswers(futures, onnx);
}

TEST_F(ServerTest, FullQueueGets429WithRetryAfterAndTheServerKeepsServing) {
  server_->shutdown();
  startServer(64u << 20, 0, [](ServerConfig& c) { c.maxQueue = 1; });
  std::string onnx = test::mlpModel({8, 4, 1});
  ASSERT_EQ(upload("q", onnx).status, 201);
  auto values = randomRow(8, 3);
  server_->pauseInference();
  auto queued = std::async(std::launch::async, [&] {
    return request(port_, "POST", "/v2/models/q/infer", inferBody(values, 1, 8).dump());
  });
  ASSERT_TRUE(waitForQueued(*server_, 1));

  auto refused = request(port_, "POST", "/v2/models/q/infer", inferBody(values, 1, 8).dump());
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers["retry-after"], "1");
  EXPECT_EQ(body(refused)["error"], "model q/versions/1: inference queue is full (1 requests waiting); retry later");
  // TFaaS requests share the queue and get the same answer.
  json tfaas = {{"keys", json::array()}, {"values", values}, {"model", "q"}};
  auto refusedTfaas = request(port_, "POST", "/json", tfaas.dump());
  EXPECT_EQ(refusedTfaas.status, 429);
  EXPECT_EQ(refusedTfaas.headers["retry-after"], "1");

  server_->resumeInference();
  auto first = queued.get();
  ASSERT_EQ(first.status, 200) << first.body;
  auto expected = referenceOutput(onnx, values, 1);
  EXPECT_FLOAT_EQ(body(first)["outputs"][0]["data"][0].get<float>(), expected[0]);
  auto again = request(port_, "POST", "/v2/models/q/infer", inferBody(values, 1, 8).dump());
  ASSERT_EQ(again.status, 200) << again.body;
  auto metrics = request(port_, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("protocol=\"v2\",code=\"429\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("protocol=\"tfaas-json\",code=\"429\"} 1"), std::string::npos) << metrics;
}

std::vector<std::future<test::RawResponse>> ServerTest::shutDownWithTwoRequestsQueued(const std::string& model,
                                                                                      const std::string& onnx) {
  EXPECT_EQ(upload(model, onnx).status, 201);
  server_->pauseInference();
  auto queued = concurrentRowRequests(model, 2);
  EXPECT_TRUE(waitForQueued(*server_, 2));
  server_->shutdown();
  return queued;
}

// Shutdown overrides a pause (docs/serving.md): a request queued while the inference threads are
// held is still run and answered before the I/O threads stop, and shutdown returns once it is.
TEST_F(ServerTest, ShutdownAnswersRequestsQueuedWhilePaused) {
  std::string onnx = test::mlpModel({8, 4, 1});
  auto queued = shutDownWithTwoRequestsQueued("p", onnx);
  expectRowAnswers(queued, onnx);
}

// With no grace the I/O threads stop before the queued requests have run: whatever the inference
// threads run or abandon then is answered to connections and event loops that must still exist
// (the HTTP server is destroyed after the scheduler), where the answer is dropped. Each client
// gets its right answer or a closed connection, nothing else, and shutdown returns.
TEST_F(ServerTest, ShutdownWithoutGraceLeavesNoAnswerBehindItsConnections) {
  server_->shutdown();
  startServer(64u << 20, 0, [](ServerConfig& c) { c.shutdownGrace = std::chrono::milliseconds(0); });
  std::string onnx = test::mlpModel({8, 4, 1});
  auto queued = shutDownWithTwoRequestsQueued("g", onnx);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    try {
      auto r = queued[i].get();
      ASSERT_EQ(r.status, 200) << r.body;
      EXPECT_FLOAT_EQ(body(r)["outputs"][0]["data"][0].get<float>(),
                      referenceOutput(onnx, randomRow(8, static_cast<unsigned>(i)), 1)[0]);
    } catch (const std::runtime_error&) {
      // closed without a response: the I/O threads were gone when the answer came
    }
  }
}

TEST_F(ServerTest, InferenceAndReadingCanRequireTokens) {
  ASSERT_EQ(upload("m", test::mlpModel({4, 1})).status, 201);
  server_->shutdown();
  startServer(64u << 20, 0, [](ServerConfig& c) {
    c.requireTokenForInference = true;
    c.requireTokenForRead = true;
  });
  std::string in = R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})";
  EXPECT_EQ(request(port_, "POST", "/v2/models/m/infer", in).status, 401);
  EXPECT_EQ(request(port_, "POST", "/v2/models/m/infer", in, kAuth).status, 200);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models").status, 401);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models", "", kAuth).status, 200);
  EXPECT_EQ(request(port_, "GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(request(port_, "GET", "/metrics").status, 200);
}

TEST_F(ServerTest, SilentConnectionsAreClosedAfterTheHeaderTimeout) {
  server_->shutdown();
  startServer(64u << 20, 0, [](ServerConfig& c) { c.headerTimeout = std::chrono::milliseconds(100); });
  test::RawConnection idle(port_);
  idle.send("GET /v2/health/live HTTP/1.1\r\nHost: x\r\n");  // never finishes its headers
  EXPECT_FALSE(idle.read());  // blocks until the server gives up on it
  EXPECT_EQ(request(port_, "GET", "/v2/health/live").status, 200);
}

TEST_F(ServerTest, NonLoopbackWithoutTokensIsRefused) {
  ServerConfig config;
  config.host = "0.0.0.0";
  config.dataDir = dir_.path() / "other";
  try {
    Server refused(config);
    FAIL() << "a server without tokens accepted a non-loopback address";
  } catch (const core::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("without tokens"), std::string::npos);
  }
}

struct FormField {
  std::string name, filename, content;
};

std::pair<std::string, Headers> multipartForm(const std::vector<FormField>& fields, bool auth = false) {
  const std::string b = "ImageBoundary7";
  std::string form;
  for (const auto& f : fields) {
    form += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"";
    if (!f.filename.empty()) form += "; filename=\"" + f.filename + "\"\r\nContent-Type: application/octet-stream";
    form += "\r\n\r\n" + f.content + "\r\n";
  }
  form += "--" + b + "--\r\n";
  Headers h = auth ? kAuth : Headers{};
  h.emplace_back("Content-Type", "multipart/form-data; boundary=" + b);
  return {form, h};
}

TEST_F(ServerTest, TfaasImageFeedsUnscaledPixelsAndAnswersTheOutputRow) {
  // The model returns its [1,2,3,3] image input flattened: the answer is the tensor the server built.
  ASSERT_EQ(upload("img", test::flattenModel({-1, 2, 3, 3})).status, 201);
  auto rgb = test::pattern(2 * 3 * 3, 9);
  for (const char* path : {"/image", "/predict/image"}) {
    // The file name says .jpg but the bytes are PNG: the signature decides, unlike TFaaS.
    auto [form, headers] = multipartForm({{"image", "photo.jpg", test::makePng(3, 2, 3, rgb)}, {"model", "", "img"}});
    auto r = request(port_, "POST", path, form, headers);
    ASSERT_EQ(r.status, 200) << r.body;
    auto values = body(r).get<std::vector<double>>();
    ASSERT_EQ(values.size(), rgb.size());
    for (std::size_t i = 0; i < rgb.size(); ++i) EXPECT_EQ(values[i], rgb[i]);
  }
  // JPEG, grey converted to the model's three channels.
  std::vector<std::uint8_t> grey(6, 90);
  auto [form, headers] = multipartForm({{"model", "", "img"}, {"image", "g.jpeg", test::makeJpeg(3, 2, 1, grey)}});
  auto r = request(port_, "POST", "/image", form, headers);
  ASSERT_EQ(r.status, 200) << r.body;
  for (double v : body(r).get<std::vector<double>>()) EXPECT_NEAR(v, 90, 2);
  auto metrics = request(port_, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("mlaas_requests_total{model=\"img\",version=\"1\",protocol=\"tfaas-image\"} 3"),
            std::string::npos)
      << metrics;
}

TEST_F(ServerTest, TfaasImageWithLabelsAnswersTheTopFiveAndReadsImgChannels) {
  // TFaaS's own upload form: params.json with img_channels 1 and a labels file.
  auto [up, upHeaders] = multipartForm({{"name", "", "digits"},
                                        {"model", "model.onnx", test::flattenModel({-1, 2, 3, -1})},
                                        {"params", "params.json", R"({"name":"digits","imgChannels":1})"},
                                        {"labels", "labels.txt", "a\nb\nc\nd\ne\nf\n"}},
                                       true);
  ASSERT_EQ(request(port_, "POST", "/upload", up, upHeaders).status, 201);
  // An RGB image becomes grey because of img_channels; pixel values decide the ranking.
  std::vector<std::uint8_t> rgb;
  for (std::uint8_t v : {10, 250, 30, 200, 0, 100}) rgb.insert(rgb.end(), {v, v, v});
  auto [form, headers] = multipartForm({{"image", "six.png", test::makePng(3, 2, 3, rgb)}, {"model", "", "digits"}});
  auto r = request(port_, "POST", "/image", form, headers);
  ASSERT_EQ(r.status, 200) << r.body;
  json expected = {{"filename", "six.png"},
                   {"labels", {{{"label", "b"}, {"probability", 250.0}}, {{"label", "d"}, {"probability", 200.0}},
                               {{"label", "f"}, {"probability", 100.0}}, {{"label", "c"}, {"probability", 30.0}},
                               {{"label", "a"}, {"probability", 10.0}}}}};
  EXPECT_EQ(body(r), expected);
}

TEST_F(ServerTest, TfaasImageBadRequestsGet400NamingTheProblem) {
  ASSERT_EQ(upload("img", test::flattenModel({-1, 2, 3, 3})).status, 201);
  ASSERT_EQ(upload("vec", test::mlpModel({4, 1})).status, 201);
  auto png = test::makePng(3, 2, 3, test::pattern(18));
  struct Case {
    std::vector<FormField> fields;
    int status;
    std::string message;
  } cases[] = {
      {{{"model", "", "img"}}, 400, "/image form has no 'image' file part"},
      {{{"image", "x.png", png}}, 400, "/image form has no 'model' field"},
      {{{"image", "x.png", "not an image"}, {"model", "", "img"}},
       400,
       "the image is neither PNG nor JPEG (unknown signature bytes)"},
      {{{"image", "x.png", png.substr(0, png.size() - 16)}, {"model", "", "img"}}, 400, "PNG image"},
      {{{"image", "x.png", test::makePng(4, 4, 3, test::pattern(48))}, {"model", "", "img"}},
       400,
       "image is 4x4 (width x height) but model img/versions/1 input 'x' [-1,2,3,3] expects 3x2; images are not "
       "resized"},
      {{{"image", "x.png", png}, {"model", "", "vec"}}, 400, "model vec/versions/1 input 'input' has shape [-1,4]"},
      {{{"image", "x.png", png}, {"model", "", "nope"}}, 404, "nope"},
  };
  for (const auto& c : cases) {
    auto [form, headers] = multipartForm(c.fields);
    auto r = request(port_, "POST", "/image", form, headers);
    EXPECT_EQ(r.status, c.status) << c.message;
    EXPECT_NE(body(r)["error"].get<std::string>().find(c.message), std::string::npos) << r.body;
  }
  auto notForm = request(port_, "POST", "/image", png, {{"Content-Type", "image/png"}});
  EXPECT_EQ(notForm.status, 400);
  EXPECT_NE(notForm.body.find("multipart/form-data"), std::string::npos);
  EXPECT_EQ(request(port_, "GET", "/image").status, 405);
  // Still serving.
  auto [form, headers] = multipartForm({{"image", "x.png", png}, {"model", "", "img"}});
  EXPECT_EQ(request(port_, "POST", "/image", form, headers).status, 200);
}

// A request body of the wrong JSON type is the caller's mistake: json::value threw type_error,
// which the catch-all turned into a 500.
TEST_F(ServerTest, RequestJsonOfTheWrongTypeIs400NamingTheKey) {
  auto index = request(port_, "POST", "/v2/repository/index", R"({"ready":"yes"})");
  EXPECT_EQ(index.status, 400) << index.body;
  EXPECT_NE(body(index)["error"].get<std::string>().find("\"ready\" must be true or false"), std::string::npos)
      << index.body;
  // TFaaS params.json keys read as text.
  for (const char* params : {R"({"name": 5})", R"({"model": ["a"]})", R"({"labels": {}})"}) {
    auto [form, headers] = multipartForm(
        {{"name", "", "p"}, {"model", "model.onnx", test::mlpModel({4, 1})}, {"params", "params.json", params}}, true);
    auto r = request(port_, "POST", "/upload", form, headers);
    EXPECT_EQ(r.status, 400) << params << ": " << r.body;
    EXPECT_NE(r.body.find("must be a string"), std::string::npos) << r.body;
  }
}

// 429 tells a client to retry; a bundle that inflates past the limit will never fit: 413.
TEST_F(ServerTest, ABundleThatInflatesPastTheLimitIs413) {
  server_->shutdown();
  startServer(64 * 1024);
  ::mlaas::test::TempDir dir;
  std::filesystem::create_directories(dir / "bomb");
  ::mlaas::test::writeFile(dir / "bomb" / "model.onnx", std::string(1 << 20, '\0'));  // 1 MiB of zeros
  // .tgz, not .tar.gz: test::readFile gunzips a .gz file.
  ASSERT_EQ(::mlaas::test::run({"tar", "czf", (dir / "bomb.tgz").string(), "-C", dir.path().string(), "bomb"})
                .exitCode,
            0);
  const auto archive = ::mlaas::test::readFile(dir / "bomb.tgz");
  ASSERT_LT(archive.size(), 64u * 1024);  // the body itself is within the limit
  auto r = request(port_, "POST", "/upload", archive, kAuth);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_NE(r.body.find("exceed the 65536 byte limit"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.count("retry-after"), 0u);
}

// One rule for every JSON answer: NaN and infinities are the strings "NaN", "Infinity" and
// "-Infinity" (a bare nan from fmt, or null, left clients unable to decode a 200).
TEST_F(ServerTest, NonFiniteOutputsAreWrittenAsNamedStringsInEveryJsonAnswer) {
  ASSERT_EQ(upload("log", test::oneNodeModel("Log", test::kFloat, 4)).status, 201);
  json req = {{"inputs", {{{"name", "x"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", {-1.0, 0.0, 1.0, 2.0}}}}}};
  auto r = request(port_, "POST", "/v2/models/log/infer", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json data = body(r)["outputs"][0]["data"];  // json::parse is strict: the answer is JSON
  EXPECT_EQ(data[0], "NaN");
  EXPECT_EQ(data[1], "-Infinity");
  EXPECT_EQ(data[2].get<double>(), 0.0);
  EXPECT_NEAR(data[3].get<double>(), std::log(2.0), 1e-6);
  // TFaaS /json, one row and a batch.
  auto t = request(port_, "POST", "/json", json({{"model", "log"}, {"values", {-1.0, 0.0, 1.0, 2.0}}}).dump());
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(body(t)[0], "NaN");
  EXPECT_EQ(body(t)[1], "-Infinity");
  auto b = request(port_, "POST", "/json",
                   json({{"model", "log"}, {"values", {{-1.0, 0.0, 1.0, 2.0}, {1.0, 1.0, 1.0, -2.0}}}}).dump());
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(body(b)[1][3], "NaN");
}

// 1e39 does not fit FP32: it silently became inf and answered 200.
TEST_F(ServerTest, AJsonInputOutsideItsTypesRangeIs400NamingTheElement) {
  ASSERT_EQ(upload("m", test::mlpModel({4, 1})).status, 201);
  json req = {{"inputs", {{{"name", "input"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", {0.5, 1e39, 0, 0}}}}}};
  auto r = request(port_, "POST", "/v2/models/m/infer", req.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(body(r)["error"].get<std::string>().find("input 'input': element 1 (1e+39) is outside the FP32 range"),
            std::string::npos)
      << r.body;
  // A string such as "NaN" is refused with the way to send it.
  req["inputs"][0]["data"] = {0.5, "NaN", 0, 0};
  auto s = request(port_, "POST", "/v2/models/m/infer", req.dump());
  EXPECT_EQ(s.status, 400) << s.body;
  EXPECT_NE(s.body.find("element 1: a string element is not a valid FP32 value (JSON inputs carry finite numbers "
                        "only: send NaN or infinity with the binary tensor extension)"),
            std::string::npos)
      << s.body;
  // TFaaS rows too.
  auto t = request(port_, "POST", "/json", json({{"model", "m"}, {"values", {0.5, 0.5, -1e39, 0}}}).dump());
  EXPECT_EQ(t.status, 400) << t.body;
  EXPECT_NE(t.body.find("value 2 (-1e+39) is outside the FP32 range of input 'input'"), std::string::npos) << t.body;
}

// The body timeout closed the socket itself, so the documented 408 was never written.
TEST_F(ServerTest, AStalledBodyGets408BeforeTheConnectionCloses) {
  server_->shutdown();
  startServer(64u << 20, 0, [](ServerConfig& c) { c.bodyTimeout = std::chrono::milliseconds(200); });
  test::RawConnection c(port_);
  c.send("POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabcd");
  auto r = c.read();  // blocks until the server answers (or closes: the old behaviour)
  ASSERT_TRUE(r) << "connection closed without a response";
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("within 200 ms"), std::string::npos) << r->body;
  EXPECT_TRUE(c.closedByPeer());
}

// A body over the limit is answered 413 before it is read; the server then reads and drops the
// rest instead of resetting the connection (which broke the client's write: "Broken pipe"), so a
// client still sending finishes and reads the 413.
TEST_F(ServerTest, AnOversizedBodyStillBeingSentSeesThe413) {
  server_->shutdown();
  startServer(4096);
  test::RawConnection c(port_);
  EXPECT_TRUE(c.send(test::formatRequest("POST", "/api/v1/models/big/versions", std::string(8u << 20, 'x'), kAuth)))
      << "the server reset the connection while the body was being sent";
  auto r = c.read();
  ASSERT_TRUE(r) << "connection reset before the response could be read";
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.closedByPeer());
}

// Deleting a model's last version deletes the model: it left a hidden model behind that lists
// and 404s did not show, that DELETE still 'deleted', and whose tags came back on re-upload.
TEST_F(ServerTest, DeletingTheLastVersionDeletesTheModel) {
  ASSERT_EQ(upload("x", test::mlpModel({4, 1})).status, 201);
  ASSERT_EQ(upload("x", test::mlpModel({4, 1}, 2)).status, 201);
  ASSERT_EQ(request(port_, "PUT", "/api/v1/models/x/tags/owner", R"({"value":"cms"})", kAuth).status, 200);
  auto first = request(port_, "DELETE", "/api/v1/models/x/versions/1", "", kAuth);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(body(first)["model_deleted"], false);
  auto last = request(port_, "DELETE", "/api/v1/models/x/versions/2", "", kAuth);
  ASSERT_EQ(last.status, 200);
  EXPECT_EQ(body(last)["model_deleted"], true);
  EXPECT_EQ(request(port_, "GET", "/api/v1/models/x").status, 404);
  EXPECT_EQ(request(port_, "DELETE", "/api/v1/models/x", "", kAuth).status, 404);
  EXPECT_EQ(request(port_, "PUT", "/api/v1/models/x/tags/owner", R"({"value":"atlas"})", kAuth).status, 404);
  EXPECT_TRUE(body(request(port_, "GET", "/api/v1/models"))["models"].empty());
  auto again = upload("x", test::mlpModel({4, 1}));
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(body(again)["version"], 1);
  EXPECT_TRUE(body(request(port_, "GET", "/api/v1/models/x"))["tags"].empty());
}

// The server's own damaged files are a server error naming the version, reported at startup too.
TEST_F(ServerTest, ATruncatedOrMissingStoredModelIsA500NamingTheVersion) {
  ASSERT_EQ(upload("t", test::mlpModel({4, 1})).status, 201);
  ASSERT_EQ(upload("gone", test::mlpModel({4, 1}, 3)).status, 201);
  auto truncated = server_->repository().resolve(parseModelRef("t").value()).value();
  auto missing = server_->repository().resolve(parseModelRef("gone").value()).value();
  server_->shutdown();
  const auto bytes = ::mlaas::test::readFile(truncated->file);
  ::mlaas::test::writeFile(truncated->file, bytes.substr(0, bytes.size() / 2));
  std::filesystem::remove(missing->file);
  startServer();
  const auto problems = server_->repository().checkBlobs();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE((problems[0] + problems[1]).find("gone/versions/1: stored model file"), std::string::npos);
  EXPECT_NE((problems[0] + problems[1]).find(fmt::format("t/versions/1: stored model file {} has {} bytes",
                                                         truncated->file.string(), bytes.size() / 2)),
            std::string::npos)
      << problems[0] << problems[1];
  json req = {{"inputs", {{{"name", "input"}, {"shape", {1, 4}}, {"datatype", "FP32"}, {"data", {0, 0, 0, 0}}}}}};
  for (const char* name : {"t", "gone"}) {
    auto r = request(port_, "POST", std::string("/v2/models/") + name + "/infer", req.dump());
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_NE(r.body.find(std::string(name) + "/versions/1"), std::string::npos) << r.body;
  }
}

}  // namespace
}  // namespace mlaas::serve
