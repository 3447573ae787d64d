#include "client/oip_codec.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/byte_order.hpp"

namespace mlaas::client {
namespace {

using core::Errc;
using nlohmann::json;

struct Half {};  // FP16 travels only as raw bytes

/// Calls f with a value of the C++ type that stores one element of `type` (bool as uint8).
template <class F>
decltype(auto) withElementType(DataType type, F&& f) {
  switch (type) {
    case DataType::boolean: return f(bool{});
    case DataType::uint8: return f(std::uint8_t{});
    case DataType::uint16: return f(std::uint16_t{});
    case DataType::uint32: return f(std::uint32_t{});
    case DataType::uint64: return f(std::uint64_t{});
    case DataType::int8: return f(std::int8_t{});
    case DataType::int16: return f(std::int16_t{});
    case DataType::int32: return f(std::int32_t{});
    case DataType::int64: return f(std::int64_t{});
    case DataType::fp16: return f(Half{});
    case DataType::fp32: return f(float{});
    case DataType::fp64: return f(double{});
    case DataType::bytes: return f(std::string{});
  }
  return f(Half{});
}

Error invalid(std::string message) { return Error{Errc::invalid_argument, 0, std::move(message)}; }
Error corrupt(std::string message) { return Error{Errc::corrupt, 0, std::move(message)}; }

/// The server writes a non-finite float output as one of these strings (docs/http-api.md#non-finite-values).
std::string_view nonFiniteName(double value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

std::optional<double> nonFiniteFromName(const json& data) {
  if (!data.is_string()) return std::nullopt;
  const auto& text = data.get_ref<const std::string&>();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

/// JSON `data` of one tensor (flat, row-major). `strict` refuses NaN and inf (requests); else they
/// are written as the server writes them.
Result<json> dataToJson(const Tensor& tensor, bool strict = true) {
  return withElementType(tensor.datatype, [&](auto tag) -> Result<json> {
    using T = decltype(tag);
    json data = json::array();
    if constexpr (std::is_same_v<T, Half>) {
      return invalid(fmt::format("tensor '{}': FP16 data can only be sent with the binary encoding", tensor.name));
    } else if constexpr (std::is_same_v<T, std::string>) {
      for (const auto& s : tensor.strings) data.push_back(s);
    } else if constexpr (std::is_same_v<T, bool>) {
      for (auto byte : tensor.raw) data.push_back(byte != 0);
    } else {
      const std::size_t count = tensor.raw.size() / sizeof(T);
      for (std::size_t i = 0; i < count; ++i) {
        T value;
        std::memcpy(&value, tensor.raw.data() + i * sizeof(T), sizeof(T));
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isfinite(value)) {
            data.push_back(static_cast<double>(value));
          } else if (strict) {
            return invalid(fmt::format("tensor '{}': element {} is not finite (JSON cannot carry it; use binary)",
                                       tensor.name, i));
          } else {
            data.push_back(std::string(nonFiniteName(value)));  // the server's spelling of its outputs
          }
        } else {
          data.push_back(value);
        }
      }
    }
    return data;
  });
}

/// Appends the scalars of (possibly nested) JSON `data` to the tensor's storage.
Result<void> appendJsonData(Tensor& tensor, const json& data, int depth = 0) {
  if (depth > 32) return corrupt(fmt::format("tensor '{}': data nested too deeply", tensor.name));
  if (data.is_array()) {
    for (const auto& item : data) {
      auto appended = appendJsonData(tensor, item, depth + 1);
      if (!appended) return appended;
    }
    return {};
  }
  return withElementType(tensor.datatype, [&](auto tag) -> Result<void> {
    using T = decltype(tag);
    const auto where = [&] { return fmt::format("tensor '{}' ({})", tensor.name, dataTypeName(tensor.datatype)); };
    if constexpr (std::is_same_v<T, Half>) {
      return invalid(where() + ": FP16 data must use the binary encoding");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!data.is_string()) return invalid(where() + ": data element is not a string");
      tensor.strings.push_back(data.get<std::string>());
      return {};
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!data.is_boolean()) return invalid(where() + ": data element is not true/false");
      tensor.raw.push_back(data.get<bool>() ? 1 : 0);
      return {};
    } else {
      T value{};
      if constexpr (std::is_floating_point_v<T>) {
        const std::size_t index = tensor.raw.size() / sizeof(T);
        if (auto special = nonFiniteFromName(data)) {
          value = static_cast<T>(*special);
        } else if (!data.is_number()) {
          return invalid(fmt::format("{}: data element {} is not a number (nor \"NaN\", \"Infinity\", \"-Infinity\")",
                                     where(), index));
        } else {
          const double number = data.get<double>();
          if (std::fabs(number) > static_cast<double>(std::numeric_limits<T>::max()))
            return invalid(fmt::format("{}: element {} ({}) is outside the {} range", where(), index, number,
                                       dataTypeName(tensor.datatype)));
          value = static_cast<T>(number);
        }
      } else {
        if (data.is_number_unsigned()) {
          const auto v = data.get<std::uint64_t>();
          if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            return invalid(fmt::format("{}: {} is out of range", where(), v));
          value = static_cast<T>(v);
        } else if (data.is_number_integer()) {
          const auto v = data.get<std::int64_t>();
          if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
              (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
            return invalid(fmt::format("{}: {} is out of range", where(), v));
          value = static_cast<T>(v);
        } else {
          return invalid(where() + ": data element is not an integer");
        }
      }
      const auto offset = tensor.raw.size();
      tensor.raw.resize(offset + sizeof(T));
      std::memcpy(tensor.raw.data() + offset, &value, sizeof(T));
      return {};
    }
  });
}

/// Element count of the tensor's data as stored.
std::size_t storedElements(const Tensor& tensor) {
  if (tensor.datatype == DataType::bytes) return tensor.strings.size();
  return tensor.raw.size() / dataTypeSize(tensor.datatype);
}

Result<void> checkShape(const Tensor& tensor) {
  const auto expected = tensor.elementCount();
  if (expected < 0) return invalid(fmt::format("tensor '{}': shape has a negative dimension", tensor.name));
  if (static_cast<std::uint64_t>(expected) != storedElements(tensor) ||
      (tensor.datatype != DataType::bytes && tensor.raw.size() % dataTypeSize(tensor.datatype) != 0))
    return invalid(fmt::format("tensor '{}': shape holds {} elements but the data has {}", tensor.name, expected,
                               storedElements(tensor)));
  return {};
}

/// name, datatype and shape of a tensor object, without its data.
Result<Tensor> tensorHeader(const json& object) {
  if (!object.is_object()) return corrupt("a tensor is not a JSON object");
  Tensor tensor;
  const auto name = object.find("name");
  if (name == object.end() || !name->is_string()) return corrupt("a tensor has no string 'name'");
  tensor.name = name->get<std::string>();
  const auto datatype = object.find("datatype");
  if (datatype == object.end() || !datatype->is_string())
    return corrupt(fmt::format("tensor '{}' has no string 'datatype'", tensor.name));
  const auto parsed = parseDataType(datatype->get<std::string>());
  if (!parsed)
    return invalid(fmt::format("tensor '{}': unknown datatype '{}'", tensor.name, datatype->get<std::string>()));
  tensor.datatype = *parsed;
  const auto shape = object.find("shape");
  if (shape == object.end() || !shape->is_array())
    return corrupt(fmt::format("tensor '{}' has no 'shape' array", tensor.name));
  for (const auto& dim : *shape) {
    if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0)
      return corrupt(fmt::format("tensor '{}': shape entries must be non-negative integers", tensor.name));
    tensor.shape.push_back(dim.get<std::int64_t>());
  }
  if (tensor.elementCount() < 0) return corrupt(fmt::format("tensor '{}': shape is too large", tensor.name));
  return tensor;
}

