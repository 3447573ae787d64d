// Transforms, statistics and the pipeline on synthetic trees held in memory (no reader needed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "data/dataset.hpp"
#include "data_test_util.hpp"

namespace mlaas::data {
namespace {

using testing::flatColumn;
using testing::intColumn;
using testing::jaggedColumn;

struct Synthetic {
  std::vector<std::vector<float>> jetPt, jetEta, jetPhi;
  std::vector<float> met;
  std::vector<std::int32_t> nJet, event;
  TreeSourcePtr tree;
};

// Events with 0..7 jets (pt, eta, phi), MET and an event number; deterministic.
Synthetic makeSynthetic(std::size_t events, std::uint32_t seed, const std::string& name = "synthetic.root") {
  Synthetic s;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> count(0, 7);
  std::uniform_real_distribution<float> pt(20, 200), eta(-3, 3), phi(-3.14159F, 3.14159F), met(0, 100);
  for (std::size_t e = 0; e < events; ++e) {
    int n = count(rng);
    std::vector<float> pts, etas, phis;
    for (int j = 0; j < n; ++j) {
      pts.push_back(pt(rng));
      etas.push_back(eta(rng));
      phis.push_back(phi(rng));
    }
    s.jetPt.push_back(pts);
    s.jetEta.push_back(etas);
    s.jetPhi.push_back(phis);
    s.nJet.push_back(n);
    s.met.push_back(met(rng));
    s.event.push_back(static_cast<std::int32_t>(seed * 100000 + e));
  }
  TreeSchema schema{{"nJet", root::DType::int32, "", ""},
                    {"Jet_pt", root::DType::float32, "nJet", ""},
                    {"Jet_eta", root::DType::float32, "nJet", ""},
                    {"Jet_phi", root::DType::float32, "nJet", ""},
                    {"MET_pt", root::DType::float32, "", ""},
                    {"event", root::DType::int32, "", ""}};
  std::vector<root::Column> columns{intColumn("nJet", s.nJet),          jaggedColumn("Jet_pt", s.jetPt),
                                    jaggedColumn("Jet_eta", s.jetEta),  jaggedColumn("Jet_phi", s.jetPhi),
                                    flatColumn("MET_pt", s.met),        intColumn("event", s.event)};
  s.tree = memoryTree(name, schema, columns);
  return s;
}

std::shared_ptr<const Plan> planFor(const std::string& yaml, const Inputs& inputs) {
  auto config = DatasetConfig::parse("inputs: {tree: t, files: [unused.root]}\n" + yaml, "test.yaml", "/tmp");
  return Plan::build(config, inputs.schema);
}

// Straightforward two-pass statistics over a list of values.
struct Reference {
  double count = 0, min = INFINITY, max = -INFINITY, mean = 0, variance = 0;
};
Reference reference(const std::vector<double>& values) {
  Reference r;
  for (double v : values) {
    r.count += 1;
    r.mean += v;
    r.min = std::min(r.min, v);
    r.max = std::max(r.max, v);
  }
  r.mean /= r.count;
  for (double v : values) r.variance += (v - r.mean) * (v - r.mean);
  r.variance /= r.count;
  return r;
}

TEST(Stats, EqualTwoPassReferenceAndIgnoreSplitting) {
  auto s = makeSynthetic(5000, 1);
  auto inputs = makeInputs({s.tree}, {std::nullopt});
  auto plan = planFor(
      "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta]}}}\nselection: MET_pt > 10\n"
      "batch: {chunk_entries: 333, threads: 2}\n",
      inputs);
  auto specs = computeSpecs(*plan, inputs);
  std::vector<double> met, jetPt;
  std::vector<std::uint64_t> multiplicity(8, 0);
  for (std::size_t e = 0; e < s.met.size(); ++e) {
    if (!(s.met[e] > 10)) continue;
    met.push_back(s.met[e]);
    jetPt.insert(jetPt.end(), s.jetPt[e].begin(), s.jetPt[e].end());
    ++multiplicity[s.jetPt[e].size()];
  }
  for (auto [name, values] : {std::pair{"MET_pt", &met}, std::pair{"Jet_pt", &jetPt}}) {
    auto ref = reference(*values);
    const auto& stats = specs.features.at(name);
    EXPECT_EQ(static_cast<double>(stats.count), ref.count) << name;
    EXPECT_EQ(stats.min, ref.min) << name;
    EXPECT_EQ(stats.max, ref.max) << name;
    EXPECT_NEAR(stats.mean, ref.mean, 1e-9 * std::fabs(ref.mean)) << name;
    EXPECT_NEAR(stats.variance(), ref.variance, 1e-9 * ref.variance) << name;
    // Quantiles within the sketch's relative accuracy of the exact order statistic.
    auto sorted = *values;
    std::sort(sorted.begin(), sorted.end());
    for (double q : {0.16, 0.5, 0.84}) {
      double exact = sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
      EXPECT_NEAR(stats.sketch.quantile(q), exact, 0.0051 * std::fabs(exact)) << name << " q=" << q;
    }
  }
  while (!multiplicity.empty() && multiplicity.back() == 0) multiplicity.pop_back();
  EXPECT_EQ(specs.groups.at("jets").multiplicity, multiplicity);
  EXPECT_EQ(specs.selected, met.size());
  EXPECT_EQ(specs.entries, 5000u);

  // Another chunking gives the same counts, extremes and (to rounding) moments.
  auto plan2 = planFor(
      "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta]}}}\nselection: MET_pt > 10\n"
      "batch: {chunk_entries: 4096, threads: 1}\n",
      inputs);
  auto specs2 = computeSpecs(*plan2, inputs);
  EXPECT_EQ(specs2.features.at("Jet_pt").count, specs.features.at("Jet_pt").count);
  EXPECT_EQ(specs2.features.at("Jet_pt").sketch.quantile(0.5), specs.features.at("Jet_pt").sketch.quantile(0.5));
  EXPECT_NEAR(specs2.features.at("Jet_pt").m2, specs.features.at("Jet_pt").m2, 1e-9 * specs.features.at("Jet_pt").m2);
}

TEST(Stats, SketchMergesExactlyAndHandlesSigns) {
  QuantileSketch a, b, all;
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(0, 10);
  std::vector<double> values;
  for (int i = 0; i < 20000; ++i) values.push_back(normal(rng));
  values.push_back(0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    (i % 3 == 0 ? a : b).add(values[i]);
    all.add(values[i]);
  }
  a.merge(b);
  std::sort(values.begin(), values.end());
  for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0}) {
    EXPECT_EQ(a.quantile(q), all.quantile(q));
    double exact = values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
    EXPECT_NEAR(all.quantile(q), exact, 0.0051 * std::fabs(exact) + 1e-12) << q;
  }
  EXPECT_TRUE(std::isnan(QuantileSketch().quantile(0.5)));
}

