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
  for (const auto w : weights)
    if (!std::isfinite(w) || w < 0) bad(fmt::format("tensor set: event weight {} is not a non-negative number", w));
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
