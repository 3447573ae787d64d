#include "onnx/model_builder.hpp"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <set>
#include <type_traits>

#include "core/result.hpp"

namespace mlaas::onnx {
namespace {

using core::Errc;
using core::Exception;

// ONNX Runtime 1.31 reads IR 8 / opset 17 models; libonnx 1.12 writes exactly that.
constexpr std::int64_t kIrVersion = 8;
constexpr std::int64_t kMinOpset = 13;
constexpr std::int64_t kMaxOpset = 17;
constexpr std::int64_t kMaxLayerSize = std::int64_t{1} << 20;
constexpr std::int64_t kMaxMlpWeights = std::int64_t{1} << 28;  // 1 GiB of floats: protobuf's 2 GiB cap

::onnx::TensorProto_DataType toProto(ElementType type) {
  switch (type) {
    case ElementType::float32: return ::onnx::TensorProto_DataType_FLOAT;
    case ElementType::float64: return ::onnx::TensorProto_DataType_DOUBLE;
    case ElementType::int32: return ::onnx::TensorProto_DataType_INT32;
    case ElementType::int64: return ::onnx::TensorProto_DataType_INT64;
    case ElementType::int8: return ::onnx::TensorProto_DataType_INT8;
    case ElementType::uint8: return ::onnx::TensorProto_DataType_UINT8;
    case ElementType::boolean: return ::onnx::TensorProto_DataType_BOOL;
  }
  throw Exception(Errc::internal, "unknown ElementType");
}

void requireName(const std::string& name, std::string_view what) {
  if (name.empty()) throw Exception(Errc::invalid_argument, fmt::format("onnx: {} name is empty", what));
}

/// Element count of dims, or throws when a dim is negative or the count overflows.
std::int64_t elementCount(const std::string& name, const std::vector<std::int64_t>& dims) {
  std::int64_t count = 1;
  for (auto dim : dims) {
    if (dim < 0)
      throw Exception(Errc::invalid_argument,
                      fmt::format("onnx: initializer '{}' has negative dimension {}", name, dim));
    if (dim != 0 && count > std::numeric_limits<std::int64_t>::max() / dim)
      throw Exception(Errc::invalid_argument, fmt::format("onnx: initializer '{}' is too large", name));
    count *= dim;
  }
  return count;
}

template <typename T>
constexpr ::onnx::TensorProto_DataType protoTypeOf() {
  if constexpr (std::is_same_v<T, float>) return ::onnx::TensorProto_DataType_FLOAT;
  else if constexpr (std::is_same_v<T, std::int64_t>) return ::onnx::TensorProto_DataType_INT64;
  else static_assert(sizeof(T) == 0, "no ONNX element type for this initializer type");
}

/// The one implementation behind GraphBuilder::addInitializer*: checks the name and that dims
/// hold exactly values.size() elements, then stores the values as raw_data.
template <typename T>
void addRawInitializer(::onnx::GraphProto& graph, const std::string& name, const std::vector<std::int64_t>& dims,
                       std::span<const T> values) {
  requireName(name, "initializer");
  const auto count = elementCount(name, dims);
  if (static_cast<std::uint64_t>(count) != values.size())
    throw Exception(Errc::invalid_argument,
                    fmt::format("onnx: initializer '{}' has {} values but its dimensions hold {}", name,
                                values.size(), count));
  auto* tensor = graph.add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(protoTypeOf<T>());
  for (auto dim : dims) tensor->add_dims(dim);
  // raw_data is the little-endian bytes of the values: what every ONNX reader expects for any
  // element type, and more compact than the typed repeated fields.
  static_assert(std::endian::native == std::endian::little, "raw_data needs little-endian values");
  tensor->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size_bytes()));
}

void fillValueInfo(::onnx::ValueInfoProto& info, const std::string& name, ElementType type,
                   const std::vector<std::int64_t>& shape, const std::vector<std::string>& dimNames) {
  if (!dimNames.empty() && dimNames.size() != shape.size())
    throw Exception(Errc::invalid_argument,
                    fmt::format("onnx: '{}' has {} dimensions but {} dimension names", name, shape.size(),
                                dimNames.size()));
  info.set_name(name);
  auto* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(toProto(type));
  auto* protoShape = tensor->mutable_shape();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    auto* dim = protoShape->add_dim();
    if (shape[i] >= 0) {
      dim->set_dim_value(shape[i]);
    } else if (shape[i] == -1) {
      if (!dimNames.empty() && !dimNames[i].empty())
        dim->set_dim_param(dimNames[i]);
      else
        dim->set_dim_param(i == 0 ? std::string("batch") : fmt::format("dim{}", i));
    } else {
      throw Exception(Errc::invalid_argument,
                      fmt::format("onnx: '{}' dimension {} is {} (use -1 for dynamic)", name, i, shape[i]));
    }
  }
}

