// Image decoding for TFaaS's /image endpoint: PNG (libpng) and JPEG (libjpeg-turbo), chosen by
// the file's signature bytes, not its name. Sizes are checked against a pixel budget before any
// pixel buffer is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "serve/tensor.hpp"

namespace mlaas::serve {

struct Image {
  std::size_t width = 0;
  std::size_t height = 0;
  std::size_t channels = 0;           ///< 1 (grey) or 3 (RGB)
  std::vector<std::uint8_t> pixels;   ///< row-major, interleaved (HWC), 8 bits per sample
};

/// "png", "jpeg" or "" for the signature at the start of `bytes`.
std::string_view imageFormat(std::string_view bytes) noexcept;

/// Decodes a PNG or JPEG into 8-bit samples with `channels` channels (1 grey, 3 RGB; 0 keeps the
/// image's own: grey stays 1, colour becomes 3, alpha is dropped). Fails with invalid_argument
/// naming the problem (unknown format, corrupt data, more than maxPixels pixels).
core::Result<Image> decodeImage(std::string_view bytes, std::size_t channels, std::size_t maxPixels);

/// TFaaS's /image semantics for a model input of rank 4: the decoded image as one batch row
/// [1,H,W,C] (or [1,C,H,W] when the input's fixed dimensions say channels-first), FP32 pixel
/// values 0..255 unscaled (or UINT8), no resizing. `imgChannels` (params.json img_channels, 0 =
/// unset) or the input's fixed channel dimension picks grey or RGB. Every mismatch is an
/// invalid_argument naming the model, the image size and the expected size.
core::Result<Tensor> imageToTensor(std::string_view bytes, const TensorSpec& input, std::size_t imgChannels,
                                   std::string_view modelLabel, std::size_t maxPixels);

}  // namespace mlaas::serve
