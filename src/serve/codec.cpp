#include "serve/codec.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/byte_order.hpp"
#include "serve/ascii.hpp"
#include "tfaas.pb.h"

namespace mlaas::serve {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

simdjson::dom::parser& threadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

core::Failure bad(std::string message) { return core::fail(core::Errc::invalid_argument, std::move(message)); }

/// The root object of a JSON text, parsed by this thread's parser (valid until its next parse).
core::Result<simdjson::dom::object> parseObject(std::string_view text, std::string_view malformed,
                                                std::string_view notAnObject) {
  element doc;
  if (auto error = threadParser().parse(text.data(), text.size()).get(doc); error)
    return bad(fmt::format("{}: {}", malformed, simdjson::error_message(error)));
  simdjson::dom::object root;
  if (doc.get_object().get(root)) return bad(std::string(notAnObject));
  return root;
}

template <class T>
void appendValue(std::vector<std::byte>& out, T value) {
  auto offset = out.size();
  out.resize(offset + sizeof(T));
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

/// Appends one JSON scalar converted to the tensor's type.
core::Result<void> appendJsonScalar(Tensor& tensor, element value) {
  auto type = value.type();
  auto mismatch = [&](std::string_view what, std::string_view hint = {}) {
    const std::size_t index = tensor.type == DataType::bytes
                                  ? tensor.strings.size()
                                  : tensor.data.size() / std::max<std::size_t>(1, elementSize(tensor.type));
    return bad(fmt::format("input '{}': element {}: {} element is not a valid {} value{}", tensor.name, index, what,
                           dataTypeName(tensor.type), hint));
  };
  auto integer = [&](auto lo, auto hi) -> core::Result<void> {
    using T = decltype(lo);
    if (type == element_type::INT64) {
      std::int64_t v = value.get_int64().value_unsafe();
      if constexpr (std::is_signed_v<T>) {
        if (v < static_cast<std::int64_t>(lo) || v > static_cast<std::int64_t>(hi)) return mismatch("an out-of-range");
      } else {
        if (v < 0 || static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(hi)) return mismatch("an out-of-range");
      }
      appendValue(tensor.data, static_cast<T>(v));
      return {};
    }
    if (type == element_type::UINT64) {
      std::uint64_t v = value.get_uint64().value_unsafe();
      if (v > static_cast<std::uint64_t>(hi)) return mismatch("an out-of-range");
      appendValue(tensor.data, static_cast<T>(v));
      return {};
    }
    return mismatch("a non-integer");
  };
  switch (tensor.type) {
    case DataType::fp32:
    case DataType::fp64: {
      double v = 0;
      if (type == element_type::DOUBLE)
        v = value.get_double().value_unsafe();
      else if (type == element_type::INT64)
        v = static_cast<double>(value.get_int64().value_unsafe());
      else if (type == element_type::UINT64)
        v = static_cast<double>(value.get_uint64().value_unsafe());
      else if (type == element_type::STRING)
        return mismatch("a string", " (JSON inputs carry finite numbers only: send NaN or infinity with the binary "
                                    "tensor extension)");
      else
        return mismatch("a non-numeric");
      if (tensor.type == DataType::fp32) {
        // 1e39 would silently become inf (and the answer a 200 of NaN): say which element.
        if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max()))
          return bad(fmt::format("input '{}': element {} ({}) is outside the FP32 range", tensor.name,
                                 tensor.data.size() / sizeof(float), v));
        appendValue(tensor.data, static_cast<float>(v));
      } else
        appendValue(tensor.data, v);
      return {};
    }
    case DataType::boolean:
      if (type != element_type::BOOL) return mismatch("a non-boolean");
      tensor.data.push_back(value.get_bool().value_unsafe() ? std::byte{1} : std::byte{0});
      return {};
    case DataType::int8: return integer(std::int8_t{-128}, std::int8_t{127});
    case DataType::int16:
      return integer(std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max());
    case DataType::int32:
      return integer(std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max());
    case DataType::int64:
      return integer(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
    case DataType::uint8: return integer(std::uint8_t{0}, std::numeric_limits<std::uint8_t>::max());
    case DataType::uint16: return integer(std::uint16_t{0}, std::numeric_limits<std::uint16_t>::max());
    case DataType::uint32: return integer(std::uint32_t{0}, std::numeric_limits<std::uint32_t>::max());
    case DataType::uint64: return integer(std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max());
    case DataType::bytes:
      if (type != element_type::STRING) return mismatch("a non-string");
      tensor.strings.emplace_back(value.get_string().value_unsafe());
      return {};
    case DataType::fp16:
      return bad(fmt::format("input '{}': FP16 data must be sent binary (binary_data_size)", tensor.name));
  }
  return mismatch("an unexpected");
}

core::Result<void> appendJsonData(Tensor& tensor, element value, int depth) {
  if (depth > 32) return bad(fmt::format("input '{}': data nested deeper than 32 levels", tensor.name));
  if (value.type() == element_type::ARRAY) {
    simdjson::dom::array items = value.get_array().value_unsafe();
    for (element item : items) MLAAS_TRY(appendJsonData(tensor, item, depth + 1));
    return {};
  }
  return appendJsonScalar(tensor, value);
}

std::string jsonString(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

template <class T>
T loadAt(const std::vector<std::byte>& data, std::size_t index) {
  T v;
  std::memcpy(&v, data.data() + index * sizeof(T), sizeof(T));
  return v;
}

void appendNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += '"';
    out += nonFiniteJsonString(v);
    out += '"';
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", v);
}

/// A float prints at float precision ("0.1", not 0.10000000149011612).
void appendNumber(std::string& out, float v) {
  if (!std::isfinite(v)) return appendNumber(out, static_cast<double>(v));
  fmt::format_to(std::back_inserter(out), "{}", v);
}

void appendJsonValues(std::string& out, const Tensor& t) {
  auto count =
      t.type == DataType::bytes ? t.strings.size() : (elementSize(t.type) ? t.data.size() / elementSize(t.type) : 0);
  out += '[';
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += ',';
    switch (t.type) {
      case DataType::fp32: appendNumber(out, loadAt<float>(t.data, i)); break;
      case DataType::fp64: appendNumber(out, loadAt<double>(t.data, i)); break;
      case DataType::boolean: out += t.data[i] != std::byte{0} ? "true" : "false"; break;
      case DataType::int8: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::int8_t>(t.data, i)); break;
      case DataType::int16: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::int16_t>(t.data, i)); break;
      case DataType::int32: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::int32_t>(t.data, i)); break;
      case DataType::int64: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::int64_t>(t.data, i)); break;
      case DataType::uint8: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::uint8_t>(t.data, i)); break;
      case DataType::uint16: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::uint16_t>(t.data, i)); break;
      case DataType::uint32: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::uint32_t>(t.data, i)); break;
      case DataType::uint64: fmt::format_to(std::back_inserter(out), "{}", loadAt<std::uint64_t>(t.data, i)); break;
      case DataType::bytes: out += jsonString(t.strings[i]); break;
      case DataType::fp16: out += "null"; break;  // never reached: FP16 outputs are sent binary
    }
  }
  out += ']';
}

