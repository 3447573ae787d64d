// Comparing JSROOT's JSON values with ours (shared by the conformance and live-JSROOT tests).
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "root/column.hpp"

namespace mlaas::root {

using nlohmann::json;

inline bool isFloat(DType t) { return t == DType::float32 || t == DType::float64; }

/// Compares JSROOT's value with ours (as produced by appendEntryJson); returns "" when equal.
inline std::string compare(const json& expected, const json& ours, DType type, const std::string& where) {
  if (expected.is_null()) return "";  // JSROOT could not read this item
  if (expected.is_array()) {
    if (!ours.is_array()) return where + ": expected an array, got " + ours.dump();
    if (expected.size() != ours.size())
      return where + ": expected " + std::to_string(expected.size()) + " items, got " + std::to_string(ours.size());
    for (std::size_t k = 0; k < expected.size(); ++k) {
      auto r = compare(expected[k], ours[k], type, where + "[" + std::to_string(k) + "]");
      if (!r.empty()) return r;
    }
    return "";
  }
  if (expected.is_string()) {
    const auto s = expected.get<std::string>();
    if (ours.is_string())
      return s == ours.get<std::string>() ? "" : where + ": expected \"" + s + "\", got " + ours.dump();
    if (isFloat(type) && ours.is_string()) return s == ours.get<std::string>() ? "" : where + ": expected " + s;
    if (ours.is_array() && (type == DType::int8 || type == DType::uint8)) {
      // JSROOT shows char arrays as strings (up to the first NUL)
      std::string chars;
      for (const auto& c : ours) {
        const auto v = c.get<int>();
        if (v == 0) break;
        chars += static_cast<char>(static_cast<unsigned char>(v));
      }
      std::string latin1;
      // expected is UTF-8 of Latin-1 code points; convert ours the same way
      for (unsigned char ch : chars) {
        if (ch < 0x80) {
          latin1 += static_cast<char>(ch);
        } else {
          latin1 += static_cast<char>(0xC0 | (ch >> 6));
          latin1 += static_cast<char>(0x80 | (ch & 0x3F));
        }
      }
      return latin1 == s ? "" : where + ": expected char array \"" + s + "\", got " + ours.dump();
    }
    if (ours.is_number()) {  // 64-bit integers JSROOT printed as strings
      const long double e = std::strtold(s.c_str(), nullptr);
      const long double o = ours.is_number_unsigned() ? static_cast<long double>(ours.get<std::uint64_t>())
                                                      : static_cast<long double>(ours.get<std::int64_t>());
      return std::fabs(static_cast<double>(e - o)) <= std::fabs(static_cast<double>(e)) * 1e-15
                 ? ""
                 : where + ": expected " + s + ", got " + ours.dump();
    }
    return where + ": expected \"" + s + "\", got " + ours.dump();
  }
  if (expected.is_number()) {
    if (!ours.is_number()) return where + ": expected " + expected.dump() + ", got " + ours.dump();
    const double e = expected.get<double>();
    const double o = ours.get<double>();
    if (type == DType::float32)
      return static_cast<float>(e) == static_cast<float>(o)
                 ? ""
                 : where + ": expected " + expected.dump() + ", got " + ours.dump();
    if (type == DType::int64 || type == DType::uint64) {
      if (std::fabs(e) > 9007199254740992.0)
        return std::fabs(e - o) <= std::fabs(e) * 1e-15
                   ? ""
                   : where + ": expected " + expected.dump() + ", got " + ours.dump();
    }
    if (type == DType::boolean)
      return (e != 0) == (o != 0) ? "" : where + ": expected " + expected.dump() + ", got " + ours.dump();
    return e == o ? "" : where + ": expected " + expected.dump() + ", got " + ours.dump();
  }
  return where + ": unexpected JSON " + expected.dump();
}


}  // namespace mlaas::root
