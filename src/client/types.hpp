// Typed values exchanged with the mlaas server (docs/http-api.md): tensors, model cards,
// repository listings. JSON never leaks into these except the two fields the server itself
// treats as opaque JSON (provenance, preprocessing).
#pragma once

#include <nlohmann/json.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/result.hpp"

namespace mlaas::client {

/// Open Inference Protocol tensor datatypes.
enum class DataType { boolean, uint8, uint16, uint32, uint64, int8, int16, int32, int64, fp16, fp32, fp64, bytes };

/// "BOOL", "UINT8", ..., "FP32", "FP64", "BYTES".
std::string_view dataTypeName(DataType type) noexcept;
std::optional<DataType> parseDataType(std::string_view name) noexcept;
/// Bytes per element; 0 for BYTES (variable length).
std::size_t dataTypeSize(DataType type) noexcept;

template <class T>
constexpr DataType dataTypeOf() {
  if constexpr (std::is_same_v<T, bool>) return DataType::boolean;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return DataType::uint8;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return DataType::uint16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return DataType::uint32;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return DataType::uint64;
  else if constexpr (std::is_same_v<T, std::int8_t>) return DataType::int8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return DataType::int16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DataType::int32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DataType::int64;
  else if constexpr (std::is_same_v<T, float>) return DataType::fp32;
  else if constexpr (std::is_same_v<T, double>) return DataType::fp64;
  else static_assert(sizeof(T) == 0, "no OIP datatype for this C++ type");
}

/// A named tensor. Numeric and BOOL elements live in `raw` as little-endian bytes (exactly what
/// the binary tensor extension sends); BYTES elements live in `strings`.
struct Tensor {
  std::string name;
  DataType datatype = DataType::fp32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> raw;
  std::vector<std::string> strings;

  /// Product of shape (1 for a scalar); -1 when a dimension is negative.
  [[nodiscard]] std::int64_t elementCount() const noexcept;

  template <class T>
  static Tensor of(std::string name, std::vector<std::int64_t> shape, std::span<const T> values) {
    static_assert(std::endian::native == std::endian::little, "raw tensors are little-endian");
    Tensor tensor{std::move(name), dataTypeOf<T>(), std::move(shape), {}, {}};
    if constexpr (std::is_same_v<T, bool>) {
      for (bool v : values) tensor.raw.push_back(v ? 1 : 0);
    } else {
      tensor.raw.resize(values.size_bytes());
      if (!values.empty()) std::memcpy(tensor.raw.data(), values.data(), values.size_bytes());
    }
    return tensor;
  }
  template <class T>
  static Tensor of(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& values) {
    if constexpr (std::is_same_v<T, bool>) {
      Tensor tensor{std::move(name), DataType::boolean, std::move(shape), {}, {}};
      for (bool v : values) tensor.raw.push_back(v ? 1 : 0);
      return tensor;
    } else {
      return of<T>(std::move(name), std::move(shape), std::span<const T>(values));
    }
  }
  static Tensor ofStrings(std::string name, std::vector<std::int64_t> shape, std::vector<std::string> values);

  /// The elements as T; throws core::Exception(invalid_argument) when T is not the datatype.
  template <class T>
  [[nodiscard]] std::vector<T> values() const {
    if (datatype != dataTypeOf<T>())
      throw core::Exception(core::Errc::invalid_argument,
                            "tensor '" + name + "' is " + std::string(dataTypeName(datatype)) + ", not " +
                                std::string(dataTypeName(dataTypeOf<T>())));
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<bool> out;
      for (auto byte : raw) out.push_back(byte != 0);
      return out;
    } else {
      std::vector<T> out(raw.size() / sizeof(T));
      if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * sizeof(T));
      return out;
    }
  }
};

/// Name, datatype and shape (-1 = dynamic) of a model input or output.
struct TensorSpec {
  std::string name;
  std::string datatype;  // OIP spelling, e.g. "FP32"
  std::vector<std::int64_t> shape;
};

struct BatchingPolicy {
  std::int64_t maxBatchSize = 1;
  std::int64_t maxQueueDelayUs = 0;
};

/// What an upload's dry run answers: every check passed, and the version an upload would get now.
struct UploadCheck {
  std::string name;
  std::int64_t version = 0;
  bool modelChecked = false;  ///< a model was sent, and the server's ONNX Runtime loaded it
};

