#include "client/types.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <limits>

#include "client/result.hpp"
#include "core/result.hpp"

namespace mlaas::client {
namespace {

struct TypeInfo {
  DataType type;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<TypeInfo, 13> kTypes{{
    {DataType::boolean, "BOOL", 1},
    {DataType::uint8, "UINT8", 1},
    {DataType::uint16, "UINT16", 2},
    {DataType::uint32, "UINT32", 4},
    {DataType::uint64, "UINT64", 8},
    {DataType::int8, "INT8", 1},
    {DataType::int16, "INT16", 2},
    {DataType::int32, "INT32", 4},
    {DataType::int64, "INT64", 8},
    {DataType::fp16, "FP16", 2},
    {DataType::fp32, "FP32", 4},
    {DataType::fp64, "FP64", 8},
    {DataType::bytes, "BYTES", 0},
}};

}  // namespace

std::string_view dataTypeName(DataType type) noexcept {
  for (const auto& info : kTypes)
    if (info.type == type) return info.name;
  return "UNKNOWN";
}

std::optional<DataType> parseDataType(std::string_view name) noexcept {
  for (const auto& info : kTypes)
    if (info.name == name) return info.type;
  return std::nullopt;
}

std::size_t dataTypeSize(DataType type) noexcept {
  for (const auto& info : kTypes)
    if (info.type == type) return info.size;
  return 0;
}

std::int64_t Tensor::elementCount() const noexcept {
  std::int64_t count = 1;
  for (auto dim : shape) {
    if (dim < 0) return -1;
    if (dim != 0 && count > std::numeric_limits<std::int64_t>::max() / dim) return -1;
    count *= dim;
  }
  return count;
}

Tensor Tensor::ofStrings(std::string name, std::vector<std::int64_t> shape, std::vector<std::string> values) {
  return Tensor{std::move(name), DataType::bytes, std::move(shape), {}, std::move(values)};
}

const Tensor* InferResponse::output(std::string_view outputName) const noexcept {
  for (const auto& tensor : outputs)
    if (tensor.name == outputName) return &tensor;
  return nullptr;
}

ModelRef ModelRef::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return core::Exception(core::Errc::invalid_argument,
                           fmt::format("bad model reference '{}': {} (expected name, name/versions/N or name@alias)",
                                       text, why));
  };
  ModelRef ref;
  const auto at = text.find('@');
  const auto versions = text.find("/versions/");
  if (at != std::string_view::npos && versions != std::string_view::npos) throw bad("both an alias and a version");
  if (at != std::string_view::npos) {
    ref.name = std::string(text.substr(0, at));
    ref.alias = std::string(text.substr(at + 1));
    if (ref.alias->empty()) throw bad("empty alias");
  } else if (versions != std::string_view::npos) {
    ref.name = std::string(text.substr(0, versions));
    const auto number = text.substr(versions + 10);
    std::int64_t version = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), version);
    if (ec != std::errc{} || end != number.data() + number.size() || version < 1)
      throw bad("the version is not a positive number");
    ref.version = version;
  } else {
    ref.name = std::string(text);
  }
  if (ref.name.empty()) throw bad("empty model name");
  if (ref.name.find('/') != std::string::npos) throw bad("'/' in the model name");
  return ref;
}

std::string ModelRef::str() const {
  if (alias) return name + "@" + *alias;
  if (version) return fmt::format("{}/versions/{}", name, *version);
  return name;
}

std::string Error::describe() const {
  if (httpStatus == 0) return message;
  return fmt::format("HTTP {}: {}", httpStatus, message);
}

core::Errc errcForHttpStatus(int status) noexcept {
  switch (status) {
    case 400: return core::Errc::invalid_argument;
    case 401: return core::Errc::unauthenticated;
    case 403: return core::Errc::permission_denied;
    case 404: return core::Errc::not_found;
    case 405: return core::Errc::unsupported;
    case 408: return core::Errc::timeout;
    case 409: return core::Errc::conflict;
    case 413:
    case 429: return core::Errc::resource_exhausted;
    case 422: return core::Errc::corrupt;
    case 501: return core::Errc::unsupported;
    case 502:
    case 503:
    case 504: return core::Errc::unavailable;
    default: return status >= 500 ? core::Errc::internal : core::Errc::invalid_argument;
  }
}

UploadMetadata bundleUploadMetadata(const nlohmann::json& doc, std::string_view source) {
  UploadMetadata metadata;
  try {
    if (doc.contains("model") && doc.contains("task"))
      metadata.description =
          fmt::format("mlaas train: {} {} ({} parameters)", doc["model"].value("kind", std::string("model")),
                      doc["task"].get<std::string>(), doc.value("parameters", std::int64_t{0}));
    if (doc.contains("labels")) metadata.labels = doc["labels"].get<std::vector<std::string>>();
    if (doc.contains("metrics") && doc["metrics"].is_object())
      for (const auto& [key, value] : doc["metrics"].items())
        if (value.is_number()) metadata.metrics[key] = value.get<double>();
    if (doc.contains("provenance")) metadata.provenance = doc["provenance"];
    if (doc.contains("preprocessing")) {
      metadata.preprocessing = doc["preprocessing"];
      if (doc.contains("inputs")) metadata.preprocessing["inputs"] = doc["inputs"];
      if (doc.contains("model")) metadata.preprocessing["model"] = doc["model"];
    }
  } catch (const nlohmann::json::exception& e) {
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("{}: a bundle's model.json, but {}", source, e.what()));
  }
  return metadata;
}

}  // namespace mlaas::client
