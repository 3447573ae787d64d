#include "serve/runtime.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>

#include <fmt/format.h>

namespace mlaas::serve {
namespace {

RuntimeOptions& pendingOptions() {
  static RuntimeOptions options;
  return options;
}

Ort::Env& environment() {
  static Ort::Env env = [] {
    Ort::ThreadingOptions threading;
    threading.SetGlobalIntraOpNumThreads(std::max(1, pendingOptions().intraOpThreads));
    threading.SetGlobalInterOpNumThreads(1);
    threading.SetGlobalSpinControl(0);  // spinning workers steal the cores the I/O threads need
    return Ort::Env(threading, ORT_LOGGING_LEVEL_ERROR, "mlaas");
  }();
  return env;
}

std::optional<DataType> fromOrt(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DataType::fp32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return DataType::fp64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return DataType::fp16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return DataType::boolean;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DataType::uint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return DataType::uint16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return DataType::uint32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return DataType::uint64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return DataType::int8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return DataType::int16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DataType::int32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DataType::int64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return DataType::bytes;
    default: return std::nullopt;
  }
}

ONNXTensorElementDataType toOrt(DataType type) {
  switch (type) {
    case DataType::fp32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DataType::fp64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DataType::fp16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DataType::boolean: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DataType::uint8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DataType::uint16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DataType::uint32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DataType::uint64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DataType::int8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DataType::int16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DataType::int32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DataType::int64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DataType::bytes: return ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

core::Result<TensorSpec> specFromTypeInfo(const Ort::TypeInfo& info, std::string name, std::string_view kind,
                                          std::string_view label) {
  if (info.GetONNXType() != ONNX_TYPE_TENSOR)
    return core::fail(core::Errc::invalid_argument,
                      fmt::format("model {}: {} '{}' is not a tensor (sequences and maps are not supported)", label,
                                  kind, name));
  auto tensorInfo = info.GetTensorTypeAndShapeInfo();
  auto type = fromOrt(tensorInfo.GetElementType());
  if (!type)
    return core::fail(core::Errc::invalid_argument,
                      fmt::format("model {}: {} '{}' has an element type the server does not support (ONNX type {})",
                                  label, kind, name, static_cast<int>(tensorInfo.GetElementType())));
  TensorSpec spec{std::move(name), *type, tensorInfo.GetShape()};
  for (auto& dim : spec.shape)
    if (dim < 0) dim = -1;
  return spec;
}

}  // namespace

void configureRuntime(const RuntimeOptions& options) { pendingOptions() = options; }

std::string onnxRuntimeVersion() { return Ort::GetVersionString(); }

struct LoadedModel::Impl {
  mutable Ort::Session session{nullptr};  // Run() is thread-safe but not declared const
  ModelSignature signature;
  bool batchable = false;
  std::vector<std::string> inputNames, outputNames;
  std::vector<const char*> inputNamePtrs, outputNamePtrs;
  std::string label;
  std::size_t memoryBytes = 0;
  mutable std::atomic<std::int64_t> runNanos{0};  // moving average of Run; racing updates may drop a sample
};

LoadedModel::LoadedModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadedModel::~LoadedModel() = default;
const ModelSignature& LoadedModel::signature() const noexcept { return impl_->signature; }
bool LoadedModel::batchable() const noexcept {
  return impl_->batchable;
}
const std::string& LoadedModel::label() const noexcept { return impl_->label; }
std::size_t LoadedModel::memoryBytes() const noexcept { return impl_->memoryBytes; }
std::chrono::nanoseconds LoadedModel::typicalRunTime() const noexcept {
  return std::chrono::nanoseconds(impl_->runNanos.load(std::memory_order_relaxed));
}

core::Result<std::shared_ptr<const LoadedModel>> LoadedModel::load(std::string_view onnxBytes, std::string label) {
  auto impl = std::make_unique<Impl>();
  impl->label = std::move(label);
  try {
    Ort::SessionOptions options;
    options.DisablePerSessionThreads();  // use the environment's global pool: one thread budget
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    options.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
    impl->session = Ort::Session(environment(), onnxBytes.data(), onnxBytes.size(), options);
    Ort::AllocatorWithDefaultOptions allocator;
    for (std::size_t i = 0; i < impl->session.GetInputCount(); ++i) {
      std::string name = impl->session.GetInputNameAllocated(i, allocator).get();
      auto spec = specFromTypeInfo(impl->session.GetInputTypeInfo(i), name, "input", impl->label);
      if (!spec) return core::fail(spec.error());
      impl->signature.inputs.push_back(std::move(*spec));
      impl->inputNames.push_back(std::move(name));
    }
    for (std::size_t i = 0; i < impl->session.GetOutputCount(); ++i) {
      std::string name = impl->session.GetOutputNameAllocated(i, allocator).get();
      auto spec = specFromTypeInfo(impl->session.GetOutputTypeInfo(i), name, "output", impl->label);
      if (!spec) return core::fail(spec.error());
      impl->signature.outputs.push_back(std::move(*spec));
      impl->outputNames.push_back(std::move(name));
    }
  } catch (const Ort::Exception& e) {
    return core::fail(core::Errc::invalid_argument,
                      fmt::format("model {}: ONNX Runtime cannot load it: {}", impl->label, e.what()));
  }
  auto dynamicFirst = [](const TensorSpec& s) { return !s.shape.empty() && s.shape[0] == -1; };
  const auto& signature = impl->signature;
  impl->batchable = !signature.inputs.empty() &&
                    std::all_of(signature.inputs.begin(), signature.inputs.end(), dynamicFirst) &&
                    std::all_of(signature.outputs.begin(), signature.outputs.end(), dynamicFirst);
  for (const auto& n : impl->inputNames) impl->inputNamePtrs.push_back(n.c_str());
  for (const auto& n : impl->outputNames) impl->outputNamePtrs.push_back(n.c_str());
  // Weights dominate; ORT keeps roughly one optimized copy plus arena blocks.
  impl->memoryBytes = onnxBytes.size() * 2 + (1u << 20);
  return std::shared_ptr<const LoadedModel>(new LoadedModel(std::move(impl)));
}

core::Result<std::vector<Tensor>> LoadedModel::run(std::span<const Tensor> inputs) const {
  const std::span<const Tensor> request[] = {inputs};
  return runConcatenated(request);
}

core::Result<std::vector<Tensor>> LoadedModel::runConcatenated(
    std::span<const std::span<const Tensor>> requests) const {
  const Impl& m = *impl_;
  if (requests.empty()) return core::fail(core::Errc::internal, fmt::format("model {}: run without inputs", m.label));
  for (const auto& inputs : requests)
    if (inputs.size() != m.inputNames.size())
      return core::fail(core::Errc::internal, fmt::format("model {}: {} inputs given, {} expected", m.label,
                                                          inputs.size(), m.inputNames.size()));
  try {
    static const Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeCPU);
    Ort::AllocatorWithDefaultOptions allocator;
    static std::byte emptyData[8]{};
    std::vector<Ort::Value> values;
    values.reserve(m.inputNames.size());
    std::vector<std::int64_t> shape;
    for (std::size_t i = 0; i < m.inputNames.size(); ++i) {
      const Tensor& first = requests.front()[i];
      if (requests.size() == 1 && first.type != DataType::bytes) {
        // One request's numeric data is used where it lies. ORT only reads inputs; the const_cast
        // satisfies its non-const C signature.
        void* data = first.data.empty() ? static_cast<void*>(emptyData) : const_cast<std::byte*>(first.data.data());
        values.push_back(Ort::Value::CreateTensor(cpu, data, first.data.size(), first.shape.data(), first.shape.size(),
                                                  toOrt(first.type)));
        continue;
      }
      // The batch's shape; the requests' elements must fill its tensor exactly (the copies below
      // rely on it).
      const bool isBytes = first.type == DataType::bytes;
      const std::size_t unit = isBytes ? 1 : elementSize(first.type);
      shape = first.shape;
      std::size_t given = 0;  // strings, or bytes of numeric data
      for (const auto& inputs : requests) {
        const Tensor& t = inputs[i];
        if (t.type != first.type || t.shape.size() != shape.size() || (requests.size() > 1 && t.shape.empty()))
          return core::fail(
              core::Errc::internal,
              fmt::format("model {}: input '{}' differs between the requests of a batch", m.label, first.name));
        if (&inputs != &requests.front()) shape[0] += t.shape[0];
        given += isBytes ? t.strings.size() : t.data.size();
      }
      const auto count = shapeElementCount(shape);
      if (!count || given % unit != 0 || given / unit != static_cast<std::size_t>(*count))
        return core::fail(core::Errc::internal, fmt::format("model {}: input '{}' has {} elements for shape {}",
                                                            m.label, first.name, given / unit, shapeToString(shape)));
      auto value = Ort::Value::CreateTensor(allocator, shape.data(), shape.size(), toOrt(first.type));
      if (isBytes) {
        // Element buffers sized per string keep embedded NUL bytes (FillStringTensor would cut them).
        std::size_t k = 0;
        for (const auto& inputs : requests)
          for (const std::string& element : inputs[i].strings) {
            char* buffer = value.GetResizedStringTensorElementBuffer(k++, element.size());
            if (!element.empty()) std::memcpy(buffer, element.data(), element.size());
          }
      } else {
        auto* out = static_cast<std::byte*>(value.GetTensorMutableRawData());
        for (const auto& inputs : requests) {
          const auto& data = inputs[i].data;
          if (!data.empty()) out = std::copy(data.begin(), data.end(), out);
        }
      }
      values.push_back(std::move(value));
    }
    auto started = std::chrono::steady_clock::now();
    auto outputs = m.session.Run(Ort::RunOptions{nullptr}, m.inputNamePtrs.data(), values.data(), values.size(),
                                 m.outputNamePtrs.data(), m.outputNamePtrs.size());
    std::int64_t elapsed =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count();
    std::int64_t average = m.runNanos.load(std::memory_order_relaxed);
    m.runNanos.store(average == 0 ? elapsed : average + (elapsed - average) / 8, std::memory_order_relaxed);
    std::vector<Tensor> result;
    result.reserve(outputs.size());
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      Tensor out;
      out.name = m.outputNames[i];
      if (!outputs[i].IsTensor())
        return core::fail(core::Errc::unsupported,
                          fmt::format("model {}: output '{}' is not a tensor", m.label, out.name));
      auto info = outputs[i].GetTensorTypeAndShapeInfo();
      auto type = fromOrt(info.GetElementType());
      if (!type)
        return core::fail(core::Errc::unsupported,
                          fmt::format("model {}: output '{}' has an unsupported element type", m.label, out.name));
      out.type = *type;
      out.shape = info.GetShape();
      std::size_t count = info.GetElementCount();
      if (out.type == DataType::bytes) {
        out.strings.resize(count);
        for (std::size_t k = 0; k < count; ++k) out.strings[k] = outputs[i].GetStringTensorElement(k);
      } else {
        std::size_t bytes = count * elementSize(out.type);
        out.data.resize(bytes);
        if (bytes > 0) std::memcpy(out.data.data(), outputs[i].GetTensorRawData(), bytes);
      }
      result.push_back(std::move(out));
    }
    return result;
  } catch (const Ort::Exception& e) {
    return core::fail(core::Errc::invalid_argument, fmt::format("model {}: inference failed: {}", m.label, e.what()));
  }
}

