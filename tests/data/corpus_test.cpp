// The data layer on the real corpus: layouts, masks, statistics and images compared with a
// straightforward reference computed here from the reader's columns (mlaas::root).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "data/dataset.hpp"
#include "root/file.hpp"
#include "root/tree.hpp"
#include "corpus_util.hpp"
#include "test_support.hpp"

namespace mlaas::data {
namespace {

using testing::epoch;
using testing::Lists;
using testing::Loaded;

// Branches read with the reader alone.
std::map<std::string, Lists> readReference(const std::string& file, const std::string& treePath,
                                           const std::vector<std::string>& names) {
  auto tree = root::File::open(file)->tree(treePath);
  return testing::listsOf(tree.read(names, {0, tree.entries()}));
}

Loaded load(const std::string& yaml) {
  return testing::load(yaml, test::testdataDir()->string() + "/root", "corpus.yaml");
}

TEST(Corpus, HzzVectorLayoutAndMasksEqualReference) {
  MLAAS_REQUIRE_CORPUS();
  auto l = load(R"(inputs: {tree: events, files: [{path: uproot-HZZ.root, label: 1}], weight: EventWeight}
features:
  flat: [MET_px, MET_py]
  groups:
    jets: {branches: [Jet_Px, Jet_E], length: 3, pad: -1}
    muons: {branches: [Muon_Px, Muon_Charge], length: 2}
    electrons: {branches: [Electron_Pz], length: 2}
    photons: {branches: ["Photon_P?"], length: 1}
normalization: none
shuffle: false
batch: {chunk_entries: 500, size: 100}
)");
  const std::string file = test::corpusFile("uproot-HZZ.root").string();
  auto ref = readReference(file, "events",
                           {"MET_px", "MET_py", "Jet_Px", "Jet_E", "Muon_Px", "Muon_Charge", "Electron_Pz", "Photon_Px",
                            "Photon_Py", "Photon_Pz", "EventWeight"});
  auto all = epoch(l);
  ASSERT_EQ(all.rows, 2421u);
  const std::vector<std::pair<std::vector<std::string>, std::size_t>> groups{
      {{"Jet_Px", "Jet_E"}, 3},
      {{"Muon_Px", "Muon_Charge"}, 2},
      {{"Electron_Pz"}, 2},
      {{"Photon_Px", "Photon_Py", "Photon_Pz"}, 1}};  // the glob Photon_P? matches all three
  const std::size_t width = 2 + 3 * 2 + 2 * 2 + 2 + 3;
  ASSERT_EQ(l.transform->tensorSpecs()[0].shape, (std::vector<std::size_t>{width}));
  std::size_t padded = 0;
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    ASSERT_EQ(e, r);
    std::vector<float> expected{static_cast<float>(ref["MET_px"][e][0]), static_cast<float>(ref["MET_py"][e][0])};
    std::vector<std::uint8_t> mask{1, 1};
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (const auto& member : groups[g].first) {
        const auto& objects = ref[member][e];
        for (std::size_t slot = 0; slot < groups[g].second; ++slot) {
          bool real = slot < objects.size();
          expected.push_back(real ? static_cast<float>(objects[slot]) : (g == 0 ? -1.0F : 0.0F));
          mask.push_back(real ? 1 : 0);
          padded += real ? 0 : 1;
        }
      }
    }
    ASSERT_EQ(std::vector<float>(all.tensors[0].begin() + static_cast<std::ptrdiff_t>(r * width),
                                 all.tensors[0].begin() + static_cast<std::ptrdiff_t>((r + 1) * width)),
              expected)
        << "event " << e;
    ASSERT_EQ(std::vector<std::uint8_t>(all.masks[0].begin() + static_cast<std::ptrdiff_t>(r * width),
                                        all.masks[0].begin() + static_cast<std::ptrdiff_t>((r + 1) * width)),
              mask)
        << "event " << e;
    EXPECT_EQ(all.labels[r], 1.0F);
    EXPECT_EQ(all.weights[r], static_cast<float>(ref["EventWeight"][e][0]));
  }
  EXPECT_GT(padded, 0u);
}