/// SplitMix64: a tiny generator whose output is fully specified, unlike std distributions,
/// so that a seed names the same weights everywhere.
class PortableRandom {
 public:
  explicit PortableRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [-limit, limit).
  float symmetric(float limit) {
    const double unit = static_cast<double>(next() >> 11) * 0x1.0p-53;  // [0, 1)
    return static_cast<float>((2.0 * unit - 1.0) * limit);
  }

 private:
  std::uint64_t state_;
};

void applyActivation(Activation activation, std::span<float> row) {
  switch (activation) {
    case Activation::none: return;
    case Activation::relu:
      for (auto& v : row) v = std::max(v, 0.0f);
      return;
    case Activation::tanh:
      for (auto& v : row) v = std::tanh(v);
      return;
    case Activation::sigmoid:
      for (auto& v : row) v = 1.0f / (1.0f + std::exp(-v));
      return;
    case Activation::softmax: {
      const float maxValue = *std::max_element(row.begin(), row.end());
      float sum = 0;
      for (auto& v : row) sum += (v = std::exp(v - maxValue));
      for (auto& v : row) v /= sum;
      return;
    }
  }
}

void addActivationNode(GraphBuilder& graph, Activation activation, const std::string& input,
                       const std::string& output, const std::string& nodeName) {
  switch (activation) {
    case Activation::none: graph.addNode("Identity", {input}, {output}, {}, nodeName); return;
    case Activation::relu: graph.addNode("Relu", {input}, {output}, {}, nodeName); return;
    case Activation::tanh: graph.addNode("Tanh", {input}, {output}, {}, nodeName); return;
    case Activation::sigmoid: graph.addNode("Sigmoid", {input}, {output}, {}, nodeName); return;
    case Activation::softmax:
      graph.addNode("Softmax", {input}, {output}, {Attribute{"axis", std::int64_t{-1}}}, nodeName);
      return;
  }
}

}  // namespace

std::string_view elementTypeName(ElementType type) noexcept {
  switch (type) {
    case ElementType::float32: return "float32";
    case ElementType::float64: return "float64";
    case ElementType::int32: return "int32";
    case ElementType::int64: return "int64";
    case ElementType::int8: return "int8";
    case ElementType::uint8: return "uint8";
    case ElementType::boolean: return "bool";
  }
  return "unknown";
}

std::string_view activationName(Activation activation) noexcept {
  switch (activation) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
    case Activation::softmax: return "softmax";
  }
  return "unknown";
}

Activation parseActivation(std::string_view name) {
  for (auto activation : {Activation::none, Activation::relu, Activation::tanh, Activation::sigmoid,
                          Activation::softmax})
    if (activationName(activation) == name) return activation;
  throw Exception(Errc::invalid_argument,
                  fmt::format("unknown activation '{}' (expected none, relu, tanh, sigmoid or softmax)", name));
}

// ---- GraphBuilder ---------------------------------------------------------------------------

struct GraphBuilder::Impl {
  ::onnx::ModelProto model;
};

GraphBuilder::GraphBuilder(std::string graphName, std::int64_t opset) : impl_(std::make_unique<Impl>()) {
  if (opset < kMinOpset || opset > kMaxOpset)
    throw Exception(Errc::invalid_argument,
                    fmt::format("onnx: opset {} is outside the supported range [{}, {}]", opset, kMinOpset,
                                kMaxOpset));
  auto& model = impl_->model;
  model.set_ir_version(kIrVersion);
  auto* opsetImport = model.add_opset_import();
  opsetImport->set_domain("");
  opsetImport->set_version(opset);
  model.set_producer_name("mlaas");
  model.mutable_graph()->set_name(std::move(graphName));
}

GraphBuilder::~GraphBuilder() = default;
GraphBuilder::GraphBuilder(GraphBuilder&&) noexcept = default;
GraphBuilder& GraphBuilder::operator=(GraphBuilder&&) noexcept = default;

void GraphBuilder::addInput(const std::string& name, ElementType type, const std::vector<std::int64_t>& shape,
                            const std::vector<std::string>& dimNames) {
  requireName(name, "input");
  fillValueInfo(*impl_->model.mutable_graph()->add_input(), name, type, shape, dimNames);
}

void GraphBuilder::addOutput(const std::string& name, ElementType type, const std::vector<std::int64_t>& shape,
                             const std::vector<std::string>& dimNames) {
  requireName(name, "output");
  fillValueInfo(*impl_->model.mutable_graph()->add_output(), name, type, shape, dimNames);
}

void GraphBuilder::addInitializer(const std::string& name, const std::vector<std::int64_t>& dims,
                                  std::span<const float> values) {
  addRawInitializer(*impl_->model.mutable_graph(), name, dims, values);
}

