// Every client call against the real `mlaas serve`; inference results are compared with ONNX
// Runtime run in-process on the same model bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/client.hpp"
#include "../serve/image_fixture.hpp"  // a hand-made PNG and an ONNX model that flattens its image
#include "real_server.hpp"

#ifdef MLAAS_CLIENT_TESTS_WITH_ORT
#include "onnx/model_builder.hpp"
#include "ort_reference.hpp"

using namespace mlaas;
using client::Client;
using client::Encoding;
using client::Tensor;
using core::Errc;
using nlohmann::json;
using test::RealServer;

namespace {

constexpr std::int64_t kFeatures = 42;

onnx::MlpSpec benchSpec(std::uint64_t seed) {
  onnx::MlpSpec spec;
  spec.layers = {kFeatures, 128, 128, 128, 64, 64, 1};
  spec.seed = seed;
  return spec;
}

/// ONNX Runtime in this process on `rows` rows of kFeatures.
std::vector<float> ortRun(const std::string& model, const std::vector<float>& input, std::int64_t rows) {
  return test::ortRun(model, input, rows, kFeatures);
}

std::vector<float> rowsOfFeatures(std::int64_t rows, float phase) {
  std::vector<float> values(static_cast<std::size_t>(rows * kFeatures));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::cos(phase + 0.13f * static_cast<float>(i));
  return values;
}

void expectNear(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  // Dynamic batching may run rows in a bigger batch than ours: allow last-bit differences.
  for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-6f) << "row " << i;
}

client::ClientOptions adminOptions(const RealServer& server) {
  client::ClientOptions options;
  options.url = server.url();
  options.token = RealServer::kToken;
  options.retryBackoff = std::chrono::milliseconds(10);
  return options;
}

}  // namespace

