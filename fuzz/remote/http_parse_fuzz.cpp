// Feeds arbitrary bytes to the Content-Range and multipart/byteranges parsers. The first line is
// the Content-Type header, the rest the body. Every part returned must lie inside the body and
// agree with its own Content-Range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "io/http_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const auto type = input.substr(0, newline);
  const auto body = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  (void)mlaas::io::detail::parseContentRange(type);
  auto parts = mlaas::io::detail::parseMultipartByteranges(type, body);
  if (parts) {
    for (const auto& part : *parts) {
      if (part.bytes.data() < body.data() || part.bytes.data() + part.bytes.size() > body.data() + body.size()) std::abort();
      if (part.bytes.size() != part.range.last - part.range.first + 1) std::abort();
    }
  }
  return 0;
}