/// Appends a tensor's binary tensor data to `out` and returns its size: its raw bytes, or for BYTES
/// each element after its 4-byte little-endian length (what fillFromBinary reads back).
std::size_t appendBinary(std::string& out, const Tensor& t) {
  const std::size_t before = out.size();
  if (t.type != DataType::bytes) {
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
    return out.size() - before;
  }
  for (const auto& s : t.strings) {
    char prefix[4];
    core::storeLittleEndian(static_cast<std::uint32_t>(s.size()), prefix);
    out.append(prefix, 4);
    out += s;
  }
  return out.size() - before;
}

/// Element count and storage of a binary blob for a tensor.
core::Result<void> fillFromBinary(Tensor& tensor, std::string_view blob) {
  auto count = tensor.elementCount();
  if (!count) return bad(fmt::format("input '{}': invalid shape {}", tensor.name, shapeToString(tensor.shape)));
  if (tensor.type == DataType::bytes) {
    std::size_t pos = 0;
    while (pos < blob.size()) {
      if (blob.size() - pos < 4) return bad(fmt::format("input '{}': truncated BYTES length prefix", tensor.name));
      const auto n = core::loadLittleEndian<std::uint32_t>(blob.data() + pos);
      pos += 4;
      if (n > blob.size() - pos)
        return bad(fmt::format("input '{}': BYTES element longer than the binary data", tensor.name));
      tensor.strings.emplace_back(blob.substr(pos, n));
      pos += n;
    }
    if (tensor.strings.size() != static_cast<std::size_t>(*count))
      return bad(fmt::format("input '{}': shape {} needs {} BYTES elements, the binary data has {}", tensor.name,
                             shapeToString(tensor.shape), *count, tensor.strings.size()));
    return {};
  }
  if (static_cast<std::uint64_t>(*count) > blob.size() / std::max<std::size_t>(1, elementSize(tensor.type)) ||
      blob.size() != static_cast<std::size_t>(*count) * elementSize(tensor.type))
    return bad(fmt::format("input '{}': shape {} of {} needs {} bytes, binary_data_size is {}", tensor.name,
                           shapeToString(tensor.shape), dataTypeName(tensor.type),
                           static_cast<std::uint64_t>(*count) * elementSize(tensor.type), blob.size()));
  tensor.data.resize(blob.size());
  if (!blob.empty()) std::memcpy(tensor.data.data(), blob.data(), blob.size());
  return {};
}

}  // namespace

