#include "train/tensor_set.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/result.hpp"

namespace mlaas::train {

std::int64_t InputSpec::valuesPerEvent() const noexcept {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return shape.empty() ? 0 : n;
}

std::int64_t InputSpec::maskPerEvent() const noexcept {
  if (!masked || shape.empty()) return 0;
  return kind == InputKind::image ? 0 : shape.front();
}

void InputSpec::validate() const {
  const std::size_t rank = kind == InputKind::vector ? 1 : kind == InputKind::group ? 2 : 3;
  const char* kindName = kind == InputKind::vector ? "vector" : kind == InputKind::group ? "group" : "image";
  if (name.empty()) throw core::Exception(core::Errc::invalid_argument, "input: empty name");
  if (shape.size() != rank)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("input '{}': a {} input has {} per-event dimensions, got {}", name, kindName,
                                      rank, shape.size()));
  for (const auto d : shape)
    if (d <= 0 || d > (1 << 20))
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("input '{}': dimension {} out of range (1..1048576)", name, d));
  if (kind == InputKind::image && masked)
    throw core::Exception(core::Errc::invalid_argument, fmt::format("input '{}': image inputs have no mask", name));
  if (valuesPerEvent() > (std::int64_t{1} << 24))
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("input '{}': {} values per event is too many", name, valuesPerEvent()));
}

TensorSet TensorSet::emptyLike() const {
  TensorSet out;
  out.inputs = inputs;
  out.values.resize(inputs.size());
  out.masks.resize(inputs.size());
  out.labelWidth = labelWidth;
  return out;
}

namespace {
template <class T>
void appendSlice(std::vector<T>& dest, const std::vector<T>& src, std::int64_t perEvent, std::int64_t begin,
                 std::int64_t end) {
  dest.insert(dest.end(), src.begin() + begin * perEvent, src.begin() + end * perEvent);
}
}  // namespace

void TensorSet::appendRange(const TensorSet& other, std::int64_t begin, std::int64_t end) {
  if (values.size() != other.values.size()) {
    values.resize(other.values.size());
    masks.resize(other.masks.size());
    if (inputs.empty()) inputs = other.inputs;
  }
  for (std::size_t i = 0; i < other.inputs.size(); ++i) {
    appendSlice(values[i], other.values[i], other.inputs[i].valuesPerEvent(), begin, end);
    if (!other.masks[i].empty()) appendSlice(masks[i], other.masks[i], other.inputs[i].maskPerEvent(), begin, end);
  }
  appendSlice(labels, other.labels, other.labelWidth, begin, end);
  if (!other.weights.empty()) {
    if (weights.empty() && events > 0) weights.assign(static_cast<std::size_t>(events), 1.0F);
    appendSlice(weights, other.weights, 1, begin, end);
  } else if (!weights.empty()) {
    weights.insert(weights.end(), static_cast<std::size_t>(end - begin), 1.0F);
  }
  events += end - begin;
}

void TensorSet::appendEvents(const TensorSet& other, std::span<const std::int64_t> indices) {
  // Runs of consecutive indices are copied as one slice: batches of a sorted split stay cheap.
  std::size_t i = 0;
  while (i < indices.size()) {
    std::size_t j = i + 1;
    while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
    appendRange(other, indices[i], indices[j - 1] + 1);
    i = j;
  }
}

