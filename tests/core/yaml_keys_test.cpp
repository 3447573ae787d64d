#include "core/yaml_keys.hpp"

#include <gtest/gtest.h>

namespace mlaas::core {
namespace {

TEST(YamlKeys, NoDuplicateInAValidDocument) {
  auto doc = YAML::Load("inputs: {tree: Events, files: [a.root, b.root]}\nfeatures:\n  flat: [x, y]\n"
                        "groups:\n  - {name: jets, length: 4}\n  - {name: muons, length: 4}\n");
  EXPECT_FALSE(findDuplicateKey(doc).has_value());
}

TEST(YamlKeys, TopLevelDuplicateNamesKeyAndBothLines) {
  auto doc = YAML::Load("features: {flat: [x]}\ninputs: {tree: T}\nfeatures: {flat: [y]}\n");
  auto duplicate = findDuplicateKey(doc);
  ASSERT_TRUE(duplicate.has_value());
  EXPECT_EQ(duplicate->key, "features");
  EXPECT_EQ(duplicate->line, 3);
  EXPECT_EQ(duplicate->column, 1);
  EXPECT_EQ(duplicate->firstLine, 1);
  EXPECT_EQ(describe(*duplicate),
            "duplicate key 'features' (first at line 1): a later value would be silently ignored");
}

TEST(YamlKeys, NestedDuplicatesInFlowMapsAndSequencesCarryTheirPath) {
  auto split = findDuplicateKey(YAML::Load("split: {train: 0.8, train: 0.2}\n"));
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->key, "split.train");
  EXPECT_EQ(split->line, 1);

  auto inList = findDuplicateKey(YAML::Load("groups:\n  - name: jets\n    length: 4\n    length: 8\n"));
  ASSERT_TRUE(inList.has_value());
  EXPECT_EQ(inList->key, "groups[0].length");
  EXPECT_EQ(inList->line, 4);
  EXPECT_EQ(inList->firstLine, 3);
}

TEST(YamlKeys, SameKeyInDifferentMappingsIsNotADuplicate) {
  auto doc = YAML::Load("a: {name: x}\nb: {name: y}\nlist: [{name: 1}, {name: 2}]\n");
  EXPECT_FALSE(findDuplicateKey(doc).has_value());
}

}  // namespace
}  // namespace mlaas::core
