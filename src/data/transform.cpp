#include "data/transform.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
        throw core::Exception(
            core::Errc::invalid_argument,
            fmt::format("the specs have no statistics for feature '{}' (normalization '{}')", feature, toString(mode)));
      const auto& stats = it->second;
      if (specs.compat && mode != Normalization::minmax)
        throw core::Exception(core::Errc::invalid_argument,
                              fmt::format("MLaaS4HEP specs only have min/max: feature '{}' asks for '{}' normalization",
                                          feature, toString(mode)));
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

std::vector<Transform::MaskSlot> Transform::maskSlots() const {
  std::vector<MaskSlot> slots;
  const auto& groups = plan_->groups();
  switch (plan_->config().representation) {
    case Representation::vector:
      for (std::size_t k = 0; k < plan_->flatFeatures().size(); ++k) slots.push_back({kAlwaysReal, 0});
      for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t m = 0; m < groups[g].members.size(); ++m)
          for (std::size_t s = 0; s < lengths_[g]; ++s) slots.push_back({g, s});
      break;
    case Representation::groups:
      for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t s = 0; s < lengths_[g]; ++s) slots.push_back({g, s});
      break;
    case Representation::image:
      break;
  }
  return slots;
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
  std::uint64_t objects = 0;           ///< values per member in the chunk
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

// The indices of the first `n` objects of one event in the order of a stable sort by the group's
// key (it has one), written to `out` (room for n). Only the first n are kept, so a bounded
// insertion into n slots is enough (a later object never passes an equal earlier one, as in a
// stable sort); `scratch` serves long lists. The stored order is orderBlock's own loop.
inline void orderObjects(const GroupInputs& group, std::uint64_t begin, std::uint64_t end, std::size_t n,
                         std::uint64_t* out, std::vector<std::uint64_t>& scratch) {
  if (n == 0) return;
  const double* key = group.sortKey;
  const bool descending = group.descending;
  if (n > kInsertionKeep) {
    scratch.resize(static_cast<std::size_t>(end - begin));
    for (std::size_t i = 0; i < scratch.size(); ++i) scratch[i] = begin + i;
    std::stable_sort(scratch.begin(), scratch.end(),
                     [&](std::uint64_t a, std::uint64_t b) { return keyBefore(key[a], key[b], descending); });
    std::copy_n(scratch.begin(), n, out);
    return;
  }
  std::size_t kept = 0;
  for (std::uint64_t i = begin; i < end; ++i) {
    const double k = key[i];
    if (kept == n && !keyBefore(k, key[out[n - 1]], descending)) continue;
    std::size_t p = kept < n ? kept++ : n - 1;
    for (; p > 0 && keyBefore(k, key[out[p - 1]], descending); --p) out[p] = out[p - 1];
    out[p] = i;
  }
}

// Lists of at most this many objects are checked for being in order already without a branch per
// object (a fixed number of comparisons).
constexpr std::size_t kShortList = 9;

// Whether a list of 1..kShortList objects is already in order, so that it is its own stable
// sort: NanoAOD stores its objects by decreasing pt. Always kShortList - 1 comparisons, the pairs
// past the list's end clamped to its last object (compared with itself), so the loop does not
// branch on the list's length, which is as random as the data. Any comparison with a NaN is
// false: a list holding one answers no, and the bounded insertion orders it.
inline bool shortListInOrder(const double* key, std::size_t objects, bool descending) noexcept {
  const std::size_t last = objects - 1;
  bool inOrder = true;
  if (descending)
    for (std::size_t i = 1; i < kShortList; ++i) inOrder &= key[std::min(i, last)] <= key[std::min(i - 1, last)];
  else
    for (std::size_t i = 1; i < kShortList; ++i) inOrder &= key[std::min(i, last)] >= key[std::min(i - 1, last)];
  return inOrder;
}

// Rows transformed at a time: every output column is written by one loop over a block's rows,
// and a block's rows (128 rows of 48 floats on the 1M-event file: 24 KiB) stay in L1 while the
// columns are written one after another.
constexpr std::size_t kBlockRows = 128;

// Read in place of a padded slot's value when a chunk has no object at all: the padded slots'
// values are computed and then discarded (selects, not branches), so they must be readable.
constexpr double kNoValue = 0;

