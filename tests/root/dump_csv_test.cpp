// CSV fields of `mlaas dump --format csv`: RFC 4180, numbers and strings as plain fields (NaN as
// nan, a string as its text), quoted only when a comma, quote or line break needs it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "root/column.hpp"
#include "root/dump.hpp"

namespace mlaas::root {
namespace {

template <class T>
Column numbers(DType type, const std::vector<T>& values) {
  Column c;
  c.name = "x";
  c.type = type;
  c.entries = values.size();
  c.data.resize(values.size() * sizeof(T));
  std::memcpy(c.data.data(), values.data(), c.data.size());
  return c;
}

Column strings(const std::vector<std::string>& values) {
  Column c;
  c.name = "s";
  c.type = DType::string;
  c.entries = values.size();
  std::vector<std::uint64_t> offsets{0};
  for (const auto& v : values) {
    for (char ch : v) c.data.push_back(static_cast<std::byte>(ch));
    offsets.push_back(c.data.size());
  }
  c.offsets.push_back(offsets);
  return c;
}

std::vector<std::string> cells(const Column& c) {
  std::vector<std::string> out;
  for (std::uint64_t e = 0; e < c.entries; ++e) {
    std::string cell;
    appendEntryCsv(c, e, cell);
    out.push_back(cell);
  }
  return out;
}

TEST(DumpCsv, NonFiniteFloatsArePlainWords) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(cells(numbers<double>(DType::float64, {std::nan(""), kInf, -kInf, 1.5, -0.25})),
            (std::vector<std::string>{"nan", "inf", "-inf", "1.5", "-0.25"}));
  EXPECT_EQ(cells(numbers<float>(DType::float32, {std::nanf(""), -std::numeric_limits<float>::infinity(), 0.1F})),
            (std::vector<std::string>{"nan", "-inf", "0.1"}));
  EXPECT_EQ(cells(numbers<std::int32_t>(DType::int32, {-3, 7})), (std::vector<std::string>{"-3", "7"}));
}

TEST(DumpCsv, StringsAreTheirTextQuotedOnlyWhenNeeded) {
  EXPECT_EQ(
      cells(strings({"DE", "", "a b", "x,y", "say \"hi\"", "two\nlines", "back\\slash"})),
      (std::vector<std::string>{"DE", "", "a b", "\"x,y\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"", "back\\slash"}));
}

TEST(DumpCsv, ListsAreTheirJsonTextInOneQuotedField) {
  Column c = numbers<float>(DType::float32, {1.5F, std::nanf(""), 2.0F});
  c.entries = 3;
  c.offsets.push_back({0, 2, 2, 3});
  EXPECT_EQ(cells(c), (std::vector<std::string>{"\"[1.5, \"\"nan\"\"]\"", "[]", "[2]"}));
}

}  // namespace
}  // namespace mlaas::root