core::Result<InferRequest> decodeInferRequest(std::string_view body, std::optional<std::size_t> jsonLength) {
  std::string_view json = body;
  std::string_view binary;
  if (jsonLength) {
    if (*jsonLength > body.size())
      return bad(fmt::format("Inference-Header-Content-Length {} exceeds the body size {}", *jsonLength, body.size()));
    json = body.substr(0, *jsonLength);
    binary = body.substr(*jsonLength);
  }
  auto parsed = parseObject(json, "malformed JSON inference request", "inference request: expected a JSON object");
  if (!parsed) return core::fail(parsed.error());
  const simdjson::dom::object root = *parsed;
  InferRequest request;
  bool haveInputs = false;
  for (auto field : root) {
    std::string_view key = field.key;
    if (key == "id") {
      std::string_view id;
      if (field.value.get_string().get(id)) return bad("inference request: \"id\" must be a string");
      request.id = std::string(id);
    } else if (key == "parameters") {
      simdjson::dom::object params;
      if (field.value.get_object().get(params)) return bad("inference request: \"parameters\" must be an object");
      for (auto p : params)
        if (p.key == "binary_data_output") {
          bool flag = false;
          if (p.value.get_bool().get(flag)) return bad("parameter binary_data_output must be a boolean");
          request.binaryOutputAll = flag;
        }
    } else if (key == "inputs") {
      simdjson::dom::array inputs;
      if (field.value.get_array().get(inputs)) return bad("inference request: \"inputs\" must be an array");
      haveInputs = true;
      for (element item : inputs) {
        simdjson::dom::object input;
        if (item.get_object().get(input)) return bad("inference request: each input must be an object");
        Tensor tensor;
        std::optional<element> data;
        std::optional<std::int64_t> binarySize;
        bool haveType = false, haveShape = false, haveName = false;
        for (auto f : input) {
          if (f.key == "name") {
            std::string_view name;
            if (f.value.get_string().get(name)) return bad("input \"name\" must be a string");
            tensor.name = std::string(name);
            haveName = true;
          } else if (f.key == "datatype") {
            std::string_view name;
            if (f.value.get_string().get(name)) return bad("input \"datatype\" must be a string");
            auto type = parseDataType(name);
            if (!type) return bad(fmt::format("unknown datatype \"{}\"", std::string(name.substr(0, 32))));
            tensor.type = *type;
            haveType = true;
          } else if (f.key == "shape") {
            simdjson::dom::array shape;
            if (f.value.get_array().get(shape)) return bad("input \"shape\" must be an array of integers");
            for (element d : shape) {
              std::int64_t dim = 0;
              if (d.get_int64().get(dim) || dim < 0) return bad("input \"shape\" must hold non-negative integers");
              tensor.shape.push_back(dim);
            }
            if (tensor.shape.size() > 16) return bad("input \"shape\" has more than 16 dimensions");
            haveShape = true;
          } else if (f.key == "data") {
            data = f.value;
          } else if (f.key == "parameters") {
            simdjson::dom::object params;
            if (f.value.get_object().get(params)) return bad("input \"parameters\" must be an object");
            for (auto p : params)
              if (p.key == "binary_data_size") {
                std::int64_t size = 0;
                if (p.value.get_int64().get(size) || size < 0)
                  return bad("binary_data_size must be a non-negative integer");
                binarySize = size;
              }
          }
        }
        if (!haveName) return bad("an input has no \"name\"");
        if (!haveType) return bad(fmt::format("input '{}' has no \"datatype\"", tensor.name));
        if (!haveShape) return bad(fmt::format("input '{}' has no \"shape\"", tensor.name));
        auto count = tensor.elementCount();
        if (!count) return bad(fmt::format("input '{}': shape {} overflows", tensor.name, shapeToString(tensor.shape)));
        if (binarySize) {
          if (!jsonLength)
            return bad(fmt::format(
                "input '{}' has binary_data_size but the request has no Inference-Header-Content-Length", tensor.name));
          if (static_cast<std::uint64_t>(*binarySize) > binary.size())
            return bad(fmt::format("input '{}': binary_data_size {} exceeds the {} bytes of binary data left",
                                   tensor.name, *binarySize, binary.size()));
          MLAAS_TRY(fillFromBinary(tensor, binary.substr(0, static_cast<std::size_t>(*binarySize))));
          binary.remove_prefix(static_cast<std::size_t>(*binarySize));
          request.usedBinaryInput = true;
        } else {
          if (!data) return bad(fmt::format("input '{}' has neither \"data\" nor binary_data_size", tensor.name));
          // Bound the allocation by what the body can hold: every JSON element takes >= 1 byte.
          if (static_cast<std::uint64_t>(*count) > json.size())
            return bad(fmt::format("input '{}': shape {} has more elements than the request has bytes", tensor.name,
                                   shapeToString(tensor.shape)));
          if (tensor.type != DataType::bytes)
            tensor.data.reserve(static_cast<std::size_t>(*count) * elementSize(tensor.type));
          MLAAS_TRY(appendJsonData(tensor, *data, 0));
          std::size_t have =
              tensor.type == DataType::bytes ? tensor.strings.size() : tensor.data.size() / elementSize(tensor.type);
          if (have != static_cast<std::size_t>(*count))
            return bad(fmt::format("input '{}': shape {} needs {} elements, \"data\" has {}", tensor.name,
                                   shapeToString(tensor.shape), *count, have));
        }
        request.inputs.push_back(std::move(tensor));
      }
    } else if (key == "outputs") {
      simdjson::dom::array outputs;
      if (field.value.get_array().get(outputs)) return bad("inference request: \"outputs\" must be an array");
      for (element item : outputs) {
        simdjson::dom::object output;
        if (item.get_object().get(output)) return bad("each requested output must be an object");
        std::string name;
        bool binaryFlag = false;
        for (auto f : output) {
          if (f.key == "name") {
            std::string_view n;
            if (f.value.get_string().get(n)) return bad("output \"name\" must be a string");
            name = std::string(n);
          } else if (f.key == "parameters") {
            simdjson::dom::object params;
            if (f.value.get_object().get(params)) return bad("output \"parameters\" must be an object");
            for (auto p : params)
              if (p.key == "binary_data") {
                if (p.value.get_bool().get(binaryFlag)) return bad("output parameter binary_data must be a boolean");
              }
          }
        }
        if (name.empty()) return bad("a requested output has no \"name\"");
        if (binaryFlag) request.binaryOutputs.insert(name);
        request.outputs.push_back(std::move(name));
      }
    }
  }
  if (!haveInputs) return bad("inference request has no \"inputs\"");
  if (!binary.empty())
    return bad(fmt::format("{} bytes of binary data are not claimed by any input's binary_data_size", binary.size()));
  return request;
}