struct Built {
  Synthetic s;
  Inputs inputs;
  std::shared_ptr<const Plan> plan;
  Specs specs;
  std::shared_ptr<const Transform> transform;
};

Built build(const std::string& yaml, std::size_t events = 400) {
  Built b;
  b.s = makeSynthetic(events, 2);
  b.inputs = makeInputs({b.s.tree}, {std::nullopt});
  b.plan = planFor(yaml, b.inputs);
  b.specs = computeSpecs(*b.plan, b.inputs);
  b.transform = std::make_shared<const Transform>(b.plan, b.specs);
  return b;
}

double s_met(const Built& b, std::size_t e) { return b.s.met[e]; }

// Every row of an epoch, in delivery order, plus the batches themselves flattened.
Batch collect(Dataset& dataset, std::size_t epoch = 0) {
  dataset.start(epoch);
  Batch all = dataset.transform().makeBatch();
  while (const Batch* batch = dataset.next().value())
    for (std::size_t r = 0; r < batch->rows; ++r) all.appendRow(*batch, r);
  return all;
}

TEST(Transform, VectorLayoutEqualsReferenceWithMaskOnPaddingOnly) {
  auto b = build(
      "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta], length: 3, pad: -9, sort_by: Jet_pt}}}\n"
      "normalization: {default: none, features: {MET_pt: minmax}}\nshuffle: false\n");
  EXPECT_EQ(b.transform->vectorColumns(), (std::vector<std::string>{"MET_pt", "Jet_pt_0", "Jet_pt_1", "Jet_pt_2",
                                                                    "Jet_eta_0", "Jet_eta_1", "Jet_eta_2"}));
  Dataset dataset(b.plan, b.transform, b.inputs, {});
  Batch all = collect(dataset);
  ASSERT_EQ(all.rows, 400u);
  const auto metStats = b.specs.features.at("MET_pt");
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    ASSERT_EQ(e, r);  // no shuffling: file order
    const float* row = all.tensors[0].data() + r * 7;
    const std::uint8_t* mask = all.masks[0].data() + r * 7;
    EXPECT_FLOAT_EQ(row[0], static_cast<float>((s_met(b, e) - metStats.min) / (metStats.max - metStats.min)));
    EXPECT_EQ(mask[0], 1);
    // Jets sorted by pt, descending: the reference sorts (pt, eta) pairs.
    std::vector<std::pair<float, float>> jets;
    for (std::size_t j = 0; j < b.s.jetPt[e].size(); ++j) jets.emplace_back(b.s.jetPt[e][j], b.s.jetEta[e][j]);
    std::stable_sort(jets.begin(), jets.end(), [](auto x, auto y) { return x.first > y.first; });
    for (std::size_t slot = 0; slot < 3; ++slot) {
      bool real = slot < jets.size();
      EXPECT_EQ(mask[1 + slot], real ? 1 : 0);
      EXPECT_EQ(mask[4 + slot], real ? 1 : 0);
      EXPECT_EQ(row[1 + slot], real ? jets[slot].first : -9.0F);
      EXPECT_EQ(row[4 + slot], real ? jets[slot].second : -9.0F);
    }
  }
}

// Sorting keeps only the first `length` objects: it must still equal a full stable sort, with
// tied keys kept in stored order and NaN keys last, descending and ascending, in both layouts,
// for short lengths (bounded insertion) and long ones (a full sort of long lists). Lists stored
// already in either order (ties, -0 and +0, NaNs last or not) take the shortcut for short lists.
TEST(Transform, TruncatedSortEqualsStableSortWithTiesAndNaNLast) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> fewObjects(0, 11), manyObjects(30, 60), key(0, 5);  // 4 = NaN, 5 = -0: many ties
  std::vector<std::vector<float>> keys, ids;
  std::vector<std::int32_t> counts;
  for (std::size_t e = 0; e < 600; ++e) {
    const int n = e % 10 == 0 ? manyObjects(rng) : fewObjects(rng);
    std::vector<float> k, id;
    for (int j = 0; j < n; ++j) {
      const int v = key(rng);
      k.push_back(v == 4 ? NAN : v == 5 ? -0.0F : static_cast<float>(v));
      id.push_back(static_cast<float>(j));  // which stored object landed in a slot
    }
    if (e % 3 != 0) {  // stored in order: decreasing (NaNs last) or increasing (NaNs last, or first every 6th)
      const bool down = e % 3 == 1;
      std::stable_sort(k.begin(), k.end(), [&](float x, float y) {
        if (std::isnan(x) || std::isnan(y)) return (!std::isnan(x) && std::isnan(y)) != (e % 6 == 5);
        return down ? x > y : x < y;
      });
    }
    keys.push_back(k);
    ids.push_back(id);
    counts.push_back(n);
  }
  TreeSchema schema{{"nObj", root::DType::int32, "", ""},
                    {"Obj_key", root::DType::float32, "nObj", ""},
                    {"Obj_id", root::DType::float32, "nObj", ""}};
  auto tree = memoryTree("ties.root", schema,
                         {intColumn("nObj", counts), jaggedColumn("Obj_key", keys), jaggedColumn("Obj_id", ids)});
  auto inputs = makeInputs({tree}, {std::nullopt});
  for (const std::size_t length : {std::size_t{4}, std::size_t{40}})
    for (const std::string direction : {"descending", "ascending"})
      for (const std::string layout : {"vector", "groups"}) {
        SCOPED_TRACE(fmt::format("length {} {} {}", length, direction, layout));
        auto plan = planFor(
            fmt::format(
                "features: {{groups: {{objs: {{branches: [Obj_id, Obj_key], length: {}, pad: -1, sort_by: Obj_key, "
                "sort: {}}}}}}}\nnormalization: none\nrepresentation: {}\nshuffle: false\n",
                length, direction, layout),
            inputs);
        auto transform = std::make_shared<const Transform>(plan, computeSpecs(*plan, inputs));
        Dataset dataset(plan, transform, inputs, {});
        Batch all = collect(dataset);
        ASSERT_EQ(all.rows, 600u);
        const bool descending = direction == "descending";
        const std::size_t width = 2 * length;  // two members
        for (std::size_t r = 0; r < all.rows; ++r) {
          std::vector<int> order(keys[r].size());
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            const float x = keys[r][a], y = keys[r][b];
            if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
            return descending ? x > y : x < y;
          });
          for (std::size_t slot = 0; slot < length; ++slot) {
            const bool real = slot < order.size();
            // vector: Obj_id_0..L-1 then Obj_key_0..L-1; groups: [slot][member] and a mask per slot.
            const float id =
                layout == "vector" ? all.tensors[0][r * width + slot] : all.tensors[0][r * width + slot * 2];
            const std::uint8_t mask =
                layout == "vector" ? all.masks[0][r * width + slot] : all.masks[0][r * length + slot];
            EXPECT_EQ(id, real ? static_cast<float>(order[slot]) : -1.0F) << "event " << r << " slot " << slot;
            EXPECT_EQ(mask, real ? 1 : 0) << "event " << r << " slot " << slot;
            if (layout == "vector") {
              EXPECT_EQ(all.masks[0][r * width + length + slot], real ? 1 : 0);
            }
          }
        }
      }
}

