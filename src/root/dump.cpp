#include "root/dump.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

namespace mlaas::root {
namespace {

template <class T>
T load(const Column& c, std::size_t i) {
  T v;
  std::memcpy(&v, c.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <class F>
void appendFloat(F v, std::string& out) {
  if (std::isnan(v)) {
    out += "\"nan\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"inf\"" : "\"-inf\"";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void appendValue(const Column& c, std::size_t i, std::string& out) {
  switch (c.type) {
    case DType::boolean: out += load<std::uint8_t>(c, i) ? '1' : '0'; return;
    case DType::int8: fmt::format_to(std::back_inserter(out), "{}", load<std::int8_t>(c, i)); return;
    case DType::uint8: fmt::format_to(std::back_inserter(out), "{}", load<std::uint8_t>(c, i)); return;
    case DType::int16: fmt::format_to(std::back_inserter(out), "{}", load<std::int16_t>(c, i)); return;
    case DType::uint16: fmt::format_to(std::back_inserter(out), "{}", load<std::uint16_t>(c, i)); return;
    case DType::int32: fmt::format_to(std::back_inserter(out), "{}", load<std::int32_t>(c, i)); return;
    case DType::uint32: fmt::format_to(std::back_inserter(out), "{}", load<std::uint32_t>(c, i)); return;
    case DType::int64: fmt::format_to(std::back_inserter(out), "{}", load<std::int64_t>(c, i)); return;
    case DType::uint64: fmt::format_to(std::back_inserter(out), "{}", load<std::uint64_t>(c, i)); return;
    case DType::float32: appendFloat(load<float>(c, i), out); return;
    case DType::float64: appendFloat(load<double>(c, i), out); return;
    case DType::string: out += static_cast<char>(c.data[i]); return;
  }
}

// Values [first, first+count) shaped by innerShape dims starting at `dim`.
void appendShaped(const Column& c, std::size_t first, std::size_t dim, std::string& out) {
  if (dim >= c.innerShape.size()) return appendValue(c, first, out);
  std::size_t stride = 1;
  for (std::size_t d = dim + 1; d < c.innerShape.size(); ++d) stride *= c.innerShape[d];
  out += '[';
  for (std::size_t k = 0; k < c.innerShape[dim]; ++k) {
    if (k) out += ", ";
    appendShaped(c, first + k * stride, dim + 1, out);
  }
  out += ']';
}

void appendLevel(const Column& c, std::size_t level, std::uint64_t index, std::string& out) {
  const auto& offs = c.offsets[level];
  const auto lo = offs[index], hi = offs[index + 1];
  const bool last = level + 1 == c.offsets.size();
  if (last && c.type == DType::string) {
    appendJsonString(std::string_view(reinterpret_cast<const char*>(c.data.data()) + lo, hi - lo), out);
    return;
  }
  out += '[';
  for (auto k = lo; k < hi; ++k) {
    if (k != lo) out += ", ";
    if (last)
      appendShaped(c, k * c.innerSize(), 0, out);
    else
      appendLevel(c, level + 1, k, out);
  }
  out += ']';
}

}  // namespace

void appendJsonString(std::string_view text, std::string& out) {
  out += '"';
  for (unsigned char ch : text) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20 || ch >= 0x80)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(ch));  // bytes as Latin-1
        else
          out += static_cast<char>(ch);
    }
  }
  out += '"';
}

void appendEntryJson(const Column& c, std::uint64_t entry, std::string& out) {
  if (c.offsets.empty()) return appendShaped(c, static_cast<std::size_t>(entry) * c.innerSize(), 0, out);
  appendLevel(c, 0, entry, out);
}

namespace {

// An RFC 4180 field: as is, or in double quotes (inner quotes doubled) when it holds a comma, a
// quote or a line break.
void appendCsvField(std::string_view text, std::string& out) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  for (char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

}  // namespace

void appendEntryCsv(const Column& c, std::uint64_t entry, std::string& out) {
  const auto index = static_cast<std::size_t>(entry);
  if (c.offsets.empty() && c.innerShape.empty()) {
    // A plain number: NaN and infinities as the words nan, inf, -inf (no JSON quotes).
    if (c.type == DType::float32 || c.type == DType::float64) {
      const double v = c.type == DType::float32 ? static_cast<double>(load<float>(c, index)) : load<double>(c, index);
      if (std::isnan(v)) {
        out += "nan";
        return;
      }
      if (std::isinf(v)) {
        out += v > 0 ? "inf" : "-inf";
        return;
      }
    }
    appendValue(c, index, out);
    return;
  }
  if (c.type == DType::string && c.offsets.size() == 1) {  // one string per entry: its text
    const auto lo = c.offsets[0][index], hi = c.offsets[0][index + 1];
    appendCsvField(std::string_view(reinterpret_cast<const char*>(c.data.data()) + lo, hi - lo), out);
    return;
  }
  // Lists and fixed-size arrays: their JSON text (the dump's JSON value) as one field.
  std::string json;
  appendEntryJson(c, entry, json);
  appendCsvField(json, out);
}

}  // namespace mlaas::root
