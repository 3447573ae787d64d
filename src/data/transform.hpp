// The transform from events to fixed-size model inputs: normalization, padding/truncation with
// masks, and the three layouts. The same Transform serves training batches and raw-event
// inference (the server builds root::Columns from a request's branch values, calls
// Plan::prepare and Transform::apply, without any selection).
//
// Layouts (shapes are per event; a Batch stacks `rows` events in front):
//   vector: "features" [F] = flat features, then per group, per member, its L slots
//           (Jet_pt_0..Jet_pt_{L-1}, Jet_eta_0, ...); "mask" [F] uint8, 1 = real value, 0 = padding.
//   groups: "flat" [nflat] (if any flat features); per group "<name>" [L, members] and
//           "<name>_mask" [L].
//   image:  "flat" [nflat] (if any); "image" [channels, xbins, ybins]: per channel, the value
//           member summed (or objects counted) in the cell of (x, y); objects outside the ranges
//           are dropped; the image uses every object, not only the first L.
// Normalization per feature: none; minmax (x-min)/(max-min); standard (x-mean)/std; robust
// (x-median)/((p84-p16)/2). A zero denominator leaves the scale at 1. Statistics never include
// padding, and the padding value is written as given (after normalization of the real values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/plan.hpp"
#include "data/specs.hpp"

namespace mlaas::data {

struct TensorSpec {
  std::string name;
  std::vector<std::size_t> shape;  ///< per event
  [[nodiscard]] std::size_t width() const noexcept {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// Which event a row came from: index of the input file and entry number in it.
struct EventRef {
  std::uint32_t file = 0;
  std::uint64_t entry = 0;
  friend bool operator==(const EventRef&, const EventRef&) = default;
  friend auto operator<=>(const EventRef&, const EventRef&) = default;
};

/// Rows of events: contiguous row-major float32 tensors and uint8 masks, labels, weights. Buffers
/// keep their capacity across clear(), so a pipeline reuses them batch after batch.
struct Batch {
  std::size_t rows = 0;
  std::vector<TensorSpec> tensorSpecs, maskSpecs;
  std::vector<std::vector<float>> tensors;        ///< parallel to tensorSpecs, rows * width each
  std::vector<std::vector<std::uint8_t>> masks;   ///< parallel to maskSpecs
  std::vector<float> labels, weights;
  std::vector<EventRef> events;

  void clear() noexcept { rows = 0; }
  /// Makes room for `extra` more rows (keeps existing rows).
  void grow(std::size_t extra);
  /// Appends row `row` of `other` (same layout).
  void appendRow(const Batch& other, std::size_t row);
  [[nodiscard]] std::span<const float> tensor(std::size_t i) const noexcept {
    return {tensors[i].data(), rows * tensorSpecs[i].width()};
  }
  [[nodiscard]] std::span<const std::uint8_t> mask(std::size_t i) const noexcept {
    return {masks[i].data(), rows * maskSpecs[i].width()};
  }
  [[nodiscard]] std::size_t tensorIndex(std::string_view name) const noexcept;  ///< npos if absent
  [[nodiscard]] std::size_t maskIndex(std::string_view name) const noexcept;
};

/// Where Transform::apply writes rows: for each tensor and mask (in the layout's order) its first
/// row and the elements from one row to the next, so that rows can go into a Batch (stride = the
/// width) or straight into packed records of several fields (stride = the record).
struct RowTarget {
  std::vector<float*> tensors;
  std::vector<std::size_t> tensorStrides;  ///< floats between rows
  std::vector<std::uint8_t*> masks;        ///< empty: masks not written
  std::vector<std::size_t> maskStrides;    ///< bytes between rows
  /// Optional (vector and groups layouts, groups of at most 255 slots): each row's number of real
  /// slots per group, which implies its masks (Transform::maskSlots): group g of row r at
  /// counts[r * countsStride + g].
  std::uint8_t* counts = nullptr;
  std::size_t countsStride = 0;
};

/// Rows firstRow.. of `batch` (room for them already made: Batch::grow) as a RowTarget: every
/// tensor and mask, stride = its width.
[[nodiscard]] RowTarget rowTarget(Batch& batch, std::size_t firstRow);

class Transform {
 public:
  /// Throws core::Exception when the specs lack statistics a normalization needs.
  Transform(std::shared_ptr<const Plan> plan, const Specs& specs);

  [[nodiscard]] const Plan& plan() const noexcept { return *plan_; }
  [[nodiscard]] const std::vector<TensorSpec>& tensorSpecs() const noexcept { return tensorSpecs_; }
  [[nodiscard]] const std::vector<TensorSpec>& maskSpecs() const noexcept { return maskSpecs_; }
  /// The padded length of each group, in plan().groups() order.
  [[nodiscard]] const std::vector<std::size_t>& groupLengths() const noexcept { return lengths_; }
  /// Column names of the vector layout ("MET_px", "Jet_Px_0", ...), like MLaaS4HEP's columns().
  [[nodiscard]] std::vector<std::string> vectorColumns() const;
  /// y = (x - shift) * scale for a feature.
  [[nodiscard]] std::pair<double, double> affine(const std::string& feature) const;

  /// What decides each byte of a row's masks (the masks in order, one after another): the byte
  /// is 1 when `slot` < the number of objects the row keeps of group `group` (real slots come
  /// first), or always 1 when group == kAlwaysReal (a flat feature in the vector layout). So a
  /// row's masks follow from one count per group.
  struct MaskSlot {
    std::size_t group = 0, slot = 0;
  };
  static constexpr std::size_t kAlwaysReal = static_cast<std::size_t>(-1);
  [[nodiscard]] std::vector<MaskSlot> maskSlots() const;

  /// An empty batch with this layout.
  [[nodiscard]] Batch makeBatch() const;
  /// Appends rows for `events` (indices into the chunk) to `out`, with label 0, weight 1 and an
  /// empty event reference for the caller to overwrite.
  [[nodiscard]] core::Result<void> apply(const Chunk& chunk, std::span<const std::uint32_t> events, Batch& out) const;
  /// Writes the tensors and masks of `events` as rows 0.. of `target` (room for them made by the
  /// caller); labels, weights and event references are the caller's. Nothing is written when it fails.
  [[nodiscard]] core::Result<void> apply(const Chunk& chunk, std::span<const std::uint32_t> events,
                                         const RowTarget& target) const;

  /// Whether this CPU runs the AVX2 kernel that writes the vector layout's groups of up to 8
  /// slots (checked once; the build itself targets baseline x86-64).
  [[nodiscard]] static bool vectorKernelAvailable() noexcept;
  /// Use the portable (scalar) code even where the AVX2 kernel is available: both write the same
  /// bytes, and tests compare them on the same input.
  void usePortableKernel(bool portable) noexcept { portable_ = portable; }

 private:
  struct Feature {
    const Array* array = nullptr;
    double shift = 0, scale = 1;
  };
  std::shared_ptr<const Plan> plan_;
  std::vector<TensorSpec> tensorSpecs_, maskSpecs_;
  std::vector<std::size_t> lengths_;
  std::map<std::string, std::pair<double, double>> affine_;
  bool portable_ = false;
};

}  // namespace mlaas::data
