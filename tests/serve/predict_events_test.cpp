// Raw-event inference: POST /api/v1/models/{ref}/predict-events on a real server (free loopback
// port) against offline inference of the same events (ROOT file -> data layer -> ONNX Runtime in
// process), and every bad request with its status and message.
#include "serve/predict_events.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/config.hpp"
#include "data/dataset.hpp"
#include "data/json_events.hpp"
#include "data/plan.hpp"
#include "data/specs.hpp"
#include "data/transform.hpp"
#include "http_fixture.hpp"
#include "onnx_fixture.hpp"
#include "root/generate.hpp"
#include "serve/runtime.hpp"
#include "serve/server.hpp"
#include "test_support.hpp"

namespace mlaas::serve {
namespace {

using nlohmann::json;
using test::request;

// The demo's dataset shape: flat features, two sorted, padded groups, a selection and a label that
// inference must ignore.
constexpr const char* kConfig = R"(inputs:
  tree: Events
  files: [sample.root]
  label: {branch: label}
features:
  flat: [MET_pt, MET_phi]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_phi], length: 4, sort_by: Jet_pt}
    muons: {branches: [Muon_pt, Muon_eta], length: 2}
selection: nJet >= 2
representation: vector
normalization: standard
split: {train: 1.0, by: entry}
)";

/// features [-1, width] -> sigmoid(features . w + b) as "output" [-1, 1].
std::string linearModel(std::int64_t width) {
  using namespace test;
  Proto graph;
  graph.bytes(2, "linear");
  std::vector<float> w(static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.05F * static_cast<float>((i * 7) % 11) - 0.25F;
  graph.message(5, floatInitializer("W", {width, 1}, w));
  graph.message(5, floatInitializer("B", {1}, {0.1F}));
  graph.message(1, node("MatMul", {"features", "W"}, {"mm"}));
  graph.message(1, node("Add", {"mm", "B"}, {"logit"}));
  graph.message(1, node("Sigmoid", {"logit"}, {"output"}));
  graph.message(11, valueInfo("features", kFloat, {-1, width}));
  graph.message(12, valueInfo("output", kFloat, {-1, 1}));
  return model(graph);
}

class PredictEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    samplePath_ = (dir_ / "sample.root").string();
    root::GenerateOptions generate;
    generate.events = 300;
    generate.seed = 7;
    root::generateFile(samplePath_, generate);
    ::mlaas::test::writeFile(dir_ / "dataset.yaml", kConfig);
    auto config = data::DatasetConfig::load(dir_ / "dataset.yaml");
    auto inputs = data::openInputs(config);
    plan_ = data::Plan::build(config, inputs.schema);
    const auto specs = data::computeSpecs(*plan_, inputs);
    specsJson_ = specs.toJson(*plan_);
    // Offline: the plan without selection or label, as training would transform these events.
    auto inference = config;
    inference.selection.clear();
    inference.labelBranch.clear();
    inference.split.byIdentifiers = false;
    offlinePlan_ = data::Plan::build(inference, inputs.schema);
    transform_ = std::make_shared<const data::Transform>(offlinePlan_, specs);
    width_ = static_cast<std::int64_t>(transform_->tensorSpecs().at(0).width());
    onnx_ = linearModel(width_);

    ServerConfig server;
    server.port = 0;
    server.dataDir = dir_.path() / "data";
    server.accessLog = false;
    server.ioThreads = 2;
    server.inferenceThreads = 1;
    server_ = std::make_unique<Server>(server);
    server_->start();
    port_ = server_->port();

    json meta = {{"description", "linear on the demo features"},
                 {"labels", {"signal"}},
                 {"preprocessing",
                  {{"representation", "vector"},
                   {"dataset_config", ::mlaas::test::readFile(dir_ / "dataset.yaml")},
                   {"specs", json::parse(specsJson_)}}}};
    ASSERT_TRUE(server_->repository().addVersion("zp", onnx_, meta.dump()));
    ASSERT_TRUE(server_->repository().addVersion("zp", onnx_, meta.dump()));  // version 2
    ASSERT_TRUE(server_->repository().setAlias("zp", "production", 1));
    ASSERT_TRUE(server_->repository().addVersion("bare", onnx_, R"({"description": "no preprocessing"})"));
  }

  /// Entries [begin, end) of the sample: every branch the model reads, plus counters and ids.
  std::vector<root::Column> readSample(std::uint64_t begin, std::uint64_t end) const {
    auto tree = data::openTree(samplePath_, "Events");
    std::vector<std::string> branches = offlinePlan_->branches();
    return tree->read(branches, begin, end);
  }

  /// Offline inference: data layer (prepare, transform) and ONNX Runtime in this process.
  std::vector<float> offlineScores(std::uint64_t begin, std::uint64_t end) const {
    const auto columns = readSample(begin, end);
    auto chunk = offlinePlan_->prepare(columns).value();
    std::vector<std::uint32_t> events(chunk.entries);
    std::iota(events.begin(), events.end(), 0U);
    auto batch = transform_->makeBatch();
    transform_->apply(chunk, events, batch).value();
    auto model = LoadedModel::load(onnx_, "offline").value();
    Tensor features;
    features.name = "features";
    features.shape = {static_cast<std::int64_t>(batch.rows), width_};
    const auto values = batch.tensor(0);
    features.data.resize(values.size_bytes());
    std::memcpy(features.data.data(), values.data(), values.size_bytes());
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(features));
    auto outputs = model->run(inputs).value();
    std::vector<float> scores(static_cast<std::size_t>(batch.rows));
    std::memcpy(scores.data(), outputs.at(0).data.data(), scores.size() * sizeof(float));
    return scores;
  }

  test::RawResponse post(const std::string& ref, const std::string& body) const {
    return request(port_, "POST", "/api/v1/models/" + ref + "/predict-events", body,
                   {{"Content-Type", "application/json"}});
  }
  static std::string errorOf(const test::RawResponse& r) { return json::parse(r.body).value("error", std::string()); }

  ::mlaas::test::TempDir dir_;
  std::string samplePath_;
  std::shared_ptr<const data::Plan> plan_, offlinePlan_;
  std::shared_ptr<const data::Transform> transform_;
  std::string specsJson_, onnx_;
  std::int64_t width_ = 0;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(PredictEventsTest, RawEventsOverHttpEqualOfflineInference) {
  const auto columns = readSample(0, 300);
  const auto events = data::columnsToJsonEvents(columns, 0, 300).value();
  const auto r = post("zp@production", R"({"events": )" + events + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["model_name"], "zp");
  EXPECT_EQ(body["model_version"], "1");  // the alias resolved to version 1, not the latest
  EXPECT_EQ(body["model_ref"], "zp@production");
  EXPECT_EQ(body["events"], 300);
  EXPECT_EQ(body["labels"], json::array({"signal"}));
  const auto& output = body["outputs"].at(0);
  EXPECT_EQ(output["name"], "output");
  EXPECT_EQ(output["shape"], json::array({300, 1}));
  const auto offline = offlineScores(0, 300);
  ASSERT_EQ(output["data"].size(), offline.size());
  // Every event is scored, also those the training selection (nJet >= 2) drops.
  std::size_t unselected = 0;
  const auto nJet = data::openTree(samplePath_, "Events")->read({"nJet"}, 0, 300).at(0);
  for (std::size_t e = 0; e < offline.size(); ++e) {
    EXPECT_NEAR(output["data"][e].get<double>(), offline[e], 1e-6) << "event " << e;
    std::int32_t n = 0;
    std::memcpy(&n, nJet.data.data() + e * root::dtypeSize(nJet.type), sizeof n);
    unselected += n < 2 ? 1 : 0;
  }
  EXPECT_GT(unselected, 0U);
}

