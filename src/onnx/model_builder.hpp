// Builds ONNX models (serialized ModelProto bytes) without exposing protobuf: a general
// GraphBuilder for training export and tests, and seeded random MLPs for benchmarks and tests.
// Contract: /work/helpers/onnx-contract.md (additions: Attribute, MlpWeights, evaluateMlp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mlaas::onnx {

/// Tensor element types we emit (values of onnx.TensorProto.DataType behind the scenes).
enum class ElementType { float32, float64, int32, int64, int8, uint8, boolean };
enum class Activation { none, relu, tanh, sigmoid, softmax };

/// "float32", "int64", ... (the spelling the CLI accepts).
std::string_view elementTypeName(ElementType type) noexcept;
/// "none", "relu", "tanh", "sigmoid", "softmax".
std::string_view activationName(Activation activation) noexcept;
/// Parses activationName's spelling; throws core::Exception(invalid_argument) otherwise.
Activation parseActivation(std::string_view name);

/// One node attribute: an int, a float, a list of ints or floats, or a string.
using AttributeValue =
    std::variant<std::int64_t, float, std::vector<std::int64_t>, std::vector<float>, std::string>;
struct Attribute {
  std::string name;
  AttributeValue value;
};

struct MlpSpec {
  std::vector<std::int64_t> layers;  // sizes incl. input and output, e.g. {42,128,128,128,64,64,1}
  Activation hidden = Activation::relu;
  Activation output = Activation::sigmoid;
  std::uint64_t seed = 1;  // weights: deterministic for a seed (Glorot-uniform)
  std::string inputName = "input";
  std::string outputName = "output";
  // input shape is [batch, layers.front()] with a dynamic first dimension named "batch"
};

/// One dense layer y = x * weight + bias, weight row-major with shape [inputs, outputs].
struct DenseLayer {
  std::int64_t inputs = 0;
  std::int64_t outputs = 0;
  std::vector<float> weight;  // inputs * outputs values
  std::vector<float> bias;    // outputs values
};
struct MlpWeights {
  std::vector<DenseLayer> layers;  // layers.size() == spec.layers.size() - 1
};

/// Checks spec (at least 2 layer sizes, each in [1, 2^20], at most 2^28 weights in total, names
/// non-empty and distinct); throws core::Exception(invalid_argument) naming the problem.
void validateMlpSpec(const MlpSpec& spec);

/// Glorot-uniform weights and small uniform biases from a portable generator seeded by spec.seed:
/// the same spec gives the same weights on every platform and compiler.
MlpWeights buildRandomMlpWeights(const MlpSpec& spec);

/// Serialized ModelProto (opset 17, ir_version 8): Gemm + activation per layer, with the
/// given weights; throws core::Exception when weights do not match spec.layers.
std::string buildMlp(const MlpWeights& weights, const MlpSpec& spec);

/// Serialized ModelProto bytes (opset 13+, ir_version supported by ONNX Runtime 1.31).
/// Equivalent to buildMlp(buildRandomMlpWeights(spec), spec).
std::string buildRandomMlp(const MlpSpec& spec);

/// The plain C++ forward pass of the same network (reference for tests and training checks):
/// input is [batch, layers.front()] row-major; returns [batch, layers.back()] row-major.
std::vector<float> evaluateMlp(const MlpWeights& weights, const MlpSpec& spec,
                               std::span<const float> input);

/// General builder for graphs (used by training export and tests). Not thread safe; move-only.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string graphName = "mlaas", std::int64_t opset = 17);
  ~GraphBuilder();
  GraphBuilder(GraphBuilder&&) noexcept;
  GraphBuilder& operator=(GraphBuilder&&) noexcept;
  GraphBuilder(const GraphBuilder&) = delete;
  GraphBuilder& operator=(const GraphBuilder&) = delete;

  // shape: -1 for a dynamic dimension (named by dimNames[i] if given, else "batch" for dim 0,
  // else "dim<i>")
  void addInput(const std::string& name, ElementType type, const std::vector<std::int64_t>& shape,
                const std::vector<std::string>& dimNames = {});
  void addOutput(const std::string& name, ElementType type, const std::vector<std::int64_t>& shape,
                 const std::vector<std::string>& dimNames = {});
  /// Throws core::Exception(invalid_argument) when the product of dims differs from values.size().
  void addInitializer(const std::string& name, const std::vector<std::int64_t>& dims,
                      std::span<const float> values);
  void addInitializerInt64(const std::string& name, const std::vector<std::int64_t>& dims,
                           std::span<const std::int64_t> values);
  void addNode(const std::string& opType, const std::vector<std::string>& inputs,
               const std::vector<std::string>& outputs, const std::vector<Attribute>& attributes = {},
               const std::string& nodeName = "");
  void setMetadata(const std::string& key, const std::string& value);  // metadata_props
  void setProducer(const std::string& name, const std::string& version);
  void setDocString(const std::string& doc);
  [[nodiscard]] std::string serialize() const;  // ModelProto bytes

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaas::onnx
