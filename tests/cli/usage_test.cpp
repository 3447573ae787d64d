// The command line's rules, checked on the real executable: usage errors are "mlaas: error: ..."
// and exit 2 (docs/cli.md), values are checked with messages naming the option, and no output
// option may name one of the command's own inputs (the input would be replaced).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace mlaas::test {
namespace {

CommandResult mlaas(std::vector<std::string> args) {
  args.insert(args.begin(), mlaasBinary().string());
  return run(args);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A small generated sample and a dataset config reading it, in dir.
struct Sample {
  fs::path root, config;
};
Sample makeSample(const TempDir& dir) {
  Sample sample{dir / "sample.root", dir / "a.yaml"};
  const auto r = mlaas({"generate", "--events", "300", "--out", sample.root.string(), "--seed", "3", "--threads", "1"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  writeFile(
      sample.config,
      "inputs: {tree: Events, files: [sample.root], label: {branch: label}}\nfeatures: {flat: [MET_pt, MET_phi]}\n");
  return sample;
}

// ---- outputs never replace inputs (findings #2) ----------------------------------------------

TEST(CliOverwrite, PredictOutThatIsAnInputIsRefusedUnderEverySpelling) {
  TempDir dir;
  const auto sample = makeSample(dir);
  const auto before = readFile(sample.root);
  fs::create_directories(dir / "sub");
  fs::create_symlink(sample.root, dir / "link.root");
  for (const auto& out : {sample.root.string(), (dir / "sub" / ".." / "sample.root").string(),
                          (dir / "link.root").string()}) {
    SCOPED_TRACE(out);
    // The refusal comes before the model is looked at: no bundle or server is needed to see it.
    const auto r = mlaas({"predict", "--model", "zprime", "--root", sample.root.string(), "--out", out});
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "mlaas: error: --out " + out + " is the input")) << r.err;
    EXPECT_TRUE(contains(r.err, "nothing was written")) << r.err;
    EXPECT_EQ(readFile(sample.root), before);
  }
  // A bundle's own files are inputs too.
  fs::create_directories(dir / "bundle");
  writeFile(dir / "bundle" / "model.json", "{}");
  writeFile(dir / "bundle" / "model.onnx", "x");
  const auto r = mlaas({"predict", "--model", (dir / "bundle").string(), "--root", sample.root.string(), "--out",
                        (dir / "bundle" / "model.json").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "is the bundle's model.json")) << r.err;
  EXPECT_EQ(readFile(dir / "bundle" / "model.json"), "{}");
}

TEST(CliOverwrite, PredictOutputThatIsTheRequestFileIsRefused) {
  TempDir dir;
  const std::string request = R"({"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[1]}]})";
  writeFile(dir / "request.json", request);
  const auto r = mlaas({"predict", "--model", "m", "--input", (dir / "request.json").string(), "--output",
                        (dir / "." / "request.json").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "is the request file")) << r.err;
  EXPECT_EQ(readFile(dir / "request.json"), request);
}

TEST(CliOverwrite, StatsOutputThatIsTheConfigOrAnInputIsRefused) {
  TempDir dir;
  const auto sample = makeSample(dir);
  const auto config = readFile(sample.config);
  const auto root = readFile(sample.root);
  auto r = mlaas({"stats", sample.config.string(), "-o", sample.config.string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "-o " + sample.config.string() + " is the config")) << r.err;
  r = mlaas({"stats", sample.config.string(), "-o", sample.root.string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "is the input")) << r.err;
  EXPECT_EQ(readFile(sample.config), config);
  EXPECT_EQ(readFile(sample.root), root);
  // Any other path still works.
  r = mlaas({"stats", sample.config.string(), "-o", (dir / "specs.json").string()});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "specs.json"));
}

TEST(CliOverwrite, BatchesOutFolderWhoseNpyNameIsAnInputIsRefused) {
  TempDir dir;
  const auto sample = makeSample(dir);
  ASSERT_EQ(mlaas({"stats", sample.config.string(), "-o", (dir / "specs.json").string()}).exitCode, 0);
  // The specs saved as labels.npy in the output folder: writing labels.npy would replace them.
  fs::create_directories(dir / "out");
  fs::copy_file(dir / "specs.json", dir / "out" / "labels.npy");
  const auto specs = readFile(dir / "out" / "labels.npy");
  const auto r = mlaas({"batches", sample.config.string(), "--specs", (dir / "out" / "labels.npy").string(), "--out",
                        (dir / "out").string()});
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "is the specs")) << r.err;
  EXPECT_EQ(readFile(dir / "out" / "labels.npy"), specs);
}

// ---- usage errors: one prefix, exit 2, readable (findings #22) -------------------------------

TEST(CliUsage, UnknownSubcommandsAreNamed) {
  auto r = mlaas({"nosuchcmd"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "mlaas: error: unknown subcommand 'nosuchcmd' of 'mlaas'")) << r.err;
  EXPECT_TRUE(contains(r.err, "generate")) << r.err;  // the known ones are listed
  r = mlaas({"models", "lst"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "mlaas: error: unknown subcommand 'lst' of 'mlaas models'")) << r.err;
  r = mlaas({});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "mlaas: error: A subcommand is required")) << r.err;
}

