#include <gtest/gtest.h>

#include <cmath>

#include "data/config.hpp"
#include "data_test_util.hpp"
#include "data/plan.hpp"

namespace mlaas::data {
namespace {

using testing::configError;

const char* kMinimal = R"(inputs:
  tree: events
  files: [a.root]
features:
  flat: [MET_pt]
)";

TEST(Config, ParsesEverySection) {
  auto config = DatasetConfig::parse(R"(base: ..
inputs:
  tree: Events
  files:
    - {path: sig.root, label: 1}
    - {path: /abs/bkg.root, label: 0}
    - {path: "root://eos.example//store/x.root", label: 0}
  weight: genWeight
features:
  flat: [MET_pt, "HT"]
  identifiers: [run, event]
  groups:
    jets:
      branches: ["Jet_*"]
      length: 0.99
      pad: nan
      sort_by: Jet_pt
    muons: {branches: [Muon_pt, Muon_eta], length: 4, sort: ascending, sort_by: Muon_pt}
variables:
  HT: sum(Jet_pt)
selection: "nJet >= 2 && MET_pt > 20"
normalization: {default: robust, features: {MET_pt: minmax}}
representation: groups
split: {train: 0.8, validation: 0.1, test: 0.1, by: entry}
shuffle: {seed: 7, buffer: 100, interleave: 2}
batch: {size: 64, chunk_entries: 1000, threads: 2}
)",
                                     "c.yaml", "/data/cfg");
  EXPECT_EQ(config.tree, "Events");
  ASSERT_EQ(config.files.size(), 3u);
  EXPECT_EQ(config.files[0].path, "/data/sig.root");  // relative to base (.. of the config folder)
  EXPECT_EQ(config.files[1].path, "/abs/bkg.root");
  EXPECT_EQ(config.files[2].path, "root://eos.example//store/x.root");  // URLs untouched
  EXPECT_EQ(*config.files[0].label, 1);
  EXPECT_EQ(config.groups.size(), 2u);
  EXPECT_EQ(config.groups[0].lengthMode, LengthMode::quantile);
  EXPECT_DOUBLE_EQ(config.groups[0].quantile, 0.99);
  EXPECT_TRUE(std::isnan(config.groups[0].pad));
  EXPECT_EQ(config.groups[1].lengthMode, LengthMode::fixed);
  EXPECT_EQ(config.groups[1].length, 4u);
  EXPECT_FALSE(config.groups[1].sortDescending);
  EXPECT_EQ(config.normalization, Normalization::robust);
  EXPECT_EQ(config.normalizationPerFeature.at("MET_pt").first, Normalization::minmax);
  EXPECT_EQ(config.representation, Representation::groups);
  EXPECT_FALSE(config.split.byIdentifiers);
  EXPECT_EQ(config.shuffle.seed, 7u);
  EXPECT_EQ(config.batch.size, 64u);
  EXPECT_EQ(config.variables.at(0).name, "HT");
}

TEST(Config, StatsHashIgnoresBatchOptionsButNotFeatures) {
  auto a = DatasetConfig::parse(kMinimal, "a.yaml", "/d");
  auto b = DatasetConfig::parse(std::string(kMinimal) + "batch: {size: 7}\nshuffle: {seed: 3}\n", "b.yaml", "/d");
  auto c = DatasetConfig::parse(std::string(kMinimal) + "selection: MET_pt > 3\n", "c.yaml", "/d");
  EXPECT_EQ(a.statsHash(), b.statsHash());
  EXPECT_NE(a.statsHash(), c.statsHash());
}

