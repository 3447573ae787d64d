#include "serve/predict_events.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <type_traits>

#include "data/config.hpp"
#include "data/json_events.hpp"
#include "serve/codec.hpp"

namespace mlaas::serve {

namespace {

using nlohmann::json;

std::shared_ptr<const EventPreprocessor> compileObject(const json& preprocessing, const std::string& where,
                                                       std::vector<std::string> labels);

}  // namespace

// The one place that fills an EventPreprocessor (a friend: the constructor stays private).
struct EventPreprocessorBuilder {
  static std::shared_ptr<const EventPreprocessor> build(std::shared_ptr<const data::Plan> plan,
                                                        std::shared_ptr<const data::Transform> transform,
                                                        data::TreeSchema schema, std::vector<std::string> labels);
};

std::shared_ptr<const EventPreprocessor> EventPreprocessor::compile(std::string_view preprocessingJson,
                                                                    const std::string& where) {
  const json preprocessing = json::parse(preprocessingJson, nullptr, false);
  if (preprocessing.is_discarded())
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: preprocessing is not JSON", where));
  return compileObject(preprocessing, where, {});
}

std::shared_ptr<const EventPreprocessor> EventPreprocessor::fromModelJson(const std::filesystem::path& modelJson) {
  std::ifstream in(modelJson, std::ios::binary);
  if (!in)
    throw core::Exception(core::Errc::not_found,
                          fmt::format("{}: cannot read the bundle's model.json", modelJson.string()));
  std::ostringstream text;
  text << in.rdbuf();
  const json doc = json::parse(text.str(), nullptr, false);
  if (!doc.is_object())
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: not a JSON object", modelJson.string()));
  std::vector<std::string> labels;
  if (auto it = doc.find("labels"); it != doc.end() && it->is_array())
    for (const auto& label : *it)
      if (label.is_string()) labels.push_back(label.get<std::string>());
  auto it = doc.find("preprocessing");
  return compileObject(it == doc.end() ? json(nullptr) : *it, modelJson.string(), std::move(labels));
}

namespace {

std::shared_ptr<const EventPreprocessor> compileObject(const json& preprocessing, const std::string& where,
                                                       std::vector<std::string> labels) {
  auto missing = [&](const std::string& what) {
    return core::Exception(
        core::Errc::conflict,
        fmt::format("{}: the model has no preprocessing spec ({}), so it cannot take raw events; train it with "
                    "'mlaas train' (which stores 'preprocessing' with the version) or send tensors to "
                    "/v2/models/{{name}}/infer",
                    where, what));
  };
  if (!preprocessing.is_object()) throw missing("no 'preprocessing' object");
  auto configIt = preprocessing.find("dataset_config");
  if (configIt == preprocessing.end() || !configIt->is_string() || configIt->get<std::string>().empty())
    throw missing("'preprocessing.dataset_config' is absent");
  auto specsIt = preprocessing.find("specs");
  if (specsIt == preprocessing.end() || !specsIt->is_object()) throw missing("'preprocessing.specs' is absent");

  auto config = data::DatasetConfig::parse(configIt->get<std::string>(), where + " preprocessing.dataset_config", ".");
  // Inference takes every event it is given: no selection, and nothing that only training reads.
  config.selection.clear();
  config.labelBranch.clear();
  config.labelExpression.clear();
  config.weight.clear();
  config.split.byIdentifiers = false;
  const auto specs = data::Specs::fromJson(specsIt->dump(), where + " preprocessing.specs");
  if (specs.schema.empty())
    throw core::Exception(
        core::Errc::invalid_argument,
        fmt::format("{}: preprocessing.specs has no branch schema (specs from an older mlaas stats?)", where));
  auto plan = data::Plan::build(config, specs.schema);
  auto transform = std::make_shared<const data::Transform>(plan, specs);
  data::TreeSchema schema;
  for (const auto& name : plan->branches())
    for (const auto& info : specs.schema)
      if (info.name == name) schema.push_back(info);
  return EventPreprocessorBuilder::build(std::move(plan), std::move(transform), std::move(schema), std::move(labels));
}

}  // namespace

std::shared_ptr<const EventPreprocessor> EventPreprocessorBuilder::build(
    std::shared_ptr<const data::Plan> plan, std::shared_ptr<const data::Transform> transform, data::TreeSchema schema,
    std::vector<std::string> labels) {
  std::shared_ptr<EventPreprocessor> out(new EventPreprocessor());
  out->plan_ = std::move(plan);
  out->transform_ = std::move(transform);
  out->schema_ = std::move(schema);
  out->labels_ = std::move(labels);
  return out;
}

namespace {
/// `values` converted to T, as a tensor's bytes.
template <class T, class From>
void storeAs(std::span<const From> values, std::vector<std::byte>& out) {
  out.resize(values.size() * sizeof(T));
  if constexpr (std::is_same_v<T, From>) {
    if (!values.empty()) std::memcpy(out.data(), values.data(), values.size_bytes());
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto v = static_cast<T>(values[i]);
      std::memcpy(out.data() + i * sizeof v, &v, sizeof v);
    }
  }
}
}  // namespace

