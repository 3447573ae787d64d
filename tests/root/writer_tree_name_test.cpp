// Tree names with '/' are refused by the writer (ROOT reads them as folder paths, and the writer
// writes no folders): a clear error naming the tree, and nothing left in the folder.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "root/writer.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

TEST(WriterTreeName, SlashInTheNameIsRefused) {
  test::TempDir dir;
  const auto path = (dir / "out.root").string();
  for (const char* name : {"a/b", "one/two/tree_scores", "/Events", "Events/"}) {
    {
      FileWriter file(path);
      try {
        file.addTree(name, {BranchSpec{"x", DType::float64}});
        ADD_FAILURE() << "tree '" << name << "' was accepted";
      } catch (const core::Exception& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(path + ": tree " + name + ": the name has a '/'"), std::string::npos) << what;
      }
    }
    EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << name;  // no target, no temporary file
  }
  FileWriter file(path);
  file.addTree("Events_scores", {BranchSpec{"x", DType::float64}});  // the top folder is fine
  file.close();
  EXPECT_TRUE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace mlaas::root