core::Result<EncodedBody> encodeInferResponse(std::string_view modelName, std::string_view version,
                                              const InferRequest& request, std::vector<Tensor> outputs) {
  std::vector<const Tensor*> selected;
  if (request.outputs.empty()) {
    for (const auto& t : outputs) selected.push_back(&t);
  } else {
    for (const auto& name : request.outputs) {
      auto it = std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& t) { return t.name == name; });
      if (it == outputs.end()) return bad(fmt::format("model {} has no output '{}'", modelName, name));
      selected.push_back(&*it);
    }
  }
  EncodedBody encoded;
  std::string& out = encoded.body;
  out.reserve(256);  // a small response's JSON in one allocation
  out += "{\"model_name\":";
  out += jsonString(modelName);
  out += ",\"model_version\":";
  out += jsonString(version);
  if (!request.id.empty()) {
    out += ",\"id\":";
    out += jsonString(request.id);
  }
  out += ",\"outputs\":[";
  std::string binary;
  bool first = true;
  for (const Tensor* t : selected) {
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    out += jsonString(t->name);
    out += ",\"datatype\":\"";
    out += dataTypeName(t->type);
    out += "\",\"shape\":[";
    for (std::size_t d = 0; d < t->shape.size(); ++d)
      fmt::format_to(std::back_inserter(out), "{}{}", d ? "," : "", t->shape[d]);
    out += ']';
    bool asBinary = request.binaryOutputAll || request.binaryOutputs.count(t->name) || t->type == DataType::fp16;
    if (asBinary) {
      fmt::format_to(std::back_inserter(out), ",\"parameters\":{{\"binary_data_size\":{}}}}}",
                     appendBinary(binary, *t));
    } else {
      out += ",\"data\":";
      appendJsonValues(out, *t);
      out += '}';
    }
  }
  out += "]}";
  if (request.binaryOutputAll || !request.binaryOutputs.empty() || !binary.empty()) {
    encoded.jsonLength = out.size();
    encoded.contentType = "application/octet-stream";
    out += binary;
  }
  return encoded;
}

