// `mlaas train` as a process: the generated sample through the data layer into a bundle, the
// errors for bad model configs, resume, and upload to a running `mlaas serve`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace mlaas::test {
namespace {

bool trainingBuilt() {
  const auto r = run({mlaasBinary().string(), "train", "--help"});
  return r.exitCode == 0 && r.out.find("--upload") != std::string::npos &&
         run({mlaasBinary().string(), "train", "/nonexistent.yaml"}).err.find("without libtorch") == std::string::npos;
}

#define REQUIRE_TRAINING()                                                   \
  do {                                                                       \
    if (!trainingBuilt()) GTEST_SKIP() << "mlaas built without libtorch";    \
  } while (false)

// `mlaas` hands `train` to `mlaas-train` from its own folder (libtorch stays out of every other
// command's start-up); a copy of mlaas without its sibling says what is missing and exits 1.
TEST(TrainCli, WithoutItsTrainExecutableNamesWhatIsMissing) {
  TempDir dir;
  const auto lonely = dir / "mlaas";
  fs::copy_file(mlaasBinary(), lonely);
  const auto r = run({lonely.string(), "train", "some.yaml"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find((dir / "mlaas-train").string() + " not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("without libtorch"), std::string::npos) << r.err;
  const auto usage = run({lonely.string(), "train"});  // usage errors need no sibling
  EXPECT_EQ(usage.exitCode, 2) << usage.err;
}

/// A small generated sample and a config for it, in dir.
fs::path writeSampleConfig(const TempDir& dir, const std::string& representation, const std::string& model,
                           std::uint64_t events = 4000) {
  const auto sample = dir / "sample.root";
  if (!fs::exists(sample)) {
    auto r = run({mlaasBinary().string(), "generate", "--events", std::to_string(events), "--out", sample.string(),
                  "--seed", "3", "--threads", "1"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
  }
  const auto config = dir / (representation + ".yaml");
  writeFile(config, R"(inputs:
  tree: Events
  files: [sample.root]
  label: {branch: label}
features:
  flat: [MET_pt, MET_phi]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_phi, Jet_mass, Jet_btagDeepB], length: 6}
representation: )" + representation + R"(
split: {train: 0.8, validation: 0.2, by: entry}
batch: {size: 256, threads: 1}
)" + model);
  return config;
}

const std::string kMlp = R"(model:
  kind: mlp
  task: binary
  hidden: [32, 32]
  classes: [background, signal]
training:
  epochs: 4
  batch_size: 128
  learning_rate: 0.003
  seed: 5
  threads: 1
)";

TEST(CliTrain, TrainsTheGeneratedSampleIntoABundle) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "vector", kMlp);
  const auto out = dir / "bundle";
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", out.string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("model.onnx"), std::string::npos) << r.out;
  for (const char* file : {"model.onnx", "model.json", "metrics.json", "metrics.svg", "checkpoints/checkpoint.pt"})
    EXPECT_TRUE(fs::exists(out / file)) << file;

  const auto model = nlohmann::json::parse(readFile(out / "model.json"));
  EXPECT_EQ(model["task"], "binary");
  EXPECT_EQ(model["labels"], nlohmann::json::array({"signal"}));
  EXPECT_EQ(model["inputs"][0]["name"], "features");
  EXPECT_EQ(model["inputs"][1]["name"], "mask");
  EXPECT_EQ(model["inputs"][1]["datatype"], "UINT8");
  // 2 flat features + 6 jets x 5 members.
  EXPECT_EQ(model["inputs"][0]["shape"], nlohmann::json::array({-1, 32}));
  EXPECT_EQ(model["preprocessing"]["representation"], "vector");
  EXPECT_TRUE(model["preprocessing"]["specs"].is_object());
  EXPECT_NE(model["preprocessing"]["dataset_config"].get<std::string>().find("Jet_btagDeepB"), std::string::npos);
  EXPECT_EQ(model["preprocessing"]["dataset_config"].get<std::string>().find("model:"), std::string::npos);
  const auto& file = model["provenance"]["input_files"][0];
  EXPECT_EQ(file["size"].get<std::uint64_t>(), fs::file_size(dir / "sample.root"));
  EXPECT_EQ(file["xxh3_128"].get<std::string>().size(), 32U);
  EXPECT_EQ(file["entries"], 4000);
  EXPECT_GT(model["provenance"]["training_events"].get<int>(), 2800);
  // The generated signal is learnable: a few epochs give a useful classifier.
  EXPECT_GT(model["metrics"]["validation_auc"].get<double>(), 0.8);

  const auto metrics = nlohmann::json::parse(readFile(out / "metrics.json"));
  EXPECT_EQ(metrics["epochs"].size(), 4U);
  EXPECT_EQ(metrics["roc"][0]["label"], "signal");
  EXPECT_EQ(readFile(out / "metrics.svg").rfind("<svg", 0), 0U);
}

TEST(CliTrain, DeepSetsOnGroups) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "groups", R"(model:
  kind: deepsets
  pooling: max
  object_hidden: [16]
  hidden: [16]
training: {epochs: 2, threads: 1}
)", 2000);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto model = nlohmann::json::parse(readFile(dir / "b" / "model.json"));
  std::vector<std::string> names;
  for (const auto& input : model["inputs"]) names.push_back(input["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"flat", "jets", "jets_mask"}));
}

TEST(CliTrain, BadModelConfigNamesTheKey) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "vector", "model:\n  kind: mlp\n  hidden: [32, zero]\n", 100);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("vector.yaml:14:16:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.hidden[1]: expected a positive integer, got 'zero'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "b" / "model.onnx"));

  // A data error keeps the data layer's position in the same file.
  const auto bad = dir / "bad.yaml";
  writeFile(bad, "inputs:\n  tree: Events\n  files: [sample.root]\nfeatures:\n  flat: [NoSuchBranch]\n" + kMlp);
  r = run({mlaasBinary().string(), "train", bad.string(), "--out", (dir / "c").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("NoSuchBranch"), std::string::npos) << r.err;
}

TEST(CliTrain, ResumeContinuesFromTheCheckpoint) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "vector", kMlp, 1500);
  const auto out = dir / "bundle";
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", out.string(), "--quiet", "--epochs", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = run({mlaasBinary().string(), "train", config.string(), "--out", out.string(), "--quiet", "--epochs", "3",
           "--resume"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto resumed = nlohmann::json::parse(readFile(out / "metrics.json"));
  ASSERT_EQ(resumed["epochs"].size(), 3U);

  const auto fresh = dir / "fresh";
  r = run({mlaasBinary().string(), "train", config.string(), "--out", fresh.string(), "--quiet", "--epochs", "3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto straight = nlohmann::json::parse(readFile(fresh / "metrics.json"));
  // Epochs depend only on (seed, epoch) and the checkpointed state; with a constant learning rate
  // the resumed run equals a straight 3-epoch run.
  for (std::size_t e = 0; e < 3; ++e)
    EXPECT_EQ(resumed["epochs"][e]["train_loss"], straight["epochs"][e]["train_loss"]) << "epoch " << e + 1;
}

TEST(CliTrain, UploadsToTheServerAndSetsTheAlias) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "vector", kMlp, 1500);
  writeFile(dir / "tokens.txt", "s3cret\n");
  const int port = freeLoopbackPort();
  const auto url = "http://127.0.0.1:" + std::to_string(port);
  Process server({mlaasBinary().string(), "serve", "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                  (dir / "data").string(), "--token-file", (dir / "tokens.txt").string()},
                 dir / "serve.log");
  ASSERT_TRUE(waitForPort(port)) << readFile(dir / "serve.log");

  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet", "--name",
                "zprime", "--upload", url, "--token", "wrong"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;

  r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet", "--name",
           "zprime", "--upload", url, "--token", "s3cret", "--alias", "production"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("uploaded zprime version 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alias zprime@production -> version 1"), std::string::npos) << r.out;

  auto card = run({"curl", "-s", url + "/api/v1/models/zprime@production"});
  ASSERT_EQ(card.exitCode, 0);
  const auto json = nlohmann::json::parse(card.out);
  EXPECT_EQ(json["version"], 1);
  EXPECT_EQ(json["labels"], nlohmann::json::array({"signal"}));
  EXPECT_GT(json["metrics"]["validation_auc"].get<double>(), 0.5);
  EXPECT_EQ(json["preprocessing"]["representation"], "vector");
  EXPECT_EQ(json["inputs"].size(), 2U);
}

TEST(CliTrain, AliasWithoutUploadIsAUsageError) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeSampleConfig(dir, "vector", kMlp, 100);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--alias", "production"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--alias needs --upload"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mlaas::test
