// `mlaas generate`: writes the sample, reports it, and fails clearly on bad settings and paths.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_support.hpp"

namespace mlaas::test {
namespace {

TEST(CliGenerate, WritesTheSampleAndSaysSo) {
  TempDir dir;
  const auto out = dir / "sample.root";
  const auto r = run({mlaasBinary().string(), "generate", "--events", "2000", "--out", out.string(), "--seed", "4",
                      "--compression", "101", "--threads", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("2000 events"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("zlib level 1"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_EQ(readFile(out).substr(0, 4), "root");

  // Same seed, same bytes; another seed, another file (same file name: it is stored inside).
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  const auto again = dir / "a" / "sample.root";
  ASSERT_EQ(run({mlaasBinary().string(), "generate", "-n", "2000", "-o", again.string(), "--seed", "4",
                 "--compression", "101", "--threads", "1"})
                .exitCode,
            0);
  EXPECT_TRUE(readFile(out) == readFile(again));
  const auto other = dir / "b" / "sample.root";
  ASSERT_EQ(run({mlaasBinary().string(), "generate", "-n", "2000", "-o", other.string(), "--seed", "5",
                 "--compression", "101"})
                .exitCode,
            0);
  EXPECT_FALSE(readFile(out) == readFile(other));
}

TEST(CliGenerate, InvalidCompressionIsAClearError) {
  TempDir dir;
  const auto r = run({mlaasBinary().string(), "generate", "--events", "10", "--out", (dir / "x.root").string(),
                      "--compression", "606"});
  EXPECT_EQ(r.exitCode, 2);  // a bad option value: a usage error (docs/cli.md)
  EXPECT_NE(r.err.find("mlaas: error: --compression: invalid compression setting 606"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(CliGenerate, UnwritablePathIsAClearError) {
  const auto r = run({mlaasBinary().string(), "generate", "--events", "10", "--out", "/nonexistent-mlaas/x.root"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("/nonexistent-mlaas/x.root: cannot create the file"), std::string::npos) << r.err;
}

TEST(CliGenerate, MissingOrBadArgumentsAreUsageErrors) {
  TempDir dir;
  const auto out = (dir / "x.root").string();
  const auto missing = run({mlaasBinary().string(), "generate", "--out", out});
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.err.find("--events"), std::string::npos) << missing.err;
  const auto zero = run({mlaasBinary().string(), "generate", "--events", "0", "--out", out});
  EXPECT_NE(zero.exitCode, 0);
  EXPECT_NE(zero.err.find("--events"), std::string::npos) << zero.err;
  const auto fraction =
      run({mlaasBinary().string(), "generate", "--events", "5", "--out", out, "--signal-fraction", "2"});
  EXPECT_NE(fraction.exitCode, 0);
  EXPECT_NE(fraction.err.find("--signal-fraction"), std::string::npos) << fraction.err;
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace mlaas::test