std::optional<std::uint64_t> binarySize(const json& object) {
  const auto parameters = object.find("parameters");
  if (parameters == object.end() || !parameters->is_object()) return std::nullopt;
  const auto size = parameters->find("binary_data_size");
  if (size == parameters->end() || !size->is_number_unsigned()) return std::nullopt;
  return size->get<std::uint64_t>();
}

/// Fills the tensor from `size` raw bytes of the binary section.
Result<void> fillFromBinary(Tensor& tensor, std::string_view blob) {
  if (tensor.datatype == DataType::bytes) {
    std::size_t offset = 0;
    while (offset < blob.size()) {
      if (blob.size() - offset < 4) return corrupt(fmt::format("tensor '{}': truncated BYTES length", tensor.name));
      const auto length = core::loadLittleEndian<std::uint32_t>(blob.data() + offset);  // as appendBinary writes it
      offset += 4;
      if (length > blob.size() - offset)
        return corrupt(fmt::format("tensor '{}': BYTES element of {} bytes overruns the data", tensor.name, length));
      tensor.strings.emplace_back(blob.substr(offset, length));
      offset += length;
    }
  } else {
    const auto expected = static_cast<std::uint64_t>(tensor.elementCount()) * dataTypeSize(tensor.datatype);
    if (expected != blob.size())
      return corrupt(fmt::format("tensor '{}': binary_data_size is {} but shape and datatype need {}", tensor.name,
                                 blob.size(), expected));
    tensor.raw.assign(blob.begin(), blob.end());
  }
  return checkShape(tensor);
}