core::Result<std::vector<Tensor>> EventPreprocessor::tensors(std::span<const root::Column> columns,
                                                             const ModelSignature& signature) const {
  auto chunk = plan_->prepare(columns);
  if (!chunk) return core::fail(core::Errc::invalid_argument, std::move(chunk).error().message);
  std::vector<std::uint32_t> events(chunk->entries);
  std::iota(events.begin(), events.end(), 0U);
  auto batch = transform_->makeBatch();
  if (auto applied = transform_->apply(*chunk, events, batch); !applied)
    return core::fail(core::Errc::invalid_argument, std::move(applied).error().message);
  const auto rows = static_cast<std::int64_t>(batch.rows);

  std::vector<Tensor> out;
  for (const auto& input : signature.inputs) {
    Tensor tensor;
    tensor.name = input.name;
    tensor.type = input.type;
    std::vector<std::size_t> shape;
    if (auto t = batch.tensorIndex(input.name); t != std::string::npos) {
      shape = batch.tensorSpecs[t].shape;
      const auto values = batch.tensor(t);
      if (input.type == DataType::fp32) {
        storeAs<float>(values, tensor.data);
      } else if (input.type == DataType::fp64) {
        storeAs<double>(values, tensor.data);
      } else {
        return core::fail(core::Errc::conflict,
                          fmt::format("model input '{}' is {}, but the preprocessing makes FP32 features", input.name,
                                      dataTypeName(input.type)));
      }
    } else if (auto m = batch.maskIndex(input.name); m != std::string::npos) {
      shape = batch.maskSpecs[m].shape;
      const auto mask = batch.mask(m);
      if (input.type == DataType::uint8 || input.type == DataType::boolean) {
        storeAs<std::uint8_t>(mask, tensor.data);
      } else if (input.type == DataType::fp32) {
        storeAs<float>(mask, tensor.data);
      } else {
        return core::fail(core::Errc::conflict,
                          fmt::format("model input '{}' is {}, but the preprocessing makes UINT8 masks", input.name,
                                      dataTypeName(input.type)));
      }
    } else {
      std::string made;
      for (const auto& spec : batch.tensorSpecs) made += (made.empty() ? "" : ", ") + spec.name;
      for (const auto& spec : batch.maskSpecs) made += (made.empty() ? "" : ", ") + spec.name;
      return core::fail(
          core::Errc::conflict,
          fmt::format("model input '{}' is not made by the preprocessing (it makes: {})", input.name, made));
    }
    tensor.shape.push_back(rows);
    for (auto d : shape) tensor.shape.push_back(static_cast<std::int64_t>(d));
    out.push_back(std::move(tensor));
  }
  return out;
}

// ---- the per-version cache -------------------------------------------------------------------

namespace {

using Compiled = core::Result<std::shared_ptr<const EventPreprocessor>>;

struct PreprocessorCache {
  std::mutex mutex;
  std::map<std::string, std::shared_future<Compiled>> entries;
};

PreprocessorCache& cache() {
  static PreprocessorCache instance;
  return instance;
}

/// Name, version, ONNX digest and the metadata's hash: a version re-uploaded under the same
/// number elsewhere (another server in the same process) never reuses a stale plan.
std::string keyOf(const VersionRecord& version) {
  return fmt::format("{}\n{}\n{}\n{:x}", version.name, version.version, version.sha256,
                     std::hash<std::string>{}(version.metadataJson));
}

Compiled compileVersion(const VersionRecord& version) {
  const json meta =
      json::parse(version.metadataJson.empty() ? std::string("{}") : version.metadataJson, nullptr, false);
  std::vector<std::string> labels = version.labels;
  const auto where = fmt::format("model {}", version.label());
  try {
    auto it = meta.is_object() ? meta.find("preprocessing") : meta.end();
    return compileObject(meta.is_object() && it != meta.end() ? *it : json(nullptr), where, std::move(labels));
  } catch (const core::Exception& e) {
    return core::fail(e.error());
  } catch (const std::exception& e) {
    return core::fail(core::Errc::invalid_argument, fmt::format("{}: preprocessing: {}", where, e.what()));
  }
}

}  // namespace