core::Result<TfaasRequest> decodeTfaasJson(std::string_view body) {
  auto parsed =
      parseObject(body, "malformed JSON", "TFaaS request: expected a JSON object with \"values\" and \"model\"");
  if (!parsed) return core::fail(parsed.error());
  const simdjson::dom::object root = *parsed;
  TfaasRequest request;
  bool haveValues = false;
  auto lowerEq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return detail::lowerAscii(x) == y; });
  };
  auto number = [](element e, double& v) {
    switch (e.type()) {
      case element_type::DOUBLE: v = e.get_double().value_unsafe(); return true;
      case element_type::INT64: v = static_cast<double>(e.get_int64().value_unsafe()); return true;
      case element_type::UINT64: v = static_cast<double>(e.get_uint64().value_unsafe()); return true;
      default: return false;
    }
  };
  for (auto field : root) {
    if (lowerEq(field.key, "model") || (lowerEq(field.key, "name") && request.model.empty())) {
      std::string_view model;
      if (field.value.get_string().get(model)) return bad("TFaaS request: \"model\" must be a string");
      request.model = std::string(model);
    } else if (lowerEq(field.key, "values")) {
      simdjson::dom::array values;
      if (field.value.get_array().get(values)) return bad("TFaaS request: \"values\" must be an array");
      haveValues = true;
      std::vector<double> single;
      for (element v : values) {
        if (v.type() == element_type::ARRAY) {
          request.batch = true;
          std::vector<double> row;
          simdjson::dom::array items = v.get_array().value_unsafe();
          for (element x : items) {
            double d = 0;
            if (!number(x, d)) return bad("TFaaS request: \"values\" rows must hold numbers");
            row.push_back(d);
          }
          request.rows.push_back(std::move(row));
        } else {
          double d = 0;
          if (!number(v, d)) return bad("TFaaS request: \"values\" must hold numbers or arrays of numbers");
          single.push_back(d);
        }
      }
      if (request.batch && !single.empty()) return bad("TFaaS request: \"values\" mixes numbers and arrays");
      if (!request.batch) request.rows.push_back(std::move(single));
    }
  }
  if (!haveValues) return bad("TFaaS request has no \"values\"");
  return request;
}

core::Result<TfaasRequest> decodeTfaasProto(std::string_view body) {
  tfaaspb::Row row;
  if (body.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !row.ParseFromArray(body.data(), static_cast<int>(body.size())))
    return bad("malformed protobuf: expected a tfaaspb.Row");
  TfaasRequest request;
  request.model = row.model();
  request.rows.emplace_back(row.value().begin(), row.value().end());
  return request;
}

