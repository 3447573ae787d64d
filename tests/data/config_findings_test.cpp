// Dataset configs: repeated keys are refused with their location.
#include <gtest/gtest.h>

#include <string>

#include "core/result.hpp"
#include "data/config.hpp"

namespace mlaas::data {
namespace {

std::string configError(const std::string& yaml) {
  try {
    (void)DatasetConfig::parse(yaml, "test.yaml", "/data");
  } catch (const core::Exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConfigFindings, RepeatedKeysAreRefusedWithTheirLine) {
  EXPECT_EQ(configError("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [x]}\nsplit: {train: 0.8, train: 0.2}\n"),
            "test.yaml:3:21: duplicate key 'split.train' (first at line 3): a later value would be silently ignored");
  EXPECT_EQ(configError("inputs: {tree: t, files: [a.root]}\nfeatures: {flat: [x]}\nselection: x > 1\nfeatures: {flat: [y]}\n"),
            "test.yaml:4:1: duplicate key 'features' (first at line 2): a later value would be silently ignored");
  EXPECT_EQ(configError("inputs:\n  tree: t\n  files: [a.root]\n  tree: u\nfeatures: {flat: [x]}\n"),
            "test.yaml:4:3: duplicate key 'inputs.tree' (first at line 2): a later value would be silently ignored");
  EXPECT_EQ(configError("inputs: {tree: t, files: [a.root]}\nfeatures:\n  groups:\n    jets: {branches: [a]}\n    jets: {branches: [b]}\n"),
            "test.yaml:5:5: duplicate key 'features.groups.jets' (first at line 4): a later value would be silently ignored");
}

}  // namespace
}  // namespace mlaas::data