TEST(ClientServer, RepositoryLifecycleThroughEveryCall) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  const auto model = onnx::buildRandomMlp(benchSpec(1));

  client::UploadMetadata first;
  first.description = "ttbar vs QCD";
  first.labels = {"signal"};
  first.tags = {{"stage", "dev"}};
  first.metrics = {{"auc", 0.91}};
  first.provenance = {{"training_files", {"root://eos/a.root"}}, {"commit", "abc123"}};
  first.preprocessing = json::object();  // big enough to travel as multipart
  for (int i = 0; i < 200; ++i) first.preprocessing["f" + std::to_string(i)] = {{"mean", i * 0.5}, {"std", 2.0}};
  auto v1 = client.upload("higgs", model, first);
  ASSERT_TRUE(v1) << v1.error().describe();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->size, model.size());
  EXPECT_EQ(v1->sha256.size(), 64u);
  ASSERT_EQ(v1->inputs.size(), 1u);
  EXPECT_EQ(v1->inputs[0].name, "input");
  EXPECT_EQ(v1->inputs[0].datatype, "FP32");
  EXPECT_EQ(v1->inputs[0].shape, (std::vector<std::int64_t>{-1, kFeatures}));
  EXPECT_EQ(v1->description, "ttbar vs QCD");
  EXPECT_EQ(v1->labels, std::vector<std::string>{"signal"});
  EXPECT_EQ(v1->provenance, first.provenance);
  EXPECT_EQ(v1->preprocessing, first.preprocessing);
  EXPECT_DOUBLE_EQ(v1->metrics.at("auc"), 0.91);

  const auto other = onnx::buildRandomMlp(benchSpec(2));
  client::UploadMetadata second;
  second.description = "retrained";
  second.batching = client::BatchingPolicy{8, 100};
  auto v2 = client.upload(
      "higgs", std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(other.data()), other.size()),
      second);
  ASSERT_TRUE(v2) << v2.error().describe();
  EXPECT_EQ(v2->version, 2);
  ASSERT_TRUE(v2->batching);
  EXPECT_EQ(v2->batching->maxBatchSize, 8);
  EXPECT_NE(v2->sha256, v1->sha256);
  const auto modelFile = server.dir() / "other.onnx";
  test::writeFile(modelFile, model);
  auto fromFile = client.uploadFile("zeta-jets", modelFile);
  ASSERT_TRUE(fromFile) << fromFile.error().describe();
  EXPECT_EQ(fromFile->sha256, v1->sha256);

  auto all = client.listModels();
  ASSERT_TRUE(all) << all.error().describe();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "higgs");
  EXPECT_EQ((*all)[0].latestVersion, 2);
  EXPECT_EQ((*all)[0].versions, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ((*all)[1].name, "zeta-jets");
  auto byGlob = client.listModels("name:zeta*");
  ASSERT_TRUE(byGlob);
  ASSERT_EQ(byGlob->size(), 1u);
  EXPECT_EQ((*byGlob)[0].name, "zeta-jets");
  auto byWord = client.listModels("QCD");
  ASSERT_TRUE(byWord);
  ASSERT_EQ(byWord->size(), 1u);
  EXPECT_EQ((*byWord)[0].name, "higgs");

  auto alias = client.setAlias("higgs", "production", 1);
  ASSERT_TRUE(alias) << alias.error().describe();
  EXPECT_EQ(alias->version, 1);
  auto prod = client.getCard("higgs@production");
  ASSERT_TRUE(prod) << prod.error().describe();
  EXPECT_EQ(prod->version, 1);
  EXPECT_EQ(prod->aliases, std::vector<std::string>{"production"});
  auto latest = client.getCard("higgs");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->version, 2);
  auto pinned = client.getCard("higgs/versions/1");
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->sha256, v1->sha256);
  auto byAlias = client.listModels("alias:production");
  ASSERT_TRUE(byAlias);
  ASSERT_EQ(byAlias->size(), 1u);
  EXPECT_EQ((*byAlias)[0].aliases.at("production"), 1);

  ASSERT_TRUE(client.setModelTag("higgs", "owner", "cms"));
  ASSERT_TRUE(client.setVersionTag("higgs", 2, "validated", "yes"));
  auto details = client.getModel("higgs");
  ASSERT_TRUE(details) << details.error().describe();
  EXPECT_EQ(details->summary.tags.at("owner"), "cms");
  ASSERT_EQ(details->cards.size(), 2u);
  EXPECT_EQ(details->cards[1].tags.at("validated"), "yes");
  auto tagged = client.listModels("tag:validated=yes");
  ASSERT_TRUE(tagged);
  EXPECT_EQ(tagged->size(), 1u);
  ASSERT_TRUE(client.deleteVersionTag("higgs", 2, "validated"));
  ASSERT_TRUE(client.deleteModelTag("higgs", "owner"));
  auto untagged = client.getModel("higgs");
  ASSERT_TRUE(untagged);
  EXPECT_EQ(untagged->summary.tags.count("owner"), 0u);
  auto versions = client.listVersions("higgs");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ(versions->at(1).tags.count("validated"), 0u);

  ASSERT_TRUE(client.deleteAlias("higgs", "production"));
  auto gone = client.getCard("higgs@production");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  EXPECT_EQ(gone.error().httpStatus, 404);
  EXPECT_NE(gone.error().message.find("production"), std::string::npos) << gone.error().message;

  ASSERT_TRUE(client.deleteVersion("higgs", 1));
  auto afterDelete = client.getVersion("higgs", 1);
  ASSERT_FALSE(afterDelete);
  EXPECT_EQ(afterDelete.error().code, Errc::not_found);
  ASSERT_TRUE(client.deleteModel("higgs"));
  auto noModel = client.getModel("higgs");
  ASSERT_FALSE(noModel);
  EXPECT_EQ(noModel.error().code, Errc::not_found);
  EXPECT_NE(noModel.error().message.find("higgs"), std::string::npos) << noModel.error().message;
  auto rest = client.listModels();
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(ClientServer, InferenceJsonAndBinaryEqualInProcessOnnxRuntime) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  const auto model = onnx::buildRandomMlp(benchSpec(11));
  ASSERT_TRUE(client.upload("mlp", model));

  for (std::int64_t rows : {1, 7, 64}) {
    const auto input = rowsOfFeatures(rows, static_cast<float>(rows));
    const auto expected = ortRun(model, input, rows);
    client::InferRequest request;
    request.id = "req-" + std::to_string(rows);
    request.inputs.push_back(Tensor::of<float>("input", {rows, kFeatures}, input));
    for (auto encoding : {Encoding::json, Encoding::binary}) {
      SCOPED_TRACE(encoding == Encoding::json ? "json" : "binary");
      auto response = client.infer("mlp", request, encoding);
      ASSERT_TRUE(response) << response.error().describe();
      EXPECT_EQ(response->modelName, "mlp");
      EXPECT_EQ(response->modelVersion, "1");
      EXPECT_EQ(response->id, request.id);
      const auto* output = response->output("output");
      ASSERT_NE(output, nullptr);
      EXPECT_EQ(output->shape, (std::vector<std::int64_t>{rows, 1}));
      expectNear(output->values<float>(), expected);
    }
  }
  // The same through an alias and a pinned version, with the output named explicitly.
  ASSERT_TRUE(client.setAlias("mlp", "production", 1));
  client::InferRequest named;
  named.inputs.push_back(Tensor::of<float>("input", {2, kFeatures}, rowsOfFeatures(2, 0.5f)));
  named.outputs = {"output"};
  const auto expected = ortRun(model, rowsOfFeatures(2, 0.5f), 2);
  for (const char* ref : {"mlp@production", "mlp/versions/1"}) {
    auto response = client.infer(ref, named, Encoding::binary);
    ASSERT_TRUE(response) << ref << ": " << response.error().describe();
    expectNear(response->outputs.at(0).values<float>(), expected);
  }
}