void GraphBuilder::addInitializerInt64(const std::string& name, const std::vector<std::int64_t>& dims,
                                       std::span<const std::int64_t> values) {
  addRawInitializer(*impl_->model.mutable_graph(), name, dims, values);
}

void GraphBuilder::addNode(const std::string& opType, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& outputs, const std::vector<Attribute>& attributes,
                           const std::string& nodeName) {
  requireName(opType, "node op type");
  if (outputs.empty())
    throw Exception(Errc::invalid_argument, fmt::format("onnx: node '{}' ({}) has no outputs", nodeName, opType));
  auto* node = impl_->model.mutable_graph()->add_node();
  node->set_op_type(opType);
  if (!nodeName.empty()) node->set_name(nodeName);
  for (const auto& input : inputs) node->add_input(input);
  for (const auto& output : outputs) node->add_output(output);
  for (const auto& attribute : attributes) {
    requireName(attribute.name, "attribute");
    auto* proto = node->add_attribute();
    proto->set_name(attribute.name);
    std::visit(
        [proto](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::int64_t>) {
            proto->set_type(::onnx::AttributeProto_AttributeType_INT);
            proto->set_i(value);
          } else if constexpr (std::is_same_v<T, float>) {
            proto->set_type(::onnx::AttributeProto_AttributeType_FLOAT);
            proto->set_f(value);
          } else if constexpr (std::is_same_v<T, std::vector<std::int64_t>>) {
            proto->set_type(::onnx::AttributeProto_AttributeType_INTS);
            for (auto v : value) proto->add_ints(v);
          } else if constexpr (std::is_same_v<T, std::vector<float>>) {
            proto->set_type(::onnx::AttributeProto_AttributeType_FLOATS);
            for (auto v : value) proto->add_floats(v);
          } else {
            proto->set_type(::onnx::AttributeProto_AttributeType_STRING);
            proto->set_s(value);
          }
        },
        attribute.value);
  }
}

void GraphBuilder::setMetadata(const std::string& key, const std::string& value) {
  requireName(key, "metadata key");
  for (auto& prop : *impl_->model.mutable_metadata_props()) {
    if (prop.key() == key) {  // one value per key, as ONNX Runtime's metadata map requires
      prop.set_value(value);
      return;
    }
  }
  auto* prop = impl_->model.add_metadata_props();
  prop->set_key(key);
  prop->set_value(value);
}

void GraphBuilder::setProducer(const std::string& name, const std::string& version) {
  impl_->model.set_producer_name(name);
  impl_->model.set_producer_version(version);
}

void GraphBuilder::setDocString(const std::string& doc) { impl_->model.set_doc_string(doc); }

std::string GraphBuilder::serialize() const {
  std::string bytes;
  if (!impl_->model.SerializeToString(&bytes))
    throw Exception(Errc::internal, "onnx: serializing the model failed (larger than 2 GiB?)");
  return bytes;
}

// ---- MLPs ---------------------------------------------------------------------------------------

void validateMlpSpec(const MlpSpec& spec) {
  if (spec.layers.size() < 2)
    throw Exception(Errc::invalid_argument,
                    fmt::format("mlp: needs at least 2 layer sizes (input and output), got {}", spec.layers.size()));
  std::int64_t totalWeights = 0;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const auto size = spec.layers[i];
    if (size < 1 || size > kMaxLayerSize)
      throw Exception(Errc::invalid_argument,
                      fmt::format("mlp: layer {} has size {}, expected 1..{}", i, size, kMaxLayerSize));
    if (i > 0) totalWeights += spec.layers[i - 1] * size + size;
    if (totalWeights > kMaxMlpWeights)
      throw Exception(Errc::invalid_argument,
                      fmt::format("mlp: more than {} weights (layer {} reaches {})", kMaxMlpWeights, i, totalWeights));
  }
  if (spec.inputName.empty() || spec.outputName.empty())
    throw Exception(Errc::invalid_argument, "mlp: input and output names must not be empty");
  if (spec.inputName == spec.outputName)
    throw Exception(Errc::invalid_argument,
                    fmt::format("mlp: input and output are both named '{}'", spec.inputName));
}

MlpWeights buildRandomMlpWeights(const MlpSpec& spec) {
  validateMlpSpec(spec);
  PortableRandom random(spec.seed);
  MlpWeights weights;
  for (std::size_t i = 1; i < spec.layers.size(); ++i) {
    DenseLayer layer;
    layer.inputs = spec.layers[i - 1];
    layer.outputs = spec.layers[i];
    const auto limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(layer.inputs + layer.outputs)));
    layer.weight.resize(static_cast<std::size_t>(layer.inputs * layer.outputs));
    for (auto& w : layer.weight) w = random.symmetric(limit);
    // Non-zero biases (unlike Keras' zeros) so that tests notice a dropped or misplaced bias.
    layer.bias.resize(static_cast<std::size_t>(layer.outputs));
    for (auto& b : layer.bias) b = random.symmetric(0.1f);
    weights.layers.push_back(std::move(layer));
  }
  return weights;
}

