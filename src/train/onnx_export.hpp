// Writes a trained network as an ONNX model (onnx::GraphBuilder), op for op the forward pass of
// trainer.cpp in eval mode: standardization, masks, per-object networks with masked pooling,
// convolutions, the head and the output activation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/config.hpp"
#include "train/network.hpp"
#include "train/tensor_set.hpp"

namespace mlaas::train {

struct ExportOptions {
  std::string outputName = "output";
  std::string producerVersion = "0";
  std::map<std::string, std::string> metadata;  ///< metadata_props
};

/// ONNX inputs: per InputSpec a float32 tensor named spec.name of shape [batch, shape...], plus
/// for masked inputs a uint8 tensor spec.maskName() of shape [batch, maskPerEvent]. One float32
/// output [batch, outputs]: probabilities (sigmoid / softmax) or regression values.
/// Returns the serialized ModelProto; throws core::Exception when the weights do not fit.
std::string exportOnnx(const ModelConfig& model, const std::vector<InputSpec>& inputs, std::int64_t outputs,
                       const NetworkWeights& weights, const ExportOptions& options = {});

}  // namespace mlaas::train