TEST(ClientServer, ConcurrentInferenceFromManyThreadsIsCorrect) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  const auto model = onnx::buildRandomMlp(benchSpec(5));
  ASSERT_TRUE(client.upload("batched", model));
  std::atomic<int> mismatches{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      const auto input = rowsOfFeatures(3, static_cast<float>(t));
      const auto expected = ortRun(model, input, 3);
      client::InferRequest request;
      request.inputs.push_back(Tensor::of<float>("input", {3, kFeatures}, input));
      for (int i = 0; i < 20; ++i) {
        auto response = client.infer("batched", request, i % 2 ? Encoding::binary : Encoding::json);
        if (!response) {
          ++failures;
          continue;
        }
        const auto got = response->outputs.at(0).values<float>();
        for (std::size_t k = 0; k < got.size(); ++k)
          if (std::fabs(got[k] - expected[k]) > 1e-6f) ++mismatches;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(client.stats().connectionsOpened, 6u);  // one kept-alive connection per thread at most
}

TEST(ClientServer, OpenInferenceProtocolMetadataHealthAndRepositoryExtension) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  ASSERT_TRUE(client.upload("meta", onnx::buildRandomMlp(benchSpec(3))));

  auto info = client.serverInfo();
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_EQ(info->name, "mlaas");
  EXPECT_NE(std::find(info->extensions.begin(), info->extensions.end(), "binary_tensor_data"), info->extensions.end());
  auto live = client.live();
  ASSERT_TRUE(live);
  EXPECT_TRUE(*live);
  auto ready = client.ready();
  ASSERT_TRUE(ready);
  EXPECT_TRUE(*ready);

  auto metadata = client.modelMetadata("meta");
  ASSERT_TRUE(metadata) << metadata.error().describe();
  EXPECT_EQ(metadata->name, "meta");
  EXPECT_EQ(metadata->versions, std::vector<std::string>{"1"});
  EXPECT_EQ(metadata->platform, "onnxruntime_onnx");
  ASSERT_EQ(metadata->outputs.size(), 1u);
  EXPECT_EQ(metadata->outputs[0].shape, (std::vector<std::int64_t>{-1, 1}));
  auto modelReady = client.modelReady("meta/versions/1");
  ASSERT_TRUE(modelReady) << modelReady.error().describe();
  EXPECT_TRUE(*modelReady);

  ASSERT_TRUE(client.loadModel("meta"));
  auto index = client.repositoryIndex(true);
  ASSERT_TRUE(index) << index.error().describe();
  ASSERT_EQ(index->size(), 1u);
  EXPECT_EQ(index->at(0).name, "meta");
  EXPECT_EQ(index->at(0).state, "READY");
  ASSERT_TRUE(client.unloadModel("meta"));
  auto loaded = client.repositoryIndex(true);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->empty());
  auto everything = client.repositoryIndex(false);
  ASSERT_TRUE(everything);
  ASSERT_EQ(everything->size(), 1u);
  EXPECT_EQ(everything->at(0).state, "UNAVAILABLE");

  auto unknown = client.modelMetadata("nope");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
  EXPECT_NE(unknown.error().message.find("nope"), std::string::npos);
}