TEST(Config, ErrorsNameFileLineColumnAndKey) {
  EXPECT_EQ(configError(std::string(kMinimal) + "batchh: {}\n"),
            "test.yaml:6:1: batchh: unknown key (expected one of: base, inputs, features, variables, selection, "
            "normalization, "
            "representation, image, split, shuffle, batch, model, training)");
  EXPECT_EQ(configError(
                "inputs:\n  tree: t\n  files: [a.root]\nfeatures:\n  groups:\n    jets: {branches: [a], length: -3}\n"),
            "test.yaml:6:35: features.groups.jets.length: expected a length from 1 to 100000, 'auto', or a quantile in "
            "(0, 1] such "
            "as 0.99; got '-3'");
  EXPECT_EQ(configError(std::string(kMinimal) + "selection: \"MET_pt >\"\n"),
            "test.yaml:6:12: selection: in expression 'MET_pt >': column 9: expected a value, got end of expression");
  EXPECT_EQ(configError(std::string(kMinimal) + "split: {train: 0.8, test: 0.1}\n"),
            "test.yaml:6:8: split: train + validation + test must be 1, got 0.9");
  EXPECT_EQ(
      configError(
          "inputs:\n  tree: t\n  files: [{path: a.root, label: 1}]\n  label: {branch: y}\nfeatures: {flat: [x]}\n"),
      "test.yaml:4:10: inputs.label: labels are given both per file and by 'inputs.label': choose one");
  EXPECT_EQ(configError("inputs:\n  tree: t\n  files: [{path: a.root, label: 1}, b.root]\nfeatures: {flat: [x]}\n"),
            "test.yaml:3:37: inputs.files[1]: file '/data/b.root' has no label while others do");
  EXPECT_EQ(configError(std::string(kMinimal) + "representation: image\n"),
            "test.yaml:6:17: representation: representation 'image' needs an 'image' section");
  EXPECT_EQ(configError(std::string(kMinimal) + "batch: {size: 0}\n"),
            "test.yaml:6:15: batch.size: expected an integer from 1 to 10000000, got '0'");
  EXPECT_EQ(configError("inputs: [\n"), "test.yaml:2:1: not valid YAML: end of sequence flow not found");
  EXPECT_EQ(configError("inputs:\n  files: [a]\nfeatures: {flat: [x]}\n"),
            "test.yaml:2:3: inputs: missing key 'tree' (the TTree name or path)");
  EXPECT_EQ(configError("inputs: {tree: t, files: [a]}\nfeatures: {}\n"),
            "test.yaml:2:11: features: no features: give 'flat' and/or 'groups'");
}

// A NanoAOD-like schema for plan checks.
TreeSchema nanoSchema() {
  using root::DType;
  return {{"run", DType::uint32, "", ""},          {"event", DType::uint64, "", ""},
          {"nJet", DType::int32, "", ""},          {"Jet_pt", DType::float32, "nJet", ""},
          {"Jet_eta", DType::float32, "nJet", ""}, {"Jet_id", DType::boolean, "nJet", ""},
          {"nMuon", DType::int32, "", ""},         {"Muon_pt", DType::float32, "nMuon", ""},
          {"MET_pt", DType::float32, "", ""},      {"HLT_path", DType::string, "", "strings cannot be features"}};
}

