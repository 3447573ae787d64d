// Specs made by `mlaas stats` match the same config however its path is written later (from its
// folder, by absolute path, from the parent folder), and still refuse a real change. `stats`
// refuses a config that selects no event, naming the selection.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_support.hpp"

using namespace mlaas::test;

namespace {

// `mlaas ARGS...` run with `folder` as the working directory.
CommandResult mlaasIn(const fs::path& folder, const std::string& args) {
  return run({"/bin/sh", "-c", "cd '" + folder.string() + "' && exec '" + mlaasBinary().string() + "' " + args});
}

const char* kConfig = "inputs: {tree: events, files: [hzz.root]}\nfeatures: {flat: [MET_px, MET_py]}\n";

}  // namespace

TEST(CliSpecsPaths, SpecsMatchTheConfigReachedByAnyPath) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  const auto root = fs::canonical(dir.path());
  fs::create_directory(root / "cfg");
  fs::create_symlink(corpusFile("uproot-HZZ.root"), root / "cfg/hzz.root");
  writeFile(root / "cfg/a.yaml", kConfig);
  auto stats = mlaasIn(root / "cfg", "stats a.yaml -o s.json");
  ASSERT_EQ(stats.exitCode, 0) << stats.err;

  auto absolute =
      mlaasIn("/", "batches '" + (root / "cfg/a.yaml").string() + "' --specs '" + (root / "cfg/s.json").string() + "'");
  EXPECT_EQ(absolute.exitCode, 0) << absolute.err;
  auto fromParent = mlaasIn(root, "batches cfg/a.yaml --specs cfg/s.json");
  EXPECT_EQ(fromParent.exitCode, 0) << fromParent.err;
  auto fromHere = mlaasIn(root / "cfg", "batches ./a.yaml --specs s.json");
  EXPECT_EQ(fromHere.exitCode, 0) << fromHere.err;

  // A real change is still refused, from anywhere.
  writeFile(root / "cfg/a.yaml", std::string(kConfig) + "selection: NJet >= 1\n");
  auto changed = mlaasIn(root, "batches cfg/a.yaml --specs cfg/s.json");
  EXPECT_EQ(changed.exitCode, 1);
  EXPECT_NE(changed.err.find("mlaas: error: cfg/s.json: these specs do not match cfg/a.yaml: the config changed"),
            std::string::npos)
      << changed.err;
  // So is another file behind the same name.
  writeFile(root / "cfg/a.yaml", kConfig);
  fs::remove(root / "cfg/hzz.root");
  fs::create_symlink(corpusFile("uproot-HZZ-zlib.root"), root / "cfg/hzz.root");
  auto otherFile = mlaasIn(root, "batches cfg/a.yaml --specs cfg/s.json");
  EXPECT_EQ(otherFile.exitCode, 1);
  EXPECT_NE(otherFile.err.find("these specs do not match cfg/a.yaml"), std::string::npos) << otherFile.err;
}

TEST(CliSpecsPaths, StatsWithNoSelectedEventIsAnErrorNamingTheSelection) {
  MLAAS_REQUIRE_CORPUS();
  TempDir dir;
  const auto root = fs::canonical(dir.path());
  fs::create_symlink(corpusFile("uproot-HZZ.root"), root / "hzz.root");
  writeFile(root / "none.yaml", std::string(kConfig) + "selection: NJet > 1000\n");
  auto r = mlaasIn(root, "stats none.yaml -o s.json");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(
      r.err.find("mlaas: error: none.yaml: no event selected for training: none of the 2421 entries read passes the "
                 "selection 'NJet > 1000' (none.yaml:3:12: selection)"),
      std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(root / "s.json"));
}