TEST(Corpus, HzzStatisticsEqualTwoPassReference) {
  MLAAS_REQUIRE_CORPUS();
  auto l = load(R"(inputs: {tree: events, files: [uproot-HZZ.root]}
features: {flat: [MET_px, NJet], groups: {muons: {branches: [Muon_Pz, Muon_Iso]}}}
selection: NMuon >= 2
batch: {chunk_entries: 300, threads: 2}
)");
  auto ref = readReference(test::corpusFile("uproot-HZZ.root").string(), "events",
                           {"MET_px", "NJet", "Muon_Pz", "Muon_Iso", "NMuon"});
  for (const std::string name : {"MET_px", "NJet", "Muon_Pz", "Muon_Iso"}) {
    std::vector<double> values;
    for (std::size_t e = 0; e < ref["NMuon"].size(); ++e)
      if (ref["NMuon"][e][0] >= 2) values.insert(values.end(), ref[name][e].begin(), ref[name][e].end());
    double mean = 0;
    for (double v : values) mean += v;
    mean /= static_cast<double>(values.size());
    double variance = 0;
    for (double v : values) variance += (v - mean) * (v - mean);
    variance /= static_cast<double>(values.size());
    const auto& stats = l.specs.features.at(name);
    EXPECT_EQ(stats.count, values.size()) << name;
    EXPECT_EQ(stats.min, *std::min_element(values.begin(), values.end())) << name;
    EXPECT_EQ(stats.max, *std::max_element(values.begin(), values.end())) << name;
    EXPECT_NEAR(stats.mean, mean, 1e-9 * (std::fabs(mean) + 1)) << name;
    EXPECT_NEAR(stats.variance(), variance, 1e-9 * variance) << name;
  }
  std::vector<std::uint64_t> multiplicity;
  for (std::size_t e = 0; e < ref["NMuon"].size(); ++e) {
    if (ref["NMuon"][e][0] < 2) continue;
    auto n = ref["Muon_Pz"][e].size();
    if (multiplicity.size() <= n) multiplicity.resize(n + 1);
    ++multiplicity[n];
  }
  EXPECT_EQ(l.specs.groups.at("muons").multiplicity, multiplicity);
}

TEST(Corpus, NanoAodGroupsSortedSelectedAndVariables) {
  MLAAS_REQUIRE_CORPUS();
  auto l = load(R"(inputs: {tree: Events, files: [nanoAOD_2015_CMS_Open_Data_ttbar.root]}
variables: {Jet_ptFrac: Jet_pt / sum(Jet_pt), HT: sum(Jet_pt)}
selection: nJet >= 2 && count(Jet_pt > 30) >= 1
features:
  flat: [MET_pt, HT]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_ptFrac], length: 4, sort_by: Jet_eta}
    muons: {branches: [Muon_pt], length: 2}
normalization: none
representation: groups
shuffle: false
)");
  auto ref = readReference(test::corpusFile("nanoAOD_2015_CMS_Open_Data_ttbar.root").string(), "Events",
                           {"MET_pt", "Jet_pt", "Jet_eta", "Muon_pt", "nJet"});
  auto all = epoch(l);
  std::vector<std::size_t> selected;
  for (std::size_t e = 0; e < ref["nJet"].size(); ++e) {
    const auto& pts = ref["Jet_pt"][e];
    if (ref["nJet"][e][0] >= 2 && std::count_if(pts.begin(), pts.end(), [](double pt) { return pt > 30; }) >= 1)
      selected.push_back(e);
  }
  ASSERT_EQ(all.rows, selected.size());
  const auto flat = all.tensorIndex("flat"), jets = all.tensorIndex("jets"), muons = all.tensorIndex("muons");
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    ASSERT_EQ(e, selected[r]);
    const auto& pts = ref["Jet_pt"][e];
    double ht = 0;
    for (double pt : pts) ht += pt;
    EXPECT_FLOAT_EQ(all.tensors[flat][r * 2], static_cast<float>(ref["MET_pt"][e][0]));
    EXPECT_FLOAT_EQ(all.tensors[flat][r * 2 + 1], static_cast<float>(ht));
    std::vector<std::size_t> order(pts.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](auto a, auto b) { return ref["Jet_eta"][e][a] > ref["Jet_eta"][e][b]; });
    for (std::size_t slot = 0; slot < 4; ++slot) {
      const float* object = all.tensors[jets].data() + (r * 4 + slot) * 3;
      bool real = slot < pts.size();
      EXPECT_EQ(all.masks[all.maskIndex("jets_mask")][r * 4 + slot], real ? 1 : 0);
      if (!real) {
        EXPECT_EQ(object[0], 0.0F);
        continue;
      }
      EXPECT_FLOAT_EQ(object[0], static_cast<float>(pts[order[slot]]));
      EXPECT_FLOAT_EQ(object[1], static_cast<float>(ref["Jet_eta"][e][order[slot]]));
      EXPECT_FLOAT_EQ(object[2], static_cast<float>(pts[order[slot]] / ht));
    }
    for (std::size_t slot = 0; slot < 2; ++slot) {
      bool real = slot < ref["Muon_pt"][e].size();
      EXPECT_EQ(all.masks[all.maskIndex("muons_mask")][r * 2 + slot], real ? 1 : 0);
      EXPECT_EQ(all.tensors[muons][r * 2 + slot], real ? static_cast<float>(ref["Muon_pt"][e][slot]) : 0.0F);
    }
  }
}

