// The synthetic sample: deterministic for a seed (whatever the threads), realistic multiplicities,
// a label that is learnable but not trivially, and a file JSROOT and our reader both read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "root/file.hpp"
#include "root/generate.hpp"
#include "root/tree.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

namespace fs = std::filesystem;

const Column& byName(const std::vector<Column>& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name == name) return c;
  throw std::runtime_error("no column " + name);
}

// Area under the ROC curve of a score against the label (ties count half).
double auc(std::vector<std::pair<double, int>> scored) {
  std::sort(scored.begin(), scored.end());
  double rankSum = 0, positives = 0;
  for (std::size_t i = 0; i < scored.size();) {
    std::size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);
    for (std::size_t k = i; k < j; ++k)
      if (scored[k].second == 1) {
        rankSum += rank;
        positives += 1;
      }
    i = j;
  }
  const double negatives = static_cast<double>(scored.size()) - positives;
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
}

TEST(Generate, ChunksAreDeterministicAndDependOnTheSeed) {
  const auto a = generateChunk(5, 3, 1000, 0.5);
  const auto b = generateChunk(5, 3, 1000, 0.5);
  const auto c = generateChunk(6, 3, 1000, 0.5);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].data, b[i].data) << a[i].name;
    EXPECT_EQ(a[i].offsets, b[i].offsets) << a[i].name;
  }
  EXPECT_NE(byName(a, "Jet_pt").data, byName(c, "Jet_pt").data);
  EXPECT_EQ(byName(a, "event").values<std::uint64_t>()[0], 3 * kGenerateChunk + 1);
  EXPECT_EQ(byName(a, "event").firstEntry, 3 * kGenerateChunk);
}

TEST(Generate, PhysicsIsRealisticAndLearnableButNotTrivial) {
  const auto cols = generateChunk(11, 0, 16000, 0.5);
  const auto label = byName(cols, "label").values<std::int32_t>();
  const auto& jetPt = byName(cols, "Jet_pt");
  const auto& jetEta = byName(cols, "Jet_eta");
  const auto& jetPhi = byName(cols, "Jet_phi");
  const auto& jetMass = byName(cols, "Jet_mass");
  const auto& muonPt = byName(cols, "Muon_pt");
  const auto pt = jetPt.values<float>();
  const auto eta = jetEta.values<float>();
  const auto phi = jetPhi.values<float>();
  const auto mass = jetMass.values<float>();

  const double signal = std::count(label.begin(), label.end(), 1) / 16000.0;
  EXPECT_NEAR(signal, 0.5, 0.02);
  std::size_t maxJets = 0, noJets = 0;
  std::vector<std::pair<double, int>> dijetMass, leadingPt;
  for (std::size_t e = 0; e < 16000; ++e) {
    const auto b = jetPt.offsets[0][e], n = jetPt.offsets[0][e + 1] - b;
    maxJets = std::max<std::size_t>(maxJets, n);
    noJets += n == 0;
    for (std::size_t k = b + 1; k < b + n; ++k) EXPECT_GE(pt[k - 1], pt[k]) << "jets sorted by pt";
    for (std::size_t k = b; k < b + n; ++k) {
      EXPECT_LT(std::abs(eta[k]), 4.8f);
      EXPECT_LE(std::abs(phi[k]), 3.1416f);
      EXPECT_GT(mass[k], 0.f);
    }
    double m = 0;
    if (n >= 2) {  // invariant mass of the two leading jets
      auto four = [&](std::size_t k) {
        const double px = pt[k] * std::cos(phi[k]), py = pt[k] * std::sin(phi[k]), pz = pt[k] * std::sinh(eta[k]);
        return std::array<double, 4>{std::sqrt(px * px + py * py + pz * pz + mass[k] * mass[k]), px, py, pz};
      };
      const auto j1 = four(b), j2 = four(b + 1);
      const double E = j1[0] + j2[0], px = j1[1] + j2[1], py = j1[2] + j2[2], pz = j1[3] + j2[3];
      m = std::sqrt(std::max(0.0, E * E - px * px - py * py - pz * pz));
    }
    dijetMass.emplace_back(-std::abs(m - 500.0), label[e]);
    leadingPt.emplace_back(n ? pt[b] : 0.0, label[e]);
  }
  EXPECT_LE(maxJets, 15u);
  EXPECT_GE(maxJets, 8u);
  EXPECT_GT(noJets, 0u);
  // Single variables separate the classes, but far from perfectly.
  const double aucMass = auc(dijetMass), aucPt = auc(leadingPt);
  EXPECT_GT(aucMass, 0.6);
  EXPECT_LT(aucMass, 0.95);
  EXPECT_GT(aucPt, 0.55);
  EXPECT_LT(aucPt, 0.95);
  EXPECT_GT(muonPt.offsets[0].back(), 1000u);
}

TEST(Generate, FileIsTheSameForAnyThreadCountAndReadsBack) {
  test::TempDir dir, other;  // the same file name in two folders: the name is stored inside
  GenerateOptions options;
  options.events = 40000;  // three chunks, the last one partial
  options.seed = 9;
  options.write.compression = 404;
  const auto one = generateFile((dir / "g.root").string(), options);
  options.threads = 3;
  const auto three = generateFile((other / "g.root").string(), options);
  EXPECT_EQ(one.events, 40000u);
  EXPECT_EQ(one.signalEvents, three.signalEvents);
  EXPECT_TRUE(test::readFile(dir / "g.root") == test::readFile(other / "g.root"));
  EXPECT_EQ(fs::file_size(dir / "g.root"), one.fileBytes);

  const auto file = File::open((dir / "g.root").string());
  const auto tree = file->tree("Events");
  ASSERT_EQ(tree.entries(), 40000u);
  const auto cols = tree.read({"nJet", "Jet_pt", "label", "event"}, {39990, 40000});
  const auto direct = generateChunk(9, 2, 40000 - 2 * kGenerateChunk, 0.5);
  const auto& pt = byName(direct, "Jet_pt");
  const auto first = pt.offsets[0][39990 - 2 * kGenerateChunk];
  const auto last = pt.offsets[0].back();
  const auto& readPt = byName(cols, "Jet_pt");
  ASSERT_EQ(readPt.values<float>().size(), last - first);
  EXPECT_TRUE(
      std::equal(readPt.values<float>().begin(), readPt.values<float>().end(), pt.values<float>().begin() + first));
  EXPECT_EQ(byName(cols, "event").values<std::uint64_t>()[9], 40000u);
}

TEST(Generate, BadOptionsFailClearly) {
  test::TempDir dir;
  GenerateOptions options;
  options.events = 10;
  options.signalFraction = 1.5;
  try {
    (void)generateFile((dir / "x.root").string(), options);
    ADD_FAILURE() << "expected an exception";
  } catch (const core::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("signal fraction 1.5"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace mlaas::root