std::string planError(const std::string& yaml) {
  try {
    auto config = DatasetConfig::parse(yaml, "test.yaml", "/data");
    (void)Plan::build(config, nanoSchema());
  } catch (const core::Exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(Plan, ResolvesGlobsVariablesAndBranchesToRead) {
  auto config = DatasetConfig::parse(R"(inputs: {tree: Events, files: [a.root]}
variables:
  HT: sum(Jet_pt)
  Jet_ptOverHT: Jet_pt / HT
features:
  flat: ["MET_*", HT, "n*"]
  groups:
    jets: {branches: ["Jet_p*", Jet_eta], sort_by: Jet_pt}
selection: count(Jet_pt > 30) >= 1 && run > 0
)",
                                     "t.yaml", "/d");
  auto plan = Plan::build(config, nanoSchema());
  EXPECT_EQ(plan->flatFeatures(), (std::vector<std::string>{"MET_pt", "HT", "nJet", "nMuon"}));
  ASSERT_EQ(plan->groups().size(), 1u);
  EXPECT_EQ(plan->groups()[0].members, (std::vector<std::string>{"Jet_pt", "Jet_ptOverHT", "Jet_eta"}));
  EXPECT_EQ(plan->groups()[0].list, "nJet");
  // Identifiers are read for the split (all present), never as features.
  EXPECT_EQ(plan->branches(), (std::vector<std::string>{"Jet_eta", "Jet_pt", "MET_pt", "nJet", "nMuon", "run"}));
  EXPECT_TRUE(plan->splitIdentifiers().empty());  // 'luminosityBlock' is missing: split by file and entry
}

TEST(Plan, ErrorsNameTheKeyAndWhy) {
  const std::string head = "inputs: {tree: Events, files: [a.root]}\n";
  EXPECT_EQ(planError(head + "features: {flat: [Jet_ptt]}\n"),
            "test.yaml:2:19: features.flat[0]: no branch or variable 'Jet_ptt' in tree 'Events' of '/data/a.root'");
  EXPECT_EQ(
      planError(head + "features: {flat: [Jet_pt]}\n"),
      "test.yaml:2:19: features.flat[0]: 'Jet_pt' is per object (number per object of 'nJet'): put it in a group under "
      "features.groups");
  EXPECT_EQ(planError(head + "features: {flat: [HLT_path]}\n"),
            "test.yaml:2:19: features.flat[0]: branch 'HLT_path' cannot be a feature: strings cannot be features");
  EXPECT_EQ(planError(head + "features: {flat: [run]}\n"),
            "test.yaml:2:19: features.flat[0]: 'run' is an identifier (features.identifiers), not a feature");
  EXPECT_EQ(planError(head + "features: {groups: {jets: {branches: [Jet_pt, Muon_pt]}}}\n"),
            "test.yaml:2:47: features.groups.jets.branches[1]: 'Muon_pt' belongs to list 'nMuon' but group 'jets' "
            "holds objects of "
            "'nJet' (from 'Jet_pt')");
  EXPECT_EQ(
      planError(head + "features: {groups: {jets: {branches: [MET_pt]}}}\n"),
      "test.yaml:2:39: features.groups.jets.branches[0]: 'MET_pt' has one value per event (number): list it under "
      "features.flat, not in a group");
  EXPECT_EQ(planError(head + "features: {flat: [MET_pt]}\nselection: Jet_pt > 30\n"),
            "test.yaml:3:12: selection: the selection must be one boolean per event, got boolean per object of 'nJet' "
            "(aggregate with "
            "any(), all() or count())");
  EXPECT_EQ(planError(head + "features: {flat: [MET_pt]}\nselection: any(Muon_pt + Jet_pt > 3)\n"),
            "test.yaml:3:12: selection: in expression 'any(Muon_pt + Jet_pt > 3)': column 13: cannot combine objects "
            "of different "
            "lists: 'Muon_pt' (number per object of 'nMuon') and 'Jet_pt' (number per object of 'nJet')");
  EXPECT_EQ(
      planError(head + "features: {flat: [MET_pt], groups: {jets: {branches: [MET_pt]}}}\n"),
      "test.yaml:2:55: features.groups.jets.branches[0]: 'MET_pt' has one value per event (number): list it under "
      "features.flat, not in a group");
  EXPECT_EQ(
      planError(
          head +
          "variables: {Jet_x: 2 * Jet_pt}\nfeatures: {groups: {a: {branches: [Jet_x]}, b: {branches: [Jet_x]}}}\n"),
      "test.yaml:3:60: features.groups.b.branches[0]: 'Jet_x' is already a feature elsewhere");
  EXPECT_EQ(planError(head + "features: {flat: [MET_pt]}\nselection: nMuon && MET_pt > 3\n"),
            "test.yaml:3:12: selection: in expression 'nMuon && MET_pt > 3': column 1: '&&' needs a boolean (a "
            "comparison such as x > 0), "
            "got 'nMuon' (number)");
  EXPECT_EQ(planError(head + "features: {flat: [MET_pt]}\nnormalization: {features: {Jet_pt: minmax}}\n"),
            "test.yaml:3:28: normalization.features.Jet_pt: 'Jet_pt' is not a feature (flat or group member)");
  EXPECT_EQ(planError(head + "features: {groups: {jets: {branches: [Jet_pt], sort_by: Muon_pt}}}\n"),
            "test.yaml:2:57: features.groups.jets.sort_by: 'Muon_pt' (number per object of 'nMuon') is not per object "
            "of the group's "
            "list 'nJet'");
  EXPECT_EQ(planError(head + "variables: {MET_pt: 2 * MET_pt}\nfeatures: {flat: [MET_pt]}\n"),
            "test.yaml:2:21: variables.MET_pt: variable 'MET_pt' has the name of a branch of tree 'Events' of "
            "'/data/a.root'");
}

}  // namespace
}  // namespace mlaas::data
