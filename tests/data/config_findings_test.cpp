// Dataset configs: repeated keys, files and features are refused with their location, and the
// stats hash does not depend on how the config's folder is spelled (relative, absolute, through
// '..' or a symlink), while a real change of the inputs still changes it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/result.hpp"
#include "data/config.hpp"
#include "data_test_util.hpp"
#include "test_support.hpp"

namespace mlaas::data {
namespace {

using testing::configError;

TEST(ConfigFindings, RepeatedKeysAreRefusedWithTheirLine) {
  EXPECT_EQ(configError("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [x]}\nsplit: {train: 0.8, train: 0.2}\n"),
            "test.yaml:3:21: duplicate key 'split.train' (first at line 3): a later value would be silently ignored");
  EXPECT_EQ(configError(
                "inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [x]}\nselection: x > 1\nfeatures: {flat: [y]}\n"),
            "test.yaml:4:1: duplicate key 'features' (first at line 2): a later value would be silently ignored");
  EXPECT_EQ(configError("inputs:\n  tree: t\n  files: [a.root]\n  tree: u\nfeatures: {flat: [x]}\n"),
            "test.yaml:4:3: duplicate key 'inputs.tree' (first at line 2): a later value would be silently ignored");
  EXPECT_EQ(
      configError("inputs: {tree: t, files: [a.root]}\nfeatures:\n  groups:\n    jets: {branches: [a]}\n    jets: "
                  "{branches: [b]}\n"),
      "test.yaml:5:5: duplicate key 'features.groups.jets' (first at line 4): a later value would be silently ignored");
}

TEST(ConfigFindings, AFileListedTwiceIsRefusedNamingIt) {
  EXPECT_EQ(configError("inputs: {tree: t, files: [a.root, b.root, ./x/../a.root]}\nfeatures: {flat: [x]}\n"),
            "test.yaml:1:43: inputs.files[2]: file '/data/a.root' is listed twice (first at test.yaml:1:27: "
            "inputs.files[0]): its "
            "events would count twice");
  EXPECT_EQ(configError("inputs: {tree: t, files: [{path: /data/a.root, label: 1}, {path: a.root, label: "
                        "0}]}\nfeatures: {flat: [x]}\n"),
            "test.yaml:1:59: inputs.files[1]: file '/data/a.root' is listed twice (first at test.yaml:1:27: "
            "inputs.files[0]): its "
            "events would count twice");
  // A symlink is the same file.
  test::TempDir dir;
  std::ofstream(dir / "a.root") << "x";
  std::filesystem::create_symlink(dir / "a.root", dir / "link.root");
  try {
    (void)DatasetConfig::parse("inputs: {tree: t, files: [a.root, link.root]}\nfeatures: {flat: [x]}\n", "s.yaml",
                               dir.path());
    ADD_FAILURE() << "a symlink to a listed file was accepted";
  } catch (const core::Exception& e) {
    EXPECT_NE(
        std::string(e.what()).find("inputs.files[1]: file '" + (dir / "link.root").string() + "' is listed twice"),
        std::string::npos)
        << e.what();
  }
  // Different files, URLs and globs (expanded later) are fine.
  EXPECT_EQ(
      configError("inputs: {tree: t, files: [a.root, b.root, '*.root', 'root://h//a.root']}\nfeatures: {flat: [x]}\n"),
      "no error");
}

TEST(ConfigFindings, ARepeatedFeatureOrMemberIsRefusedNamingIt) {
  EXPECT_EQ(
      configError("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [MET_pt, HT, MET_pt]}\n"),
      "test.yaml:2:31: features.flat[2]: feature 'MET_pt' is listed twice (first at test.yaml:2:19: features.flat[0])");
  EXPECT_EQ(
      configError("inputs: {tree: t, files: [a.root]}\nfeatures: {groups: {jets: {branches: [Jet_pt, Jet_pt]}}}\n"),
      "test.yaml:2:47: features.groups.jets.branches[1]: member 'Jet_pt' is listed twice (first at "
      "test.yaml:2:39: features.groups.jets.branches[0])");
}

TEST(ConfigFindings, StatsHashDoesNotDependOnHowThePathIsSpelled) {
  test::TempDir dir;
  const auto root = std::filesystem::canonical(dir.path());
  std::filesystem::create_directories(root / "cfg");
  std::ofstream(root / "cfg/a.root") << "x";
  std::ofstream(root / "cfg/b.root") << "y";
  std::filesystem::create_directory_symlink(root / "cfg", root / "alias");
  const std::string yaml = "inputs: {tree: t, files: [a.root, 'data*/*.root']}\nfeatures: {flat: [x]}\n";
  const auto hash = DatasetConfig::parse(yaml, "a.yaml", root / "cfg").statsHash();
  EXPECT_EQ(DatasetConfig::parse(yaml, "cfg/a.yaml", root / "x/../cfg").statsHash(), hash);
  EXPECT_EQ(DatasetConfig::parse(yaml, "alias/a.yaml", root / "alias").statsHash(), hash);
  {
    // Relative to the working directory, as `mlaas stats cfg/a.yaml` from the parent gives it.
    const auto saved = std::filesystem::current_path();
    std::filesystem::current_path(root);
    const auto relative = DatasetConfig::parse(yaml, "cfg/a.yaml", "cfg").statsHash();
    std::filesystem::current_path(root / "cfg");
    const auto here = DatasetConfig::parse(yaml, "a.yaml", ".").statsHash();
    std::filesystem::current_path(saved);
    EXPECT_EQ(relative, hash);
    EXPECT_EQ(here, hash);
  }
  // Another file is another dataset.
  EXPECT_NE(DatasetConfig::parse("inputs: {tree: t, files: [b.root, 'data*/*.root']}\nfeatures: {flat: [x]}\n",
                                 "a.yaml", root / "cfg")
                .statsHash(),
            hash);
}

}  // namespace
}  // namespace mlaas::data