// One column of rows: y = (x - shift) * scale as float for real values, `pad` for padded slots;
// the mask (if any) 1 for real values. index[r * indexStride] is row r's object (any readable
// index for padded rows), real when slot < counts[r]. Selects instead of branches: whether a row
// has a k-th jet is as random as the data.
inline void writeColumn(const double* __restrict source, double shift, double scale, float pad,
                        const std::uint64_t* __restrict index, std::size_t indexStride,
                        const std::uint32_t* __restrict counts, std::uint32_t slot, std::size_t rows,
                        float* __restrict out, std::size_t outStride, std::uint8_t* __restrict mask,
                        std::size_t maskStride) {
  // The select on the bits: with `real ? value : pad` GCC branches, and mispredicts.
  const auto padBits = std::bit_cast<std::uint32_t>(pad);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint32_t real = 0U - static_cast<std::uint32_t>(slot < counts[r]);  // all ones or zero
    const auto value =
        std::bit_cast<std::uint32_t>(static_cast<float>((source[index[r * indexStride]] - shift) * scale));
    out[r * outStride] = std::bit_cast<float>((value & real) | (padBits & ~real));
    if (mask != nullptr) mask[r * maskStride] = static_cast<std::uint8_t>(real & 1U);
  }
}

// firsts[r] for a row whose objects are written from index[r * length ..]: its slots' objects are
// not the consecutive objects first, first + 1, ...
constexpr std::uint64_t kIndexed = ~std::uint64_t{0};

// Writes one group's slots of a block's rows (the vector layout) for all its members: row r's
// slot s from object firsts[r] + s, or from index[r * length + s] where firsts[r] is kIndexed.
using GroupRowsKernel = void (*)(const GroupInputs&, const std::uint64_t*, const std::uint64_t*, const std::uint32_t*,
                                 std::size_t, float*, std::size_t, std::uint8_t*, std::size_t);

#if defined(__x86_64__)
__attribute__((target("avx2"))) inline __m128d load2(const double* source, const std::uint64_t* at) {
  return _mm_loadh_pd(_mm_load_sd(source + at[0]), source + at[1]);
}

// One row's L slots of every member: from consecutive objects first.. (kConsecutive: whole
// vectors loaded at once; the padded slots' objects are read and then replaced by the pad), or
// from the row's L indices `at`.
template <std::size_t L, bool kConsecutive>
__attribute__((target("avx2"))) inline void writeRowAvx2(const GroupInputs& group, const std::uint64_t* at,
                                                         std::uint64_t first, std::uint32_t count, const __m128* real,
                                                         float* rowOut, std::uint8_t* rowMask,
                                                         const std::uint8_t* maskBytes) {
  const std::size_t nmembers = group.sources.size();
  const __m128 pad4 = _mm_set1_ps(group.pad);
  const auto padBits = std::bit_cast<std::uint32_t>(group.pad);
  for (std::size_t m = 0; m < nmembers; ++m, rowOut += L) {
    const double* source = group.sources[m];
    const double shift = group.shifts[m], scale = group.scales[m];
    std::size_t s = 0;
    for (; s + 4 <= L; s += 4) {
      const __m256d x = kConsecutive ? _mm256_loadu_pd(source + first + s)
                                     : _mm256_set_m128d(load2(source, at + s + 2), load2(source, at + s));
      const __m128 y = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(x, _mm256_set1_pd(shift)), _mm256_set1_pd(scale)));
      _mm_storeu_ps(rowOut + s, _mm_blendv_ps(pad4, y, real[s / 4]));
    }
    if constexpr (L % 4 >= 2) {
      const __m128d x = kConsecutive ? _mm_loadu_pd(source + first + s) : load2(source, at + s);
      const __m128 y =
          _mm_cvtpd_ps(_mm_mul_pd(_mm_sub_pd(x, _mm_set1_pd(shift)), _mm_set1_pd(scale)));  // upper half zero
      _mm_storel_pi(reinterpret_cast<__m64*>(rowOut + s), _mm_blendv_ps(pad4, y, real[s / 4]));
      s += 2;
    }
    if constexpr (L % 2 == 1) {
      const std::uint32_t isReal = 0U - static_cast<std::uint32_t>(s < count);
      const double x = kConsecutive ? source[first + s] : source[at[s]];
      const auto value = std::bit_cast<std::uint32_t>(static_cast<float>((x - shift) * scale));
      rowOut[s] = std::bit_cast<float>((value & isReal) | (padBits & ~isReal));
    }
    if (rowMask != nullptr) {
      std::memcpy(rowMask, maskBytes, L);
      rowMask += L;
    }
  }
}

