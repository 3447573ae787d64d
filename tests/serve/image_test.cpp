// Image decoding for /image: PNG and JPEG made in the test decode to the pixels written; the
// tensor follows the model input's layout; bad images and mismatched models get clear errors.
#include <gtest/gtest.h>

#include <cstring>

#include "image_fixture.hpp"
#include "serve/image.hpp"

namespace mlaas::serve {
namespace {

constexpr std::size_t kMaxPixels = 1u << 20;

std::vector<float> floats(const Tensor& t) {
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

TEST(Image, PngDecodesToTheWrittenPixelsInEveryColourType) {
  auto grey = test::pattern(5 * 3);
  auto image = decodeImage(test::makePng(5, 3, 1, grey), 0, kMaxPixels);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->width, 5u);
  EXPECT_EQ(image->height, 3u);
  EXPECT_EQ(image->channels, 1u);
  EXPECT_EQ(image->pixels, grey);

  auto rgb = test::pattern(4 * 2 * 3, 2);
  image = decodeImage(test::makePng(4, 2, 3, rgb), 0, kMaxPixels);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->channels, 3u);
  EXPECT_EQ(image->pixels, rgb);

  // Opaque RGBA: alpha is dropped, colour kept exactly.
  std::vector<std::uint8_t> rgba;
  for (std::size_t i = 0; i < rgb.size(); i += 3) rgba.insert(rgba.end(), {rgb[i], rgb[i + 1], rgb[i + 2], 255});
  image = decodeImage(test::makePng(4, 2, 4, rgba), 0, kMaxPixels);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->channels, 3u);
  EXPECT_EQ(image->pixels, rgb);

  // Grey asked as RGB: every channel carries the grey value.
  image = decodeImage(test::makePng(5, 3, 1, grey), 3, kMaxPixels);
  ASSERT_TRUE(image);
  ASSERT_EQ(image->pixels.size(), grey.size() * 3);
  for (std::size_t i = 0; i < grey.size(); ++i)
    for (std::size_t c = 0; c < 3; ++c) EXPECT_EQ(image->pixels[i * 3 + c], grey[i]);
}

TEST(Image, JpegDecodesCloseToTheEncodedPixels) {
  // A smooth gradient: JPEG at quality 100 keeps every sample within a few levels.
  std::vector<std::uint8_t> rgb;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x)
      rgb.insert(rgb.end(), {static_cast<std::uint8_t>(x * 10), static_cast<std::uint8_t>(y * 15), 128});
  auto image = decodeImage(test::makeJpeg(24, 16, 3, rgb), 0, kMaxPixels);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->width, 24u);
  EXPECT_EQ(image->height, 16u);
  EXPECT_EQ(image->channels, 3u);
  ASSERT_EQ(image->pixels.size(), rgb.size());
  for (std::size_t i = 0; i < rgb.size(); ++i) EXPECT_NEAR(image->pixels[i], rgb[i], 4) << i;

  std::vector<std::uint8_t> grey(8 * 8, 200);
  image = decodeImage(test::makeJpeg(8, 8, 1, grey), 0, kMaxPixels);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->channels, 1u);
  for (auto v : image->pixels) EXPECT_NEAR(v, 200, 2);
}

