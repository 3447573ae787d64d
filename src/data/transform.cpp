#include "data/transform.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace mlaas::data {

void Batch::grow(std::size_t extra) {
  const std::size_t needed = rows + extra;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].size() < needed * tensorSpecs[i].width()) tensors[i].resize(needed * tensorSpecs[i].width());
  for (std::size_t i = 0; i < masks.size(); ++i)
    if (masks[i].size() < needed * maskSpecs[i].width()) masks[i].resize(needed * maskSpecs[i].width());
  if (labels.size() < needed) labels.resize(needed);
  if (weights.size() < needed) weights.resize(needed);
  if (events.size() < needed) events.resize(needed);
}

void Batch::appendRow(const Batch& other, std::size_t row) {
  if (labels.size() <= rows) grow(std::max<std::size_t>(rows, 16));  // amortised doubling
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::size_t width = tensorSpecs[i].width();
    std::copy_n(other.tensors[i].data() + row * width, width, tensors[i].data() + rows * width);
  }
  for (std::size_t i = 0; i < masks.size(); ++i) {
    const std::size_t width = maskSpecs[i].width();
    std::copy_n(other.masks[i].data() + row * width, width, masks[i].data() + rows * width);
  }
  labels[rows] = other.labels[row];
  weights[rows] = other.weights[row];
  events[rows] = other.events[row];
  ++rows;
}

std::size_t Batch::tensorIndex(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < tensorSpecs.size(); ++i)
    if (tensorSpecs[i].name == name) return i;
  return static_cast<std::size_t>(-1);
}

std::size_t Batch::maskIndex(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < maskSpecs.size(); ++i)
    if (maskSpecs[i].name == name) return i;
  return static_cast<std::size_t>(-1);
}

Transform::Transform(std::shared_ptr<const Plan> plan, const Specs& specs) : plan_(std::move(plan)) {
  const auto& config = plan_->config();
  for (const auto& group : plan_->groups()) lengths_.push_back(specs.groupLength(group));

  // Normalization constants, from the specs' statistics.
  std::vector<std::string> features = plan_->flatFeatures();
  for (const auto& group : plan_->groups()) features.insert(features.end(), group.members.begin(), group.members.end());
  for (const auto& feature : features) {
    auto mode = plan_->normalization(feature);
    double shift = 0, scale = 1;
    if (mode != Normalization::none) {
      auto it = specs.features.find(feature);
      if (it == specs.features.end())
        throw core::Exception(core::Errc::invalid_argument,
                              fmt::format("the specs have no statistics for feature '{}' (normalization '{}')", feature, toString(mode)));
      const auto& stats = it->second;
      if (specs.compat && mode != Normalization::minmax)
        throw core::Exception(core::Errc::invalid_argument,
                              fmt::format("MLaaS4HEP specs only have min/max: feature '{}' asks for '{}' normalization", feature, toString(mode)));
      double denominator = 0;
      if (stats.count != 0) {
        switch (mode) {
          case Normalization::minmax:
            shift = stats.min;
            denominator = stats.max - stats.min;
            break;
          case Normalization::standard:
            shift = stats.mean;
            denominator = stats.stddev();
            break;
          case Normalization::robust:
            shift = stats.sketch.quantile(0.5);
            denominator = (stats.sketch.quantile(0.84) - stats.sketch.quantile(0.16)) / 2;
            break;
          case Normalization::none: break;
        }
      }
      scale = denominator > 0 && std::isfinite(denominator) ? 1 / denominator : 1;
      if (!std::isfinite(shift)) shift = 0;
    }
    affine_[feature] = {shift, scale};
  }

  const std::size_t nflat = plan_->flatFeatures().size();
  const auto& groups = plan_->groups();
  switch (config.representation) {
    case Representation::vector: {
      std::size_t width = nflat;
      for (std::size_t g = 0; g < groups.size(); ++g) width += lengths_[g] * groups[g].members.size();
      tensorSpecs_.push_back({"features", {width}});
      maskSpecs_.push_back({"mask", {width}});
      break;
    }
    case Representation::groups:
      if (nflat != 0) tensorSpecs_.push_back({"flat", {nflat}});
      for (std::size_t g = 0; g < groups.size(); ++g) {
        tensorSpecs_.push_back({groups[g].name, {lengths_[g], groups[g].members.size()}});
        maskSpecs_.push_back({groups[g].name + "_mask", {lengths_[g]}});
      }
      break;
    case Representation::image:
      if (nflat != 0) tensorSpecs_.push_back({"flat", {nflat}});
      tensorSpecs_.push_back({"image", {config.image.channels.size(), config.image.xBins, config.image.yBins}});
      break;
  }
}