// The vector layout's slots of one group, row by row, for a group of L slots (L <= 8): a row's
// members each write L consecutive floats and mask bytes, from the same L objects, so the
// indices, the real-slot selects and the mask bytes are made once per row for all members. The
// same double operations as writeColumn (subtract, multiply; the target has no FMA) and the same
// rounding (cvtpd2ps, as static_cast<float>), the pad chosen on the bits: the same bytes.
template <std::size_t L>
__attribute__((target("avx2"))) void writeGroupRowsAvx2(const GroupInputs& group, const std::uint64_t* firsts,
                                                        const std::uint64_t* index, const std::uint32_t* counts,
                                                        std::size_t rows, float* out, std::size_t outStride,
                                                        std::uint8_t* mask, std::size_t maskStride) {
  static_assert(L >= 1 && L <= 8);
  constexpr std::size_t kQuads = (L + 3) / 4;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint32_t count = counts[r];
    __m128 real[kQuads];
    for (std::size_t q = 0; q < kQuads; ++q)
      real[q] = _mm_castsi128_ps(
          _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(count)),
                          _mm_add_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int>(4 * q)))));
    // Byte s is 1 for s < count, made only when masks are written (the pipeline stores counts
    // instead): as a loop, GCC compared and shifted in each byte, ~35 instructions a row.
    std::uint64_t maskBits = 0;  // little-endian: byte s is bits 8s..8s+7
    std::uint8_t* rowMask = nullptr;
    if (mask != nullptr) {
      constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
      const std::uint32_t realSlots = std::min<std::uint32_t>(count, 8);
      maskBits = realSlots == 8 ? kOnes : kOnes & ((std::uint64_t{1} << (8 * realSlots)) - 1);
      rowMask = mask + r * maskStride;
    }
    std::uint8_t maskBytes[8];
    std::memcpy(maskBytes, &maskBits, sizeof maskBits);
    float* rowOut = out + r * outStride;
    if (firsts[r] != kIndexed)
      writeRowAvx2<L, true>(group, nullptr, firsts[r], count, real, rowOut, rowMask, maskBytes);
    else
      writeRowAvx2<L, false>(group, index + r * L, 0, count, real, rowOut, rowMask, maskBytes);
  }
}

// The AVX2 kernel for a group of `length` slots, or null: no AVX2 on this CPU, or a length it
// does not serve (the portable code writes those). Checked once, like the reader's avx2SwapCopy.
GroupRowsKernel groupRowsKernel(std::size_t length) {
  static const bool haveAvx2 = __builtin_cpu_supports("avx2") != 0;
  if (!haveAvx2) return nullptr;
  switch (length) {
    case 1: return &writeGroupRowsAvx2<1>;
    case 2: return &writeGroupRowsAvx2<2>;
    case 3: return &writeGroupRowsAvx2<3>;
    case 4: return &writeGroupRowsAvx2<4>;
    case 5: return &writeGroupRowsAvx2<5>;
    case 6: return &writeGroupRowsAvx2<6>;
    case 7: return &writeGroupRowsAvx2<7>;
    case 8: return &writeGroupRowsAvx2<8>;
    default: return nullptr;
  }
}
#else
GroupRowsKernel groupRowsKernel(std::size_t) { return nullptr; }
#endif

}  // namespace

RowTarget rowTarget(Batch& batch, std::size_t firstRow) {
  RowTarget target;
  for (std::size_t i = 0; i < batch.tensors.size(); ++i) {
    const std::size_t width = batch.tensorSpecs[i].width();
    target.tensors.push_back(batch.tensors[i].data() + firstRow * width);
    target.tensorStrides.push_back(width);
  }
  for (std::size_t i = 0; i < batch.masks.size(); ++i) {
    const std::size_t width = batch.maskSpecs[i].width();
    target.masks.push_back(batch.masks[i].data() + firstRow * width);
    target.maskStrides.push_back(width);
  }
  return target;
}