TEST(ClientServer, TfaasJsonEndpointsAgreeWithOip) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  const auto model = onnx::buildRandomMlp(benchSpec(8));
  ASSERT_TRUE(client.upload("tfaas", model));
  std::vector<std::string> keys;
  for (int i = 0; i < kFeatures; ++i) keys.push_back("f" + std::to_string(i));
  const auto input = rowsOfFeatures(2, 1.0f);
  const auto expected = ortRun(model, input, 2);
  std::vector<double> row(input.begin(), input.begin() + kFeatures);
  auto single = client.tfaasPredict("tfaas", keys, row);
  ASSERT_TRUE(single) << single.error().describe();
  ASSERT_EQ(single->size(), 1u);
  EXPECT_NEAR((*single)[0], expected[0], 1e-6);
  std::vector<std::vector<double>> rows = {row, std::vector<double>(input.begin() + kFeatures, input.end())};
  auto batch = client.tfaasPredictBatch("tfaas", keys, rows);
  ASSERT_TRUE(batch) << batch.error().describe();
  ASSERT_EQ(batch->size(), 2u);
  EXPECT_NEAR((*batch)[1][0], expected[1], 1e-6);
  auto models = client.tfaasModels();
  ASSERT_TRUE(models) << models.error().describe();
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ(models->at(0).name, "tfaas");
  auto unknown = client.tfaasPredict("missing", keys, row);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_found);
}

TEST(ClientServer, ErrorsCarryTheServersStatusAndMessage) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client admin(adminOptions(server));
  ASSERT_TRUE(admin.upload("guarded", onnx::buildRandomMlp(benchSpec(4))));

  auto anonymousOptions = adminOptions(server);
  anonymousOptions.token.clear();
  const Client anonymous(anonymousOptions);
  auto noToken = anonymous.upload("guarded", onnx::buildRandomMlp(benchSpec(4)));
  ASSERT_FALSE(noToken);
  EXPECT_EQ(noToken.error().code, Errc::unauthenticated);
  EXPECT_EQ(noToken.error().httpStatus, 401);
  EXPECT_FALSE(noToken.error().message.empty());
  EXPECT_TRUE(anonymous.listModels());  // reading needs no token by default

  auto wrongOptions = adminOptions(server);
  wrongOptions.token = "not-the-token";
  auto wrong = Client(wrongOptions).deleteModel("guarded");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::permission_denied);
  EXPECT_EQ(wrong.error().httpStatus, 403);

  auto garbage = admin.upload("broken", std::string_view("this is not an onnx model"));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, Errc::invalid_argument);
  EXPECT_EQ(garbage.error().httpStatus, 400);

  auto badName = admin.upload("../escape", onnx::buildRandomMlp(benchSpec(4)));
  ASSERT_FALSE(badName);
  EXPECT_EQ(badName.error().httpStatus, 400);

  client::InferRequest wrongShape;
  wrongShape.inputs.push_back(Tensor::of<float>("input", {1, 5}, std::vector<float>(5, 0.0f)));
  auto shape = admin.infer("guarded", wrongShape);
  ASSERT_FALSE(shape);
  EXPECT_EQ(shape.error().code, Errc::invalid_argument);
  EXPECT_NE(shape.error().message.find("input"), std::string::npos) << shape.error().message;

  client::InferRequest wrongName;
  wrongName.inputs.push_back(Tensor::of<float>("features", {1, kFeatures}, std::vector<float>(kFeatures, 0.0f)));
  auto name = admin.infer("guarded", wrongName, Encoding::binary);
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().httpStatus, 400);

  auto missing = admin.infer("ghost", wrongName);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("ghost"), std::string::npos) << missing.error().message;
  EXPECT_EQ(admin.stats().retries, 0u);  // 4xx are not retried
}