/// Appends a tensor's binary tensor data to `out` and returns its size: the raw bytes, or for
/// BYTES each element after its 4-byte little-endian length (the protocol's order on any host).
std::size_t appendBinary(std::string& out, const Tensor& tensor) {
  const std::size_t before = out.size();
  if (tensor.datatype != DataType::bytes) {
    out.append(reinterpret_cast<const char*>(tensor.raw.data()), tensor.raw.size());
    return out.size() - before;
  }
  for (const auto& s : tensor.strings) {
    char length[4];
    core::storeLittleEndian(static_cast<std::uint32_t>(s.size()), length);
    out.append(length, 4);
    out += s;
  }
  return out.size() - before;
}

std::string jsonString(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return {};
}

}  // namespace

Result<EncodedBody> encodeInferRequest(const InferRequest& request, Encoding encoding) {
  json header = json::object();
  if (!request.id.empty()) header["id"] = request.id;
  json inputs = json::array();
  std::string blobs;
  for (const auto& tensor : request.inputs) {
    auto shapeOk = checkShape(tensor);
    if (!shapeOk) return std::move(shapeOk).error();
    json input = {
        {"name", tensor.name}, {"datatype", std::string(dataTypeName(tensor.datatype))}, {"shape", tensor.shape}};
    if (encoding == Encoding::binary) {
      input["parameters"] = {{"binary_data_size", appendBinary(blobs, tensor)}};
    } else {
      auto data = dataToJson(tensor);
      if (!data) return std::move(data).error();
      input["data"] = std::move(*data);
    }
    inputs.push_back(std::move(input));
  }
  header["inputs"] = std::move(inputs);
  if (!request.outputs.empty()) {
    json outputs = json::array();
    for (const auto& name : request.outputs) {
      json output = {{"name", name}};
      if (encoding == Encoding::binary) output["parameters"] = {{"binary_data", true}};
      outputs.push_back(std::move(output));
    }
    header["outputs"] = std::move(outputs);
  }
  if (encoding == Encoding::binary) header["parameters"] = {{"binary_data_output", true}};
  EncodedBody encoded;
  encoded.body = header.dump();
  encoded.jsonLength = encoded.body.size();
  encoded.binary = encoding == Encoding::binary;
  encoded.body += blobs;
  return encoded;
}

