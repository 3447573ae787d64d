// RNTuple inputs for the data layer: the same configs that read TTrees read RNTuples (projected
// collection fields as lists, cardinality fields as counts), compared with a reference computed
// here from the reader alone (root::NTuple), and mixed with a TTree holding the same events.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "data/dataset.hpp"
#include "root/file.hpp"
#include "root/ntuple.hpp"
#include "root/writer.hpp"
#include "corpus_util.hpp"
#include "data_test_util.hpp"
#include "test_support.hpp"

namespace mlaas::data {
namespace {

constexpr const char* kMuons = "Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root";
constexpr const char* kNano = "cmsopendata2015_ttbar_19980_NANOAOD_RNTupleImporter_rntuple_v1-0-0-1.root";

using testing::epoch;
using testing::Lists;
using testing::Loaded;

// Fields read with root::NTuple alone.
std::map<std::string, Lists> readNTuple(const std::string& file, const std::vector<std::string>& names) {
  auto ntuple = root::File::open(file)->ntuple("Events");
  return testing::listsOf(ntuple.read(names, {0, ntuple.entries()}));
}

Loaded load(const std::string& yaml, const std::string& base) { return testing::load(yaml, base, "ntuple.yaml"); }

std::vector<float> rowOf(const Batch& batch, std::size_t row, std::size_t width) {
  return {batch.tensors[0].begin() + static_cast<std::ptrdiff_t>(row * width),
          batch.tensors[0].begin() + static_cast<std::ptrdiff_t>((row + 1) * width)};
}

const std::string kMuonConfig = R"(inputs: {tree: Events, files: [{path: FILE, label: 1}]}
selection: nMuon >= 2
features:
  flat: [nMuon]
  groups:
    muons: {branches: [Muon_pt, Muon_eta, Muon_charge], length: 2, sort_by: Muon_pt}
normalization: none
shuffle: false
batch: {chunk_entries: 100, size: 50, threads: 2}  # ten units, read side by side by two workers
)";

std::string withFiles(std::string yaml, const std::string& files) {
  const auto at = yaml.find("[{path: FILE, label: 1}]");
  return yaml.replace(at, std::string("[{path: FILE, label: 1}]").size(), files);
}

TEST(NTupleInput, MuonGroupSortedAndSelectedEqualsReference) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  auto l = load(withFiles(kMuonConfig, fmt::format("[{{path: {}, label: 1}}]", kMuons)), root);
  auto ref = readNTuple(root + "/" + kMuons, {"nMuon", "Muon_pt", "Muon_eta", "Muon_charge"});
  auto all = epoch(l);

  const std::size_t width = 1 + 3 * 2;
  ASSERT_EQ(l.transform->tensorSpecs()[0].shape, (std::vector<std::size_t>{width}));
  std::size_t selected = 0, padded = 0;
  for (std::size_t e = 0; e < ref["nMuon"].size(); ++e) {
    if (ref["nMuon"][e][0] < 2) continue;
    ASSERT_LT(selected, all.rows);
    const std::size_t r = selected++;
    ASSERT_EQ(all.events[r].entry, e);
    // The two muons of highest pt, in descending pt, members in config order, slots per member.
    std::vector<std::size_t> order(ref["Muon_pt"][e].size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return ref["Muon_pt"][e][a] > ref["Muon_pt"][e][b]; });
    ASSERT_EQ(order.size(), static_cast<std::size_t>(ref["nMuon"][e][0]));
    std::vector<float> expected{static_cast<float>(ref["nMuon"][e][0])};
    std::vector<std::uint8_t> mask{1};
    for (const char* member : {"Muon_pt", "Muon_eta", "Muon_charge"})
      for (std::size_t slot = 0; slot < 2; ++slot) {
        const bool real = slot < order.size();
        expected.push_back(real ? static_cast<float>(ref[member][e][order[slot]]) : 0.0F);
        mask.push_back(real ? 1 : 0);
        padded += real ? 0 : 1;
      }
    ASSERT_EQ(rowOf(all, r, width), expected) << "entry " << e;
    ASSERT_EQ(std::vector<std::uint8_t>(all.masks[0].begin() + static_cast<std::ptrdiff_t>(r * width),
                                        all.masks[0].begin() + static_cast<std::ptrdiff_t>((r + 1) * width)),
              mask)
        << "entry " << e;
    EXPECT_EQ(all.labels[r], 1.0F);
  }
  EXPECT_EQ(all.rows, selected);
  EXPECT_GT(selected, 500u);  // the sample is a dimuon skim: most events pass
  EXPECT_EQ(padded, 0u);      // two slots, at least two muons
}