TEST_F(PredictEventsTest, BareArrayVersionPathAndHandWrittenEvents) {
  const auto columns = readSample(10, 13);
  const auto events = data::columnsToJsonEvents(columns, 0, 3).value();
  const auto r = post("zp/versions/2", events);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["model_version"], "2");
  const auto offline = offlineScores(10, 13);
  for (std::size_t e = 0; e < 3; ++e) EXPECT_NEAR(body["outputs"][0]["data"][e].get<double>(), offline[e], 1e-6);

  // An event written by hand: no jets, no muons, extra branches ignored, counters checked.
  const auto hand =
      post("zp", R"({"events": [{"MET_pt": 12.5, "MET_phi": 0.3, "nJet": 0, "Jet_pt": [], "Jet_eta": [], "Jet_phi": [],
                                     "Muon_pt": [], "Muon_eta": [], "run": 1, "note": "ignored"}]})");
  ASSERT_EQ(hand.status, 200) << hand.body;
  const double score = json::parse(hand.body)["outputs"][0]["data"][0].get<double>();
  EXPECT_GT(score, 0.0);
  EXPECT_LT(score, 1.0);
}

TEST_F(PredictEventsTest, BadEventsNameTheEventAndBranch) {
  // Branches are checked in sorted order: Jet_eta, Jet_phi, Jet_pt, MET_phi, MET_pt, Muon_eta, Muon_pt.
  const json good =
      json::parse(R"({"MET_pt": 12.5, "MET_phi": 0.3, "Jet_pt": [50.1, 31.2], "Jet_eta": [0.1, -1.2], "Jet_phi": [1, 2],
                                    "Muon_pt": [], "Muon_eta": []})");
  auto with = [&](const std::string& key, const json& value) {
    json event = good;
    event[key] = value;
    return event;
  };
  auto without = [&](const std::string& key) {
    json event = good;
    event.erase(key);
    return event;
  };
  auto expect400 = [&](const std::string& body, const std::string& message) {
    const auto r = post("zp", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(errorOf(r).find(message), std::string::npos) << "got: " << errorOf(r);
  };
  expect400(json{{"events", json::array({good, without("MET_phi")})}}.dump(), "event 1: branch 'MET_phi' is missing");
  expect400(json::array({good, with("MET_pt", "high")}).dump(),
            "event 1: branch 'MET_pt': expected a number (float32), got a string");
  expect400(json::array({with("MET_pt", json::array({1.0}))}).dump(),
            "event 0: branch 'MET_pt': expected a number (float32), got a list");
  expect400(json::array({with("Jet_pt", 50)}).dump(),
            "event 0: branch 'Jet_pt' holds a list per event (of 'nJet'), got an integer");
  expect400(json::array({with("Jet_eta", json::array({0.1, 0.2, 0.3}))}).dump(),
            "event 0: branch 'Jet_phi' has 2 values but 'Jet_eta' has 3 (both are per object of 'nJet')");
  expect400(json::array({with("nJet", 3)}).dump(), "event 0: counter 'nJet' is 3 but branch 'Jet_eta' has 2 values");
  expect400(json::array({with("Jet_pt", json::array({json(50), json("x")}))}).dump(),
            "event 0: branch 'Jet_pt'[1]: expected a number (float32), got a string");
  expect400(json::array({good, json(7)}).dump(), "event 1: expected an object of branches, got an integer");
  expect400("{\"events\": []}", "no events given");
  expect400("{\"inputs\": []}", "the body has no \"events\" key");
  expect400("{\"events\": 3}", "\"events\" must be a list of event objects, got an integer");
  expect400("{\"events\": [", "the body is not valid JSON");
}