TEST(CliUsage, ParseErrorsHaveTheErrorPrefixAndExitTwo) {
  TempDir dir;
  const auto out = (dir / "x.root").string();
  auto r = mlaas({"generate", "-n", "5", "-o", out, "--bogus"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err.rfind("mlaas: error: ", 0), 0u) << r.err;
  EXPECT_TRUE(contains(r.err, "--bogus")) << r.err;
  EXPECT_TRUE(contains(r.err, "mlaas generate --help")) << r.err;
  r = mlaas({"generate", "-n", "0", "-o", out});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "mlaas: error: --events: must be at least 1, got 0")) << r.err;
  EXPECT_FALSE(contains(r.err, "1.797")) << r.err;
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CliUsage, NegativeValuesOfUnsignedOptionsAreRefused) {
  TempDir dir;
  const auto out = (dir / "x.root").string();
  auto r = mlaas({"generate", "-n", "5", "-o", out, "--seed", "-1"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "mlaas: error: --seed: must not be negative, got -1")) << r.err;
  r = mlaas({"model", "mlp", "--layers", "2,1", "--out", (dir / "m.onnx").string(), "--seed", "-3"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_TRUE(contains(r.err, "--seed: must not be negative")) << r.err;
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CliUsage, BadOptionValuesExitTwoNamingTheOption) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string out = (dir / "x.root").string();
  const std::vector<Case> cases{
      {{"models", "list", "--timeout", "-1"}, "--timeout: must be greater than 0, got -1"},
      {{"predict", "--model", "m", "--input", "r.json", "--timeout", "0"}, "--timeout: must be greater than 0"},
      {{"predict", "--model", "m", "--root", "a.root", "--out", out, "--batch", "0"}, "--batch: must be at least 1"},
      {{"batches", "none.yaml", "--specs", "none.json", "--shard", "3", "--shards", "2"},
       "--shard 3 is not below --shards 2"},
      {{"batches", "none.yaml", "--specs", "none.json", "--shards", "0"}, "--shards: must be at least 1, got 0"},
      {{"generate", "-n", "5", "-o", out, "--basket-bytes", "0"}, "--basket-bytes: must be at least 1, got 0"},
      {{"bench", "read", "f.root", "--repeat", "0"}, "--repeat: must be at least 1, got 0"},
      {{"bench", "read", "f.root", "--threads", "0"}, "--threads: must be at least 1, got 0"},
      {{"generate", "-n", "5", "-o", out, "--compression", "606"}, "--compression: invalid compression setting 606"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0] + " " + c.args[1]);
    const auto r = mlaas(c.args);
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "mlaas: error: " + c.message)) << r.err;
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CliUsage, HelpTextsSayWhatTheDocsSay) {
  const auto docs = readFile(sourceDir() / "docs/cli.md");
  auto r = mlaas({"generate", "--help"});
  EXPECT_TRUE(contains(r.out, "301 legacy deflate")) << r.out;
  EXPECT_TRUE(contains(docs, "301 legacy deflate"));
  r = mlaas({"predict", "--help"});
  EXPECT_TRUE(contains(r.out, "first non-comment line")) << r.out;
  EXPECT_TRUE(contains(docs, "first non-comment line"));
  // Every flag of `serve --help` is in the docs' serve table.
  r = mlaas({"serve", "--help"});
  for (const char* flag : {"--io-batch-max-us", "--max-queue", "--intra-op-threads", "--require-token-for-read"}) {
    EXPECT_TRUE(contains(r.out, flag)) << flag;
    EXPECT_TRUE(contains(docs, std::string("`") + flag)) << flag;
  }
  // mlaas-train (built with libtorch only) names itself in its usage line.
  if (fs::exists(binDir() / "mlaas-train")) {
    r = run({(binDir() / "mlaas-train").string(), "--help"});
    EXPECT_TRUE(contains(r.out, "Usage: mlaas-train ")) << r.out;
  }
}

// ---- predict --model: paths are never server names (findings #17) -----------------------------

TEST(CliUsage, PredictModelThatLooksLikeAMissingPathIsNamed) {
  TempDir dir;
  const auto sample = makeSample(dir);
  writeFile(dir / "model.onnx", "not a bundle");
  const auto out = (dir / "scores.root").string();
  struct Case {
    std::string model, message;
  };
  for (const auto& c : {Case{(dir / "nosuchdir").string(), "no such bundle folder"},
                        Case{"nosuch/deeper", "no such bundle folder"}, Case{"model.onnx", "no such bundle folder"},
                        Case{(dir / "model.onnx").string(), "a file, not a bundle folder"}}) {
    SCOPED_TRACE(c.model);
    const auto r = mlaas({"predict", "--model", c.model, "--root", sample.root.string(), "--out", out});
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "mlaas: error: --model " + c.model + ": " + c.message)) << r.err;
    EXPECT_FALSE(contains(r.err, "cannot connect")) << r.err;
  }
  // A plain name is a server's model; with no server there, the message says no folder is here either.
  const auto server = "http://127.0.0.1:" + std::to_string(freeLoopbackPort());
  const auto r =
      run({mlaasBinary().string(), "predict", "--model", "nosuchdir", "--root", sample.root.string(), "--out", out},
          {{"MLAAS_SERVER", server}});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot connect to " + server)) << r.err;
  EXPECT_TRUE(contains(r.err, "--model nosuchdir: no folder of that name here")) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace mlaas::test
