// Raw-event inference: the training-time preprocessing of a model version (its dataset config
// and specs, stored with the version as metadata "preprocessing", or in a bundle's model.json)
// compiled once into a data::Plan and data::Transform, turning events into the model's inputs.
//
// The server's POST /api/v1/models/{ref}/predict-events (docs/http-api.md#predict-events) and
// `mlaas predict --root` (docs/cli.md#predict) both go through EventPreprocessor::tensors, which
// runs Plan::prepare and Transform::apply exactly as training did, without the selection, so
// every event given gets one row of outputs in order.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "data/plan.hpp"
#include "data/specs.hpp"
#include "data/transform.hpp"
#include "root/column.hpp"
#include "serve/repository.hpp"
#include "serve/runtime.hpp"
#include "serve/tensor.hpp"

namespace mlaas::serve {

class EventPreprocessor {
 public:
  /// Compiles the "preprocessing" object ({"dataset_config": YAML text, "specs": data::Specs JSON,
  /// "representation": ...}). The plan drops the selection, label, weight and identifier split:
  /// an event needs only the branches its features (and variables) read. Throws core::Exception
  /// naming `where` and the key: conflict when the object lacks the config or the specs (a
  /// version uploaded without preprocessing), invalid_argument when they do not compile.
  static std::shared_ptr<const EventPreprocessor> compile(std::string_view preprocessingJson, const std::string& where);
  /// A bundle's model.json (its "preprocessing" and "labels"). Throws core::Exception naming the file.
  static std::shared_ptr<const EventPreprocessor> fromModelJson(const std::filesystem::path& modelJson);

  [[nodiscard]] const data::Plan& plan() const noexcept { return *plan_; }
  [[nodiscard]] const data::Transform& transform() const noexcept { return *transform_; }
  /// The raw branches every event must carry (sorted), with their types and lists.
  [[nodiscard]] const std::vector<std::string>& branches() const noexcept { return plan_->branches(); }
  [[nodiscard]] const data::TreeSchema& schema() const noexcept { return schema_; }
  /// The tree the model was trained on ("Events").
  [[nodiscard]] const std::string& tree() const noexcept { return plan_->config().tree; }
  /// Output labels from model.json / the upload metadata (may be empty).
  [[nodiscard]] const std::vector<std::string>& labels() const noexcept { return labels_; }

  /// Columns of branches() over the same entries (extra columns ignored) -> one tensor per input
  /// of `signature`, in signature order, each [events, ...]: FP32 tensors from the transform's
  /// tensors, UINT8 (or BOOL/FP32) from its masks, matched by name. invalid_argument names the
  /// branch for bad values; conflict when the model wants an input the preprocessing lacks.
  [[nodiscard]] core::Result<std::vector<Tensor>> tensors(std::span<const root::Column> columns,
                                                          const ModelSignature& signature) const;

 private:
  friend struct EventPreprocessorBuilder;
  EventPreprocessor() = default;
  std::shared_ptr<const data::Plan> plan_;
  std::shared_ptr<const data::Transform> transform_;
  data::TreeSchema schema_;
  std::vector<std::string> labels_;
};

/// The most events one predict-events request may carry (413 beyond).
inline constexpr std::size_t kMaxEventsPerRequest = 100000;

/// A version's preprocessor, compiled on first use and cached for the version's lifetime
/// (thread-safe; concurrent first uses compile once). conflict when the version has no
/// preprocessing spec, invalid_argument when it does not compile.
core::Result<std::shared_ptr<const EventPreprocessor>> preprocessorFor(const VersionRecord& version);

struct EventsRequest {
  std::size_t events = 0;
  std::vector<Tensor> inputs;  ///< in the version's signature order
};
/// A predict-events body ({"events": [...]} or a bare array) -> the version's model inputs.
/// invalid_argument names the event and branch; resource_exhausted beyond maxEvents; conflict
/// when the version has no preprocessing.
core::Result<EventsRequest> decodeEventsRequest(const VersionRecord& version, std::string_view body,
                                                std::size_t maxEvents = kMaxEventsPerRequest);

/// {"model_name", "model_version", "model_ref" (as requested), "events", "labels",
///  "outputs": [{"name", "datatype", "shape", "data"}]} with data row-major (OIP's layout).
core::Result<std::string> encodeEventsResponse(const VersionRecord& version, std::string_view requestedRef,
                                               std::size_t events, const std::vector<Tensor>& outputs);

}  // namespace mlaas::serve