core::Result<Tensor> rowsToTensor(const std::vector<std::vector<double>>& rows, const TensorSpec& spec) {
  Tensor t;
  t.name = spec.name;
  t.type = spec.type;
  if (rows.empty()) return bad("TFaaS request: no values");
  std::size_t columns = rows.front().size();
  for (const auto& row : rows)
    if (row.size() != columns) return bad("TFaaS request: rows of \"values\" differ in length");
  if (spec.shape.size() == 1 && rows.size() == 1)
    t.shape = {static_cast<std::int64_t>(columns)};
  else
    t.shape = {static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(columns)};
  std::size_t index = 0;
  auto outside = [&](double v) {
    return bad(fmt::format("TFaaS request: value {} ({}) is outside the {} range of input '{}'", index, v,
                           dataTypeName(spec.type), spec.name));
  };
  // Casting a double outside the target's range is undefined (integers) or silently inf (FP32).
  for (const auto& row : rows)
    for (double v : row) {
      switch (spec.type) {
        case DataType::fp32:
          if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) return outside(v);
          appendValue(t.data, static_cast<float>(v));
          break;
        case DataType::fp64: appendValue(t.data, v); break;
        case DataType::int32:
          if (!(v >= -2147483648.0 && v < 2147483648.0)) return outside(v);
          appendValue(t.data, static_cast<std::int32_t>(v));
          break;
        case DataType::int64:
          if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return outside(v);
          appendValue(t.data, static_cast<std::int64_t>(v));
          break;
        default:
          return bad(fmt::format("TFaaS requests need a model input of type FP32, FP64, INT32 or INT64; '{}' is {}",
                                 spec.name, dataTypeName(spec.type)));
      }
      ++index;
    }
  return t;
}

std::string_view nonFiniteJsonString(double value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

std::vector<double> tensorToDoubles(const Tensor& t) {
  std::vector<double> out;
  std::size_t n = elementSize(t.type) ? t.data.size() / elementSize(t.type) : 0;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) switch (t.type) {
      case DataType::fp32: out.push_back(loadAt<float>(t.data, i)); break;
      case DataType::fp64: out.push_back(loadAt<double>(t.data, i)); break;
      case DataType::int8: out.push_back(loadAt<std::int8_t>(t.data, i)); break;
      case DataType::int16: out.push_back(loadAt<std::int16_t>(t.data, i)); break;
      case DataType::int32: out.push_back(loadAt<std::int32_t>(t.data, i)); break;
      case DataType::int64: out.push_back(static_cast<double>(loadAt<std::int64_t>(t.data, i))); break;
      case DataType::uint8: out.push_back(loadAt<std::uint8_t>(t.data, i)); break;
      case DataType::uint16: out.push_back(loadAt<std::uint16_t>(t.data, i)); break;
      case DataType::uint32: out.push_back(loadAt<std::uint32_t>(t.data, i)); break;
      case DataType::uint64: out.push_back(static_cast<double>(loadAt<std::uint64_t>(t.data, i))); break;
      case DataType::boolean: out.push_back(t.data[i] != std::byte{0} ? 1.0 : 0.0); break;
      default: out.push_back(0); break;
    }
  return out;
}

std::string encodeTfaasJson(const Tensor& output, bool batch) {
  auto values = tensorToDoubles(output);
  std::string out;
  std::size_t rows = batch && !output.shape.empty() ? static_cast<std::size_t>(output.shape[0]) : 1;
  std::size_t perRow = rows ? values.size() / rows : 0;
  if (!batch)
    perRow = rows && !output.shape.empty() && output.shape.size() > 1
                 ? values.size() / static_cast<std::size_t>(std::max<std::int64_t>(1, output.shape[0]))
                 : values.size();
  auto row = [&](std::size_t r) {
    out += '[';
    for (std::size_t i = 0; i < perRow; ++i) {
      if (i) out += ',';
      double v = values[r * perRow + i];
      if (output.type == DataType::fp32)
        appendNumber(out, static_cast<float>(v));  // fmt would print a bare nan, which no JSON parser reads
      else
        appendNumber(out, v);
    }
    out += ']';
  };
  if (!batch) {
    row(0);
    return out;
  }
  out += '[';
  for (std::size_t r = 0; r < rows; ++r) {
    if (r) out += ',';
    row(r);
  }
  out += ']';
  return out;
}

std::string encodeTfaasProto(const Tensor& output, const std::vector<std::string>& labels) {
  tfaaspb::Predictions predictions;
  auto values = tensorToDoubles(output);
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto* cls = predictions.add_prediction();
    cls->set_probability(static_cast<float>(values[i]));
    if (!labels.empty()) cls->set_label(labels[i % labels.size()]);
  }
  return predictions.SerializeAsString();
}

}  // namespace mlaas::serve
