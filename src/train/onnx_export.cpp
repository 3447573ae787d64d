#include "train/onnx_export.hpp"

#include <fmt/format.h>

#include <limits>
#include <set>

#include "core/result.hpp"
#include "onnx/model_builder.hpp"

namespace mlaas::train {

namespace {

using onnx::Attribute;
using onnx::ElementType;

constexpr std::int64_t kOnnxFloat = 1;  // TensorProto.DataType FLOAT
constexpr std::int64_t kOnnxBool = 9;   // TensorProto.DataType BOOL

[[noreturn]] void mismatch(const std::string& what) {
  throw core::Exception(core::Errc::invalid_argument, "ONNX export: " + what);
}

/// Builds the graph with unique tensor names (prefix + counter) so that nodes read in order.
class Emitter {
 public:
  explicit Emitter(onnx::GraphBuilder& graph) : graph_(graph) {}

  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint,
                   const std::vector<Attribute>& attributes = {}) {
    auto out = fmt::format("{}_{}", hint, counter_++);
    graph_.addNode(op, inputs, {out}, attributes, out);
    return out;
  }

  std::string constant(const std::string& name, const std::vector<std::int64_t>& dims, std::span<const float> values) {
    graph_.addInitializer(name, dims, values);
    return name;
  }

  std::string constantInt64(const std::string& name, const std::vector<std::int64_t>& values) {
    graph_.addInitializerInt64(name, {static_cast<std::int64_t>(values.size())}, values);
    return name;
  }

  /// Shared scalars and axes, added on first use (unused initializers make ONNX Runtime warn).
  std::string shared(const std::string& name) {
    if (!shared_.insert(name).second) return name;
    if (name == "one" || name == "zero") {
      const float value = name == "one" ? 1.0F : 0.0F;
      return constant(name, {1}, std::span(&value, 1));
    }
    if (name == "neginf") {
      const float value = -std::numeric_limits<float>::infinity();
      return constant(name, {1}, std::span(&value, 1));
    }
    return constantInt64(name, {name == "axis1" ? 1 : 2});  // "axis1", "axis2"
  }

  std::string activation(const std::string& x, Activation activation, const std::string& hint) {
    switch (activation) {
      case Activation::relu: return node("Relu", {x}, hint + "_relu");
      case Activation::tanh: return node("Tanh", {x}, hint + "_tanh");
      case Activation::sigmoid: return node("Sigmoid", {x}, hint + "_sigmoid");
      case Activation::elu: return node("Elu", {x}, hint + "_elu", {Attribute{"alpha", 1.0F}});
    }
    return x;
  }

  /// Rank-2 x: Gemm with W [out][in] (transB). Rank-3 x: MatMul with W^T, then Add.
  std::string dense(const std::string& x, const DenseLayer& layer, const std::string& name, bool rank3) {
    if (static_cast<std::int64_t>(layer.weight.size()) != layer.in * layer.out ||
        static_cast<std::int64_t>(layer.bias.size()) != layer.out)
      mismatch(fmt::format("layer {} has {} weights and {} biases for {}x{}", name, layer.weight.size(),
                           layer.bias.size(), layer.in, layer.out));
    const auto bias = constant(name + "_bias", {layer.out}, layer.bias);
    if (!rank3) {
      const auto weight = constant(name + "_weight", {layer.out, layer.in}, layer.weight);
      return node("Gemm", {x, weight, bias}, name, {Attribute{"transB", std::int64_t{1}}});
    }
    std::vector<float> transposed(layer.weight.size());
    for (std::int64_t o = 0; o < layer.out; ++o)
      for (std::int64_t i = 0; i < layer.in; ++i)
        transposed[static_cast<std::size_t>(i * layer.out + o)] =
            layer.weight[static_cast<std::size_t>(o * layer.in + i)];
    const auto weight = constant(name + "_weight_t", {layer.in, layer.out}, transposed);
    return node("Add", {node("MatMul", {x, weight}, name + "_matmul"), bias}, name);
  }

 private:
  onnx::GraphBuilder& graph_;
  int counter_ = 0;
  std::set<std::string> shared_;
};

}  // namespace