TEST(Image, BadImagesNameTheProblem) {
  auto png = test::makePng(4, 4, 1, test::pattern(16));
  auto jpeg = test::makeJpeg(16, 16, 3, test::pattern(16 * 16 * 3));
  struct Case {
    std::string bytes;
    std::string fragment;
  } cases[] = {
      {"", "neither PNG nor JPEG"},
      {"GIF89a....", "neither PNG nor JPEG"},
      {png.substr(0, 20), "PNG image"},
      {png.substr(0, png.size() - 20), "PNG image"},
      {jpeg.substr(0, 3), "JPEG image is corrupt"},
      {jpeg.substr(0, jpeg.size() / 2), "JPEG image is corrupt"},
  };
  for (const auto& c : cases) {
    auto image = decodeImage(c.bytes, 0, kMaxPixels);
    ASSERT_FALSE(image) << c.fragment;
    EXPECT_EQ(image.error().code, core::Errc::invalid_argument);
    EXPECT_NE(image.error().message.find(c.fragment), std::string::npos) << image.error().message;
  }
  // A header claiming more pixels than the budget is refused before any pixel is allocated.
  auto huge = decodeImage(test::makePng(2000, 1000, 1, std::vector<std::uint8_t>(2000 * 1000)), 0, kMaxPixels);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("PNG image of 2000x1000 pixels is larger than the limit of 1048576 pixels"),
            std::string::npos)
      << huge.error().message;
  auto channels = decodeImage(png, 4, kMaxPixels);
  ASSERT_FALSE(channels);
  EXPECT_NE(channels.error().message.find("1 (grey) or 3 (RGB) channels, not 4"), std::string::npos);
}

TEST(Image, TensorFollowsTheInputLayout) {
  auto rgb = test::pattern(4 * 2 * 3, 5);
  auto png = test::makePng(4, 2, 3, rgb);
  TensorSpec nhwc{"x", DataType::fp32, {-1, 2, 4, 3}};
  auto t = imageToTensor(png, nhwc, 0, "m/versions/1", kMaxPixels);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{1, 2, 4, 3}));
  auto values = floats(*t);
  ASSERT_EQ(values.size(), rgb.size());
  for (std::size_t i = 0; i < rgb.size(); ++i) EXPECT_EQ(values[i], static_cast<float>(rgb[i]));  // unscaled 0..255

  TensorSpec nchw{"x", DataType::fp32, {1, 3, 2, 4}};
  t = imageToTensor(png, nchw, 0, "m/versions/1", kMaxPixels);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{1, 3, 2, 4}));
  values = floats(*t);
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t p = 0; p < 8; ++p) EXPECT_EQ(values[c * 8 + p], static_cast<float>(rgb[p * 3 + c]));

  TensorSpec bytesIn{"x", DataType::uint8, {-1, -1, -1, 1}};  // any size, grey: RGB is converted
  t = imageToTensor(png, bytesIn, 0, "m/versions/1", kMaxPixels);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{1, 2, 4, 1}));
  EXPECT_EQ(t->data.size(), 8u);
}

TEST(Image, MismatchedModelsAreRefusedWithTheSizes) {
  auto png = test::makePng(4, 2, 3, test::pattern(24));
  struct Case {
    TensorSpec spec;
    std::size_t imgChannels;
    std::string message;
  } cases[] = {
      {{"x", DataType::fp32, {-1, 3, 3, 3}},
       0,
       "image is 4x2 (width x height) but model m/versions/1 input 'x' [-1,3,3,3] expects 3x3; images are not resized"},
      {{"x", DataType::fp32, {-1, 8}}, 0, "model m/versions/1 input 'x' has shape [-1,8]; images feed a rank-4 input"},
      {{"x", DataType::int64, {-1, 2, 4, 3}},
       0,
       "model m/versions/1 input 'x' is INT64; images feed FP32 or UINT8 inputs"},
      {{"x", DataType::fp32, {-1, 2, 4, 3}},
       1,
       "model m/versions/1: params img_channels 1 contradicts input 'x' shape [-1,2,4,3]"},
      {{"x", DataType::fp32, {4, 2, 4, 3}}, 0, "wants 4 images per request; /image sends one"},
  };
  for (const auto& c : cases) {
    auto t = imageToTensor(png, c.spec, c.imgChannels, "m/versions/1", kMaxPixels);
    ASSERT_FALSE(t) << c.message;
    EXPECT_EQ(t.error().code, core::Errc::invalid_argument);
    EXPECT_NE(t.error().message.find(c.message), std::string::npos) << t.error().message;
  }
}

}  // namespace
}  // namespace mlaas::serve
