// Small synthetic problems for the training tests: labelled events in each representation with
// padded entries filled with garbage (so a network that ignores its mask would be hurt) and
// features far from zero mean / unit scale (so standardization matters).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "train/tensor_set.hpp"

namespace mlaas::train::synthetic {

/// Padding: a large value or NaN (the dataset layer pads with any value, NaN included).
inline float garbage(std::int64_t event) { return event % 2 == 0 ? -999.0F : std::numeric_limits<float>::quiet_NaN(); }

/// Binary: 6 features, 3 of them shifted for signal; ~10% of entries missing (mask 0).
inline TensorSet vectorProblem(std::int64_t events, std::uint64_t seed, double separation = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::uniform_real_distribution<double> uniform;
  TensorSet set;
  set.inputs.push_back(InputSpec{"features", InputKind::vector, {6}, true, {"a", "b", "c", "d", "e", "f"}});
  set.values.resize(1);
  set.masks.resize(1);
  const double offsets[6] = {50, -3, 0.5, 1000, 0, 7};
  const double scales[6] = {10, 0.1, 1, 200, 1, 3};
  for (std::int64_t e = 0; e < events; ++e) {
    const bool signal = uniform(rng) < 0.5;
    for (int j = 0; j < 6; ++j) {
      const double shift = j < 3 ? (signal ? 0.5 : -0.5) * separation : 0.0;
      const bool present = uniform(rng) > 0.1;
      set.values[0].push_back(present ? static_cast<float>(offsets[j] + scales[j] * (gauss(rng) + shift)) : garbage(e));
      set.masks[0].push_back(present ? 1 : 0);
    }
    set.labels.push_back(signal ? 1.0F : 0.0F);
  }
  set.events = events;
  return set;
}

/// Multiclass (3 classes) on the same layout: class k shifts feature k.
inline TensorSet multiclassProblem(std::int64_t events, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::uniform_int_distribution<int> cls(0, 2);
  std::uniform_real_distribution<double> uniform;
  TensorSet set;
  set.inputs.push_back(InputSpec{"features", InputKind::vector, {4}, true, {}});
  set.values.resize(1);
  set.masks.resize(1);
  for (std::int64_t e = 0; e < events; ++e) {
    const int k = cls(rng);
    for (int j = 0; j < 4; ++j) {
      const bool present = uniform(rng) > 0.05;
      set.values[0].push_back(present ? static_cast<float>(gauss(rng) + (j == k ? 2.0 : 0.0)) : garbage(e));
      set.masks[0].push_back(present ? 1 : 0);
    }
    set.labels.push_back(static_cast<float>(k));
    set.weights.push_back(static_cast<float>(0.5 + uniform(rng)));
  }
  set.events = events;
  return set;
}

/// Regression: 2 targets from 3 unmasked features.
inline TensorSet regressionProblem(std::int64_t events, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  TensorSet set;
  set.inputs.push_back(InputSpec{"features", InputKind::vector, {3}, false, {}});
  set.values.resize(1);
  set.masks.resize(1);
  set.labelWidth = 2;
  for (std::int64_t e = 0; e < events; ++e) {
    double x[3];
    for (auto& v : x) {
      v = gauss(rng);
      set.values[0].push_back(static_cast<float>(v));
    }
    set.labels.push_back(static_cast<float>(x[0] + 2 * x[1]));
    set.labels.push_back(static_cast<float>(x[2] * x[2] - x[0]));
  }
  set.events = events;
  return set;
}

/// Binary on groups: up to 8 "jets" of 3 features; signal has harder jets. Plus an event-level
/// vector input of 2 features (unmasked) to test mixing representations.
inline TensorSet groupProblem(std::int64_t events, std::uint64_t seed, bool withEventFeatures = true) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::uniform_real_distribution<double> uniform;
  std::poisson_distribution<int> count(3.0);
  constexpr int kObjects = 8;
  constexpr int kFeatures = 3;
  TensorSet set;
  set.inputs.push_back(InputSpec{"jets", InputKind::group, {kObjects, kFeatures}, true, {"pt", "eta", "phi"}});
  if (withEventFeatures) set.inputs.push_back(InputSpec{"features", InputKind::vector, {2}, false, {"met", "ht"}});
  set.values.resize(set.inputs.size());
  set.masks.resize(set.inputs.size());
  for (std::int64_t e = 0; e < events; ++e) {
    const bool signal = uniform(rng) < 0.5;
    const int n = std::min(kObjects, count(rng) + (signal ? 1 : 0));
    for (int o = 0; o < kObjects; ++o) {
      const bool present = o < n;
      const double pt = 40.0 * std::exp(0.5 * gauss(rng)) * (signal ? 1.6 : 1.0);
      const float values[kFeatures] = {static_cast<float>(pt), static_cast<float>(2.0 * gauss(rng)),
                                       static_cast<float>(3.14 * (2 * uniform(rng) - 1))};
      for (const float v : values) set.values[0].push_back(present ? v : garbage(e));
      set.masks[0].push_back(present ? 1 : 0);
    }
    if (withEventFeatures) {
      set.values[1].push_back(static_cast<float>(30 + 10 * gauss(rng)));
      set.values[1].push_back(static_cast<float>(200 + 50 * gauss(rng)));
    }
    set.labels.push_back(signal ? 1.0F : 0.0F);
  }
  set.events = events;
  return set;
}

/// Binary on 2x12x12 images: signal has a blob near the centre of channel 0.
inline TensorSet imageProblem(std::int64_t events, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss;
  std::uniform_real_distribution<double> uniform;
  constexpr int kSize = 12;
  TensorSet set;
  set.inputs.push_back(InputSpec{"image", InputKind::image, {2, kSize, kSize}, false, {}});
  set.values.resize(1);
  set.masks.resize(1);
  for (std::int64_t e = 0; e < events; ++e) {
    const bool signal = uniform(rng) < 0.5;
    const double cx = 5.5 + gauss(rng);
    const double cy = 5.5 + gauss(rng);
    for (int c = 0; c < 2; ++c)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
          double v = 0.3 * std::abs(gauss(rng));
          if (signal && c == 0) v += 2.0 * std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 4.0);
          set.values[0].push_back(static_cast<float>(v));
        }
    set.labels.push_back(signal ? 1.0F : 0.0F);
  }
  set.events = events;
  return set;
}

}  // namespace mlaas::train::synthetic