std::string exportOnnx(const ModelConfig& model, const std::vector<InputSpec>& inputs, std::int64_t outputs,
                       const NetworkWeights& weights, const ExportOptions& options) {
  if (weights.inputs.size() != inputs.size())
    mismatch(fmt::format("{} input weight sets for {} inputs", weights.inputs.size(), inputs.size()));
  if (weights.head.empty() || weights.head.back().out != outputs)
    mismatch(fmt::format("the head does not end in {} outputs", outputs));

  onnx::GraphBuilder graph(fmt::format("mlaas_{}", name(model.kind)), 17);
  graph.setProducer("mlaas", options.producerVersion);
  for (const auto& [key, value] : options.metadata) graph.setMetadata(key, value);
  Emitter emit(graph);

  std::vector<std::string> parts;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& spec = inputs[i];
    const auto& w = weights.inputs[i];
    std::vector<std::int64_t> shape{-1};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    graph.addInput(spec.name, ElementType::float32, shape);
    std::string mask;     // float [B, maskPerEvent]
    std::string present;  // bool [B, maskPerEvent]
    if (spec.masked) {
      graph.addInput(spec.maskName(), ElementType::uint8, {-1, spec.maskPerEvent()});
      mask = emit.node("Cast", {spec.maskName()}, spec.name + "_maskf", {Attribute{"to", kOnnxFloat}});
      present = emit.node("Cast", {spec.maskName()}, spec.name + "_present", {Attribute{"to", kOnnxBool}});
    }
    const auto features = static_cast<std::int64_t>(w.mean.size());
    if (features != (spec.kind == InputKind::group ? spec.shape[1] : spec.shape[0]) || w.scale.size() != w.mean.size())
      mismatch(fmt::format("input '{}': {} standardization values", spec.name, w.mean.size()));
    const auto statDims = spec.kind == InputKind::image ? std::vector<std::int64_t>{features, 1, 1}
                                                        : std::vector<std::int64_t>{features};
    const auto mean = emit.constant(spec.name + "_mean", statDims, w.mean);
    const auto scale = emit.constant(spec.name + "_scale", statDims, w.scale);
    auto x =
        emit.node("Div", {emit.node("Sub", {spec.name, mean}, spec.name + "_centered"), scale}, spec.name + "_std");

    switch (spec.kind) {
      case InputKind::vector:
        if (spec.masked) {
          // Where, not Mul: padding may be NaN, and NaN * 0 is NaN.
          parts.push_back(emit.node("Where", {present, x, emit.shared("zero")}, spec.name + "_masked"));
          parts.push_back(mask);
        } else {
          parts.push_back(x);
        }
        break;
      case InputKind::group: {
        std::string objectMask;     // float [B, N, 1]
        std::string objectPresent;  // bool [B, N, 1]
        if (spec.masked) {
          objectMask = emit.node("Unsqueeze", {mask, emit.shared("axis2")}, spec.name + "_mask3");
          objectPresent = emit.node("Unsqueeze", {present, emit.shared("axis2")}, spec.name + "_present3");
          x = emit.node("Where", {objectPresent, x, emit.shared("zero")}, spec.name + "_masked");
        }
        for (std::size_t k = 0; k < w.objectNet.size(); ++k) {
          const auto layerName = fmt::format("{}_object{}", spec.name, k);
          x = emit.activation(emit.dense(x, w.objectNet[k], layerName, true), model.activation, layerName);
        }
        if (spec.masked) x = emit.node("Mul", {x, objectMask}, spec.name + "_objects_masked");
        const auto pooledName = spec.name + "_pooled";
        switch (model.pooling) {
          case Pooling::sum:
            parts.push_back(emit.node("ReduceSum", {x, emit.shared("axis1")}, pooledName,
                                      {Attribute{"keepdims", std::int64_t{0}}}));
            break;
          case Pooling::mean:
            if (spec.masked) {
              const auto sum = emit.node("ReduceSum", {x, emit.shared("axis1")}, spec.name + "_sum",
                                         {Attribute{"keepdims", std::int64_t{0}}});
              const auto count = emit.node("ReduceSum", {mask, emit.shared("axis1")}, spec.name + "_count",
                                           {Attribute{"keepdims", std::int64_t{1}}});
              parts.push_back(emit.node(
                  "Div", {sum, emit.node("Max", {count, emit.shared("one")}, spec.name + "_count1")}, pooledName));
            } else {
              parts.push_back(
                  emit.node("ReduceMean", {x}, pooledName,
                            {Attribute{"axes", std::vector<std::int64_t>{1}}, Attribute{"keepdims", std::int64_t{0}}}));
            }
            break;
          case Pooling::max:
            if (spec.masked) {
              const auto filled = emit.node("Where", {objectPresent, x, emit.shared("neginf")}, spec.name + "_filled");
              const auto pooled =
                  emit.node("ReduceMax", {filled}, spec.name + "_max",
                            {Attribute{"axes", std::vector<std::int64_t>{1}}, Attribute{"keepdims", std::int64_t{0}}});
              const auto count = emit.node("ReduceSum", {mask, emit.shared("axis1")}, spec.name + "_count",
                                           {Attribute{"keepdims", std::int64_t{1}}});
              const auto any = emit.node("Greater", {count, emit.shared("zero")}, spec.name + "_any");
              parts.push_back(emit.node("Where", {any, pooled, emit.shared("zero")}, pooledName));
            } else {
              parts.push_back(
                  emit.node("ReduceMax", {x}, pooledName,
                            {Attribute{"axes", std::vector<std::int64_t>{1}}, Attribute{"keepdims", std::int64_t{0}}}));
            }
            break;
        }
        break;
      }
      case InputKind::image: {
        for (std::size_t k = 0; k < w.convNet.size(); ++k) {
          const auto& conv = w.convNet[k];
          const auto layerName = fmt::format("{}_conv{}", spec.name, k);
          if (static_cast<std::int64_t>(conv.weight.size()) != conv.out * conv.in * conv.kernel * conv.kernel ||
              static_cast<std::int64_t>(conv.bias.size()) != conv.out)
            mismatch(fmt::format("convolution {} has {} weights for {}x{}x{}x{}", layerName, conv.weight.size(),
                                 conv.out, conv.in, conv.kernel, conv.kernel));
          const auto weight =
              emit.constant(layerName + "_weight", {conv.out, conv.in, conv.kernel, conv.kernel}, conv.weight);
          const auto bias = emit.constant(layerName + "_bias", {conv.out}, conv.bias);
          const auto pad = conv.kernel / 2;
          x = emit.node("Conv", {x, weight, bias}, layerName,
                        {Attribute{"kernel_shape", std::vector<std::int64_t>{conv.kernel, conv.kernel}},
                         Attribute{"pads", std::vector<std::int64_t>{pad, pad, pad, pad}}});
          x = emit.activation(x, model.activation, layerName);
          x = emit.node("MaxPool", {x}, layerName + "_pool",
                        {Attribute{"kernel_shape", std::vector<std::int64_t>{2, 2}},
                         Attribute{"strides", std::vector<std::int64_t>{2, 2}}});
        }
        parts.push_back(emit.node("Flatten", {x}, spec.name + "_flat", {Attribute{"axis", std::int64_t{1}}}));
        break;
      }
    }
  }

  auto z = parts.size() == 1 ? parts.front()
                             : emit.node("Concat", parts, "head_input", {Attribute{"axis", std::int64_t{1}}});
  for (std::size_t k = 0; k < weights.head.size(); ++k) {
    const auto layerName = fmt::format("head{}", k);
    z = emit.dense(z, weights.head[k], layerName, false);
    if (k + 1 < weights.head.size()) z = emit.activation(z, model.activation, layerName);
  }
  switch (model.task) {
    case Task::binary: graph.addNode("Sigmoid", {z}, {options.outputName}, {}, "output_sigmoid"); break;
    case Task::multiclass:
      graph.addNode("Softmax", {z}, {options.outputName}, {Attribute{"axis", std::int64_t{1}}}, "output_softmax");
      break;
    case Task::regression: graph.addNode("Identity", {z}, {options.outputName}, {}, "output_identity"); break;
  }
  graph.addOutput(options.outputName, ElementType::float32, {-1, outputs});
  return graph.serialize();
}

}  // namespace mlaas::train
