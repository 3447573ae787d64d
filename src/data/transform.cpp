#include "data/transform.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mlaas::data {
namespace {

// A stable sort for the few objects of one event: insertion sort allocates nothing (std::stable_sort
// takes a temporary buffer from the heap on every call); long lists still go to std::stable_sort.
template <class Less>
void stableSortSmall(std::vector<std::uint64_t>& items, Less less) {
  if (items.size() > 32) {
    std::stable_sort(items.begin(), items.end(), less);
    return;
  }
  for (std::size_t i = 1; i < items.size(); ++i) {
    const std::uint64_t item = items[i];
    std::size_t j = i;
    for (; j > 0 && less(item, items[j - 1]); --j) items[j] = items[j - 1];
    items[j] = item;
  }
}

}  // namespace

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
  std::vector<std::vector<Feature>> members(groups.size());
  std::vector<const Array*> sortKeys(groups.size(), nullptr);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (const auto& name : groups[g].members) {
      auto feature = lookup(name);
      if (!feature) return core::fail(std::move(feature).error());
      members[g].push_back(*feature);
    }
    if (!groups[g].sortBy.empty()) {
      sortKeys[g] = chunk.find(groups[g].sortBy);
      if (sortKeys[g] == nullptr) return core::fail(core::Errc::invalid_argument, fmt::format("missing input '{}'", groups[g].sortBy));
    }
  }
  for (auto e : events)
    if (e >= chunk.entries) return core::fail(core::Errc::internal, fmt::format("event {} outside a chunk of {}", e, chunk.entries));

  const std::size_t first = out.rows;
  out.grow(events.size());
  std::vector<std::uint64_t> order;  // object indices of one event, in output order
  auto objectsOf = [&](std::size_t g, std::size_t e) {
    const Array& list = *members[g].front().array;
    const auto begin = (*list.offsets)[e], end = (*list.offsets)[e + 1];
    // Only the first `length` objects are written: without a sort, only they need an index.
    const auto stored = static_cast<std::size_t>(end - begin);
    order.resize(sortKeys[g] != nullptr ? stored : std::min(stored, lengths_[g]));
    std::iota(order.begin(), order.end(), begin);
    if (sortKeys[g] != nullptr) {
      const auto& key = sortKeys[g]->values;
      // Stable, and NaN keys last whatever the direction.
      if (groups[g].sortDescending)
        stableSortSmall(order, [&](auto a, auto b) { return key[a] > key[b] || (!std::isnan(key[a]) && std::isnan(key[b])); });
      else
        stableSortSmall(order, [&](auto a, auto b) { return key[a] < key[b] || (!std::isnan(key[a]) && std::isnan(key[b])); });
    }
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
        float* values = out.tensors[0].data() + row * width;
        std::uint8_t* mask = out.masks[0].data() + row * width;
        std::size_t k = 0;
        for (const auto& f : flat) {
          values[k] = static_cast<float>((f.array->values[e] - f.shift) * f.scale);
          mask[k++] = 1;
        }
        for (std::size_t g = 0; g < groups.size(); ++g) {
          if (members[g].empty()) continue;
          objectsOf(g, e);
          const std::size_t length = lengths_[g];
          const std::size_t n = std::min(order.size(), length);
          const auto pad = static_cast<float>(groups[g].pad);
          for (const auto& f : members[g]) {
            const double* source = f.array->values.data();
            for (std::size_t s = 0; s < n; ++s) {
              values[k + s] = static_cast<float>((source[order[s]] - f.shift) * f.scale);
              mask[k + s] = 1;
            }
            std::fill(values + k + n, values + k + length, pad);
            std::fill(mask + k + n, mask + k + length, std::uint8_t{0});
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
          const std::size_t length = lengths_[g];
          const std::size_t nmembers = members[g].size();
          float* values = out.tensors[t].data() + row * length * nmembers;
          std::uint8_t* mask = out.masks[g].data() + row * length;
          objectsOf(g, e);
          const std::size_t n = std::min(order.size(), length);
          for (std::size_t s = 0; s < n; ++s) {
            for (std::size_t m = 0; m < nmembers; ++m) {
              const auto& f = members[g][m];
              values[s * nmembers + m] = static_cast<float>((f.array->values[order[s]] - f.shift) * f.scale);
            }
            mask[s] = 1;
          }
          std::fill(values + n * nmembers, values + length * nmembers, static_cast<float>(groups[g].pad));
          std::fill(mask + n, mask + length, std::uint8_t{0});
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
