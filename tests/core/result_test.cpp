#include <gtest/gtest.h>

#include <memory>

#include "core/result.hpp"

using namespace mlaas::core;

namespace {
Result<int> parsePositive(int v) {
  if (v <= 0) return fail(Errc::invalid_argument, "value " + std::to_string(v) + " is not positive");
  return v;
}
Result<int> doubled(int v) {
  MLAAS_TRY(parsePositive(v));
  return 2 * v;
}
}  // namespace

TEST(Result, CarriesValueOrError) {
  auto ok = parsePositive(3);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 3);
  auto bad = parsePositive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "value -1 is not positive");
}

TEST(Result, ValueThrowsExceptionWithTheError) {
  auto bad = parsePositive(0);
  try {
    (void)bad.value();
    FAIL() << "value() of an error must throw";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_STREQ(e.what(), "value 0 is not positive");
  }
}

TEST(Result, TryPropagatesAndContextPrefixes) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(-2);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().withContext("config.yaml").message, "config.yaml: value -2 is not positive");
}

TEST(Result, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r);
  auto p = std::move(r).value();
  EXPECT_EQ(*p, 7);
  Result<void> v;
  EXPECT_TRUE(v);
  Result<void> f = fail(Errc::io, "disk");
  EXPECT_FALSE(f);
  EXPECT_THROW(f.value(), Exception);
}