Result<InferResponse> decodeInferResponse(std::string_view body, std::optional<std::size_t> headerLength) {
  const std::size_t jsonLength = headerLength.value_or(body.size());
  if (jsonLength > body.size())
    return corrupt(
        fmt::format("Inference-Header-Content-Length {} exceeds the body of {} bytes", jsonLength, body.size()));
  const json header = json::parse(body.substr(0, jsonLength), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return corrupt("inference response is not a JSON object");
  InferResponse response;
  response.modelName = jsonString(header, "model_name");
  response.modelVersion = jsonString(header, "model_version");
  response.id = jsonString(header, "id");
  const auto outputs = header.find("outputs");
  if (outputs == header.end() || !outputs->is_array()) return corrupt("inference response has no 'outputs' array");
  std::string_view binary = body.substr(jsonLength);
  for (const auto& object : *outputs) {
    auto tensor = tensorHeader(object);
    if (!tensor) return std::move(tensor).error();
    if (const auto size = binarySize(object)) {
      if (*size > binary.size())
        return corrupt(fmt::format("output '{}': binary_data_size {} exceeds the {} bytes left", tensor->name, *size,
                                   binary.size()));
      auto filled = fillFromBinary(*tensor, binary.substr(0, *size));
      if (!filled) return std::move(filled).error();
      binary.remove_prefix(*size);
    } else {
      const auto data = object.find("data");
      if (data == object.end())
        return corrupt(fmt::format("output '{}' has neither data nor binary_data_size", tensor->name));
      auto filled = appendJsonData(*tensor, *data);
      if (!filled) return std::move(filled).error();
      auto shapeOk = checkShape(*tensor);
      if (!shapeOk) return Error{Errc::corrupt, 0, std::move(shapeOk).error().message};
    }
    response.outputs.push_back(std::move(*tensor));
  }
  if (!binary.empty())
    return corrupt(fmt::format("{} bytes after the last binary output", binary.size()));
  return response;
}

Result<InferRequest> parseInferRequestJson(std::string_view text) {
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded()) return invalid("inference request is not valid JSON");
  if (!root.is_object()) return invalid("inference request is not a JSON object");
  InferRequest request;
  request.id = jsonString(root, "id");
  const auto inputs = root.find("inputs");
  if (inputs == root.end() || !inputs->is_array() || inputs->empty())
    return invalid("inference request has no 'inputs' array");
  for (const auto& object : *inputs) {
    auto tensor = tensorHeader(object);
    if (!tensor) return Error{Errc::invalid_argument, 0, std::move(tensor).error().message};
    const auto data = object.find("data");
    if (data == object.end()) return invalid(fmt::format("input '{}' has no 'data'", tensor->name));
    auto filled = appendJsonData(*tensor, *data);
    if (!filled) return std::move(filled).error();
    auto shapeOk = checkShape(*tensor);
    if (!shapeOk) return std::move(shapeOk).error();
    request.inputs.push_back(std::move(*tensor));
  }
  if (const auto outputs = root.find("outputs"); outputs != root.end()) {
    if (!outputs->is_array()) return invalid("'outputs' is not an array");
    for (const auto& output : *outputs) {
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string())
        return invalid("each entry of 'outputs' needs a string 'name'");
      request.outputs.push_back(output["name"].get<std::string>());
    }
  }
  return request;
}

std::string formatInferResponseJson(const InferResponse& response, int indent) {
  json root = {{"model_name", response.modelName}, {"model_version", response.modelVersion}};
  if (!response.id.empty()) root["id"] = response.id;
  json outputs = json::array();
  for (const auto& tensor : response.outputs) {
    json output = {
        {"name", tensor.name}, {"datatype", std::string(dataTypeName(tensor.datatype))}, {"shape", tensor.shape}};
    auto data = dataToJson(tensor, /*strict=*/false);  // NaN prints as "NaN", as the server writes it
    output["data"] = data ? std::move(*data) : json(nullptr);  // FP16 has no JSON form
    outputs.push_back(std::move(output));
  }
  root["outputs"] = std::move(outputs);
  return root.dump(indent);
}

}  // namespace mlaas::client