void TensorSet::validate() const {
  auto bad = [](const std::string& what) { throw core::Exception(core::Errc::invalid_argument, what); };
  if (events < 0) bad("tensor set: negative event count");
  if (values.size() != inputs.size() || masks.size() != inputs.size())
    bad(fmt::format("tensor set: {} inputs but {} value arrays and {} mask arrays", inputs.size(), values.size(),
                    masks.size()));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& spec = inputs[i];
    spec.validate();
    const auto expected = static_cast<std::size_t>(events * spec.valuesPerEvent());
    if (values[i].size() != expected)
      bad(fmt::format("input '{}': {} values for {} events of {} values", spec.name, values[i].size(), events,
                      spec.valuesPerEvent()));
    const auto expectedMask = static_cast<std::size_t>(events * spec.maskPerEvent());
    if (masks[i].size() != expectedMask && !(spec.masked && masks[i].empty() && events == 0))
      bad(fmt::format("input '{}': {} mask bytes for {} events of {}", spec.name, masks[i].size(), events,
                      spec.maskPerEvent()));
  }
  if (labelWidth <= 0) bad("tensor set: label width must be positive");
  if (labels.size() != static_cast<std::size_t>(events * labelWidth))
    bad(fmt::format("tensor set: {} labels for {} events of width {}", labels.size(), events, labelWidth));
  if (!weights.empty() && weights.size() != static_cast<std::size_t>(events))
    bad(fmt::format("tensor set: {} weights for {} events", weights.size(), events));
}

namespace {

/// Non-finite values of one feature (or the labels, or the weights) in one set.
struct NonFinite {
  std::int64_t values = 0;
  std::int64_t events = 0;
  std::int64_t firstEvent = -1;
  std::int64_t lastEvent = -1;  ///< counts each event once

  void add(std::int64_t event) {
    ++values;
    if (event != lastEvent) ++events, lastEvent = event;
    if (firstEvent < 0) firstEvent = event;
  }
};

std::string featureLabel(const InputSpec& spec, std::int64_t feature) {
  const auto index = static_cast<std::size_t>(feature);
  switch (spec.kind) {
    case InputKind::vector:
      if (index < spec.featureNames.size()) return fmt::format("feature '{}'", spec.featureNames[index]);
      return fmt::format("input '{}' feature {}", spec.name, feature);
    case InputKind::group:
      if (index < spec.featureNames.size())
        return fmt::format("'{}' of the objects of group '{}'", spec.featureNames[index], spec.name);
      return fmt::format("input '{}' member {}", spec.name, feature);
    case InputKind::image: return fmt::format("input '{}' channel {}", spec.name, feature);
  }
  return spec.name;
}

}  // namespace