std::pair<double, double> Transform::affine(const std::string& feature) const {
  auto it = affine_.find(feature);
  return it == affine_.end() ? std::pair{0.0, 1.0} : it->second;
}

std::vector<std::string> Transform::vectorColumns() const {
  std::vector<std::string> columns = plan_->flatFeatures();
  const auto& groups = plan_->groups();
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const auto& member : groups[g].members)
      for (std::size_t slot = 0; slot < lengths_[g]; ++slot) columns.push_back(fmt::format("{}_{}", member, slot));
  return columns;
}

Batch Transform::makeBatch() const {
  Batch batch;
  batch.tensorSpecs = tensorSpecs_;
  batch.maskSpecs = maskSpecs_;
  batch.tensors.resize(tensorSpecs_.size());
  batch.masks.resize(maskSpecs_.size());
  return batch;
}

namespace {

// One group's inputs for a chunk, resolved once per apply() call: raw pointers and constants
// that the per-event loops keep in registers.
struct GroupInputs {
  const std::uint64_t* offsets = nullptr;
  const double* sortKey = nullptr;  ///< null: stored order
  bool descending = true;
  std::size_t length = 0;
  float pad = 0;
  std::vector<const double*> sources;  ///< per member
  std::vector<double> shifts, scales;  ///< per member
};

// Does key a come before key b? Descending or ascending, NaN last either way: a strict weak
// order (NaNs are one class, after every number), so a stable sort's result is unique.
inline bool keyBefore(double a, double b, bool descending) noexcept {
  if (std::isnan(b)) return !std::isnan(a);
  return descending ? a > b : a < b;
}

// Above this many kept objects the bounded insertion below (n steps per object) gives way to a
// full stable sort.
constexpr std::size_t kInsertionKeep = 32;

// The indices of the first `n` objects of one event in output order, written to `out` (room for
// n): the stored order, or the first n of a stable sort by key. Only the first n are kept, so a
// bounded insertion into n slots is enough (a later object never passes an equal earlier one,
// as in a stable sort); `scratch` serves long lists.
inline std::size_t orderObjects(const GroupInputs& group, std::uint64_t begin, std::uint64_t end, std::size_t n,
                                std::uint64_t* out, std::vector<std::uint64_t>& scratch) {
  if (group.sortKey == nullptr || n == 0) {
    for (std::size_t s = 0; s < n; ++s) out[s] = begin + s;
    return n;
  }
  const double* key = group.sortKey;
  const bool descending = group.descending;
  if (n > kInsertionKeep) {
    scratch.resize(static_cast<std::size_t>(end - begin));
    for (std::size_t i = 0; i < scratch.size(); ++i) scratch[i] = begin + i;
    std::stable_sort(scratch.begin(), scratch.end(), [&](std::uint64_t a, std::uint64_t b) { return keyBefore(key[a], key[b], descending); });
    std::copy_n(scratch.begin(), n, out);
    return n;
  }
  std::size_t kept = 0;
  for (std::uint64_t i = begin; i < end; ++i) {
    const double k = key[i];
    if (kept == n && !keyBefore(k, key[out[n - 1]], descending)) continue;
    std::size_t p = kept < n ? kept++ : n - 1;
    for (; p > 0 && keyBefore(k, key[out[p - 1]], descending); --p) out[p] = out[p - 1];
    out[p] = i;
  }
  return kept;
}

}  // namespace