core::Result<void> Transform::apply(const Chunk& chunk, std::span<const std::uint32_t> events, Batch& out) const {
  const std::size_t first = out.rows;
  out.grow(events.size());
  MLAAS_TRY(apply(chunk, events, rowTarget(out, first)));
  for (std::size_t r = 0; r < events.size(); ++r) {
    out.labels[first + r] = 0;
    out.weights[first + r] = 1;
    out.events[first + r] = {};
  }
  out.rows = first + events.size();
  return {};
}

bool Transform::vectorKernelAvailable() noexcept { return groupRowsKernel(2) != nullptr; }

core::Result<void> Transform::apply(const Chunk& chunk, std::span<const std::uint32_t> events,
                                    const RowTarget& target) const {
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
    std::size_t objects = 0;  // values per member in the chunk (the first member's)
    for (const auto& name : groups[g].members) {
      auto feature = lookup(name);
      if (!feature) return core::fail(std::move(feature).error());
      if (!feature->array->isJagged() || feature->array->offsets->size() != chunk.entries + 1)
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("input '{}' is not a list of the chunk's {} events", name, chunk.entries));
      if (group.sources.empty()) {
        group.offsets = feature->array->offsets->data();
        objects = feature->array->values.size();
        group.objects = objects;
      } else if (feature->array->values.size() != objects) {
        // The members are read through the first one's offsets: a shorter one would be read past its end.
        return core::fail(
            core::Errc::invalid_argument,
            fmt::format("input '{}' has {} objects in the chunk, '{}' {}: a group's members must share one list", name,
                        feature->array->values.size(), groups[g].members.front(), objects));
      }
      group.sources.push_back(feature->array->values.empty() ? &kNoValue : feature->array->values.data());
      group.shifts.push_back(feature->shift);
      group.scales.push_back(feature->scale);
    }
    if (!groups[g].sortBy.empty()) {
      const Array* key = chunk.find(groups[g].sortBy);
      if (key == nullptr)
        return core::fail(core::Errc::invalid_argument, fmt::format("missing input '{}'", groups[g].sortBy));
      if (!group.sources.empty() && key->values.size() != objects)
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("sort key '{}' has {} objects in the chunk, the group {}", groups[g].sortBy,
                                      key->values.size(), objects));
      group.sortKey = key->values.data();
    }
    group.descending = groups[g].sortDescending;
    group.length = lengths_[g];
    group.pad = static_cast<float>(groups[g].pad);
    longest = std::max(longest, group.length);
  }
  for (auto e : events)
    if (e >= chunk.entries)
      return core::fail(core::Errc::internal, fmt::format("event {} outside a chunk of {}", e, chunk.entries));
  if (longest > std::numeric_limits<std::uint32_t>::max())
    return core::fail(core::Errc::invalid_argument, fmt::format("a group length of {} is too large", longest));
  if (target.counts != nullptr && (longest > 255 || config.representation == Representation::image))
    return core::fail(core::Errc::internal,
                      "per-group counts are only written for groups of at most 255 slots, not for images");

  // Per block and group: the objects each row writes (index[r * length + s], in output order;
  // object 0 of the chunk, always readable, in its padded slots) and how many (counts[r]). Where
  // `consecutive` (the AVX2 kernel writes the group), a row whose objects are its first ones in
  // stored order, with `length` objects readable from there, gets firsts[r] = its first object
  // instead of an index (kIndexed otherwise).
  std::vector<std::uint64_t> index(kBlockRows * longest);
  std::vector<std::uint64_t> firsts(kBlockRows);
  std::vector<std::uint32_t> counts(kBlockRows);
  std::vector<std::uint64_t> scratch;  // long sorted lists
  auto orderBlock = [&](const GroupInputs& group, const std::uint32_t* rowEvents, std::size_t rows, bool consecutive) {
    const std::size_t length = group.length;
    // A row's consecutive objects from begin are readable when begin + length <= objects.
    const std::uint64_t lastFirst = consecutive && group.objects >= length ? group.objects - length : kIndexed;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::size_t e = rowEvents[r];
      const std::uint64_t begin = group.offsets[e], end = group.offsets[e + 1];
      const auto objects = static_cast<std::size_t>(end - begin);
      const std::size_t n = std::min(objects, length);
      std::uint64_t* out = index.data() + r * length;
      // Stored order, or a short list already sorted: the first n objects, padded slots on object
      // 0, in one loop of `length` selects (the same trip count every row).
      if (group.sortKey == nullptr || objects == 0 ||
          (objects <= kShortList && shortListInOrder(group.sortKey + begin, objects, group.descending))) {
        counts[r] = static_cast<std::uint32_t>(n);
        if (lastFirst != kIndexed && begin <= lastFirst) {
          firsts[r] = begin;
          continue;
        }
        firsts[r] = kIndexed;
        // A mask, not `s < n ? begin + s : 0`: GCC splits that into a copy loop and a memset call.
        for (std::size_t s = 0; s < length; ++s) out[s] = (begin + s) & (0 - static_cast<std::uint64_t>(s < n));
        continue;
      }
      firsts[r] = kIndexed;
      orderObjects(group, begin, end, n, out, scratch);
      for (std::size_t s = 0; s < length; ++s)
        out[s] &= 0 - static_cast<std::uint64_t>(s < n);  // padded slots on object 0
      counts[r] = static_cast<std::uint32_t>(n);
    }
  };
  // A block's rows' counts of group g (0 for a group without members).
  auto writeCounts = [&](std::size_t firstRow, std::size_t rows, std::size_t g, bool none) {
    if (target.counts == nullptr) return;
    std::uint8_t* at = target.counts + firstRow * target.countsStride + g;
    for (std::size_t r = 0; r < rows; ++r)
      at[r * target.countsStride] = none ? 0 : static_cast<std::uint8_t>(counts[r]);
  };
  // The flat features into the first columns of tensor t, rows firstRow.. (and into `mask`, the
  // block's first mask row, when the layout has one).
  auto writeFlat = [&](const std::uint32_t* rowEvents, std::size_t rows, std::size_t firstRow, std::size_t t,
                       std::uint8_t* mask, std::size_t maskStride) {
    const std::size_t stride = target.tensorStrides[t];
    float* __restrict values = target.tensors[t] + firstRow * stride;
    for (std::size_t k = 0; k < flat.size(); ++k) {
      const double* __restrict source = flat[k].array->values.data();
      const double shift = flat[k].shift, scale = flat[k].scale;
      for (std::size_t r = 0; r < rows; ++r)
        values[r * stride + k] = static_cast<float>((source[rowEvents[r]] - shift) * scale);
      if (mask != nullptr)
        for (std::size_t r = 0; r < rows; ++r) mask[r * maskStride + k] = 1;
    }
  };

  const std::size_t nrows = events.size();
  switch (config.representation) {
    case Representation::vector: {
      const std::size_t stride = target.tensorStrides[0];
      const bool masked = !target.masks.empty();
      const std::size_t maskStride = masked ? target.maskStrides[0] : 0;
      for (std::size_t b = 0; b < nrows; b += kBlockRows) {
        const std::size_t rows = std::min(kBlockRows, nrows - b);
        const std::uint32_t* rowEvents = events.data() + b;
        float* values = target.tensors[0] + b * stride;
        std::uint8_t* mask = masked ? target.masks[0] + b * maskStride : nullptr;
        auto maskAt = [&](std::size_t k) { return masked ? mask + k : nullptr; };
        writeFlat(rowEvents, rows, b, 0, mask, maskStride);
        std::size_t k = flat.size();
        for (std::size_t g = 0; g < inputs.size(); ++g) {
          const auto& group = inputs[g];
          if (group.sources.empty()) {
            writeCounts(b, rows, g, true);
            continue;
          }
          const std::size_t length = group.length;
          const GroupRowsKernel kernel = portable_ ? nullptr : groupRowsKernel(length);
          orderBlock(group, rowEvents, rows, kernel != nullptr);
          writeCounts(b, rows, g, false);
          if (kernel != nullptr) {
            kernel(group, firsts.data(), index.data(), counts.data(), rows, values + k, stride, maskAt(k), maskStride);
            k += length * group.sources.size();
            continue;
          }
          for (std::size_t m = 0; m < group.sources.size(); ++m, k += length)
            for (std::size_t s = 0; s < length; ++s)
              writeColumn(group.sources[m], group.shifts[m], group.scales[m], group.pad, index.data() + s, length,
                          counts.data(), static_cast<std::uint32_t>(s), rows, values + k + s, stride, maskAt(k + s),
                          maskStride);
        }
      }
      break;
    }
    case Representation::groups: {
      const std::size_t t0 = flat.empty() ? 0 : 1;
      for (std::size_t b = 0; b < nrows; b += kBlockRows) {
        const std::size_t rows = std::min(kBlockRows, nrows - b);
        const std::uint32_t* rowEvents = events.data() + b;
        if (!flat.empty()) writeFlat(rowEvents, rows, b, 0, nullptr, 0);
        for (std::size_t g = 0; g < groups.size(); ++g) {
          const auto& group = inputs[g];
          const std::size_t length = group.length, nmembers = group.sources.size();
          const bool masked = !target.masks.empty();
          const std::size_t stride = target.tensorStrides[t0 + g], maskStride = masked ? target.maskStrides[g] : 0;
          float* values = target.tensors[t0 + g] + b * stride;
          std::uint8_t* mask = masked ? target.masks[g] + b * maskStride : nullptr;
          if (nmembers == 0) {
            if (masked)
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t s = 0; s < length; ++s) mask[r * maskStride + s] = 0;
            writeCounts(b, rows, g, true);
            continue;
          }
          orderBlock(group, rowEvents, rows, false);
          writeCounts(b, rows, g, false);
          for (std::size_t s = 0; s < length; ++s)
            for (std::size_t m = 0; m < nmembers; ++m)
              writeColumn(group.sources[m], group.shifts[m], group.scales[m], group.pad, index.data() + s, length,
                          counts.data(), static_cast<std::uint32_t>(s), rows, values + s * nmembers + m, stride,
                          masked && m == 0 ? mask + s : nullptr, maskStride);
        }
      }
      break;
    }
    case Representation::image: {
      const auto& image = config.image;
      const std::size_t cells = image.xBins * image.yBins;
      struct Channel {
        const Array *xs, *ys, *vs;
      };
      std::vector<Channel> channels;
      for (std::size_t c = 0; c < image.channels.size(); ++c) {
        const auto& channel = image.channels[c];
        Channel resolved{chunk.find(channel.x), chunk.find(channel.y),
                         channel.value.empty() ? nullptr : chunk.find(channel.value)};
        if (resolved.xs == nullptr || resolved.ys == nullptr || (!channel.value.empty() && resolved.vs == nullptr))
          return core::fail(core::Errc::invalid_argument, fmt::format("missing input of image channel {}", c));
        channels.push_back(resolved);
      }
      std::size_t t = 0;
      if (!flat.empty()) {
        for (std::size_t b = 0; b < nrows; b += kBlockRows)
          writeFlat(events.data() + b, std::min(kBlockRows, nrows - b), b, 0, nullptr, 0);
        t = 1;
      }
      for (std::size_t r = 0; r < nrows; ++r) {
        const std::size_t e = events[r];
        float* pixels = target.tensors[t] + r * target.tensorStrides[t];
        std::fill(pixels, pixels + cells * channels.size(), 0.0F);
        for (std::size_t c = 0; c < channels.size(); ++c) {
          const auto& [xs, ys, vs] = channels[c];
          const auto begin = (*xs->offsets)[e], end = (*xs->offsets)[e + 1];
          for (auto i = begin; i < end; ++i) {
            const double x = xs->values[i], y = ys->values[i];
            if (!(x >= image.xMin && x < image.xMax && y >= image.yMin && y < image.yMax)) continue;
            auto ix = static_cast<std::size_t>((x - image.xMin) / (image.xMax - image.xMin) *
                                               static_cast<double>(image.xBins));
            auto iy = static_cast<std::size_t>((y - image.yMin) / (image.yMax - image.yMin) *
                                               static_cast<double>(image.yBins));
            ix = std::min(ix, image.xBins - 1);
            iy = std::min(iy, image.yBins - 1);
            pixels[c * cells + ix * image.yBins + iy] += vs != nullptr ? static_cast<float>(vs->values[i]) : 1.0F;
          }
        }
      }
      break;
    }
  }
  return {};
}

}  // namespace mlaas::data