core::Result<std::vector<Tensor>> matchInputs(const ModelSignature& signature, std::vector<Tensor> given,
                                              std::string_view modelLabel) {
  std::vector<Tensor> ordered(signature.inputs.size());
  // Which inputs were given: a bit per input on the stack for the usual handful (this runs once per
  // inference request), a vector beyond 64. Not derived from `ordered`: ONNX Runtime loads models
  // with an (unused) input named "", so an empty name there does not mean "not given".
  std::uint64_t seenBits = 0;
  std::vector<bool> seenMore(signature.inputs.size() > 64 ? signature.inputs.size() : 0, false);
  auto seen = [&](std::size_t i) { return i < 64 ? ((seenBits >> i) & 1u) != 0 : static_cast<bool>(seenMore[i]); };
  auto markSeen = [&](std::size_t i) {
    if (i < 64)
      seenBits |= std::uint64_t{1} << i;
    else
      seenMore[i] = true;
  };
  for (auto& tensor : given) {
    auto it = std::find_if(signature.inputs.begin(), signature.inputs.end(),
                           [&](const TensorSpec& s) { return s.name == tensor.name; });
    if (it == signature.inputs.end()) {
      std::string known;
      for (const auto& s : signature.inputs) known += (known.empty() ? "" : ", ") + s.name;
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("model {} has no input '{}' (inputs: {})", modelLabel, tensor.name, known));
    }
    auto index = static_cast<std::size_t>(it - signature.inputs.begin());
    if (seen(index))
      return core::fail(core::Errc::invalid_argument, fmt::format("input '{}' is given twice", tensor.name));
    markSeen(index);
    const TensorSpec& spec = *it;
    if (tensor.type != spec.type)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("input '{}' of model {} has datatype {}, not {}", tensor.name, modelLabel,
                                    dataTypeName(spec.type), dataTypeName(tensor.type)));
    bool shapeOk = tensor.shape.size() == spec.shape.size();
    for (std::size_t d = 0; shapeOk && d < spec.shape.size(); ++d)
      shapeOk = tensor.shape[d] >= 0 && (spec.shape[d] < 0 || spec.shape[d] == tensor.shape[d]);
    if (!shapeOk)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("input '{}' of model {} has shape {} (-1 = any), not {}", tensor.name, modelLabel,
                                    shapeToString(spec.shape), shapeToString(tensor.shape)));
    auto count = tensor.elementCount();
    if (!count)
      return core::fail(core::Errc::invalid_argument, fmt::format("input '{}': shape {} is too large", tensor.name,
                                                                  shapeToString(tensor.shape)));
    std::size_t have =
        tensor.type == DataType::bytes ? tensor.strings.size() : tensor.data.size() / elementSize(tensor.type);
    bool sizeOk = tensor.type == DataType::bytes
                      ? have == static_cast<std::size_t>(*count)
                      : tensor.data.size() == static_cast<std::size_t>(*count) * elementSize(tensor.type);
    if (!sizeOk)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("input '{}': shape {} needs {} elements, the data has {}", tensor.name,
                                    shapeToString(tensor.shape), *count, have));
    if (tensor.type == DataType::boolean)
      for (std::byte b : tensor.data)
        if (b != std::byte{0} && b != std::byte{1})
          return core::fail(core::Errc::invalid_argument,
                            fmt::format("input '{}': BOOL bytes must be 0 or 1", tensor.name));
    ordered[index] = std::move(tensor);
  }
  for (std::size_t i = 0; i < signature.inputs.size(); ++i)
    if (!seen(i))
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("model {} needs input '{}' ({} {})", modelLabel, signature.inputs[i].name,
                                    dataTypeName(signature.inputs[i].type), shapeToString(signature.inputs[i].shape)));
  return ordered;
}

}  // namespace mlaas::serve
