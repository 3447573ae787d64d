#include <gtest/gtest.h>

#include "io/source.hpp"
#include "test_support.hpp"

using namespace mlaas;

TEST(LocalSource, ReadsRangesAndRefusesBeyondEnd) {
  test::TempDir tmp;
  test::writeFile(tmp / "f.bin", "0123456789");
  auto src = io::open((tmp / "f.bin").string());
  ASSERT_TRUE(src) << src.error().message;
  EXPECT_EQ((*src)->size(), 10u);
  auto bytes = (*src)->readRange(3, 4);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()), "3456");
  auto beyond = (*src)->readRange(8, 4);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, core::Errc::corrupt);
  EXPECT_NE(beyond.error().message.find("f.bin"), std::string::npos);
  EXPECT_NE(beyond.error().message.find("beyond the end"), std::string::npos);
}

TEST(LocalSource, MissingFileIsNotFoundNamingThePath) {
  auto src = io::open("/nonexistent/dir/x.root");
  ASSERT_FALSE(src);
  EXPECT_EQ(src.error().code, core::Errc::not_found);
  EXPECT_NE(src.error().message.find("/nonexistent/dir/x.root"), std::string::npos);
}

// RFC 8089: file:///p and file://localhost/p are the local path /p; another host is refused.
TEST(LocalSource, FileUrlsWithAnEmptyOrLocalhostHostOpenTheLocalPath) {
  test::TempDir tmp;
  test::writeFile(tmp / "f.bin", "0123456789");
  const std::string path = (tmp / "f.bin").string();
  for (const std::string& url : {"file://" + path, "file://localhost" + path}) {
    auto src = io::open(url);
    ASSERT_TRUE(src) << url << ": " << src.error().message;
    EXPECT_EQ((*src)->size(), 10u) << url;
  }
  EXPECT_EQ(io::localPathOf(path).value(), path);
  auto elsewhere = io::open("file://otherhost" + path);
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code, core::Errc::invalid_argument);
  EXPECT_NE(elsewhere.error().message.find("file://localhost/path"), std::string::npos) << elsewhere.error().message;
}

TEST(Coalesce, MergesCloseRangesWithinMaxSize) {
  std::vector<io::ByteRange> in{{100, 10}, {0, 10}, {15, 5}, {200, 50}, {112, 3}};
  auto out = io::coalesce(in, 5, 1000);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (io::ByteRange{0, 20}));
  EXPECT_EQ(out[1], (io::ByteRange{100, 15}));
  EXPECT_EQ(out[2], (io::ByteRange{200, 50}));
  auto capped = io::coalesce(in, 1000, 60);
  for (const auto& r : capped) EXPECT_LE(r.size, 60u);
}
