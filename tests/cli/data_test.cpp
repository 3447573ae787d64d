// `mlaas stats` and `mlaas batches` as a user runs them: specs, .npy output, stale specs refused,
// precise errors for bad configs, and the --bench --json figures.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

using namespace mlaas::test;
using nlohmann::json;

namespace {

CommandResult runMlaas(std::vector<std::string> args) {
  args.insert(args.begin(), mlaasBinary().string());
  return run(args);
}

// The shape in a .npy header and the number of payload bytes.
std::pair<std::string, std::size_t> npyShape(const fs::path& path) {
  auto bytes = readFile(path);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  std::size_t headerLength =
      static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  auto header = bytes.substr(10, headerLength);
  auto open = header.find("'shape': (") + 10;
  return {header.substr(open, header.find(')', open) - open), bytes.size() - 10 - headerLength};
}

// The HZZ example with paths made absolute, written into dir.
fs::path hzzConfig(const TempDir& dir, const std::string& extra = "") {
  auto text = readFile(sourceDir() / "examples/hzz-vector.yaml");
  auto base = text.find("base: ..");
  text.replace(base, std::strlen("base: .."), "base: " + (sourceDir() / "examples/..").string());
  auto path = dir / "hzz.yaml";
  writeFile(path, text + extra);
  return path;
}

std::string fmt_shape(std::size_t rows, std::size_t width) {
  return std::to_string(rows) + ", " + std::to_string(width);
}

}  // namespace

TEST(CliData, StatsThenBatchesWriteNpyOfTheRightShapes) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  auto config = hzzConfig(dir).string();
  auto specs = (dir / "specs.json").string();
  auto stats = runMlaas({"stats", config, "-o", specs, "--json"});
  ASSERT_EQ(stats.exitCode, 0) << stats.err;
  auto summary = json::parse(stats.out);
  EXPECT_EQ(summary["events"], 2421);
  auto specsJson = json::parse(readFile(specs));
  EXPECT_EQ(specsJson["events"]["uproot-HZZ.root"], 2421);  // MLaaS4HEP's keys are there too
  EXPECT_EQ(specsJson["jdim"]["Jet_Px"], 4);
  const std::size_t muons = specsJson["groups"]["muons"]["length"];
  const std::size_t train = summary["selected"];

  auto batches = runMlaas({"batches", config, "--specs", specs, "--out", (dir / "out").string(), "--json"});
  ASSERT_EQ(batches.exitCode, 0) << batches.err;
  auto result = json::parse(batches.out);
  EXPECT_EQ(result["rows"], train);
  const std::size_t width = 3 + 4 * 6 + muons * 7;
  EXPECT_EQ(result["tensors"]["features"], json::array({width}));
  auto [shape, bytes] = npyShape(dir / "out/features.npy");
  EXPECT_EQ(shape, fmt_shape(train, width));
  EXPECT_EQ(bytes, train * width * 4);
  auto [maskShape, maskBytes] = npyShape(dir / "out/mask.npy");
  EXPECT_EQ(maskShape, fmt_shape(train, width));
  EXPECT_EQ(maskBytes, train * width);
  EXPECT_EQ(npyShape(dir / "out/labels.npy").first, std::to_string(train) + ",");
  EXPECT_EQ(npyShape(dir / "out/weights.npy").second, train * 4);

  // Validation and test splits are disjoint from training and together cover the file.
  std::size_t total = train;
  for (const std::string split : {"validation", "test"}) {
    auto r = runMlaas({"batches", config, "--specs", specs, "--split", split, "--json"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    total += json::parse(r.out)["rows"].get<std::size_t>();
  }
  EXPECT_EQ(total, 2421u);
}

TEST(CliData, StaleSpecsAreRefused) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  auto specs = (dir / "specs.json").string();
  ASSERT_EQ(runMlaas({"stats", hzzConfig(dir).string(), "-o", specs}).exitCode, 0);
  auto changed = hzzConfig(dir, "selection: NJet >= 1\n").string();  // same file name, new content
  auto r = runMlaas({"batches", changed, "--specs", specs});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("mlaas: error: " + specs + ": these specs do not match " + changed + ": the config changed"),
            std::string::npos)
      << r.err;
}

