#include "serve/upload_formats.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "serve/ascii.hpp"

namespace mlaas::serve {
namespace {
using detail::lowerCopy;

core::Failure bad(std::string message) { return core::fail(core::Errc::invalid_argument, std::move(message)); }

/// Value of `key=` (quoted or not) in a header parameter list.
std::string headerParameter(std::string_view header, std::string_view key) {
  std::string lowered = lowerCopy(header);
  std::size_t pos = 0;
  while ((pos = lowered.find(key, pos)) != std::string::npos) {
    bool boundaryOk = pos == 0 || lowered[pos - 1] == ';' || lowered[pos - 1] == ' ';
    std::size_t eq = pos + key.size();
    if (boundaryOk && eq < lowered.size() && lowered[eq] == '=') {
      std::string_view rest = header.substr(eq + 1);
      if (!rest.empty() && rest.front() == '"') {
        auto end = rest.find('"', 1);
        return std::string(rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
      }
      auto end = rest.find(';');
      std::string_view value = rest.substr(0, end);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return std::string(value);
    }
    pos = eq;
  }
  return {};
}
}  // namespace

core::Result<std::string> multipartBoundary(std::string_view contentType) {
  if (lowerCopy(contentType).rfind("multipart/form-data", 0) != 0)
    return bad("Content-Type is not multipart/form-data");
  std::string boundary = headerParameter(contentType, "boundary");
  if (boundary.empty() || boundary.size() > 200) return bad("multipart/form-data without a valid boundary");
  return boundary;
}

core::Result<std::vector<FormPart>> parseMultipart(std::string_view body, std::string_view boundary) {
  std::string delimiter = "--" + std::string(boundary);
  std::vector<FormPart> parts;
  auto start = body.find(delimiter);
  if (start == std::string_view::npos) return bad("multipart body: boundary not found");
  std::size_t pos = start + delimiter.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return bad("multipart body: malformed delimiter line");
    pos += 2;
    auto headersEnd = body.find("\r\n\r\n", pos);
    if (headersEnd == std::string_view::npos) return bad("multipart body: part headers not terminated");
    FormPart part;
    std::string_view headers = body.substr(pos, headersEnd - pos);
    while (!headers.empty()) {
      auto eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
      auto colon = line.find(':');
      if (colon == std::string_view::npos) return bad("multipart body: malformed part header");
      std::string key = lowerCopy(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (key == "content-disposition") {
        part.name = headerParameter(value, "name");
        part.filename = headerParameter(value, "filename");
      } else if (key == "content-type") {
        part.contentType = std::string(value);
      }
    }
    std::size_t dataStart = headersEnd + 4;
    auto next = body.find("\r\n" + delimiter, dataStart);
    if (next == std::string_view::npos) return bad("multipart body: a part is not terminated by the boundary");
    part.body = std::string(body.substr(dataStart, next - dataStart));
    if (part.name.empty()) return bad("multipart body: a part has no name in Content-Disposition");
    parts.push_back(std::move(part));
    if (parts.size() > 64) return bad("multipart body: more than 64 parts");
    pos = next + 2 + delimiter.size();
  }
}

core::Result<Bundle> readBundle(std::string_view data, std::size_t maxBytes) {
  std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(), archive_read_free);
  archive* a = reader.get();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  if (archive_read_open_memory(a, data.data(), data.size()) != ARCHIVE_OK)
    return bad(
        fmt::format("bundle: not a tar archive: {}", archive_error_string(a) ? archive_error_string(a) : "unknown"));
  Bundle bundle;
  std::size_t total = 0;
  archive_entry* entry = nullptr;
  int rc = 0;
  while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    const char* rawPath = archive_entry_pathname(entry);
    std::string path = rawPath ? rawPath : "";
    auto type = archive_entry_filetype(entry);
    if (path.empty() || path.front() == '/')
      return bad(fmt::format("bundle: entry '{}' has an absolute or empty path", path.substr(0, 200)));
    std::vector<std::string> parts;
    for (std::size_t start = 0; start <= path.size();) {
      auto slash = path.find('/', start);
      std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (part == "..") return bad(fmt::format("bundle: entry '{}' contains '..'", path.substr(0, 200)));
      if (!part.empty() && part != ".") parts.push_back(part);
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (archive_entry_hardlink(entry) || type == AE_IFLNK)
      return bad(fmt::format("bundle: entry '{}' is a link; links are not allowed", path.substr(0, 200)));
    if (type != AE_IFREG && type != AE_IFDIR)
      return bad(fmt::format("bundle: entry '{}' is a device, FIFO or socket; only files and folders are allowed",
                             path.substr(0, 200)));
    if (parts.empty()) continue;
    if (bundle.name.empty())
      bundle.name = parts.front();
    else if (bundle.name != parts.front())
      return bad(fmt::format("bundle: entries under two top-level folders ('{}' and '{}'); one model per bundle",
                             bundle.name.substr(0, 100), parts.front().substr(0, 100)));
    if (type == AE_IFDIR) continue;
    if (parts.size() < 2)
      return bad(fmt::format("bundle: file '{}' is not inside the model's folder", path.substr(0, 200)));
    std::string relative;
    for (std::size_t i = 1; i < parts.size(); ++i) relative += (i > 1 ? "/" : "") + parts[i];
    std::string contents;
    char buffer[65536];
    for (;;) {
      la_ssize_t n = archive_read_data(a, buffer, sizeof buffer);
      if (n < 0) return bad(fmt::format("bundle: entry '{}': {}", path.substr(0, 200), archive_error_string(a)));
      if (n == 0) break;
      total += static_cast<std::size_t>(n);
      if (total > maxBytes)
        return core::fail(core::Errc::resource_exhausted,
                          fmt::format("bundle: extracted contents exceed the {} byte limit", maxBytes));
      contents.append(buffer, static_cast<std::size_t>(n));
    }
    bundle.files[relative] = std::move(contents);
  }
  if (rc != ARCHIVE_EOF)
    return bad(
        fmt::format("bundle: corrupt archive: {}", archive_error_string(a) ? archive_error_string(a) : "unknown"));
  if (bundle.name.empty()) return bad("bundle: the archive is empty");
  return bundle;
}

core::Result<std::string> percentDecode(std::string_view text, bool query) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (i + 2 >= text.size()) return bad("malformed percent-encoding in the URL");
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return bad("malformed percent-encoding in the URL");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && query) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace mlaas::serve
