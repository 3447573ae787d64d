// Any body must give columns or a clear error, never a crash, an overflow or a huge allocation;
// columns that come out must read back identically through columnsToJsonEvents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "data/json_events.hpp"

using namespace mlaas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  static const data::TreeSchema schema{
      {"MET_pt", root::DType::float32, "", ""},   {"nJet", root::DType::int32, "", ""},
      {"Jet_pt", root::DType::float32, "nJet", ""}, {"Jet_eta", root::DType::float32, "nJet", ""},
      {"Jet_id", root::DType::uint8, "nJet", ""},   {"event", root::DType::uint64, "", ""},
      {"good", root::DType::boolean, "", ""},       {"w", root::DType::float64, "", ""},
      {"q", root::DType::int8, "", ""},
  };
  static const std::vector<std::string> branches{"MET_pt", "Jet_pt", "Jet_eta", "Jet_id", "event", "good", "w", "q"};
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto events = data::columnsFromJsonEvents(text, schema, branches, 1000);
  if (!events) return 0;
  auto json = data::columnsToJsonEvents(events->columns, 0, events->events);
  if (!json) std::abort();  // columns we built must always be writable
  auto again = data::columnsFromJsonEvents(*json, schema, branches, 1000);
  if (!again || again->events != events->events) std::abort();
  for (std::size_t b = 0; b < branches.size(); ++b)
    if (again->columns[b].offsets != events->columns[b].offsets) std::abort();
  return 0;
}