TEST(CliData, BadConfigsGivePreciseMessages) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  auto path = hzzConfig(dir, "selection: \"NJet >= 1 &&\"\n").string();
  auto r = runMlaas({"stats", path});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(
      r.err.find(path +
                 ":34:12: selection: in expression 'NJet >= 1 &&': column 13: expected a value, got end of expression"),
      std::string::npos)
      << r.err;
  writeFile(dir / "typo.yaml",
            "inputs: {tree: events, files: [" + corpusFile("uproot-HZZ.root").string() +
                "]}\nfeatures:\n  flat: [MET_px]\n  groups: {jets: {branches: [Jet_Px, Muon_Px]}}\n");
  r = runMlaas({"stats", (dir / "typo.yaml").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(
      r.err.find(
          "typo.yaml:4:38: features.groups.jets.branches[1]: 'Muon_Px' belongs to list 'NMuon' but group 'jets' holds "
          "objects of 'NJet' (from 'Jet_Px')"),
      std::string::npos)
      << r.err;
  r = runMlaas({"batches", path, "--specs", (dir / "missing.json").string()});
  EXPECT_EQ(r.exitCode, 1);
}

TEST(CliData, BenchJsonReportsPipelineAndRawRead) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  auto config = hzzConfig(dir).string();
  auto specs = (dir / "specs.json").string();
  ASSERT_EQ(runMlaas({"stats", config, "-o", specs}).exitCode, 0);
  auto r = runMlaas({"batches", config, "--specs", specs, "--bench", "--json", "--limit", "1000"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto result = json::parse(r.out);
  EXPECT_EQ(result["rows"], 1000);
  EXPECT_GE(result["events"].get<int>(), 1000);
  EXPECT_GT(result["seconds"].get<double>(), 0);
  EXPECT_GT(result["read_seconds"].get<double>(), 0);
}

// A branch that a later input lacks is named once with its file, not "f.root: f.root: tree ...".
TEST(CliData, ABranchMissingInALaterFileNamesTheFileOnce) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  const auto generated = (dir / "gen.root").string();
  auto g = runMlaas({"generate", "--events", "200", "--tree", "events", "--out", generated});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  const auto hzz = corpusFile("uproot-HZZ-zlib.root").string();
  const auto config = dir / "two.yaml";
  writeFile(config, "inputs:\n  tree: events\n  files:\n    - {path: " + hzz +
                        ", label: 1}\n    - {path: " + generated + ", label: 0}\nfeatures:\n  flat: [MET_px]\n");
  auto r = runMlaas({"stats", config.string(), "-o", (dir / "specs.json").string()});
  ASSERT_EQ(r.exitCode, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("MET_px"), std::string::npos) << r.err;
  const auto first = r.err.find(generated);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(generated, first + generated.size()), std::string::npos) << "file named twice: " << r.err;
}

// NaN as a present value (the first jet of an event without jets) is left out of the statistics,
// and stats warns, naming the feature, since training refuses it.
TEST(CliData, StatsWarnsOfNonFiniteFeatureValues) {
  TempDir dir;
  const auto generated = (dir / "gen.root").string();
  auto g = runMlaas({"generate", "--events", "3000", "--seed", "1", "--out", generated});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  const auto config = dir / "lead.yaml";
  writeFile(config, "inputs: {tree: Events, files: [" + generated +
                        "], label: {branch: label}}\nvariables: {lead_pt: \"Jet_pt[0]\"}\n"
                        "features: {flat: [MET_pt, lead_pt]}\n");
  auto r = runMlaas({"stats", config.string(), "-o", (dir / "specs.json").string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("warning: feature 'lead_pt': "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("'MET_pt'"), std::string::npos) << r.err;
  const auto specs = json::parse(readFile(dir / "specs.json"));
  EXPECT_NE(specs.dump().find("non_finite"), std::string::npos);
}

// The overwrite guard reads file URLs as the reader does: file://localhost/p is the input /p.
TEST(CliData, StatsOutputThatIsAFileUrlInputIsRefused) {
  TempDir dir;
  const auto generated = (dir / "gen.root").string();
  auto g = runMlaas({"generate", "--events", "100", "--out", generated});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  const auto before = readFile(generated);
  const auto config = dir / "url.yaml";
  writeFile(config, "inputs: {tree: Events, files: [\"file://localhost" + generated +
                        "\"], label: {branch: label}}\nfeatures: {flat: [MET_pt]}\n");
  auto r = runMlaas({"stats", config.string(), "-o", generated});
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("-o"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(generated), before) << "the input was overwritten";
}