void checkFinite(std::span<const FiniteCheck> sets, const FiniteNames& names) {
  // One row per feature, label or weight that has any: what, then per split its counts.
  struct Row {
    std::string what;
    std::vector<std::pair<std::size_t, NonFinite>> splits;
  };
  std::vector<Row> rows;
  auto rowFor = [&](const std::string& what) -> Row& {
    for (auto& row : rows)
      if (row.what == what) return row;
    return rows.emplace_back(Row{what, {}});
  };
  bool features = false;
  for (std::size_t s = 0; s < sets.size(); ++s) {
    const TensorSet& set = *sets[s].set;
    auto record = [&](const std::string& what, const NonFinite& found) {
      if (found.values > 0) rowFor(what).splits.emplace_back(s, found);
    };
    for (std::size_t i = 0; i < set.inputs.size(); ++i) {
      const auto& spec = set.inputs[i];
      const auto per = spec.valuesPerEvent();
      // vector: feature = value; group: feature = member, masked per object; image: per channel.
      const std::int64_t featureCount = spec.kind == InputKind::vector  ? per
                                        : spec.kind == InputKind::group ? spec.shape[1]
                                                                        : spec.shape[0];
      std::vector<NonFinite> found(static_cast<std::size_t>(featureCount));
      const auto& values = set.values[i];
      const auto& mask = set.masks[i];
      const bool masked = spec.masked && !mask.empty();
      for (std::int64_t e = 0; e < set.events; ++e) {
        const float* row = values.data() + e * per;
        for (std::int64_t j = 0; j < per; ++j) {
          if (std::isfinite(row[j])) continue;
          std::int64_t feature = j;
          bool present = true;
          if (spec.kind == InputKind::vector) {
            present = !masked || mask[static_cast<std::size_t>(e * per + j)] != 0;
          } else if (spec.kind == InputKind::group) {
            feature = j % spec.shape[1];
            present = !masked || mask[static_cast<std::size_t>(e * spec.shape[0] + j / spec.shape[1])] != 0;
          } else {
            feature = j / (spec.shape[1] * spec.shape[2]);
          }
          if (present) found[static_cast<std::size_t>(feature)].add(e);
        }
      }
      for (std::int64_t f = 0; f < featureCount; ++f) {
        features = features || found[static_cast<std::size_t>(f)].values > 0;
        record(featureLabel(spec, f), found[static_cast<std::size_t>(f)]);
      }
    }
    NonFinite labels;
    for (std::size_t k = 0; k < set.labels.size(); ++k)
      if (!std::isfinite(set.labels[k])) labels.add(static_cast<std::int64_t>(k) / set.labelWidth);
    record(names.label, labels);
    NonFinite weights;
    for (std::size_t e = 0; e < set.weights.size(); ++e)
      if (!std::isfinite(set.weights[e])) weights.add(static_cast<std::int64_t>(e));
    record(names.weight, weights);
  }
  if (rows.empty()) return;

  std::string message = names.source.empty() ? std::string() : names.source + ": ";
  message += fmt::format("{} {} NaN or infinite where the network would use {}:",
                         rows.size() == 1 ? rows.front().what : fmt::format("{} values", rows.size()),
                         rows.size() == 1 ? "is" : "are", rows.size() == 1 ? "it" : "them");
  constexpr std::size_t kListed = 12;  // a group of many members would otherwise flood the terminal
  for (std::size_t r = 0; r < rows.size() && r < kListed; ++r) {
    message += fmt::format("\n  {}: ", rows[r].what);
    for (std::size_t k = 0; k < rows[r].splits.size(); ++k) {
      const auto& [s, found] = rows[r].splits[k];
      const auto& check = sets[s];
      message += fmt::format("{}{} value{} in {} of {} events of the {} split", k == 0 ? "" : "; ", found.values,
                             found.values == 1 ? "" : "s", found.events, check.set->events, check.split);
      if (check.locate) message += fmt::format(" (e.g. {})", check.locate(found.firstEvent));
    }
  }
  if (rows.size() > kListed) message += fmt::format("\n  ... and {} more", rows.size() - kListed);
  const bool others = std::any_of(rows.begin(), rows.end(),
                                  [&](const Row& row) { return row.what == names.label || row.what == names.weight; });
  if (features)
    message +=
        "\nA feature must be a number wherever it is present. Give it a value where it is undefined "
        "(variables: {lead_pt: \"where(nJet > 0, Jet_pt[0], 0)\"}), keep only the events that have it "
        "(selection: nJet > 0), or guard a division (where(y != 0, x / y, 0)); the objects of a group "
        "are masked instead, so its padding may be NaN (docs/training.md#non-finite-values)";
  if (others) message += "\nLabels and event weights must be finite numbers (docs/training.md#non-finite-values)";
  throw core::Exception(core::Errc::invalid_argument, message);
}

std::vector<std::int64_t> seededPermutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

SplitSets splitTrainValidation(const TensorSet& all, double fraction, std::uint64_t seed) {
  all.validate();
  auto order = seededPermutation(all.events, seed ^ 0x5eedF00dULL);
  auto validationEvents = static_cast<std::int64_t>(std::llround(static_cast<double>(all.events) * fraction));
  validationEvents =
      std::clamp<std::int64_t>(validationEvents, all.events > 1 ? 1 : 0, all.events > 1 ? all.events - 1 : 0);
  const auto split = order.begin() + (all.events - validationEvents);
  // Sorted halves keep the original event order inside each set (and make copies contiguous).
  std::sort(order.begin(), split);
  std::sort(split, order.end());
  SplitSets out{all.emptyLike(), all.emptyLike()};
  out.train.appendEvents(all, std::span(order.data(), static_cast<std::size_t>(all.events - validationEvents)));
  out.validation.appendEvents(all, std::span(order.data() + (all.events - validationEvents),
                                             static_cast<std::size_t>(validationEvents)));
  return out;
}

}  // namespace mlaas::train