// Units longer than a slice (4,096 entries) are prepared slice by slice, and a small input with
// automatic threads runs in the caller: both must give exactly the threaded pipeline's batches,
// and every row must still equal the reference computed from the synthetic events.
TEST(Dataset, SlicedAndInCallerEpochsEqualThreadedAndReference) {
  auto b = build(
      "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta], length: 3, pad: -9, sort_by: Jet_pt}}}\n"
      "normalization: none\nselection: MET_pt > 5\nsplit: {train: 0.8, test: 0.2, by: entry}\n"
      "shuffle: {seed: 3, buffer: 500}\nbatch: {size: 100, chunk_entries: 9000}\n",
      12000);
  Dataset inCaller(b.plan, b.transform, b.inputs, {});
  Dataset threaded(b.plan, b.transform, b.inputs, {.threads = 2});
  Batch a = collect(inCaller), t = collect(threaded);
  ASSERT_GT(a.rows, 8000u);
  ASSERT_EQ(a.rows, t.rows);
  EXPECT_TRUE(std::equal(a.events.begin(), a.events.begin() + static_cast<std::ptrdiff_t>(a.rows), t.events.begin()));
  EXPECT_TRUE(std::equal(a.tensors[0].begin(), a.tensors[0].begin() + static_cast<std::ptrdiff_t>(a.rows * 7),
                         t.tensors[0].begin()));
  EXPECT_TRUE(
      std::equal(a.masks[0].begin(), a.masks[0].begin() + static_cast<std::ptrdiff_t>(a.rows * 7), t.masks[0].begin()));
  std::set<std::size_t> seen;
  for (std::size_t r = 0; r < a.rows; ++r) {
    const std::size_t e = a.events[r].entry;
    seen.insert(e);
    const float* row = a.tensors[0].data() + r * 7;
    ASSERT_EQ(row[0], b.s.met[e]) << "row " << r << " entry " << e;
    std::vector<std::pair<float, float>> jets;
    for (std::size_t j = 0; j < b.s.jetPt[e].size(); ++j) jets.emplace_back(b.s.jetPt[e][j], b.s.jetEta[e][j]);
    std::stable_sort(jets.begin(), jets.end(), [](auto x, auto y) { return x.first > y.first; });
    for (std::size_t slot = 0; slot < 3; ++slot) {
      const bool real = slot < jets.size();
      ASSERT_EQ(row[1 + slot], real ? jets[slot].first : -9.0F) << "entry " << e;
      ASSERT_EQ(row[4 + slot], real ? jets[slot].second : -9.0F) << "entry " << e;
    }
  }
  EXPECT_EQ(seen.size(), a.rows);  // no event twice
}

// The assembler draws from the unit it is scanning and from a store that keeps a copy of the
// rows still buffered when a unit is done (the unit's records then go back to the pool). With a
// shuffle buffer wider than a unit, most rows are drawn from those copies, several units later.
// Every event must still come exactly once, whole, and one worker or two must give the same epoch.
TEST(Dataset, AShuffleBufferWiderThanAUnitKeepsEveryRowWhole) {
  auto b = build("features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt], length: 2, pad: -9}}}\n"
                 "normalization: none\nshuffle: {seed: 5, buffer: 20000}\nbatch: {size: 128, chunk_entries: 10000}\n",
                 40000);
  Dataset one(b.plan, b.transform, b.inputs, {.threads = 1});
  Dataset two(b.plan, b.transform, b.inputs, {.threads = 2});
  Batch a = collect(one), t = collect(two);
  ASSERT_EQ(a.rows, 40000U);
  ASSERT_EQ(t.rows, a.rows);
  EXPECT_TRUE(std::equal(a.events.begin(), a.events.begin() + static_cast<std::ptrdiff_t>(a.rows), t.events.begin()));
  EXPECT_TRUE(std::equal(a.tensors[0].begin(), a.tensors[0].begin() + static_cast<std::ptrdiff_t>(a.rows * 3),
                         t.tensors[0].begin()));
  std::set<std::size_t> seen;
  std::size_t inFileOrder = 0;
  for (std::size_t r = 0; r < a.rows; ++r) {
    const std::size_t e = a.events[r].entry;
    seen.insert(e);
    inFileOrder += e == r ? 1 : 0;
    const float* row = a.tensors[0].data() + r * 3;
    ASSERT_EQ(row[0], b.s.met[e]) << "row " << r << " entry " << e;
    for (std::size_t slot = 0; slot < 2; ++slot)
      ASSERT_EQ(row[1 + slot], slot < b.s.jetPt[e].size() ? b.s.jetPt[e][slot] : -9.0F) << "row " << r << " entry " << e;
  }
  EXPECT_EQ(seen.size(), a.rows);  // no event twice, none lost
  EXPECT_LT(inFileOrder, a.rows / 100);  // shuffled
}