/// One stored model version ("model card").
struct ModelCard {
  std::string name;
  std::int64_t version = 0;
  std::string created;  // RFC 3339 UTC
  std::uint64_t size = 0;
  std::string sha256;
  std::string platform;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::string description;
  std::vector<std::string> labels;
  std::map<std::string, std::string> tags;
  std::vector<std::string> aliases;
  std::map<std::string, double> metrics;
  nlohmann::json provenance;     // opaque JSON stored with the version (null when absent)
  nlohmann::json preprocessing;  // opaque JSON stored with the version (null when absent)
  std::optional<BatchingPolicy> batching;
};

/// A model in a listing (all its versions summarized).
struct ModelSummary {
  std::string name;
  std::int64_t latestVersion = 0;
  std::vector<std::int64_t> versions;
  std::map<std::string, std::int64_t> aliases;
  std::map<std::string, std::string> tags;
  std::string description;
  std::string created;
  std::string updated;
};

/// GET /api/v1/models/{name}: the summary plus every version's card, ascending.
struct ModelDetails {
  ModelSummary summary;
  std::vector<ModelCard> cards;
};

/// Optional metadata sent with an upload (every field is optional; empty ones are not sent).
struct UploadMetadata {
  std::optional<std::string> description;
  std::vector<std::string> labels;
  std::map<std::string, std::string> tags;
  std::map<std::string, double> metrics;
  nlohmann::json provenance;     // null: not sent
  nlohmann::json preprocessing;  // null: not sent
  std::optional<BatchingPolicy> batching;
};

/// The upload metadata of a bundle that `mlaas train` wrote: its model.json ("format":
/// "mlaas-model/1") mapped the one way both `mlaas train --upload` and `mlaas models upload
/// --metadata model.json` use: a description from the model kind, task and size; the labels; the
/// numeric metrics; the provenance; the preprocessing with the inputs and model sections. The rest
/// (name, created, ...) belongs to the bundle, not to a version. Throws core::Exception naming
/// `source` when the document is not such a bundle.
[[nodiscard]] UploadMetadata bundleUploadMetadata(const nlohmann::json& modelJson, std::string_view source);

struct AliasInfo {
  std::string name;
  std::string alias;
  std::int64_t version = 0;
};

struct ServerInfo {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

/// OIP model metadata (GET /v2/models/{m}).
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

/// One row of POST /v2/repository/index.
struct RepositoryEntry {
  std::string name;
  std::string version;
  std::string state;  // "READY" or "UNAVAILABLE"
  std::string reason;
};

/// A parsed model reference: `name`, `name/versions/N` or `name@alias`.
struct ModelRef {
  std::string name;
  std::optional<std::int64_t> version;
  std::optional<std::string> alias;

  /// Throws core::Exception(invalid_argument) on an empty name, a bad version or both forms.
  static ModelRef parse(std::string_view text);
  [[nodiscard]] std::string str() const;
};

/// How inference tensors travel: JSON numbers, or raw bytes after a JSON header (the OIP
/// binary tensor extension; inputs and outputs both binary).
enum class Encoding { json, binary };

struct InferRequest {
  std::string id;                    // echoed back; empty: not sent
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;  // empty: every output
};

struct InferResponse {
  std::string modelName;
  std::string modelVersion;
  std::string id;
  std::vector<Tensor> outputs;

  /// The output with this name, or nullptr.
  [[nodiscard]] const Tensor* output(std::string_view outputName) const noexcept;
};

/// TFaaS's model description (GET /models, GET /params/{model}).
struct TfaasParams {
  std::string name;
  std::string model;
  std::string labels;  // the labels file name (an array from the server is joined with ',')
  std::string inputNode;
  std::string outputNode;
  std::string description;
  std::string timestamp;
};

/// The answer of TFaaS's /image: the output row for a model without labels, else the five most
/// probable labels (highest first) and the file name that was sent.
struct TfaasImageResult {
  struct Label {
    std::string label;
    double probability = 0;
  };
  std::vector<double> values;  ///< without labels
  std::string filename;        ///< with labels
  std::vector<Label> labels;   ///< with labels
};

}  // namespace mlaas::client
