// The end-to-end flow as processes: generate a sample, train (libtorch) and upload to a running
// `mlaas serve`, then `mlaas predict --root` in-process from the bundle and through the server's
// predict-events, and read the friend trees back (mlaas dump, and JSROOT when node has it).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace mlaas::test {
namespace {

using nlohmann::json;

bool trainingBuilt() {
  const auto r = run({mlaasBinary().string(), "train", "/nonexistent.yaml"});
  return r.err.find("without libtorch") == std::string::npos;
}

/// `mlaas dump FILE --tree T --branches B` -> {branch: values}.
json dumpTree(const fs::path& file, const std::string& tree, const std::string& branches) {
  auto r = run({mlaasBinary().string(), "dump", file.string(), "--tree", tree, "--branches", branches});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  const auto doc = json::parse(r.out);
  json out = json::object();
  out["entries"] = doc[tree]["entries"];
  for (const auto& [name, branch] : doc[tree]["branches"].items()) out[name] = branch["values"];
  return out;
}

/// JSROOT's view of a tree (null when node or JSROOT is missing).
json jsrootTree(const fs::path& file, const std::string& tree, const std::string& branches) {
  const auto script = sourceDir() / "tests/tools/jsroot-read.mjs";
  if (!fs::exists(script) || !fs::exists(sourceDir() / ".deps/node_modules/jsroot/modules/main.mjs")) return nullptr;
  if (run({"node", "--version"}).exitCode != 0) return nullptr;
  auto r = run({"node", script.string(), file.string(), "--branches", branches});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  const auto doc = json::parse(r.out);
  json out = json::object();
  out["entries"] = doc[tree]["entries"];
  for (const auto& [name, branch] : doc[tree]["branches"].items()) out[name] = branch["values"];
  return out;
}

class CliPredict : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!trainingBuilt()) GTEST_SKIP() << "mlaas built without libtorch";
    sample_ = dir_ / "sample.root";
    auto r = run({mlaasBinary().string(), "generate", "--events", "1200", "--out", sample_.string(), "--seed", "4",
                  "--threads", "1"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    // A selection and a label that inference must not apply: every entry gets a score.
    config_ = dir_ / "zprime.yaml";
    writeFile(config_, R"(inputs:
  tree: Events
  files: [sample.root]
  label: {branch: label}
features:
  flat: [MET_pt, MET_phi]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_phi, Jet_mass], length: 4, sort_by: Jet_pt}
    muons: {branches: [Muon_pt, Muon_eta], length: 2}
selection: nJet >= 2
split: {train: 0.8, validation: 0.2, by: entry}
batch: {size: 256, threads: 1}
model:
  kind: mlp
  task: binary
  hidden: [16]
  classes: [background, signal]
training:
  epochs: 2
  batch_size: 128
  seed: 3
  threads: 1
)");
    writeFile(dir_ / "tokens.txt", "s3cret\n");
    port_ = freeLoopbackPort();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    server_ = std::make_unique<Process>(
        std::vector<std::string>{mlaasBinary().string(), "serve", "--listen", "127.0.0.1:" + std::to_string(port_),
                                 "--data-dir", (dir_ / "data").string(), "--token-file", (dir_ / "tokens.txt").string(),
                                 "--no-access-log"},
        dir_ / "serve.log");
    ASSERT_TRUE(waitForPort(port_)) << readFile(dir_ / "serve.log");
    r = run({mlaasBinary().string(), "train", config_.string(), "--out", (dir_ / "bundle").string(), "--quiet",
             "--name", "zprime", "--upload", url_, "--token", "s3cret", "--alias", "production"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  TempDir dir_;
  fs::path sample_, config_;
  int port_ = 0;
  std::string url_;
  std::unique_ptr<Process> server_;
};

TEST_F(CliPredict, FriendTreeInProcessAndThroughTheServerAgree) {
  const auto local = dir_ / "scores.root";
  auto r = run({mlaasBinary().string(), "predict", "--model", (dir_ / "bundle").string(), "--root", sample_.string(),
                "--out", local.string(), "--batch", "500"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("tree 'Events_scores' with 1200 entries (run luminosityBlock event score)"), std::string::npos)
      << r.out;

  const auto remote = dir_ / "scores-http.root";
  r = run({mlaasBinary().string(), "predict", "--server", url_, "--model", "zprime@production", "--root",
           sample_.string(), "--out", remote.string(), "--batch", "300", "--out-tree", "friends"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("zprime@production (zprime/versions/1)"), std::string::npos) << r.out;

  const auto source = dumpTree(sample_, "Events", "run,luminosityBlock,event,nJet");
  const auto mine = dumpTree(local, "Events_scores", "run,luminosityBlock,event,score");
  const auto viaServer = dumpTree(remote, "friends", "run,luminosityBlock,event,score");
  ASSERT_EQ(mine["entries"], 1200);
  ASSERT_EQ(viaServer["entries"], 1200);
  ASSERT_EQ(mine["score"].size(), 1200U);
  std::size_t unselected = 0, high = 0;
  for (std::size_t e = 0; e < 1200; ++e) {
    for (const char* id : {"run", "luminosityBlock", "event"}) {
      ASSERT_EQ(mine[id][e], source[id][e]) << id << " of entry " << e;
      ASSERT_EQ(viaServer[id][e], source[id][e]) << id << " of entry " << e;
    }
    const double score = mine["score"][e].get<double>();
    ASSERT_GE(score, 0.0);
    ASSERT_LE(score, 1.0);
    EXPECT_NEAR(viaServer["score"][e].get<double>(), score, 1e-6) << "entry " << e;
    unselected += source["nJet"][e].get<int>() < 2 ? 1 : 0;
    high += score > 0.5 ? 1 : 0;
  }
  EXPECT_GT(unselected, 0U);  // scored although the training selection drops them
  EXPECT_GT(high, 0U);
  EXPECT_LT(high, 1200U);

  // An independent reader sees the same friend tree.
  const auto js = jsrootTree(local, "Events_scores", "event,score");
  if (js.is_null()) GTEST_SKIP() << "node or JSROOT missing: friend tree checked with our reader only";
  EXPECT_EQ(js["entries"], 1200);
  ASSERT_EQ(js["event"].size(), 1200U);
  for (std::size_t e = 0; e < 1200; ++e) {
    EXPECT_EQ(js["event"][e], source["event"][e]);
    EXPECT_NEAR(js["score"][e].get<double>(), mine["score"][e].get<double>(), 1e-6);
  }
}

TEST_F(CliPredict, RawEventsOverHttpMatchTheFriendTree) {
  const auto local = dir_ / "scores.root";
  auto r = run({mlaasBinary().string(), "predict", "--model", (dir_ / "bundle").string(), "--root", sample_.string(),
                "--out", local.string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  const auto mine = dumpTree(local, "Events_scores", "score");
  // Three events as a user would send them, straight from the dump of the sample.
  const std::string branches = "MET_pt,MET_phi,nJet,Jet_pt,Jet_eta,Jet_phi,Jet_mass,Muon_pt,Muon_eta";
  auto dumped = run({mlaasBinary().string(), "dump", sample_.string(), "--tree", "Events", "--branches", branches,
                     "--entries", "5:8"});
  ASSERT_EQ(dumped.exitCode, 0) << dumped.err;
  const auto doc = json::parse(dumped.out)["Events"]["branches"];
  json events = json::array();
  for (std::size_t e = 0; e < 3; ++e) {
    json event = json::object();
    for (const auto& [name, branch] : doc.items()) event[name] = branch["values"][e];
    events.push_back(event);
  }
  writeFile(dir_ / "events.json", json{{"events", events}}.dump());
  auto curl = run({"curl", "-s", "-X", "POST", "--data-binary", "@" + (dir_ / "events.json").string(), "-H",
                   "Content-Type: application/json", url_ + "/api/v1/models/zprime@production/predict-events"});
  ASSERT_EQ(curl.exitCode, 0) << curl.err;
  const auto answer = json::parse(curl.out);
  ASSERT_TRUE(answer.contains("outputs")) << curl.out;
  EXPECT_EQ(answer["model_version"], "1");
  // dump prints float32 values in their shortest exact form, so the events are the file's values.
  for (std::size_t e = 0; e < 3; ++e)
    EXPECT_NEAR(answer["outputs"][0]["data"][e].get<double>(), mine["score"][5 + e].get<double>(), 1e-6)
        << "entry " << 5 + e;
}

TEST_F(CliPredict, ClearErrors) {
  const auto bundle = (dir_ / "bundle").string();
  auto r = run({mlaasBinary().string(), "predict", "--model", bundle, "--root", sample_.string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("--root needs --out"), std::string::npos) << r.err;

  r = run({mlaasBinary().string(), "predict", "--model", dir_.path().string(), "--root", sample_.string(), "--out",
           (dir_ / "x.root").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("not a model bundle"), std::string::npos) << r.err;

  r = run({mlaasBinary().string(), "predict", "--model", bundle, "--root", sample_.string(), "--tree", "Nope", "--out",
           (dir_ / "x.root").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("Nope"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.root"));

  // A version uploaded without the preprocessing cannot take raw events.
  r = run({mlaasBinary().string(), "models", "upload", "bare", (dir_ / "bundle" / "model.onnx").string(), "--server",
           url_, "--token", "s3cret"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = run({mlaasBinary().string(), "predict", "--server", url_, "--model", "bare", "--root", sample_.string(), "--out",
           (dir_ / "x.root").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("has no preprocessing spec"), std::string::npos) << r.err;
  auto curl = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data", "[{}]",
                   url_ + "/api/v1/models/bare/predict-events"});
  EXPECT_EQ(curl.out, "409");
}

TEST(CliPredictBundle, MultiClassDeepSetsGetsOneBranchPerClass) {
  if (!trainingBuilt()) GTEST_SKIP() << "mlaas built without libtorch";
  TempDir dir;
  auto r = run({mlaasBinary().string(), "generate", "--events", "900", "--out", (dir / "sample.root").string(),
                "--seed", "6", "--threads", "1"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  writeFile(dir / "mc.yaml", R"(inputs: {tree: Events, files: [sample.root], label: {branch: label}}
features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta], length: 3, sort_by: Jet_pt}}}
representation: groups
model: {kind: deepsets, task: multiclass, hidden: [8], object_hidden: [8], classes: [qcd, "z prime"]}
training: {epochs: 1, seed: 1, threads: 1}
)");
  r = run({mlaasBinary().string(), "train", (dir / "mc.yaml").string(), "--out", (dir / "mc").string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = run({mlaasBinary().string(), "predict", "--model", (dir / "mc").string(), "--root",
           (dir / "sample.root").string(), "--out", (dir / "mc.root").string(), "--batch", "250", "--out-tree", "mc"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Labels become branch names ("z prime" -> score_z_prime); softmax rows sum to 1.
  const auto tree = dumpTree(dir / "mc.root", "mc", "event,score_qcd,score_z_prime");
  ASSERT_EQ(tree["entries"], 900);
  ASSERT_EQ(tree["score_z_prime"].size(), 900U);
  const auto source = dumpTree(dir / "sample.root", "Events", "event");
  for (std::size_t e = 0; e < 900; ++e) {
    EXPECT_EQ(tree["event"][e], source["event"][e]);
    EXPECT_NEAR(tree["score_qcd"][e].get<double>() + tree["score_z_prime"][e].get<double>(), 1.0, 1e-6);
  }
}

}  // namespace
}  // namespace mlaas::test
