// A trained network as plain arrays (no libtorch types): what the ONNX exporter and model.json
// need. The layout mirrors the forward pass in docs/training.md#the-networks.
#pragma once

#include <cstdint>
#include <vector>

namespace mlaas::train {

/// y = x W^T + b, W row-major [out][in].
struct DenseLayer {
  std::int64_t in = 0;
  std::int64_t out = 0;
  std::vector<float> weight;
  std::vector<float> bias;
};

/// 'same'-padded 2D convolution, W row-major [out][in][kernel][kernel].
struct ConvLayer {
  std::int64_t in = 0;
  std::int64_t out = 0;
  std::int64_t kernel = 3;
  std::vector<float> weight;
  std::vector<float> bias;
};

/// Per input (same order as the model's InputSpecs).
struct InputWeights {
  /// Standardization x' = (x - mean) / scale, per feature (vector, group) or per channel (image).
  std::vector<float> mean;
  std::vector<float> scale;
  std::vector<DenseLayer> objectNet;  ///< group inputs: the per-object network (deepsets phi)
  std::vector<ConvLayer> convNet;     ///< image inputs
};

struct NetworkWeights {
  std::vector<InputWeights> inputs;
  std::vector<DenseLayer> head;  ///< the last layer has the model's outputs
};

}  // namespace mlaas::train
