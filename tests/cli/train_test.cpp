// `mlaas train` as a process: the generated sample through the data layer into a bundle, the
// errors for bad model configs, resume, and upload to a running `mlaas serve`.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <utility>

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

  // A finished run is uploaded (again, or to another server) with --resume: its checkpoint holds
  // every epoch, so no epoch runs and the bundle is the same (docs/training.md).
  const auto before = readFile(dir / "b" / "metrics.json");
  r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet", "--name",
           "zprime", "--resume", "--upload", url, "--token", "s3cret"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("uploaded zprime version 2"), std::string::npos) << r.out;
  const auto after = nlohmann::json::parse(readFile(dir / "b" / "metrics.json"));
  EXPECT_EQ(after["epochs"], nlohmann::json::parse(before)["epochs"]);
}

// --upload is checked before any event is read: a wrong URL, a missing or refused token, a name
// the server refuses or a bad alias used to fail only after the whole run. The config names a
// file that does not exist, so an error about it would mean the data was read first.
TEST(CliTrain, UploadProblemsAreFoundBeforeTraining) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = dir / "never-read.yaml";
  writeFile(config, "inputs: {tree: Events, files: [missing.root], label: {branch: label}}\n"
                    "features: {flat: [MET_pt]}\n" + kMlp);
  writeFile(dir / "tokens.txt", "s3cret\n");
  const int port = freeLoopbackPort();
  const auto url = "http://127.0.0.1:" + std::to_string(port);
  Process server({mlaasBinary().string(), "serve", "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                  (dir / "data").string(), "--token-file", (dir / "tokens.txt").string(), "--no-access-log"},
                 dir / "serve.log");
  ASSERT_TRUE(waitForPort(port)) << readFile(dir / "serve.log");
  const std::map<std::string, std::string> noTokenInEnv{{"MLAAS_TOKEN", ""}};
  auto train = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(),
                                  "--quiet", "--upload", url};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, noTokenInEnv);
  };
  auto r = train({"--token", "wrong"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("HTTP 403"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checked before training, nothing was read"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("missing.root"), std::string::npos) << r.err;

  r = train({});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("HTTP 401"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("give --token, --token-file or $MLAAS_TOKEN"), std::string::npos) << r.err;

  r = train({"--token-file", (dir / "tokens.txt").string(), "--name", "a..b"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("the server refuses an upload of 'a..b'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("invalid model name"), std::string::npos) << r.err;

  r = train({"--token-file", (dir / "tokens.txt").string(), "--alias", "9lives"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--alias \"9lives\": use 1-64 of [A-Za-z0-9_-], starting with a letter"), std::string::npos)
      << r.err;

  // Everything right: the check passes, and the missing file is the next error.
  r = train({"--token-file", (dir / "tokens.txt").string(), "--alias", "production"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("missing.root"), std::string::npos) << r.err;
  // Nothing was stored by the checks.
  const auto models = run({"curl", "-s", url + "/api/v1/models"});
  EXPECT_EQ(nlohmann::json::parse(models.out)["models"].size(), 0U) << models.out;

  const int closed = freeLoopbackPort();
  r = run({mlaasBinary().string(), "train", config.string(), "--quiet", "--out", (dir / "b").string(), "--upload",
           "http://127.0.0.1:" + std::to_string(closed), "--token", "s3cret"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("cannot reach the server"), std::string::npos) << r.err;
}

/// A config of the generated sample (generated once per dir) with the given dataset keys.
fs::path writeConfig(const TempDir& dir, const std::string& name, const std::string& dataset,
                     const std::string& model = kMlp) {
  const auto sample = dir / "sample.root";
  if (!fs::exists(sample)) {
    auto r = run({mlaasBinary().string(), "generate", "--events", "2000", "--out", sample.string(), "--seed", "3",
                  "--threads", "1"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
  }
  const auto config = dir / (name + ".yaml");
  writeFile(config, "inputs:\n  tree: Events\n  files: [sample.root]\n" + dataset +
                        "split: {train: 0.8, validation: 0.2, by: entry}\nbatch: {size: 256, threads: 1}\n" + model);
  return config;
}

const std::string kOneEpoch = "model: {kind: mlp, hidden: [8]}\ntraining: {epochs: 1, threads: 1, seed: 2}\n";

// Jet_pt[0] is NaN for an event without jets. Passed on as a present value it made every output
// NaN and `mlaas train` hung in the AUC; now it is refused before training, naming the feature.
TEST(CliTrain, NonFiniteFeaturesAreRefusedBeforeTraining) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeConfig(dir, "lead", R"yaml(  label: {branch: label}
variables: {lead_pt: "Jet_pt[0]", ratio: "MET_pt / (nJet - nJet)"}
features: {flat: [MET_pt, lead_pt, ratio]}
)yaml", kOneEpoch);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("lead.yaml: 2 values are NaN or infinite where the network would use them"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("feature 'lead_pt': "), std::string::npos) << r.err;
  // x / 0 is infinite in every event of both splits.
  const auto ratio = r.err.find("feature 'ratio': ");
  ASSERT_NE(ratio, std::string::npos) << r.err;
  const auto line = r.err.substr(ratio, r.err.find('\n', ratio) - ratio);
  EXPECT_NE(line.find("events of the training split (e.g. "), std::string::npos) << line;
  EXPECT_NE(line.find("events of the validation split"), std::string::npos) << line;
  EXPECT_NE(r.err.find("(e.g. " + (dir / "sample.root").string() + " entry "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("where(nJet > 0, Jet_pt[0], 0)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "b" / "model.onnx"));

  // The fix the message gives trains; a group's NaN padding is masked, not an error.
  const auto fixed = writeConfig(dir, "fixed", R"yaml(  label: {branch: label}
variables: {lead_pt: "where(nJet > 0, Jet_pt[0], 0)"}
features:
  flat: [MET_pt, lead_pt]
  groups:
    jets: {branches: [Jet_pt, Jet_eta], length: 4, pad: nan}
)yaml", kOneEpoch);
  r = run({mlaasBinary().string(), "train", fixed.string(), "--out", (dir / "c").string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto metrics = nlohmann::json::parse(readFile(dir / "c" / "metrics.json"));
  EXPECT_TRUE(metrics["epochs"][0]["validation_loss"].is_number()) << metrics.dump();
  EXPECT_TRUE(metrics["epochs"][0]["validation_auc"].is_number()) << metrics.dump();
  EXPECT_EQ(metrics["best_epoch"], 1);
}

// NLO samples have negative weights: they train. A NaN weight names inputs.weight and the event;
// weights summing to 0 are refused instead of a "successful" run with a NaN loss and best epoch 0.
TEST(CliTrain, EventWeightsNegativeNonFiniteAndZero) {
  REQUIRE_TRAINING();
  TempDir dir;
  const std::string features = "features: {flat: [MET_pt, MET_phi]}\n";
  auto config = writeConfig(dir, "nlo", "  label: {branch: label}\n  weight: \"where(MET_phi > 0, 1.5, -0.25)\"\n" + features,
                            kOneEpoch);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto metrics = nlohmann::json::parse(readFile(dir / "b" / "metrics.json"));
  EXPECT_TRUE(metrics["epochs"][0]["train_loss"].is_number()) << metrics.dump();
  EXPECT_TRUE(metrics["epochs"][0]["validation_loss"].is_number()) << metrics.dump();

  config = writeConfig(dir, "nanweight", "  label: {branch: label}\n  weight: \"Jet_pt[0]\"\n" + features, kOneEpoch);
  r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "c").string(), "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("the event weight (inputs.weight: 'Jet_pt[0]') is NaN or infinite"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sample.root entry "), std::string::npos) << r.err;

  config = writeConfig(dir, "zero", "  label: {branch: label}\n  weight: \"0 * MET_pt\"\n" + features, kOneEpoch);
  r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "d").string(), "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("training set: the event weights of its "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" events sum to 0"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "d" / "model.onnx"));
}

TEST(CliTrain, ASingleClassIsRefused) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeConfig(dir, "one", "  label: {expression: \"MET_pt * 0 + 1\"}\nfeatures: {flat: [MET_pt]}\n",
                                  kOneEpoch);
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("events have label 1: a binary classifier needs events of at least two classes"),
            std::string::npos)
      << r.err;
}

TEST(CliTrain, DuplicateKeysNameTheKeyAndLine) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = writeConfig(dir, "twice", "  label: {branch: label}\nfeatures: {flat: [MET_pt]}\n",
                                  kOneEpoch + "training: {epochs: 50}\n");
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "b").string(), "--quiet"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("twice.yaml:10:1: duplicate key 'training' (first at line 9)"), std::string::npos) << r.err;
}

TEST(CliTrain, OutThatCannotBeAFolderIsRefusedBeforeReading) {
  REQUIRE_TRAINING();
  TempDir dir;
  const auto config = dir / "never-read.yaml";
  writeFile(config, "inputs: {tree: Events, files: [missing.root]}\nfeatures: {flat: [MET_pt]}\n" + kMlp);
  writeFile(dir / "afile", "x");
  auto r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "afile").string()});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--out " + (dir / "afile").string() + ": exists and is not a folder"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("filesystem error"), std::string::npos) << r.err;
  r = run({mlaasBinary().string(), "train", config.string(), "--out", (dir / "afile" / "sub" / "m").string()});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("cannot create it: " + (dir / "afile").string() + " is a file, not a folder"),
            std::string::npos)
      << r.err;
}

TEST(CliTrain, EpochsAndThreadsOutOfRangeAreUsageErrors) {
  REQUIRE_TRAINING();
  for (const auto& [option, range] : {std::pair<std::string, std::string>{"--epochs", "1 to 100000"},
                                      std::pair<std::string, std::string>{"--threads", "1 to 1024"}}) {
    const auto r = run({mlaasBinary().string(), "train", "x.yaml", option, "0"});
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_NE(r.err.find("Value 0 not in range " + range), std::string::npos) << r.err;
  }
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
