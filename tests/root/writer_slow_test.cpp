// A file past 2 GB (ROOT's kStartBigFile): the large header, 64-bit keys and seeks. Slow (it writes
// about 2.3 GB), so it is its own test, WriterSlow.*, run with MLAAS_SLOW_TESTS=1.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "root/file.hpp"
#include "root/tree.hpp"
#include "root/writer.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

namespace fs = std::filesystem;

// The repository root: MLAAS_SOURCE_DIR, else derived from this file's path (tests/root/x.cpp).
fs::path repoRoot() {
  if (const char* dir = std::getenv("MLAAS_SOURCE_DIR")) return dir;
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

constexpr std::uint64_t kEntries = 8'800'000;  // 264 bytes per entry: about 2.32 GB
constexpr std::size_t kWidth = 64;

float payloadValue(std::uint64_t entry, std::size_t k) {
  return static_cast<float>(entry % 1000003) + 0.25f * static_cast<float>(k);
}

TEST(WriterSlow, FileOver2GBReadsBackItsLastEntries) {
  MLAAS_REQUIRE_SLOW();
  test::TempDir dir;
  const auto space = fs::space(dir.path());
  if (space.available < 6ull << 30) GTEST_SKIP() << "needs 6 GB free in " << dir.path();
  const auto path = dir / "large.root";
  {
    WriteOptions options;
    options.compression = 0;
    FileWriter file(path.string(), options);
    auto& tree = file.addTree("Events", {BranchSpec::scalar("index", DType::uint64),
                                         BranchSpec::array("payload", DType::float32, {kWidth}),
                                         BranchSpec::counted("hits", DType::int16, "nHits")});
    constexpr std::uint64_t kBatch = 1 << 16;
    for (std::uint64_t first = 0; first < kEntries; first += kBatch) {
      const std::uint64_t n = std::min(kBatch, kEntries - first);
      Column index{"index", DType::uint64, first, n};
      index.data.resize(n * 8);
      Column payload{"payload", DType::float32, first, n, {kWidth}};
      payload.data.resize(n * kWidth * 4);
      Column hits{"hits", DType::int16, first, n};
      hits.offsets = {{0}};
      auto* idx = reinterpret_cast<std::uint64_t*>(index.data.data());
      auto* pay = reinterpret_cast<float*>(payload.data.data());
      std::vector<std::int16_t> h;
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t e = first + i;
        idx[i] = e;
        for (std::size_t k = 0; k < kWidth; ++k) pay[i * kWidth + k] = payloadValue(e, k);
        for (std::uint64_t k = 0; k < e % 3; ++k) h.push_back(static_cast<std::int16_t>(e % 30000 + k));
        hits.offsets[0].push_back(h.size());
      }
      hits.data.resize(h.size() * 2);
      std::memcpy(hits.data.data(), h.data(), hits.data.size());
      const std::vector<Column> batch{index, payload, hits};
      tree.append(batch);
    }
    file.close();
  }
  ASSERT_GT(fs::file_size(path), 2'147'483'648u);
  unsigned char head[8] = {};
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(head), 8);
  const auto version = (head[4] << 24) | (head[5] << 16) | (head[6] << 8) | head[7];
  EXPECT_GE(version, 1000000) << "the large-file header";

  // Our reader: the last entries, which live past 2 GB.
  const auto file = File::open(path.string());
  EXPECT_TRUE(file->largeFile());
  const auto tree = file->tree("Events");
  ASSERT_EQ(tree.entries(), kEntries);
  const auto cols = tree.read({"index", "payload", "hits"}, {kEntries - 3, kEntries});
  for (const auto& c : cols) {
    if (c.name == "index") {
      EXPECT_EQ(c.values<std::uint64_t>()[2], kEntries - 1);
    } else if (c.name == "payload") {
      EXPECT_EQ(c.values<float>()[2 * kWidth + 5], payloadValue(kEntries - 1, 5));
    } else if (c.name == "hits") {
      EXPECT_EQ(c.offsets[0].back() - c.offsets[0][2], (kEntries - 1) % 3);
    }
  }

  // JSROOT, when present.
  const auto script = repoRoot() / "tests/tools/jsroot-read.mjs";
  if (test::run({"node", "--version"}).exitCode != 0 ||
      !fs::exists(repoRoot() / ".deps/node_modules/jsroot/modules/main.mjs"))
    GTEST_SKIP() << "JSROOT oracle skipped: node or JSROOT missing";
  const auto r = test::run({"node", script.string(), path.string(), "--last", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto got = nlohmann::json::parse(r.out)["Events"];
  EXPECT_EQ(got["entries"], kEntries);
  EXPECT_EQ(got["branches"]["index"]["values"][1], kEntries - 1);
  EXPECT_EQ(got["branches"]["payload"]["values"][1][7].get<float>(), payloadValue(kEntries - 1, 7));
  EXPECT_EQ(got["branches"]["hits"]["values"][1].size(), (kEntries - 1) % 3);
}

}  // namespace
}  // namespace mlaas::root