TEST(Transform, GroupsLayoutStandardizedAndPadded) {
  auto b = build("features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_phi], length: auto, pad: nan}}}\n"
                 "representation: groups\nshuffle: false\n");
  const auto& jetStats = b.specs.features.at("Jet_pt");
  const auto& phiStats = b.specs.features.at("Jet_phi");
  std::size_t maxJets = 0;
  for (const auto& jets : b.s.jetPt) maxJets = std::max(maxJets, jets.size());
  ASSERT_EQ(b.transform->groupLengths(), (std::vector<std::size_t>{maxJets}));
  Dataset dataset(b.plan, b.transform, b.inputs, {});
  Batch all = collect(dataset);
  const std::size_t jets = all.tensorIndex("jets"), mask = all.maskIndex("jets_mask");
  ASSERT_NE(jets, static_cast<std::size_t>(-1));
  ASSERT_NE(mask, static_cast<std::size_t>(-1));
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    for (std::size_t slot = 0; slot < maxJets; ++slot) {
      const float* object = all.tensors[jets].data() + (r * maxJets + slot) * 2;
      bool real = slot < b.s.jetPt[e].size();
      EXPECT_EQ(all.masks[mask][r * maxJets + slot], real ? 1 : 0);
      if (real) {
        EXPECT_FLOAT_EQ(object[0], static_cast<float>((b.s.jetPt[e][slot] - jetStats.mean) / jetStats.stddev()));
        EXPECT_FLOAT_EQ(object[1], static_cast<float>((b.s.jetPhi[e][slot] - phiStats.mean) / phiStats.stddev()));
      } else {
        EXPECT_TRUE(std::isnan(object[0]) && std::isnan(object[1]));
      }
    }
  }
}

// apply() through a RowTarget writes the same tensors and masks into any row stride as into a
// Batch and touches nothing between the fields: the pipeline's packed records rely on it. 400
// events span several of the transform's row blocks; every seventh is skipped.
TEST(Transform, RowTargetWritesTheSameRowsIntoAnyStrideAndNothingElse) {
  for (const std::string layout : {"vector", "groups", "image"}) {
    SCOPED_TRACE(layout);
    std::string yaml =
        "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta, Jet_phi], length: 4, pad: -1, "
        "sort_by: Jet_pt}}}\nrepresentation: " +
        layout + "\n";
    if (layout == "image")
      yaml +=
          "image: {bins: [4, 4], x_range: [-3, 3], y_range: [-3.2, 3.2], channels: [{group: jets, x: Jet_eta, y: "
          "Jet_phi, value: Jet_pt}]}\n";
    auto b = build(yaml);
    const auto columns = b.inputs.trees[0]->read(b.plan->branches(), 0, 400);
    const Chunk chunk = b.plan->prepare(columns).value();
    std::vector<std::uint32_t> events;
    for (std::uint32_t e = 0; e < 400; ++e)
      if (e % 7 != 3) events.push_back(e);
    Batch expected = b.transform->makeBatch();
    ASSERT_TRUE(b.transform->apply(chunk, events, expected));
    ASSERT_EQ(expected.rows, events.size());

    // One record per row: each tensor, then each mask, with gap bytes after every field.
    std::vector<std::size_t> tensorAt, maskAt;
    std::size_t stride = 0;
    for (const auto& spec : expected.tensorSpecs) {
      tensorAt.push_back(stride);
      stride += spec.width() * sizeof(float) + 8;
    }
    for (const auto& spec : expected.maskSpecs) {
      maskAt.push_back(stride);
      stride += spec.width() + 5;
    }
    stride = (stride + 3) / 4 * 4;  // floats stay aligned
    std::vector<float> storage(events.size() * stride / sizeof(float));
    auto* bytes = reinterpret_cast<std::uint8_t*>(storage.data());
    std::fill(bytes, bytes + events.size() * stride, std::uint8_t{0xA5});
    RowTarget target;
    for (auto at : tensorAt) {
      target.tensors.push_back(reinterpret_cast<float*>(bytes + at));
      target.tensorStrides.push_back(stride / sizeof(float));
    }
    for (auto at : maskAt) {
      target.masks.push_back(bytes + at);
      target.maskStrides.push_back(stride);
    }
    ASSERT_TRUE(b.transform->apply(chunk, events, target));

    std::vector<bool> field(stride, false);
    for (std::size_t i = 0; i < tensorAt.size(); ++i)
      std::fill_n(field.begin() + static_cast<std::ptrdiff_t>(tensorAt[i]),
                  expected.tensorSpecs[i].width() * sizeof(float), true);
    for (std::size_t i = 0; i < maskAt.size(); ++i)
      std::fill_n(field.begin() + static_cast<std::ptrdiff_t>(maskAt[i]), expected.maskSpecs[i].width(), true);
    for (std::size_t r = 0; r < events.size(); ++r) {
      const std::uint8_t* record = bytes + r * stride;
      for (std::size_t i = 0; i < tensorAt.size(); ++i) {
        const std::size_t width = expected.tensorSpecs[i].width();
        ASSERT_EQ(std::memcmp(record + tensorAt[i], expected.tensors[i].data() + r * width, width * sizeof(float)), 0)
            << "row " << r;
      }
      for (std::size_t i = 0; i < maskAt.size(); ++i) {
        const std::size_t width = expected.maskSpecs[i].width();
        ASSERT_EQ(std::memcmp(record + maskAt[i], expected.masks[i].data() + r * width, width), 0) << "row " << r;
      }
      for (std::size_t k = 0; k < stride; ++k) {
        if (!field[k]) {
          ASSERT_EQ(record[k], 0xA5) << "row " << r << " byte " << k;
        }
      }
    }
  }
}