TEST_F(PredictEventsTest, UnknownModelsVersionsAndAliasesAre404) {
  const std::string event =
      R"([{"MET_pt": 1, "MET_phi": 0.3, "Jet_pt": [], "Jet_eta": [], "Jet_phi": [], "Muon_pt": [], "Muon_eta": []}])";
  auto r = post("nope", event);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(errorOf(r).find("nope"), std::string::npos) << r.body;
  r = post("zp/versions/9", event);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(errorOf(r).find("9"), std::string::npos) << r.body;
  r = post("zp@staging", event);
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(errorOf(r).find("staging"), std::string::npos) << r.body;
  r = request(port_, "GET", "/api/v1/models/zp/predict-events");
  EXPECT_EQ(r.status, 405);
}

TEST_F(PredictEventsTest, VersionWithoutPreprocessingIs409) {
  const auto r = post("bare", R"([{"MET_pt": 1}])");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(errorOf(r).find("has no preprocessing spec"), std::string::npos) << r.body;
  EXPECT_NE(errorOf(r).find("bare/versions/1"), std::string::npos) << r.body;
}

TEST_F(PredictEventsTest, TooManyEventsIs413) {
  std::string body = "[";
  for (std::size_t i = 0; i <= kMaxEventsPerRequest; ++i) body += i == 0 ? "{}" : ",{}";
  body += "]";
  const auto r = post("zp", body);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);
  EXPECT_NE(errorOf(r).find("the limit is " + std::to_string(kMaxEventsPerRequest)), std::string::npos) << r.body;
}

TEST_F(PredictEventsTest, PreprocessorIsCompiledOncePerVersion) {
  auto catalog = server_->repository().snapshot();
  const auto& version = *catalog->models.at("zp").versions.at(1);
  auto a = preprocessorFor(version).value();
  auto b = preprocessorFor(version).value();
  EXPECT_EQ(a.get(), b.get());
  // Only the features' branches are needed: not the label, nor the selection's nJet.
  EXPECT_EQ(a->branches(),
            (std::vector<std::string>{"Jet_eta", "Jet_phi", "Jet_pt", "MET_phi", "MET_pt", "Muon_eta", "Muon_pt"}));
  EXPECT_EQ(a->tree(), "Events");
}

TEST(EventPreprocessor, MissingOrBrokenPreprocessingIsAClearError) {
  try {
    (void)EventPreprocessor::compile(R"({"representation": "vector"})", "model x");
    FAIL() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::conflict);
    EXPECT_NE(std::string(e.what()).find("'preprocessing.dataset_config' is absent"), std::string::npos) << e.what();
  }
  try {
    (void)EventPreprocessor::compile(
        R"({"dataset_config": "inputs: {tree: Events, files: [a.root]}\nfeatures: {flat: [x]}\n", "specs": {}})",
        "model x");
    FAIL() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("model x"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mlaas::serve
