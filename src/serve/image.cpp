#include "serve/image.hpp"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <cstring>

#include <fmt/format.h>
#include <jpeglib.h>
#include <png.h>

namespace mlaas::serve {

namespace {

using core::Errc;

core::Result<void> checkSize(std::size_t width, std::size_t height, std::size_t maxPixels, std::string_view format) {
  if (width == 0 || height == 0)
    return core::fail(Errc::invalid_argument, fmt::format("{} image has no pixels", format));
  if (height > maxPixels / width)
    return core::fail(Errc::invalid_argument,
                      fmt::format("{} image of {}x{} pixels is larger than the limit of {} pixels", format, width,
                                  height, maxPixels));
  return {};
}

core::Result<Image> decodePng(std::string_view bytes, std::size_t channels, std::size_t maxPixels) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    return core::fail(Errc::invalid_argument, fmt::format("PNG image cannot be read: {}", png.message));
  // png_image_free is safe after a failed finish_read and required after a successful begin_read.
  struct Free {
    png_image* p;
    ~Free() { png_image_free(p); }
  } freeOnExit{&png};
  if (auto ok = checkSize(png.width, png.height, maxPixels, "PNG"); !ok) return core::fail(ok.error());
  if (channels == 0) channels = (png.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  png.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image;
  image.width = png.width;
  image.height = png.height;
  image.channels = channels;
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  // A transparent image is composed onto black, as a model trained on the pixel values expects
  // transparent areas to carry no signal.
  png_color black{0, 0, 0};
  if (!png_image_finish_read(&png, &black, image.pixels.data(), 0, nullptr))
    return core::fail(Errc::invalid_argument, fmt::format("PNG image is corrupt: {}", png.message));
  return image;
}

struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void jpegErrorExit(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

void jpegMessage(j_common_ptr info, int level) {
  // A warning means corrupt data that libjpeg would paper over (grey fill): refuse it instead.
  if (level < 0) jpegErrorExit(info);
}

core::Result<Image> decodeJpeg(std::string_view bytes, std::size_t channels, std::size_t maxPixels) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  Image image;  // declared before setjmp: nothing with a destructor is created after it
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpegErrorExit;
  errors.manager.emit_message = jpegMessage;
  jpeg_create_decompress(&info);
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    return core::fail(Errc::invalid_argument, fmt::format("JPEG image is corrupt: {}", errors.message));
  }
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (auto ok = checkSize(info.image_width, info.image_height, maxPixels, "JPEG"); !ok) {
    jpeg_destroy_decompress(&info);
    return core::fail(ok.error());
  }
  if (channels == 0) channels = info.num_components == 1 ? 1 : 3;
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  image.width = info.output_width;
  image.height = info.output_height;
  image.channels = static_cast<std::size_t>(info.output_components);
  image.pixels.resize(image.width * image.height * image.channels);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.pixels.data() + static_cast<std::size_t>(info.output_scanline) * image.width * image.channels;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

}  // namespace

std::string_view imageFormat(std::string_view bytes) noexcept {
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "png";
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xff\xd8\xff") return "jpeg";
  return {};
}

core::Result<Image> decodeImage(std::string_view bytes, std::size_t channels, std::size_t maxPixels) {
  if (channels != 0 && channels != 1 && channels != 3)
    return core::fail(Errc::invalid_argument,
                      fmt::format("images decode to 1 (grey) or 3 (RGB) channels, not {}", channels));
  auto format = imageFormat(bytes);
  if (format == "png") return decodePng(bytes, channels, maxPixels);
  if (format == "jpeg") return decodeJpeg(bytes, channels, maxPixels);
  return core::fail(Errc::invalid_argument, "the image is neither PNG nor JPEG (unknown signature bytes)");
}

core::Result<Tensor> imageToTensor(std::string_view bytes, const TensorSpec& input, std::size_t imgChannels,
                                   std::string_view modelLabel, std::size_t maxPixels) {
  const auto& shape = input.shape;
  if (shape.size() != 4)
    return core::fail(Errc::invalid_argument,
                      fmt::format("model {} input '{}' has shape {}; images feed a rank-4 input [N,H,W,C] or [N,C,H,W]",
                                  modelLabel, input.name, shapeToString(shape)));
  if (input.type != DataType::fp32 && input.type != DataType::uint8)
    return core::fail(Errc::invalid_argument, fmt::format("model {} input '{}' is {}; images feed FP32 or UINT8 inputs",
                                                          modelLabel, input.name, dataTypeName(input.type)));
  if (shape[0] > 1)
    return core::fail(Errc::invalid_argument,
                      fmt::format("model {} input '{}' wants {} images per request; /image sends one", modelLabel,
                                  input.name, shape[0]));
  auto isChannels = [](std::int64_t d) { return d == 1 || d == 3; };
  // Channels-first only when the fixed dimensions leave no doubt (PyTorch exports [N,3,H,W]).
  const bool channelsFirst = isChannels(shape[1]) && shape[3] > 0 && !isChannels(shape[3]);
  const std::int64_t channelDim = channelsFirst ? shape[1] : shape[3];
  const std::int64_t heightDim = channelsFirst ? shape[2] : shape[1];
  const std::int64_t widthDim = channelsFirst ? shape[3] : shape[2];
  if (channelDim > 0 && !isChannels(channelDim))
    return core::fail(Errc::invalid_argument, fmt::format("model {} input '{}' has {} channels; images have 1 or 3",
                                                          modelLabel, input.name, channelDim));
  if (imgChannels != 0 && channelDim > 0 && static_cast<std::int64_t>(imgChannels) != channelDim)
    return core::fail(Errc::invalid_argument,
                      fmt::format("model {}: params img_channels {} contradicts input '{}' shape {}", modelLabel,
                                  imgChannels, input.name, shapeToString(shape)));
  std::size_t channels = imgChannels ? imgChannels : (channelDim > 0 ? static_cast<std::size_t>(channelDim) : 0);
  auto image = decodeImage(bytes, channels, maxPixels);
  if (!image) return core::fail(image.error());
  auto mismatch = [&](std::int64_t want, std::size_t got) { return want > 0 && static_cast<std::size_t>(want) != got; };
  if (mismatch(heightDim, image->height) || mismatch(widthDim, image->width))
    return core::fail(
        Errc::invalid_argument,
        fmt::format("image is {}x{} (width x height) but model {} input '{}' {} expects {}x{}; images are "
                    "not resized",
                    image->width, image->height, modelLabel, input.name, shapeToString(shape),
                    widthDim > 0 ? std::to_string(widthDim) : "any",
                    heightDim > 0 ? std::to_string(heightDim) : "any"));
  const auto h = static_cast<std::int64_t>(image->height), w = static_cast<std::int64_t>(image->width),
             c = static_cast<std::int64_t>(image->channels);
  Tensor tensor;
  tensor.name = input.name;
  tensor.type = input.type;
  tensor.shape = channelsFirst ? std::vector<std::int64_t>{1, c, h, w} : std::vector<std::int64_t>{1, h, w, c};
  const std::size_t count = image->pixels.size();
  const std::size_t plane = image->width * image->height;
  auto sourceIndex = [&](std::size_t i) {  // tensor element i → interleaved pixel sample
    if (!channelsFirst) return i;
    std::size_t channel = i / plane, pixel = i % plane;
    return pixel * image->channels + channel;
  };
  if (input.type == DataType::uint8) {
    tensor.data.resize(count);
    for (std::size_t i = 0; i < count; ++i) tensor.data[i] = static_cast<std::byte>(image->pixels[sourceIndex(i)]);
  } else {
    tensor.data.resize(count * sizeof(float));
    auto* out = reinterpret_cast<float*>(tensor.data.data());
    for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(image->pixels[sourceIndex(i)]);
  }
  return tensor;
}

}  // namespace mlaas::serve
