// Test images made in the test: a PNG written by hand with zlib (an encoder independent of the
// libpng the server decodes with) and a JPEG from libjpeg at quality 100, plus an ONNX model
// that returns its image input flattened, so the server's tensor can be compared pixel by pixel.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "onnx_fixture.hpp"

namespace mlaas::serve::test {

/// A PNG of 8-bit samples; channels 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA), filter 0.
inline std::string makePng(std::uint32_t width, std::uint32_t height, int channels,
                           const std::vector<std::uint8_t>& pixels) {
  auto be32 = [](std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  auto chunk = [&](std::string& out, const char* type, const std::string& data) {
    be32(out, static_cast<std::uint32_t>(data.size()));
    std::string typed = std::string(type, 4) + data;
    out += typed;
    be32(out, static_cast<std::uint32_t>(
                  crc32(0, reinterpret_cast<const Bytef*>(typed.data()), static_cast<uInt>(typed.size()))));
  };
  const int colorType = channels == 1 ? 0 : channels == 2 ? 4 : channels == 3 ? 2 : 6;
  std::string ihdr;
  be32(ihdr, width);
  be32(ihdr, height);
  ihdr += std::string{8, static_cast<char>(colorType), 0, 0, 0};
  std::string raw;
  const std::size_t rowBytes = width * static_cast<std::size_t>(channels);
  for (std::uint32_t y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    raw.append(reinterpret_cast<const char*>(pixels.data()) + y * rowBytes, rowBytes);
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string idat(size, '\0');
  if (compress(reinterpret_cast<Bytef*>(idat.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
               static_cast<uLong>(raw.size())) != Z_OK)
    throw std::runtime_error("zlib compress failed");
  idat.resize(size);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", idat);
  chunk(png, "IEND", "");
  return png;
}

/// A baseline JPEG at quality 100 of 8-bit grey (channels 1) or RGB (channels 3) samples.
inline std::string makeJpeg(std::uint32_t width, std::uint32_t height, int channels,
                            const std::vector<std::uint8_t>& pixels) {
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = width;
  info.image_height = height;
  info.input_components = channels;
  info.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 100, TRUE);
  for (int c = 0; c < info.num_components; ++c) {  // no chroma subsampling: colours stay sharp
    info.comp_info[c].h_samp_factor = 1;
    info.comp_info[c].v_samp_factor = 1;
  }
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < height) {
    auto* row = const_cast<unsigned char*>(pixels.data()) +
                static_cast<std::size_t>(info.next_scanline) * width * static_cast<std::size_t>(channels);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string out(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return out;
}

/// y = Flatten(x): x of elemType and shape `inputShape`, y [-1, product of the rest].
inline std::string flattenModel(const std::vector<std::int64_t>& inputShape, int elemType = kFloat) {
  std::int64_t rest = 1;
  for (std::size_t i = 1; i < inputShape.size(); ++i) rest *= inputShape[i];
  Proto g;
  g.message(1, node("Flatten", {"x"}, {"f"}));
  Proto cast = node("Cast", {"f"}, {"y"});
  Proto to;  // AttributeProto: name "to" (1), i = FLOAT (3), type INT (20)
  to.bytes(1, "to");
  to.varint(3, kFloat);
  to.varint(20, 2);
  cast.message(5, to);
  g.message(1, cast);
  g.bytes(2, "flatten");
  g.message(11, valueInfo("x", elemType, inputShape));
  g.message(12, valueInfo("y", kFloat, {-1, rest}));
  return model(g);
}

/// A deterministic pattern of 8-bit samples.
inline std::vector<std::uint8_t> pattern(std::size_t count, unsigned seed = 1) {
  std::vector<std::uint8_t> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<std::uint8_t>((i * 37 + seed * 11) % 256);
  return v;
}

}  // namespace mlaas::serve::test