// The shuffle stores a row's masks as one count per group (real slots come first) and expands
// them when the row reaches its batch; a layout those counts cannot describe (a group of more
// than 255 slots) keeps its mask bytes. Either way every delivered row must equal the
// transform's own row of that event, tensors and masks, in every layout.
TEST(Dataset, ShuffledRowsEqualTheTransformsRowsInEveryLayout) {
  auto groups = [](std::size_t length) {
    return fmt::format(
        "groups: {{jets: {{branches: [Jet_pt, Jet_eta], length: {}, pad: -1, sort_by: Jet_pt}}, "
        "phis: {{branches: [Jet_phi], length: 3, pad: 7}}}}",
        length);
  };
  const std::string image =
      "image: {bins: [4, 4], x_range: [-3, 3], y_range: [-3.2, 3.2], "
      "channels: [{group: jets, x: Jet_eta, y: Jet_phi, value: Jet_pt}]}\n";
  for (const std::string layout : {"vector", "groups", "image"})
    // counts (length 8: a 20-byte vector mask row; 20: a groups-layout mask past one 16-byte
    // expansion step), or bytes kept (300)
    for (const std::size_t length : {std::size_t{8}, std::size_t{20}, std::size_t{300}}) {
      SCOPED_TRACE(fmt::format("{}, length {}", layout, length));
      auto b =
          build(fmt::format("features: {{flat: [MET_pt], {}}}\nrepresentation: {}\n{}shuffle: {{seed: 5, buffer: 50}}\n"
                            "batch: {{size: 64, chunk_entries: 150}}\n",
                            groups(length), layout, layout == "image" ? image : ""),
                1000);
      const auto columns = b.inputs.trees[0]->read(b.plan->branches(), 0, 1000);
      const Chunk chunk = b.plan->prepare(columns).value();
      std::vector<std::uint32_t> events(1000);
      std::iota(events.begin(), events.end(), 0U);
      Batch expected = b.transform->makeBatch();
      ASSERT_TRUE(b.transform->apply(chunk, events, expected));
      Dataset dataset(b.plan, b.transform, b.inputs, {.threads = 2});
      Batch all = collect(dataset);
      ASSERT_EQ(all.rows, 1000u);
      std::size_t shuffled = 0;
      for (std::size_t r = 0; r < all.rows; ++r) {
        const std::size_t e = all.events[r].entry;
        shuffled += e != r ? 1 : 0;
        for (std::size_t i = 0; i < all.tensors.size(); ++i) {
          const std::size_t width = all.tensorSpecs[i].width();
          ASSERT_EQ(std::memcmp(all.tensors[i].data() + r * width, expected.tensors[i].data() + e * width,
                                width * sizeof(float)),
                    0)
              << "tensor " << i << ", row " << r << ", entry " << e;
        }
        for (std::size_t i = 0; i < all.masks.size(); ++i) {
          const std::size_t width = all.maskSpecs[i].width();
          ASSERT_EQ(std::memcmp(all.masks[i].data() + r * width, expected.masks[i].data() + e * width, width), 0)
              << "mask " << i << ", row " << r << ", entry " << e;
        }
      }
      EXPECT_GT(shuffled, 900u);
      EXPECT_EQ(all.masks.size(), layout == "vector" ? 1u : layout == "groups" ? 2u : 0u);
    }
}

// The AVX2 kernel (vector layout, groups of up to 8 slots, chosen at run time) writes the same
// bytes as the portable code: every length it serves and one it leaves to the portable code,
// sorted and stored order, with and without normalization, over several row blocks.
TEST(Transform, VectorKernelWritesTheSameBytesAsThePortableCode) {
  if (!Transform::vectorKernelAvailable()) GTEST_SKIP() << "no AVX2 on this CPU: only the portable code runs";
  for (std::size_t length = 1; length <= 9; ++length)
    for (const std::string extra :
         {"sort_by: Jet_pt, pad: -3.5", "sort_by: Jet_eta, sort: ascending, pad: 7", "pad: 0"})
      for (const std::string normalization : {"standard", "none"}) {
        SCOPED_TRACE(fmt::format("length {}, {}, {}", length, extra, normalization));
        auto b =
            build(fmt::format(
                      "features: {{flat: [MET_pt], groups: {{jets: {{branches: [Jet_pt, Jet_eta, Jet_phi], length: {}, "
                      "{}}}}}}}\nnormalization: {}\n",
                      length, extra, normalization),
                  700);
        const auto columns = b.inputs.trees[0]->read(b.plan->branches(), 0, 700);
        const Chunk chunk = b.plan->prepare(columns).value();
        std::vector<std::uint32_t> events;
        for (std::uint32_t e = 0; e < 700; ++e)
          if (e % 5 != 1) events.push_back(e);
        Transform portable = *b.transform;
        portable.usePortableKernel(true);
        Batch expected = portable.makeBatch(), actual = b.transform->makeBatch();
        ASSERT_TRUE(portable.apply(chunk, events, expected));
        ASSERT_TRUE(b.transform->apply(chunk, events, actual));
        ASSERT_EQ(actual.rows, expected.rows);
        const std::size_t width = expected.tensorSpecs[0].width();
        ASSERT_EQ(width, 1 + 3 * length);
        ASSERT_EQ(
            std::memcmp(actual.tensors[0].data(), expected.tensors[0].data(), expected.rows * width * sizeof(float)),
            0);
        ASSERT_EQ(std::memcmp(actual.masks[0].data(), expected.masks[0].data(), expected.rows * width), 0);
        // Not a comparison of two empty outputs: real values and padding both occur.
        const auto& mask = expected.masks[0];
        EXPECT_NE(std::count(mask.begin(), mask.begin() + static_cast<std::ptrdiff_t>(expected.rows * width), 0), 0);
        EXPECT_GT(std::count(mask.begin(), mask.begin() + static_cast<std::ptrdiff_t>(expected.rows * width), 1),
                  static_cast<std::ptrdiff_t>(expected.rows));
      }
}

// A chunk without any object at all (one event with no jet): every slot is padding, masked out.
TEST(Transform, ChunkWithoutObjectsIsAllPadding) {
  auto b = build(
      "features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt, Jet_eta], length: 3, pad: -7, sort_by: Jet_pt}}}\n"
      "normalization: none\n");
  const auto empty = std::find(b.s.nJet.begin(), b.s.nJet.end(), 0);
  ASSERT_NE(empty, b.s.nJet.end());
  const auto e = static_cast<std::uint64_t>(empty - b.s.nJet.begin());
  const Chunk chunk = b.plan->prepare(b.inputs.trees[0]->read(b.plan->branches(), e, e + 1)).value();
  ASSERT_TRUE(chunk.find("Jet_pt")->values.empty());
  Batch batch = b.transform->makeBatch();
  const std::vector<std::uint32_t> events{0};
  ASSERT_TRUE(b.transform->apply(chunk, events, batch));
  ASSERT_EQ(batch.rows, 1u);
  EXPECT_EQ(batch.tensors[0][0], b.s.met[e]);
  EXPECT_EQ(batch.masks[0][0], 1);
  for (std::size_t k = 1; k < 7; ++k) {
    EXPECT_EQ(batch.tensors[0][k], -7.0F) << k;
    EXPECT_EQ(batch.masks[0][k], 0) << k;
  }
}

