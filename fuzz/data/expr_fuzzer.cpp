// Fuzzes the expression parser and type checker, then evaluates whatever compiles over a small
// chunk with jagged lists: no input may crash, hang, or throw anything but core::Exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/expr.hpp"

namespace {

const mlaas::data::Schema& schema() {
  using mlaas::data::ExprType;
  using mlaas::data::ValueKind;
  static const mlaas::data::Schema names{{"nJet", {ValueKind::number, ""}},       {"MET_pt", {ValueKind::number, ""}},
                                         {"Jet_pt", {ValueKind::number, "nJet"}},  {"Jet_eta", {ValueKind::number, "nJet"}},
                                         {"Jet_id", {ValueKind::boolean, "nJet"}}, {"Muon_pt", {ValueKind::number, "nMuon"}},
                                         {"trigger", {ValueKind::boolean, ""}}};
  return names;
}

const mlaas::data::Chunk& chunk() {
  static const mlaas::data::Chunk data = [] {
    mlaas::data::Chunk c;
    c.entries = 3;
    auto jets = std::make_shared<mlaas::data::Offsets>(mlaas::data::Offsets{0, 2, 2, 5});
    auto muons = std::make_shared<mlaas::data::Offsets>(mlaas::data::Offsets{0, 0, 1, 1});
    c.arrays["nJet"] = {{2, 0, 3}, nullptr};
    c.arrays["MET_pt"] = {{10, -1, 0}, nullptr};
    c.arrays["trigger"] = {{1, 0, 1}, nullptr};
    c.arrays["Jet_pt"] = {{50, 20, 1e300, -0.0, 3}, jets};
    c.arrays["Jet_eta"] = {{0.5, -1, 2, 0, -3}, jets};
    c.arrays["Jet_id"] = {{1, 0, 1, 1, 0}, jets};
    c.arrays["Muon_pt"] = {{7}, muons};
    return c;
  }();
  return data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto expression = mlaas::data::Expression::compile(text, schema());
    auto result = expression.evaluate(chunk());
    if (result.hasValue() && result->entries() != 3) __builtin_trap();  // every value covers the chunk
  } catch (const mlaas::core::Exception&) {
    // Rejected with a message: fine.
  }
  return 0;
}