TEST(ClientServer, CheckUploadIsADryRunThatStoresNothing) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client admin(adminOptions(server));
  const auto model = onnx::buildRandomMlp(benchSpec(4));

  auto empty = admin.checkUpload("fresh");  // token and name only: what train --upload asks
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->name, "fresh");
  EXPECT_EQ(empty->version, 1);
  EXPECT_FALSE(empty->modelChecked);
  auto withModel = admin.checkUpload("fresh", model);
  ASSERT_TRUE(withModel) << withModel.error().message;
  EXPECT_TRUE(withModel->modelChecked);
  EXPECT_TRUE(admin.listModels()->empty());  // nothing was stored

  ASSERT_TRUE(admin.upload("fresh", model));
  auto next = admin.checkUpload("fresh");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->version, 2);
  EXPECT_EQ(admin.listVersions("fresh")->size(), 1u);

  auto garbage = admin.checkUpload("fresh", std::string_view("this is not an onnx model"));
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().httpStatus, 400);
  auto badName = admin.checkUpload("../escape");
  ASSERT_FALSE(badName);
  EXPECT_EQ(badName.error().httpStatus, 400);
  auto anonymousOptions = adminOptions(server);
  anonymousOptions.token.clear();
  auto noToken = Client(anonymousOptions).checkUpload("fresh");
  ASSERT_FALSE(noToken);
  EXPECT_EQ(noToken.error().httpStatus, 401);
  EXPECT_EQ(admin.listVersions("fresh")->size(), 1u);
}

TEST(ClientServer, KeepAliveUsesOneConnectionAndReportsAStoppedServer) {
  auto server = std::make_unique<RealServer>();
  ASSERT_TRUE(server->ready()) << server->log();
  auto options = adminOptions(*server);
  const Client client(options);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.listModels());
  EXPECT_EQ(client.stats().connectionsOpened, 1u);
  server.reset();  // stopped: the pooled connection is now dead
  auto down = client.listModels();
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::io);
  EXPECT_EQ(down.error().httpStatus, 0);
}

TEST(ClientServer, TfaasImageAnswersTheRowOrTheTopLabels) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  const Client client(adminOptions(server));
  namespace img = serve::test;
  const auto model = img::flattenModel({-1, 2, 3, 1});
  ASSERT_TRUE(client.upload("pixels", model));
  client::UploadMetadata labelled;
  labelled.labels = {"a", "b", "c", "d", "e", "f"};
  ASSERT_TRUE(client.upload("named", model, labelled));
  const std::vector<std::uint8_t> grey{10, 250, 30, 200, 0, 100};
  const auto png = img::makePng(3, 2, 1, grey);

  auto row = client.tfaasImage("pixels", png, "six.png");
  ASSERT_TRUE(row) << row.error().describe();
  EXPECT_EQ(row->values, (std::vector<double>{10, 250, 30, 200, 0, 100}));  // unscaled pixels, row-major
  EXPECT_TRUE(row->labels.empty());

  auto top = client.tfaasImage("named@", png);
  ASSERT_FALSE(top);  // a malformed reference is the server's 400
  EXPECT_EQ(top.error().httpStatus, 400);
  top = client.tfaasImage("named", png, "six.png");
  ASSERT_TRUE(top) << top.error().describe();
  EXPECT_EQ(top->filename, "six.png");
  ASSERT_EQ(top->labels.size(), 5u);
  EXPECT_EQ(top->labels[0].label, "b");
  EXPECT_EQ(top->labels[0].probability, 250);
  EXPECT_EQ(top->labels[4].label, "a");

  auto bad = client.tfaasImage("pixels", "not an image");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().httpStatus, 400);
  EXPECT_NE(bad.error().message.find("neither PNG nor JPEG"), std::string::npos) << bad.error().message;
  auto missing = client.tfaasImage("nope", png);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

#else
TEST(ClientServer, NeedsOnnxRuntime) { GTEST_SKIP() << "built without ONNX Runtime / mlaas::onnx"; }
#endif