// Members of a group are read through the first member's offsets: a member with other lists (a
// corrupt file, or a hand-made chunk) must be refused, never read past its end.
TEST(Transform, GroupMembersWithOtherListsAreRefused) {
  auto b = build(
      "features: {groups: {jets: {branches: [Jet_pt, Jet_eta], length: 3, sort_by: Jet_phi}}}\nnormalization: none\n");
  const auto columns = b.inputs.trees[0]->read(b.plan->branches(), 0, 400);
  const Chunk good = b.plan->prepare(columns).value();
  std::vector<std::uint32_t> events(good.entries);
  std::iota(events.begin(), events.end(), 0U);
  // The last event with a jet loses its last Jet_eta (or gains a Jet_phi), with offsets to match.
  std::size_t last = good.entries;
  while (last > 0 && b.s.jetPt[last - 1].empty()) --last;
  ASSERT_GT(last, 0u);
  for (const std::string name : {"Jet_eta", "Jet_phi"}) {
    SCOPED_TRACE(name);
    Chunk bad = good;
    Array& array = bad.arrays.at(name);
    auto offsets = std::make_shared<Offsets>(*array.offsets);
    const std::int64_t change = name == "Jet_eta" ? -1 : 1;
    for (std::size_t e = last; e < offsets->size(); ++e)
      (*offsets)[e] = static_cast<std::uint64_t>(static_cast<std::int64_t>((*offsets)[e]) + change);
    if (change < 0)
      array.values.pop_back();
    else
      array.values.push_back(1);
    array.offsets = offsets;
    Batch batch = b.transform->makeBatch();
    auto applied = b.transform->apply(bad, events, batch);
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().message.find("'" + name + "'"), std::string::npos) << applied.error().message;
    EXPECT_EQ(batch.rows, 0u);
  }
}

TEST(Plan, ListMembersShareOneOffsetsOrAreRefusedAtTheEntry) {
  auto b = build("features: {groups: {jets: {branches: [Jet_pt, Jet_eta, Jet_phi], length: 3}}}\nnormalization: none\n",
                 100);
  auto columns = b.inputs.trees[0]->read(b.plan->branches(), 0, 100);
  // The members in the order prepare converts them: the first one's offsets are the list's.
  std::vector<std::string> members;
  for (const auto& name : b.plan->branches())
    if (name.starts_with("Jet_")) members.push_back(name);
  ASSERT_EQ(members.size(), 3u);
  auto column = [&](const std::string& name) -> root::Column& {
    return *std::find_if(columns.begin(), columns.end(), [&](const root::Column& c) { return c.name == name; });
  };
  auto lists = [&](const std::string& name) -> const std::vector<std::vector<float>>& {
    return name == "Jet_pt" ? b.s.jetPt : name == "Jet_eta" ? b.s.jetEta : b.s.jetPhi;
  };
  // The second member's offsets stored 5 higher over 5 leading values no entry owns: other bytes,
  // the same lists.
  {
    auto& shifted = column(members[1]);
    for (auto& offset : shifted.offsets[0]) offset += 5;
    std::vector<std::byte> data(5 * sizeof(float), std::byte{0x7F});
    data.insert(data.end(), shifted.data.begin(), shifted.data.end());
    shifted.data = std::move(data);
  }
  auto check = [&](std::size_t first, std::size_t count) {
    SCOPED_TRACE(fmt::format("entries {}..{}", first, first + count));
    const Chunk chunk = b.plan->prepare(columns, first, count).value();
    const auto& offsets = chunk.find(members[0])->offsets;
    ASSERT_EQ(offsets->size(), count + 1);
    for (const auto& name : members) {
      const Array& array = *chunk.find(name);
      EXPECT_EQ(array.offsets, offsets) << name;
      for (std::size_t e = 0; e < count; ++e) {
        ASSERT_EQ(array.count(e), lists(name)[first + e].size()) << name;
        for (std::size_t j = 0; j < array.count(e); ++j)
          EXPECT_EQ(array.values[static_cast<std::size_t>((*offsets)[e]) + j],
                    static_cast<double>(lists(name)[first + e][j]))
              << name;
      }
    }
  };
  check(0, 100);
  check(37, 40);
  // The last member moves an object from one entry to the next: the same total, other lists.
  std::size_t moved = 50;
  while (b.s.jetPt[moved].empty()) ++moved;
  ASSERT_LT(moved + 1, 100u);
  column(members[2]).offsets[0][moved + 1] -= 1;
  check(0, moved);  // a slice before it still shares
  for (std::size_t first : {std::size_t{0}, std::size_t{37}}) {
    auto prepared = b.plan->prepare(columns, first, 100 - first);
    ASSERT_FALSE(prepared);
    EXPECT_NE(prepared.error().message.find(fmt::format("branch '{}' has {} objects in entry {}", members[2],
                                                        b.s.jetPt[moved].size() - 1, moved)),
              std::string::npos)
        << prepared.error().message;
  }
}

TEST(Transform, QuantileLengthCoversTheFraction) {
  auto b = build("features: {groups: {jets: {branches: [Jet_pt], length: 0.5}}}\n", 2000);
  std::vector<std::size_t> counts;
  for (const auto& jets : b.s.jetPt) counts.push_back(jets.size());
  std::sort(counts.begin(), counts.end());
  std::size_t length = b.transform->groupLengths()[0];
  auto covered = static_cast<double>(std::upper_bound(counts.begin(), counts.end(), length) - counts.begin());
  auto coveredShorter =
      static_cast<double>(std::upper_bound(counts.begin(), counts.end(), length - 1) - counts.begin());
  EXPECT_GE(covered, 0.5 * 2000);
  EXPECT_LT(coveredShorter, 0.5 * 2000);
}