// Muon_pt and Muon_eta are projections of one collection, counted by nMuon: one list, as
// Muon_pt[nMuon] and Muon_eta[nMuon] are in a TTree, so expressions may combine them per muon.
TEST(NTupleInput, ProjectedFieldsOfOneCollectionAreOneList) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  auto l = load(fmt::format(R"(inputs: {{tree: Events, files: [{{path: {}, label: 1}}]}}
selection: any(Muon_pt > 10 && abs(Muon_eta) < 2.4)
features: {{flat: [nMuon]}}
shuffle: false
)",
                            kMuons),
                root);
  for (const char* name : {"Muon_pt", "Muon_eta", "Muon_charge"}) {
    const auto it = std::find_if(l.inputs.schema.begin(), l.inputs.schema.end(),
                                 [&](const BranchInfo& b) { return b.name == name; });
    ASSERT_NE(it, l.inputs.schema.end()) << name;
    EXPECT_EQ(it->list, "nMuon") << name;
  }
  auto ref = readNTuple(root + "/" + kMuons, {"Muon_pt", "Muon_eta"});
  std::size_t expected = 0;
  for (std::size_t e = 0; e < ref["Muon_pt"].size(); ++e) {
    bool any = false;
    for (std::size_t m = 0; m < ref["Muon_pt"][e].size(); ++m)
      any = any || (ref["Muon_pt"][e][m] > 10 && std::abs(ref["Muon_eta"][e][m]) < 2.4);
    expected += any ? 1 : 0;
  }
  EXPECT_EQ(epoch(l).rows, expected);
  EXPECT_GT(expected, 100u);
}

TEST(NTupleInput, StatisticsEqualTwoPassReference) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  auto l = load(withFiles(kMuonConfig, fmt::format("[{{path: {}, label: 1}}]", kMuons)), root);
  auto ref = readNTuple(root + "/" + kMuons, {"nMuon", "Muon_eta"});
  // Statistics of the selected events' muons, every muon (not only the two kept slots).
  std::vector<double> values;
  for (std::size_t e = 0; e < ref["nMuon"].size(); ++e)
    if (ref["nMuon"][e][0] >= 2) values.insert(values.end(), ref["Muon_eta"][e].begin(), ref["Muon_eta"][e].end());
  ASSERT_FALSE(values.empty());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  double m2 = 0;
  for (double v : values) m2 += (v - mean) * (v - mean);
  const auto& stats = l.specs.features.at("Muon_eta");
  EXPECT_EQ(stats.count, values.size());
  EXPECT_EQ(stats.min, *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(stats.max, *std::max_element(values.begin(), values.end()));
  EXPECT_NEAR(stats.mean, mean, 1e-12 * std::max(1.0, std::abs(mean)));
  EXPECT_NEAR(stats.variance(), m2 / static_cast<double>(values.size()), 1e-9);
}

TEST(NTupleInput, NanoAodRNTupleJetsAsGroups) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  auto l = load(fmt::format(R"(inputs: {{tree: Events, files: [{}]}}
variables: {{HT: sum(Jet_pt)}}
selection: nJet >= 1
features:
  flat: [MET_pt, HT]
  groups:
    jets: {{branches: [Jet_pt, Jet_eta, Jet_phi], length: 4, sort_by: Jet_pt}}
normalization: none
representation: groups
shuffle: false
)",
                            kNano),
                root);
  auto ref = readNTuple(root + "/" + kNano, {"nJet", "MET_pt", "Jet_pt", "Jet_eta", "Jet_phi"});
  auto all = epoch(l);
  // groups: tensor 0 the flat features [N, 2], tensor 1 the jets [N, 4, 3], mask 0 the jets' [N, 4].
  ASSERT_EQ(all.tensors.size(), 2u);
  ASSERT_EQ(all.masks.size(), 1u);
  std::size_t r = 0;
  for (std::size_t e = 0; e < ref["nJet"].size(); ++e) {
    if (ref["nJet"][e][0] < 1) continue;
    ASSERT_LT(r, all.rows);
    ASSERT_EQ(all.events[r].entry, e);
    const auto& pt = ref["Jet_pt"][e];
    ASSERT_EQ(pt.size(), static_cast<std::size_t>(ref["nJet"][e][0]));
    EXPECT_EQ(all.tensors[0][r * 2], static_cast<float>(ref["MET_pt"][e][0]));
    EXPECT_EQ(all.tensors[0][r * 2 + 1], static_cast<float>(std::accumulate(pt.begin(), pt.end(), 0.0)));
    std::vector<std::size_t> order(pt.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return pt[a] > pt[b]; });
    for (std::size_t slot = 0; slot < 4; ++slot) {
      const bool real = slot < order.size();
      EXPECT_EQ(all.masks[0][r * 4 + slot], real ? 1 : 0) << "entry " << e << " slot " << slot;
      const char* members[] = {"Jet_pt", "Jet_eta", "Jet_phi"};
      for (std::size_t m = 0; m < 3; ++m)
        EXPECT_EQ(all.tensors[1][(r * 4 + slot) * 3 + m], real ? static_cast<float>(ref[members[m]][e][order[slot]]) : 0.0F)
            << "entry " << e << " slot " << slot << " " << members[m];
    }
    ++r;
  }
  EXPECT_EQ(all.rows, r);
  EXPECT_GT(r, 5u);
}

