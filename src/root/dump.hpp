// Text forms of column values, shared by `mlaas dump` and tests: JSON in the layout of JSROOT's
// expected/ files (NaN/inf as "nan"/"inf"/"-inf", booleans 0/1, floats in the shortest form that
// round-trips in their own type) and CSV cells.
#pragma once

#include <cstdint>
#include <string>

#include "root/column.hpp"

namespace mlaas::root {

/// Appends entry `entry` (0-based within the column) as a JSON value.
void appendEntryJson(const Column& column, std::uint64_t entry, std::string& out);
/// Appends a JSON string literal.
void appendJsonString(std::string_view text, std::string& out);
/// Appends entry `entry` as one RFC 4180 CSV field: numbers plain (NaN and infinities as nan,
/// inf, -inf), a string as its text, lists and arrays as their JSON text; quoted (inner quotes
/// doubled) only when the field holds a comma, a quote or a line break.
void appendEntryCsv(const Column& column, std::uint64_t entry, std::string& out);

}  // namespace mlaas::root