namespace {
void checkWeights(const MlpWeights& weights, const MlpSpec& spec) {
  validateMlpSpec(spec);
  if (weights.layers.size() != spec.layers.size() - 1)
    throw Exception(Errc::invalid_argument,
                    fmt::format("mlp: {} weight layers for {} layer sizes", weights.layers.size(), spec.layers.size()));
  for (std::size_t i = 0; i < weights.layers.size(); ++i) {
    const auto& layer = weights.layers[i];
    if (layer.inputs != spec.layers[i] || layer.outputs != spec.layers[i + 1] ||
        layer.weight.size() != static_cast<std::size_t>(layer.inputs * layer.outputs) ||
        layer.bias.size() != static_cast<std::size_t>(layer.outputs))
      throw Exception(Errc::invalid_argument,
                      fmt::format("mlp: weights of layer {} do not match sizes {} -> {}", i, spec.layers[i],
                                  spec.layers[i + 1]));
  }
}
}  // namespace

std::string buildMlp(const MlpWeights& weights, const MlpSpec& spec) {
  checkWeights(weights, spec);
  GraphBuilder graph("mlp");
  graph.setProducer("mlaas", "0.1");
  graph.addInput(spec.inputName, ElementType::float32, {-1, spec.layers.front()});
  graph.addOutput(spec.outputName, ElementType::float32, {-1, spec.layers.back()});
  std::string current = spec.inputName;
  for (std::size_t i = 0; i < weights.layers.size(); ++i) {
    const auto& layer = weights.layers[i];
    const bool last = i + 1 == weights.layers.size();
    const auto weightName = fmt::format("dense{}.weight", i);
    const auto biasName = fmt::format("dense{}.bias", i);
    graph.addInitializer(weightName, {layer.inputs, layer.outputs}, layer.weight);
    graph.addInitializer(biasName, {layer.outputs}, layer.bias);
    const auto linear = fmt::format("dense{}.linear", i);
    graph.addNode("Gemm", {current, weightName, biasName}, {linear}, {}, fmt::format("dense{}", i));
    const auto activation = last ? spec.output : spec.hidden;
    const auto activated = last ? spec.outputName : fmt::format("dense{}.out", i);
    addActivationNode(graph, activation, linear, activated, fmt::format("dense{}.act", i));
    current = activated;
  }
  std::string layerList;
  for (auto size : spec.layers) layerList += (layerList.empty() ? "" : ",") + std::to_string(size);
  graph.setMetadata("mlaas.mlp.layers", layerList);
  graph.setMetadata("mlaas.mlp.hidden", std::string(activationName(spec.hidden)));
  graph.setMetadata("mlaas.mlp.output", std::string(activationName(spec.output)));
  graph.setMetadata("mlaas.mlp.seed", std::to_string(spec.seed));
  return graph.serialize();
}

std::string buildRandomMlp(const MlpSpec& spec) { return buildMlp(buildRandomMlpWeights(spec), spec); }

std::vector<float> evaluateMlp(const MlpWeights& weights, const MlpSpec& spec, std::span<const float> input) {
  checkWeights(weights, spec);
  const auto inputs = static_cast<std::size_t>(spec.layers.front());
  if (input.size() % inputs != 0)
    throw Exception(Errc::invalid_argument,
                    fmt::format("mlp: input has {} values, not a multiple of {}", input.size(), inputs));
  const std::size_t batch = input.size() / inputs;
  std::vector<float> current(input.begin(), input.end());
  for (std::size_t i = 0; i < weights.layers.size(); ++i) {
    const auto& layer = weights.layers[i];
    const auto in = static_cast<std::size_t>(layer.inputs);
    const auto out = static_cast<std::size_t>(layer.outputs);
    std::vector<float> next(batch * out);
    for (std::size_t row = 0; row < batch; ++row) {
      std::span<float> y(next.data() + row * out, out);
      std::copy(layer.bias.begin(), layer.bias.end(), y.begin());
      for (std::size_t k = 0; k < in; ++k) {
        const float x = current[row * in + k];
        const float* w = layer.weight.data() + k * out;
        for (std::size_t j = 0; j < out; ++j) y[j] += x * w[j];
      }
      applyActivation(i + 1 == weights.layers.size() ? spec.output : spec.hidden, y);
    }
    current = std::move(next);
  }
  return current;
}

}  // namespace mlaas::onnx