// The muon fields copied into a TTree (counted branches Muon_pt[nMuon]/F): a config listing the
// TTree and the RNTuple gives every selected event twice, identical from either file.
TEST(NTupleInput, TTreeAndRNTupleOfTheSameEventsGiveTheSameRows) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  auto source = root::File::open(root + "/" + kMuons)->ntuple("Events");
  auto columns = source.read({"Muon_pt", "Muon_eta", "Muon_charge"}, {0, source.entries()});
  test::TempDir dir;
  const auto copy = (dir.path() / "muons-ttree.root").string();
  {
    root::FileWriter writer(copy);
    auto& tree = writer.addTree("Events", {root::BranchSpec::counted("Muon_pt", root::DType::float32, "nMuon"),
                                           root::BranchSpec::counted("Muon_eta", root::DType::float32, "nMuon"),
                                           root::BranchSpec::counted("Muon_charge", root::DType::int32, "nMuon")});
    tree.append(columns);
    writer.close();
  }
  for (bool ttreeFirst : {true, false}) {
    const std::string files = ttreeFirst ? fmt::format("[{{path: {}, label: 0}}, {{path: {}/{}, label: 1}}]", copy, root, kMuons)
                                         : fmt::format("[{{path: {}/{}, label: 1}}, {{path: {}, label: 0}}]", root, kMuons, copy);
    auto l = load(withFiles(kMuonConfig, files), root);
    auto all = epoch(l);
    ASSERT_EQ(all.rows % 2, 0u);
    const std::size_t half = all.rows / 2, width = 7;
    ASSERT_GT(half, 500u);
    for (std::size_t r = 0; r < half; ++r) {
      ASSERT_EQ(all.events[r].entry, all.events[half + r].entry);
      ASSERT_EQ(rowOf(all, r, width), rowOf(all, half + r, width)) << "entry " << all.events[r].entry;
      EXPECT_NE(all.labels[r], all.labels[half + r]);
    }
  }
}

TEST(NTupleInput, AFileListedTwiceIsRefusedNamingBothLines) {
  MLAAS_REQUIRE_CORPUS();
  const auto root = (*test::testdataDir() / "root").string();
  try {
    (void)load(withFiles(kMuonConfig, fmt::format("['{}/Run2012BC_*.root', '{}/../root/{}']", root, root, kMuons)),
               root);
    FAIL() << "a file listed twice was accepted";
  } catch (const core::Exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("is listed twice (first (matched by"), std::string::npos) << message;
    EXPECT_NE(message.find("Run2012BC_*.root"), std::string::npos) << message;
    EXPECT_NE(message.find("ntuple.yaml:1"), std::string::npos) << message;
  }
}

TEST(NTupleInput, ABranchStoredDifferentlyInTwoFilesIsRefusedWhenRead) {
  using testing::flatColumn;
  using testing::jaggedColumn;
  auto flat = memoryTree("flat.root", {{"x", root::DType::float32, "", ""}, {"y", root::DType::float32, "", ""}},
                         {flatColumn("x", {1, 2}), flatColumn("y", {1, 2})});
  auto listed = memoryTree("listed.root", {{"x", root::DType::float32, "x", ""}, {"y", root::DType::float32, "", ""}},
                           {jaggedColumn("x", {{1}, {2, 3}}), flatColumn("y", {3, 4})});
  auto inputs = makeInputs({flat, listed}, {});
  auto planOf = [&](const std::string& yaml) {
    return Plan::build(DatasetConfig::parse(yaml, "shapes.yaml", "/data"), inputs.schema);
  };
  // y is the same in both: a config reading y alone does not care how x is stored.
  EXPECT_NO_THROW((void)computeSpecs(*planOf("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [y]}\n"), inputs));
  try {
    (void)computeSpecs(*planOf("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [x, y]}\n"), inputs);
    FAIL() << "a branch that is a list in one file and a value in another was accepted";
  } catch (const core::Exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'x' is a list per event in 'listed.root' but one value per event in 'flat.root'"),
              std::string::npos)
        << message;
  }
}

}  // namespace
}  // namespace mlaas::data
