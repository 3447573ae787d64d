// Content-Range and multipart/byteranges parsing: what servers send, and what they must not.
#include <gtest/gtest.h>

#include "io/http_parse.hpp"

using namespace mlaas::io::detail;

TEST(HttpParse, ContentRangeForms) {
  auto full = parseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(full);
  EXPECT_TRUE(full->hasRange);
  EXPECT_EQ(full->first, 100u);
  EXPECT_EQ(full->last, 199u);
  EXPECT_EQ(full->total, 1000u);
  auto unknownTotal = parseContentRange("  Bytes 0-0/*\r\n");
  ASSERT_TRUE(unknownTotal);
  EXPECT_FALSE(unknownTotal->total);
  auto unsatisfied = parseContentRange("bytes */0");
  ASSERT_TRUE(unsatisfied);
  EXPECT_FALSE(unsatisfied->hasRange);
  EXPECT_EQ(unsatisfied->total, 0u);
}

TEST(HttpParse, ContentRangeRejectsNonsense) {
  for (const char* bad : {"", "bytes", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-1", "bytes -1-2/3",
                          "bytes 0-99999999999999999999/1", "bytes */*", "bytes a-b/c"}) {
    EXPECT_FALSE(parseContentRange(bad)) << bad;
  }
}

namespace {
const std::string kType = "multipart/byteranges; boundary=THIS_STRING_SEPARATES";
std::string part(const std::string& range, const std::string& data) {
  return "--THIS_STRING_SEPARATES\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes " + range +
         "\r\n\r\n" + data + "\r\n";
}
}  // namespace

TEST(HttpParse, MultipartPartsInOrder) {
  const std::string body = part("0-4/100", "hello") + part("50-52/100", "abc") + "--THIS_STRING_SEPARATES--\r\n";
  auto parts = parseMultipartByteranges(kType, body);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].range.first, 0u);
  EXPECT_EQ((*parts)[0].bytes, "hello");
  EXPECT_EQ((*parts)[1].range.first, 50u);
  EXPECT_EQ((*parts)[1].bytes, "abc");
}

TEST(HttpParse, MultipartQuotedBoundaryAndDataContainingCrlf) {
  const std::string body = "preamble\r\n--xyz\r\nContent-Range: bytes 10-15/20\r\n\r\n\r\n\r\n--\r\n--xyz--";
  auto parts = parseMultipartByteranges("multipart/byteranges; boundary=\"xyz\"", body);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].bytes, "\r\n\r\n--");
}

TEST(HttpParse, MultipartFailuresYieldNoData) {
  const std::string closing = "--THIS_STRING_SEPARATES--\r\n";
  struct Case {
    std::string type, body, words;
  };
  const std::vector<Case> cases{
      {"multipart/byteranges", part("0-4/100", "hello") + closing, "without a boundary"},
      {kType, part("0-9/100", "short"), "truncated multipart part"},
      {kType, part("0-4/100", "hello"), "without its closing boundary"},
      {kType, "--THIS_STRING_SEPARATES\r\nContent-Type: x\r\n\r\nhello\r\n" + closing, "without a valid Content-Range"},
      {kType, "--THIS_STRING_SEPARATES\r\nContent-Range: bytes 0-4/100", "truncated multipart part headers"},
  };
  for (const auto& c : cases) {
    auto parts = parseMultipartByteranges(c.type, c.body);
    ASSERT_FALSE(parts) << c.words;
    EXPECT_EQ(parts.error().code, mlaas::core::Errc::corrupt);
    EXPECT_NE(parts.error().message.find(c.words), std::string::npos) << parts.error().message;
  }
}
