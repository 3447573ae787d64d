#include "io/http_parse.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>

namespace mlaas::io::detail {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n'))
    text.remove_suffix(1);
  return text;
}

namespace {


}  // namespace

std::optional<std::uint64_t> parseDecimal(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}


std::optional<ContentRange> parseContentRange(std::string_view text) {
  text = trim(text);
  if (text.size() < 6 || lowercase(text.substr(0, 6)) != "bytes ") return std::nullopt;
  text.remove_prefix(6);
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ContentRange range;
  const auto totalText = trim(text.substr(slash + 1));
  if (totalText != "*") {
    range.total = parseDecimal(totalText);
    if (!range.total) return std::nullopt;
  }
  const auto span = trim(text.substr(0, slash));
  if (span == "*") return range.total ? std::optional(range) : std::nullopt;
  const auto dash = span.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto first = parseDecimal(span.substr(0, dash));
  const auto last = parseDecimal(span.substr(dash + 1));
  if (!first || !last || *last < *first) return std::nullopt;
  if (range.total && *last >= *range.total) return std::nullopt;
  range.hasRange = true;
  range.first = *first;
  range.last = *last;
  return range;
}

core::Result<std::vector<BodyPart>> parseMultipartByteranges(std::string_view contentType, std::string_view body) {
  auto bad = [](std::string message) { return core::fail(core::Errc::corrupt, std::move(message)); };
  const auto at = lowercase(contentType).find("boundary=");
  if (at == std::string::npos) return bad("multipart response without a boundary");
  std::string_view boundary = trim(contentType.substr(at + 9));
  if (const auto semi = boundary.find(';'); semi != std::string_view::npos) boundary = trim(boundary.substr(0, semi));
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  if (boundary.empty() || boundary.size() > 70) return bad("multipart response with an invalid boundary");
  const std::string delimiter = "--" + std::string(boundary);

  std::vector<BodyPart> parts;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    const auto headersEnd = body.find("\r\n\r\n", pos);
    if (headersEnd == std::string_view::npos) return bad("truncated multipart part headers");
    std::optional<ContentRange> range;
    for (std::size_t line = pos; line < headersEnd;) {
      auto next = body.find("\r\n", line);
      if (next == std::string_view::npos || next > headersEnd) next = headersEnd;
      const auto header = body.substr(line, next - line);
      const auto colon = header.find(':');
      if (colon != std::string_view::npos && lowercase(trim(header.substr(0, colon))) == "content-range") {
        range = parseContentRange(header.substr(colon + 1));
      }
      line = next + 2;
    }
    if (!range || !range->hasRange) return bad("multipart part without a valid Content-Range");
    const std::uint64_t length = range->last - range->first + 1;
    const std::size_t dataStart = headersEnd + 4;
    if (length > body.size() - dataStart) {
      return bad(fmt::format("truncated multipart part: bytes {}-{} announced, {} received", range->first, range->last,
                             body.size() - dataStart));
    }
    parts.push_back({*range, body.substr(dataStart, length)});
    pos = body.find(delimiter, dataStart + length);
  }
  return bad("multipart response without its closing boundary");
}

}  // namespace mlaas::io::detail
