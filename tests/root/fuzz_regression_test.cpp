// Inputs the fuzzer once crashed on (tests/root/regressions/): each must now end in a value or a
// core::Exception(corrupt) naming the file, like any other damaged file.
#include <gtest/gtest.h>

#include <cstring>

#include "root/memory_source.hpp"
#include "root/tree.hpp"
#include "test_support.hpp"

using namespace mlaas;

TEST(FuzzRegression, EveryRecordedCrashIsNowAClearError) {
  const auto dir = test::sourceDir() / "tests/root/regressions";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++seen;
    const std::string text = test::readFile(entry.path());
    std::vector<std::byte> bytes(text.size());
    std::memcpy(bytes.data(), text.data(), text.size());
    try {
      const auto file = root::File::open(std::make_shared<root::MemorySource>("fuzzed.root", std::move(bytes)));
      for (const auto& path : file->treePaths()) (void)file->tree(path);
    } catch (const core::Exception& e) {
      EXPECT_EQ(e.code(), core::Errc::corrupt) << entry.path() << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("fuzzed.root"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(seen, 0) << "no regression inputs in " << dir;
}
