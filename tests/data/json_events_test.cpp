// JSON events <-> columns: what raw-event inference builds before Plan::prepare. Round trips keep
// every value bit for bit in the branch's type, and bad values name the event and branch.
#include "data/json_events.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace mlaas::data {
namespace {

const TreeSchema kSchema{
    {"MET_pt", root::DType::float32, "", ""},     {"nJet", root::DType::int32, "", ""},
    {"Jet_pt", root::DType::float32, "nJet", ""}, {"Jet_id", root::DType::uint8, "nJet", ""},
    {"event", root::DType::uint64, "", ""},       {"good", root::DType::boolean, "", ""},
    {"w", root::DType::float64, "", ""},
};

template <class T>
T at(const root::Column& column, std::size_t i) {
  T v;
  std::memcpy(&v, column.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

TEST(JsonEvents, BuildsTypedColumnsWithOffsets) {
  const std::vector<std::string> branches{"MET_pt", "Jet_pt", "Jet_id", "event", "good", "w"};
  auto events = columnsFromJsonEvents(R"({"events": [
      {"MET_pt": 50.1, "nJet": 2, "Jet_pt": [31.2, 20], "Jet_id": [1, 255], "event": 18446744073709551615, "good": true, "w": null},
      {"MET_pt": 0, "Jet_pt": [], "Jet_id": [], "event": 7, "good": 0, "w": 0.1, "ignored": "text"}]})",
                                      kSchema, branches, 10);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->events, 2U);
  const auto& c = events->columns;
  ASSERT_EQ(c.size(), 6U);
  EXPECT_EQ(c[0].type, root::DType::float32);
  EXPECT_EQ(at<float>(c[0], 0), 50.1F);  // the float the ROOT file would hold, not the double
  EXPECT_EQ(c[1].offsets, (std::vector<std::vector<std::uint64_t>>{{0, 2, 2}}));
  EXPECT_EQ(at<float>(c[1], 1), 20.0F);
  EXPECT_EQ(at<std::uint8_t>(c[2], 1), 255);
  EXPECT_EQ(at<std::uint64_t>(c[3], 0), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(at<std::uint8_t>(c[4], 0), 1);
  EXPECT_EQ(at<std::uint8_t>(c[4], 1), 0);
  EXPECT_TRUE(std::isnan(at<double>(c[5], 0)));
  EXPECT_EQ(at<double>(c[5], 1), 0.1);
}

TEST(JsonEvents, RoundTripIsExact) {
  const std::vector<std::string> branches{"MET_pt", "Jet_pt", "event", "w"};
  const std::string text =
      R"([{"MET_pt": 0.1, "Jet_pt": [1e-7, 3.4028234e38], "event": 12345678901234, "w": 0.30000000000000004},
          {"MET_pt": -2.5, "Jet_pt": [7], "event": 0, "w": -1e-300}])";
  auto first = columnsFromJsonEvents(text, kSchema, branches, 10).value();
  const auto json = columnsToJsonEvents(first.columns, 0, 2).value();
  auto second = columnsFromJsonEvents(json, kSchema, branches, 10).value();
  for (std::size_t b = 0; b < branches.size(); ++b) {
    EXPECT_EQ(first.columns[b].data, second.columns[b].data) << branches[b];
    EXPECT_EQ(first.columns[b].offsets, second.columns[b].offsets) << branches[b];
  }
  // A sub-range of a chunk: event 1 alone.
  const auto one = columnsToJsonEvents(first.columns, 1, 2).value();
  EXPECT_EQ(one, R"([{"MET_pt":-2.5,"Jet_pt":[7],"event":0,"w":-1e-300}])");
}

TEST(JsonEvents, BadValuesNameEventAndBranch) {
  auto error = [](const std::string& text, const std::vector<std::string>& branches) {
    auto r = columnsFromJsonEvents(text, kSchema, branches, 3);
    EXPECT_FALSE(r) << text;
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(error(R"([{"nJet": 2.5}])", {"nJet"}), "event 0: branch 'nJet': 2.5 is not a valid int32 value");
  EXPECT_EQ(error(R"([{"Jet_id": [1, 256]}])", {"Jet_id"}),
            "event 0: branch 'Jet_id'[1]: 256 is not a valid uint8 value");
  EXPECT_EQ(error(R"([{"event": -1}])", {"event"}), "event 0: branch 'event': -1 is not a valid uint64 value");
  // 2^64 as a floating-point number is one past uint64's range (found by fuzz/predict).
  EXPECT_EQ(error(R"([{"event": 1.8446744073709552e19}])", {"event"}),
            "event 0: branch 'event': 1.8446744073709552e+19 is not a valid uint64 value");
  EXPECT_EQ(error(R"([{"nJet": 2147483648.0}])", {"nJet"}),
            "event 0: branch 'nJet': 2147483648.0 is not a valid int32 value");
  EXPECT_EQ(error(R"([{"good": 2}])", {"good"}), "event 0: branch 'good': expected true, false, 0 or 1, got 2");
  EXPECT_EQ(error(R"([{"nJet": null}])", {"nJet"}), "event 0: branch 'nJet': expected a number (int32), got null");
  EXPECT_EQ(error(R"([{"MET_pt": {"a": 1}}])", {"MET_pt"}),
            "event 0: branch 'MET_pt': expected a number (float32), got an object");
  EXPECT_EQ(error(R"([{}, {}, {}, {}])", {"MET_pt"}),
            "4 events in one request; the limit is 3 (send several requests)");
  auto tooMany = columnsFromJsonEvents(R"([{}, {}, {}, {}])", kSchema, std::vector<std::string>{"MET_pt"}, 3);
  EXPECT_EQ(tooMany.error().code, core::Errc::resource_exhausted);
}

TEST(JsonEvents, NestedListsAreRefusedForJson) {
  root::Column nested;
  nested.name = "hits";
  nested.type = root::DType::float32;
  nested.entries = 1;
  nested.offsets = {{0, 1}, {0, 2}};
  nested.data.resize(2 * sizeof(float));
  auto r = columnsToJsonEvents(std::vector<root::Column>{nested}, 0, 1);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("branch 'hits' (float32, nested lists) cannot be sent as JSON events"),
            std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace mlaas::data