core::Result<std::shared_ptr<const EventPreprocessor>> preprocessorFor(const VersionRecord& version) {
  constexpr std::size_t kMaxCached = 256;  // versions; compiled plans are small, but not unbounded
  auto& c = cache();
  const auto key = keyOf(version);
  std::shared_future<Compiled> future;
  std::promise<Compiled> promise;
  bool compileHere = false;
  {
    std::lock_guard lock(c.mutex);
    auto it = c.entries.find(key);
    if (it == c.entries.end()) {
      if (c.entries.size() >= kMaxCached) c.entries.erase(c.entries.begin());
      future = promise.get_future().share();
      c.entries.emplace(key, future);
      compileHere = true;
    } else {
      future = it->second;
    }
  }
  if (compileHere) promise.set_value(compileVersion(version));
  return future.get();
}

core::Result<EventsRequest> decodeEventsRequest(const VersionRecord& version, std::string_view body,
                                                std::size_t maxEvents) {
  auto preprocessor = preprocessorFor(version);
  if (!preprocessor) return core::fail(preprocessor.error());
  const auto& pre = **preprocessor;
  auto events = data::columnsFromJsonEvents(body, pre.schema(), pre.branches(), maxEvents);
  if (!events) return core::fail(std::move(events).error());
  auto inputs = pre.tensors(events->columns, version.signature);
  if (!inputs) return core::fail(std::move(inputs).error());
  return EventsRequest{events->events, std::move(*inputs)};
}

core::Result<std::string> encodeEventsResponse(const VersionRecord& version, std::string_view requestedRef,
                                               std::size_t events, const std::vector<Tensor>& outputs) {
  json outs = json::array();
  for (const auto& tensor : outputs) {
    json data = json::array();
    const auto count = tensor.elementCount();
    if (!count) return core::fail(core::Errc::internal, fmt::format("output '{}' has a bad shape", tensor.name));
    auto n = static_cast<std::size_t>(*count);
    auto at = [&](std::size_t i, auto zero) {
      decltype(zero) v;
      std::memcpy(&v, tensor.data.data() + i * sizeof v, sizeof v);
      return v;
    };
    if (tensor.type == DataType::bytes) {
      for (const auto& s : tensor.strings) data.push_back(s);
    } else if (tensor.data.size() < n * elementSize(tensor.type)) {
      return core::fail(core::Errc::internal, fmt::format("output '{}' holds fewer bytes than its shape", tensor.name));
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        switch (tensor.type) {
          case DataType::fp32: {
            const float v = at(i, 0.0F);
            data.push_back(std::isfinite(v) ? json(v) : json(std::string(nonFiniteJsonString(v))));
            break;
          }
          case DataType::fp64: {
            const double v = at(i, 0.0);
            data.push_back(std::isfinite(v) ? json(v) : json(std::string(nonFiniteJsonString(v))));
            break;
          }
          case DataType::int64:
            data.push_back(at(i, std::int64_t{0}));
            break;
          case DataType::int32:
            data.push_back(at(i, std::int32_t{0}));
            break;
          case DataType::uint8:
          case DataType::boolean:
            data.push_back(at(i, std::uint8_t{0}));
            break;
          default:
            return core::fail(
                core::Errc::unsupported,
                fmt::format(
                    "output '{}' is {}; predict-events answers FP32, FP64, INT32, INT64, UINT8 and BOOL outputs",
                    tensor.name, dataTypeName(tensor.type)));
        }
      }
    }
    outs.push_back({{"name", tensor.name},
                    {"datatype", std::string(dataTypeName(tensor.type))},
                    {"shape", tensor.shape},
                    {"data", data}});
  }
  json response = {{"model_name", version.name},
                   {"model_version", std::to_string(version.version)},
                   {"model_ref", std::string(requestedRef)},
                   {"events", events},
                   {"labels", version.labels},
                   {"outputs", outs}};
  return response.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlaas::serve