TEST(Transform, ImagePutsEachObjectInItsCell) {
  auto b = build(R"(features: {groups: {jets: {branches: [Jet_pt, Jet_eta, Jet_phi]}}}
representation: image
image:
  bins: [10, 8]
  x_range: [-2.5, 2.5]
  y_range: [-3.2, 3.2]
  channels:
    - {group: jets, x: Jet_eta, y: Jet_phi, value: Jet_pt}
    - {group: jets, x: Jet_eta, y: Jet_phi}
shuffle: false
)");
  Dataset dataset(b.plan, b.transform, b.inputs, {});
  Batch all = collect(dataset);
  const std::size_t image = all.tensorIndex("image");
  ASSERT_EQ(all.tensorSpecs[image].shape, (std::vector<std::size_t>{2, 10, 8}));
  for (std::size_t r = 0; r < all.rows; ++r) {
    const std::size_t e = all.events[r].entry;
    std::vector<float> expected(2 * 80, 0);
    for (std::size_t j = 0; j < b.s.jetPt[e].size(); ++j) {
      double eta = b.s.jetEta[e][j], phi = b.s.jetPhi[e][j];
      if (eta < -2.5 || eta >= 2.5) continue;  // outside the x range: dropped
      int ix = static_cast<int>(std::floor((eta + 2.5) / 0.5));
      int iy = static_cast<int>(std::floor((phi + 3.2) / 0.8));
      expected[static_cast<std::size_t>(ix * 8 + iy)] += b.s.jetPt[e][j];
      expected[static_cast<std::size_t>(80 + ix * 8 + iy)] += 1;
    }
    for (std::size_t k = 0; k < expected.size(); ++k)
      ASSERT_FLOAT_EQ(all.tensors[image][r * 160 + k], expected[k]) << r << " " << k;
  }
}

TEST(Dataset, EverySelectedEventOnceAcrossShardsAndSplits) {
  std::vector<Synthetic> files;
  std::vector<TreeSourcePtr> trees;
  for (std::uint32_t f = 0; f < 3; ++f) {
    files.push_back(makeSynthetic(700 + 100 * f, 10 + f, fmt::format("f{}.root", f)));
    trees.push_back(files.back().tree);
  }
  auto inputs = makeInputs(trees, {1.0, 0.0, 1.0});
  auto config =
      DatasetConfig::parse(R"(inputs: {tree: t, files: [{path: a, label: 1}, {path: b, label: 0}, {path: c, label: 1}]}
features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt], length: 2}}}
selection: count(Jet_pt > 50) >= 1
split: {train: 0.6, validation: 0.2, test: 0.2, by: entry}
shuffle: {seed: 5, buffer: 300, interleave: 2}
batch: {size: 37, chunk_entries: 128, threads: 2, prefetch: 2}
)",
                           "t.yaml", "/tmp");
  auto plan = Plan::build(config, inputs.schema);
  auto transform = std::make_shared<const Transform>(plan, computeSpecs(*plan, inputs));
  std::set<EventRef> expected;
  for (std::uint32_t f = 0; f < 3; ++f)
    for (std::size_t e = 0; e < files[f].jetPt.size(); ++e)
      if (std::any_of(files[f].jetPt[e].begin(), files[f].jetPt[e].end(), [](float pt) { return pt > 50; }))
        expected.insert({f, e});
  std::multiset<EventRef> seen;
  std::map<Split, std::size_t> perSplit;
  for (auto split : {Split::train, Split::validation, Split::test}) {
    for (std::size_t shard = 0; shard < 3; ++shard) {
      Dataset dataset(plan, transform, inputs, {.split = split, .shard = shard, .shards = 3});
      for (std::size_t epoch = 0; epoch < 2; ++epoch) {
        Batch all = collect(dataset, epoch);
        for (std::size_t r = 0; r < all.rows; ++r) {
          if (epoch == 0) seen.insert(all.events[r]);
          EXPECT_EQ(all.labels[r], all.events[r].file == 1 ? 0.0F : 1.0F);
          EXPECT_EQ(all.weights[r], 1.0F);
        }
        if (epoch == 0) perSplit[split] += all.rows;
      }
    }
  }
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(std::set<EventRef>(seen.begin(), seen.end()), expected);  // and no duplicates (multiset size equal)
  const double total = static_cast<double>(expected.size());
  EXPECT_NEAR(static_cast<double>(perSplit[Split::train]) / total, 0.6, 0.05);
  EXPECT_NEAR(static_cast<double>(perSplit[Split::test]) / total, 0.2, 0.05);
}

std::vector<EventRef> order(const Built& b, std::uint64_t seed, std::size_t epoch) {
  auto config = b.plan->config();
  config.shuffle.seed = seed;
  auto plan = Plan::build(config, b.inputs.schema);
  Dataset dataset(plan, std::make_shared<const Transform>(plan, b.specs), b.inputs, {});
  Batch all = collect(dataset, epoch);
  return {all.events.begin(), all.events.begin() + static_cast<std::ptrdiff_t>(all.rows)};
}

TEST(Dataset, SameSeedSameOrderOtherSeedOrEpochAnother) {
  auto b = build(
      "features: {flat: [MET_pt]}\nshuffle: {seed: 1, buffer: 64}\nbatch: {size: 16, chunk_entries: 50, threads: 2}\n",
      1000);
  auto first = order(b, 1, 0);
  EXPECT_EQ(first.size(), 1000u);
  EXPECT_EQ(order(b, 1, 0), first);
  EXPECT_NE(order(b, 2, 0), first);
  EXPECT_NE(order(b, 1, 1), first);
  auto sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, first);  // actually shuffled
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
}

class FailingTree final : public TreeSource {
 public:
  explicit FailingTree(TreeSourcePtr inner) : inner_(std::move(inner)) {}
  const std::string& name() const noexcept override { return inner_->name(); }
  std::uint64_t entries() const noexcept override { return inner_->entries(); }
  TreeSchema schema() const override { return inner_->schema(); }
  std::vector<std::uint64_t> clusterBoundaries() const override { return inner_->clusterBoundaries(); }
  std::vector<root::Column> read(const std::vector<std::string>& branches, std::uint64_t begin,
                                 std::uint64_t end) const override {
    if (begin >= 500)
      throw core::Exception(core::Errc::corrupt, fmt::format("basket of entries {}..{} is damaged", begin, end));
    return inner_->read(branches, begin, end);
  }

 private:
  TreeSourcePtr inner_;
};

TEST(Dataset, WorkerErrorsReachTheConsumer) {
  auto b =
      build("features: {flat: [MET_pt]}\nshuffle: false\nbatch: {size: 10, chunk_entries: 100, threads: 2}\n", 1000);
  auto inputs = makeInputs({std::make_shared<FailingTree>(b.s.tree)}, {std::nullopt});
  Dataset dataset(b.plan, b.transform, inputs, {});
  std::size_t rows = 0;
  core::Result<const Batch*> next = dataset.next();
  for (; next.hasValue() && *next != nullptr; next = dataset.next()) rows += (*next)->rows;
  ASSERT_FALSE(next.hasValue());
  EXPECT_EQ(next.error().message, "synthetic.root: basket of entries 500..600 is damaged");
  EXPECT_LE(rows, 500u);
  // Destroying a dataset mid-epoch stops and joins its threads (no hang, no leak under ASan/TSan).
  Dataset unfinished(b.plan, b.transform, b.inputs, {});
  ASSERT_TRUE(unfinished.next().hasValue());
}

