// Raw events given as JSON objects of branches -> the reader's columns, so that raw-event
// inference (the server's predict-events, `mlaas predict --server`) runs the same Plan::prepare
// and Transform::apply as training does on ROOT files.
//
//   {"events": [{"nJet": 2, "Jet_pt": [50.1, 31.2], "MET_pt": 12.5}, ...]}   or a bare [...]
//
// Each wanted branch becomes one root::Column with the branch's type from the schema (so a float32
// branch given as 50.1 holds the same float as the ROOT file would): one value per event for
// event-level branches, a list per event (one offsets level) for per-object branches. Branches the
// schema does not want are ignored; a list's counter branch ("nJet"), when given, must equal the
// length of every list of it. JSON has no NaN: null stands for NaN in floating-point branches.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "data/plan.hpp"
#include "root/column.hpp"

namespace mlaas::data {

struct JsonEvents {
  std::size_t events = 0;
  std::vector<root::Column> columns;  ///< one per wanted branch, in the order asked for
};

/// Parses the JSON text and builds the columns of `branches` (each must be in `schema`).
/// Errors (invalid_argument) name the event index and the branch: not JSON, not an array of
/// objects, a missing branch, a value of the wrong type (string, object, list for a scalar,
/// scalar for a list, fraction or out of range for an integer branch), lists of one counter
/// with different lengths. More than `maxEvents` events: resource_exhausted. No events:
/// invalid_argument.
[[nodiscard]] core::Result<JsonEvents> columnsFromJsonEvents(std::string_view text, const TreeSchema& schema,
                                                             std::span<const std::string> branches,
                                                             std::size_t maxEvents);

/// The reverse, for clients: events [begin, end) of the columns as a JSON array of objects
/// ({"branch": value or [values], ...}); numbers are written so that they read back exactly.
/// Columns with more than one offsets level, fixed inner shapes or strings are refused.
[[nodiscard]] core::Result<std::string> columnsToJsonEvents(std::span<const root::Column> columns, std::size_t begin,
                                                            std::size_t end);

}  // namespace mlaas::data