TEST(Corpus, NanoAodImageCells) {
  MLAAS_REQUIRE_CORPUS();
  auto l = load(R"(inputs: {tree: Events, files: [nanoAOD_2015_CMS_Open_Data_ttbar.root]}
features: {groups: {jets: {branches: [Jet_pt, Jet_eta, Jet_phi]}, muons: {branches: [Muon_pt, Muon_eta, Muon_phi]}}}
representation: image
image:
  bins: [16, 12]
  x_range: [-2.4, 2.4]
  y_range: [-3.1416, 3.1416]
  channels:
    - {group: jets, x: Jet_eta, y: Jet_phi, value: Jet_pt}
    - {group: muons, x: Muon_eta, y: Muon_phi, value: Muon_pt}
normalization: none
shuffle: false
)");
  auto ref = readReference(test::corpusFile("nanoAOD_2015_CMS_Open_Data_ttbar.root").string(), "Events",
                           {"Jet_pt", "Jet_eta", "Jet_phi", "Muon_pt", "Muon_eta", "Muon_phi"});
  auto all = epoch(l);
  ASSERT_EQ(all.rows, 200u);
  const auto image = all.tensorIndex("image");
  std::size_t placed = 0;
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    std::vector<double> expected(2 * 16 * 12, 0);
    for (const auto& [c, prefix] : {std::pair{0, "Jet"}, std::pair{1, "Muon"}}) {
      const auto& pt = ref[std::string(prefix) + "_pt"][e];
      for (std::size_t i = 0; i < pt.size(); ++i) {
        double eta = ref[std::string(prefix) + "_eta"][e][i], phi = ref[std::string(prefix) + "_phi"][e][i];
        if (eta < -2.4 || eta >= 2.4 || phi < -3.1416 || phi >= 3.1416) continue;
        auto ix = static_cast<std::size_t>((eta + 2.4) / 4.8 * 16);
        auto iy = static_cast<std::size_t>((phi + 3.1416) / 6.2832 * 12);
        expected[static_cast<std::size_t>(c) * 192 + ix * 12 + iy] += static_cast<float>(pt[i]);
        ++placed;
      }
    }
    for (std::size_t k = 0; k < expected.size(); ++k)
      ASSERT_NEAR(all.tensors[image][r * 384 + k], expected[k], 1e-4 * (1 + expected[k]))
          << "event " << e << " cell " << k;
  }
  EXPECT_GT(placed, 300u);
}

TEST(Corpus, BadConfigsNameTheirLine) {
  MLAAS_REQUIRE_CORPUS();
  auto error = [](const std::string& yaml) -> std::string {
    try {
      (void)load(yaml);
    } catch (const core::Exception& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error("inputs: {tree: events, files: [uproot-HZZ.root]}\nfeatures: {flat: [MET_pxx]}\n"),
            fmt::format("corpus.yaml:2:19: features.flat[0]: no branch or variable 'MET_pxx' in tree 'events' of "
                        "'{}/root/uproot-HZZ.root'",
                        test::testdataDir()->string()));
  EXPECT_NE(error("inputs: {tree: nope, files: [uproot-HZZ.root]}\nfeatures: {flat: [MET_px]}\n")
                .find("corpus.yaml:1:30: inputs.files[0]: " + test::testdataDir()->string() +
                      "/root/uproot-HZZ.root: no object \"nope\""),
            std::string::npos);
  EXPECT_NE(error("inputs: {tree: events, files: [\"nothing-*.root\"]}\nfeatures: {flat: [MET_px]}\n")
                .find("inputs.files[0]: '" + test::testdataDir()->string() + "/root/nothing-*.root' matches no file"),
            std::string::npos);
}

}  // namespace
}  // namespace mlaas::data