TEST(Dataset, LimitStopsEarly) {
  auto b = build("features: {flat: [MET_pt]}\nbatch: {size: 64, chunk_entries: 100}\n", 1000);
  Dataset dataset(b.plan, b.transform, b.inputs, {.limit = 130});
  Batch all = collect(dataset);
  EXPECT_EQ(all.rows, 130u);
}

// A selection that keeps no event: every slice hands the transform zero rows, on a worker whose
// staging records never held one (ASan+UBSan: no null pointer reaches memcpy or the transform),
// and the epoch ends cleanly with no rows, shuffled or not, in the caller or on workers.
TEST(Dataset, SelectionThatKeepsNothingGivesAnEmptyEpoch) {
  for (const char* mode : {"shuffle: false\nbatch: {size: 16, chunk_entries: 100, threads: 2}\n",
                           "batch: {size: 16, chunk_entries: 100, threads: 0}\n"}) {
    SCOPED_TRACE(mode);
    auto b = build(std::string("features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt]}}}\n"
                               "selection: MET_pt < -1\n") + mode,
                   500);
    Dataset dataset(b.plan, b.transform, b.inputs, {});
    Batch all = collect(dataset);
    EXPECT_EQ(all.rows, 0u);
  }
}

TEST(Specs, RoundTripAndStalenessIsAnError) {
  auto b = build("features: {flat: [MET_pt], groups: {jets: {branches: [Jet_pt], length: 0.9}}}\n");
  auto text = b.specs.toJson(*b.plan);
  auto loaded = Specs::fromJson(text, "specs.json");
  EXPECT_EQ(loaded.features.at("Jet_pt").count, b.specs.features.at("Jet_pt").count);
  EXPECT_EQ(loaded.features.at("Jet_pt").mean, b.specs.features.at("Jet_pt").mean);
  EXPECT_EQ(loaded.features.at("Jet_pt").sketch.quantile(0.3), b.specs.features.at("Jet_pt").sketch.quantile(0.3));
  EXPECT_EQ(loaded.groupLength(b.plan->groups()[0]), b.specs.groupLength(b.plan->groups()[0]));
  loaded.checkMatches(b.plan->config(), b.inputs.records, "specs.json");

  auto changed = DatasetConfig::parse("inputs: {tree: t, files: [unused.root]}\nfeatures: {flat: [MET_pt]}\n",
                                      "other.yaml", "/tmp");
  try {
    loaded.checkMatches(changed, b.inputs.records, "specs.json");
    FAIL() << "stale specs accepted";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::conflict);
    EXPECT_NE(std::string(e.what()).find("specs.json: these specs do not match other.yaml: the config changed"),
              std::string::npos)
        << e.what();
  }
  auto records = b.inputs.records;
  records[0].entries += 1;
  EXPECT_THROW(loaded.checkMatches(b.plan->config(), records, "specs.json"), core::Exception);

  // MLaaS4HEP keys are written, and a file with only them loads as compat specs.
  const auto& json = text;
  EXPECT_TRUE(json.find("\"jdim\"") != std::string::npos && json.find("\"minv\"") != std::string::npos &&
              json.find("\"fkeys\"") != std::string::npos && json.find("\"nans\"") != std::string::npos);
  auto compat = Specs::fromJson(R"({"fkeys": ["MET_pt"], "jkeys": ["Jet_pt"], "jdim": {"Jet_pt": 4},
    "minv": {"MET_pt": 0, "Jet_pt": 20}, "maxv": {"MET_pt": 100, "Jet_pt": 200}, "nans": {},
    "events": {"synthetic.root": 400, "total": 400}})",
                                "global-specs.json");
  EXPECT_TRUE(compat.compat);
  EXPECT_EQ(compat.groupLength(b.plan->groups()[0]), 4u);
  compat.checkMatches(b.plan->config(), b.inputs.records, "global-specs.json");
  EXPECT_THROW(Transform(b.plan, compat), core::Exception);  // standard normalization needs more than min/max
  try {
    (void)Specs::fromJson(R"({"mlaas_specs": 1, "config_hash": 3})", "bad.json");
    FAIL();
  } catch (const core::Exception& e) {
    EXPECT_EQ(std::string(e.what()).substr(0, 26), "bad.json: key 'config_hash");
  }
}


// Shards are dealt whole units: a file of one unit (fewer units than shards) is cut finer so that
// no worker of data-parallel training is left with nothing, and the shards still split it exactly.
TEST(Dataset, ASmallInputIsSharedByEveryShard) {
  auto file = makeSynthetic(900, 21, "small.root");
  auto inputs = makeInputs({file.tree}, {1.0});
  auto config = DatasetConfig::parse(R"(inputs: {tree: t, files: [{path: a, label: 1}]}
features: {flat: [MET_pt]}
shuffle: {seed: 3, buffer: 100}
batch: {size: 64, chunk_entries: 20000, threads: 1}
)",
                                     "t.yaml", "/tmp");
  auto plan = Plan::build(config, inputs.schema);
  auto transform = std::make_shared<const Transform>(plan, computeSpecs(*plan, inputs));
  for (std::size_t shards : {2, 3}) {
    std::multiset<EventRef> seen;
    for (std::size_t shard = 0; shard < shards; ++shard) {
      Dataset dataset(plan, transform, inputs, {.shard = shard, .shards = shards});
      Batch all = collect(dataset, 0);
      EXPECT_GT(all.rows, 0U) << "shard " << shard << " of " << shards << " got no events";
      seen.insert(all.events.begin(), all.events.begin() + static_cast<std::ptrdiff_t>(all.rows));
    }
    EXPECT_EQ(seen.size(), 900U) << shards << " shards";
    EXPECT_EQ(std::set<EventRef>(seen.begin(), seen.end()).size(), 900U) << shards << " shards: an event twice";
  }
}

}  // namespace
}  // namespace mlaas::data