core::Result<void> Transform::apply(const Chunk& chunk, std::span<const std::uint32_t> events, Batch& out) const {
  const auto& config = plan_->config();
  const auto& groups = plan_->groups();
  auto lookup = [&](const std::string& name) -> core::Result<Feature> {
    const Array* array = chunk.find(name);
    if (array == nullptr) return core::fail(core::Errc::invalid_argument, fmt::format("missing input '{}'", name));
    auto [shift, scale] = affine(name);
    return Feature{array, shift, scale};
  };
  std::vector<Feature> flat;
  for (const auto& name : plan_->flatFeatures()) {
    auto feature = lookup(name);
    if (!feature) return core::fail(std::move(feature).error());
    flat.push_back(*feature);
  }
  std::vector<GroupInputs> inputs(groups.size());
  std::size_t longest = 0;  // the most objects any group writes per event
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& group = inputs[g];
    for (const auto& name : groups[g].members) {
      auto feature = lookup(name);
      if (!feature) return core::fail(std::move(feature).error());
      if (!feature->array->isJagged() || feature->array->offsets->size() != chunk.entries + 1)
        return core::fail(core::Errc::invalid_argument, fmt::format("input '{}' is not a list of the chunk's {} events", name, chunk.entries));
      if (group.sources.empty()) group.offsets = feature->array->offsets->data();
      group.sources.push_back(feature->array->values.data());
      group.shifts.push_back(feature->shift);
      group.scales.push_back(feature->scale);
    }
    if (!groups[g].sortBy.empty()) {
      const Array* key = chunk.find(groups[g].sortBy);
      if (key == nullptr) return core::fail(core::Errc::invalid_argument, fmt::format("missing input '{}'", groups[g].sortBy));
      group.sortKey = key->values.data();
    }
    group.descending = groups[g].sortDescending;
    group.length = lengths_[g];
    group.pad = static_cast<float>(groups[g].pad);
    longest = std::max(longest, group.length);
  }
  for (auto e : events)
    if (e >= chunk.entries) return core::fail(core::Errc::internal, fmt::format("event {} outside a chunk of {}", e, chunk.entries));

  const std::size_t first = out.rows;
  out.grow(events.size());
  std::vector<std::uint64_t> order(longest);  // object indices of one event, in output order
  std::vector<std::uint64_t> scratch;         // long sorted lists
  // The objects group g writes for event e (indices in order.data()); returns how many.
  auto objectsOf = [&](const GroupInputs& group, std::size_t e) -> std::size_t {
    const std::uint64_t begin = group.offsets[e], end = group.offsets[e + 1];
    return orderObjects(group, begin, end, std::min(static_cast<std::size_t>(end - begin), group.length), order.data(), scratch);
  };

  for (std::size_t r = 0; r < events.size(); ++r) {
    const std::size_t e = events[r];
    const std::size_t row = first + r;
    out.labels[row] = 0;
    out.weights[row] = 1;
    out.events[row] = {};
    switch (config.representation) {
      case Representation::vector: {
        const std::size_t width = tensorSpecs_[0].width();
        float* __restrict values = out.tensors[0].data() + row * width;
        std::uint8_t* __restrict mask = out.masks[0].data() + row * width;
        std::size_t k = 0;
        for (const auto& f : flat) {
          values[k] = static_cast<float>((f.array->values[e] - f.shift) * f.scale);
          mask[k++] = 1;
        }
        for (const auto& group : inputs) {
          if (group.sources.empty()) continue;
          const std::size_t n = objectsOf(group, e);
          const std::uint64_t* index = order.data();
          const std::size_t length = group.length;
          for (std::size_t m = 0; m < group.sources.size(); ++m) {
            const double* source = group.sources[m];
            const double shift = group.shifts[m], scale = group.scales[m];
            for (std::size_t s = 0; s < n; ++s) values[k + s] = static_cast<float>((source[index[s]] - shift) * scale);
            for (std::size_t s = n; s < length; ++s) values[k + s] = group.pad;
            for (std::size_t s = 0; s < length; ++s) mask[k + s] = s < n ? 1 : 0;
            k += length;
          }
        }
        break;
      }
      case Representation::groups: {
        std::size_t t = 0;
        if (!flat.empty()) {
          float* values = out.tensors[0].data() + row * flat.size();
          for (std::size_t k = 0; k < flat.size(); ++k) values[k] = static_cast<float>((flat[k].array->values[e] - flat[k].shift) * flat[k].scale);
          t = 1;
        }
        for (std::size_t g = 0; g < groups.size(); ++g, ++t) {
          const auto& group = inputs[g];
          const std::size_t length = group.length;
          const std::size_t nmembers = group.sources.size();
          float* __restrict values = out.tensors[t].data() + row * length * nmembers;
          std::uint8_t* __restrict mask = out.masks[g].data() + row * length;
          const std::size_t n = nmembers == 0 ? 0 : objectsOf(group, e);
          const std::uint64_t* index = order.data();
          for (std::size_t s = 0; s < n; ++s)
            for (std::size_t m = 0; m < nmembers; ++m)
              values[s * nmembers + m] = static_cast<float>((group.sources[m][index[s]] - group.shifts[m]) * group.scales[m]);
          for (std::size_t i = n * nmembers; i < length * nmembers; ++i) values[i] = group.pad;
          for (std::size_t s = 0; s < length; ++s) mask[s] = s < n ? 1 : 0;
        }
        break;
      }
      case Representation::image: {
        std::size_t t = 0;
        if (!flat.empty()) {
          float* values = out.tensors[0].data() + row * flat.size();
          for (std::size_t k = 0; k < flat.size(); ++k) values[k] = static_cast<float>((flat[k].array->values[e] - flat[k].shift) * flat[k].scale);
          t = 1;
        }
        const auto& image = config.image;
        const std::size_t cells = image.xBins * image.yBins;
        float* pixels = out.tensors[t].data() + row * cells * image.channels.size();
        std::fill(pixels, pixels + cells * image.channels.size(), 0.0F);
        for (std::size_t c = 0; c < image.channels.size(); ++c) {
          const auto& channel = image.channels[c];
          const Array* xs = chunk.find(channel.x);
          const Array* ys = chunk.find(channel.y);
          const Array* vs = channel.value.empty() ? nullptr : chunk.find(channel.value);
          if (xs == nullptr || ys == nullptr || (!channel.value.empty() && vs == nullptr))
            return core::fail(core::Errc::invalid_argument, fmt::format("missing input of image channel {}", c));
          const auto begin = (*xs->offsets)[e], end = (*xs->offsets)[e + 1];
          for (auto i = begin; i < end; ++i) {
            const double x = xs->values[i], y = ys->values[i];
            if (!(x >= image.xMin && x < image.xMax && y >= image.yMin && y < image.yMax)) continue;
            auto ix = static_cast<std::size_t>((x - image.xMin) / (image.xMax - image.xMin) * static_cast<double>(image.xBins));
            auto iy = static_cast<std::size_t>((y - image.yMin) / (image.yMax - image.yMin) * static_cast<double>(image.yBins));
            ix = std::min(ix, image.xBins - 1);
            iy = std::min(iy, image.yBins - 1);
            pixels[c * cells + ix * image.yBins + iy] += vs != nullptr ? static_cast<float>(vs->values[i]) : 1.0F;
          }
        }
        break;
      }
    }
  }
  out.rows = first + events.size();
  return {};
}

}  // namespace mlaas::data
